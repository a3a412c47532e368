/* Reporting a failed step to the supervisor (protocol.h) and ending the shim. */
#include "shim/report.h"

#include "shim/protocol.h"

#include <string.h>
#include <unistd.h>

static const char* container_name = "";

void shim_report_set_name(const char* name) {
    container_name = name;
}

/* Appends text to a NUL-terminated buffer of the given capacity, cutting what does not fit. */
static void append(char* buffer, size_t capacity, const char* text) {
    size_t used = strlen(buffer);
    size_t room = capacity - 1 - used;
    size_t length = strlen(text);
    if (length > room) {
        length = room;
    }
    memcpy(buffer + used, text, length);
    buffer[used + length] = '\0';
}

static _Noreturn void send_failure(struct berth_shim_failure* failure) {
    /* One write of a record smaller than PIPE_BUF: atomic. A missing or broken fd 3 leaves the
     * exit code as the only report. */
    ssize_t ignored = write(BERTH_SHIM_STATUS_FD, failure, sizeof *failure);
    (void)ignored;

    char line[256] = "berth-shim";
    if (container_name[0] != '\0') {
        append(line, sizeof line, " ");
        append(line, sizeof line, container_name);
    }
    append(line, sizeof line, ": ");
    append(line, sizeof line, failure->step);
    if (failure->error != 0) {
        append(line, sizeof line, ": ");
        append(line, sizeof line, strerror(failure->error));
    }
    append(line, sizeof line, "\n");
    ignored = write(STDERR_FILENO, line, strlen(line));
    (void)ignored;
    _exit(BERTH_SHIM_EXIT_FAILED);
}

_Noreturn void shim_fail(int error, const char* step, const char* object) {
    struct berth_shim_failure failure = {.error = error};
    append(failure.step, sizeof failure.step, step);
    if (object != NULL) {
        append(failure.step, sizeof failure.step, " ");
        append(failure.step, sizeof failure.step, object);
    }
    send_failure(&failure);
}

_Noreturn void shim_fail_spec(const char* what, const char* word) {
    struct berth_shim_failure failure = {.error = 0};
    append(failure.step, sizeof failure.step, "spec: ");
    append(failure.step, sizeof failure.step, what);
    if (word != NULL) {
        append(failure.step, sizeof failure.step, ": ");
        append(failure.step, sizeof failure.step, word);
    }
    send_failure(&failure);
}
