/* berth-vm-forkbomb: the berth-pids scenario's fork bomb. Every process forks copies of itself
 * forever. Unlike a shell, which exits when a fork fails and leaves a zombie its parent never
 * reaps, a process here lives on through a refused fork and tries again, so the bomb holds its
 * cgroup at pids.max, refusing forks, for as long as it runs. No process ever exits, so there is
 * nothing to reap; SIGTERM (the default action) or cgroup.kill ends it. Static musl, for the
 * busybox image. */
#include <sched.h>
#include <unistd.h>

int main(void) {
    for (;;) {
        if (fork() < 0)
            sched_yield(); /* refused at pids.max: let the others (and berth) run, then retry */
    }
}
