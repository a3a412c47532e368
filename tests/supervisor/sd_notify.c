/* A minimal sd_notify(3) for test containers: sends each argument as one datagram to
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Static musl, no systemd. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
    const char* target = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr;
    if (target == NULL || target[0] == '\0' || strlen(target) >= sizeof addr.sun_path) {
        fprintf(stderr, "sd_notify: NOTIFY_SOCKET is not set or too long\n");
        return 1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, target);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(target));
    if (target[0] == '@') {
        addr.sun_path[0] = '\0';
    } else {
        len += 1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("sd_notify: socket");
        return 1;
    }
    for (int i = 1; i < argc; ++i) {
        if (sendto(fd, argv[i], strlen(argv[i]), 0, (struct sockaddr*)&addr, len) < 0) {
            perror("sd_notify: sendto");
            return 1;
        }
    }
    return 0;
}
