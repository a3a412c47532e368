// Prints a file's user.* extended attributes for tree dumps inside busybox containers, which
// have no getfattr: " user.NAME=VALUE" for each, sorted by name, on one line with no newline,
// nothing for a file without any. Symlinks are not followed. Usage: user-xattrs PATH
// Exit codes: 0 printed, 1 the attributes could not be read (the message says why), 2 usage.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

enum { names_max = 65536, value_max = 65536 };

static int by_name(const void* a, const void* b) {
    return strcmp(*(const char* const*)a, *(const char* const*)b);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: user-xattrs PATH\n");
        return 2;
    }
    const char* path = argv[1];
    static char names[names_max];
    ssize_t length = llistxattr(path, names, sizeof names);
    if (length < 0) {
        if (errno == ENOTSUP) {
            return 0;
        }
        fprintf(stderr, "user-xattrs: '%s': list xattrs: %s\n", path, strerror(errno));
        return 1;
    }

    static const char* user[names_max / 6];
    size_t count = 0;
    for (ssize_t at = 0; at < length; at += (ssize_t)strlen(names + at) + 1) {
        if (strncmp(names + at, "user.", 5) == 0) {
            user[count++] = names + at;
        }
    }
    qsort(user, count, sizeof user[0], by_name);

    static char value[value_max];
    for (size_t i = 0; i < count; ++i) {
        ssize_t size = lgetxattr(path, user[i], value, sizeof value);
        if (size < 0) {
            fprintf(stderr, "user-xattrs: '%s': get xattr '%s': %s\n", path, user[i],
                    strerror(errno));
            return 1;
        }
        printf(" %s=%.*s", user[i], (int)size, value);
    }
    return 0;
}
