/* The container's own network namespace (ns=net): its loopback, up. */
#include "shim/net.h"

#include "shim/report.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void shim_bring_up_loopback(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        shim_fail(errno, "bring up lo", NULL);
    }
    struct ifreq request;
    memset(&request, 0, sizeof request);
    memcpy(request.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &request) != 0) {
        shim_fail(errno, "bring up lo", NULL);
    }
    request.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &request) != 0) {
        shim_fail(errno, "bring up lo", NULL);
    }
    close(sock);
}
