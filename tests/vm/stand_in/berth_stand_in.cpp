// A stand-in for berth as PID 1, used only by the VM rig's own scenarios (tests/vm/scenarios/
// rig-pid1-*): it proves the rig's berth path (binary and its libraries in the initramfs, the
// fleet file, the probe beside PID 1, poweroff and reboot seen by the host) before berth exists.
//
// Contract: runs only as PID 1. Reaps every child. SIGTERM or SIGPWR: reboot(RB_POWER_OFF);
// SIGINT: reboot(RB_AUTOBOOT), the two endings berth's PID 1 has. It reads nothing else and never
// exits. It is dynamically linked against glibc and libstdc++ on purpose: the rig must carry the
// shared libraries of such a binary into the guest, as it will for berth.
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {

void say(const std::string& text) {
    std::fprintf(stderr, "berth-stand-in: %s\n", text.c_str());
}

// Reaps every exited child; orphans reparented to PID 1 included.
void reap_all() {
    int status = 0;
    pid_t pid = 0;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        say("reaped pid " + std::to_string(pid) + " status " + std::to_string(status));
    }
}

[[noreturn]] void end(int how, const std::string& what) {
    say(what);
    sync();
    for (;;) {
        if (reboot(how) != 0) {
            say(std::string("reboot: ") + std::strerror(errno));
        }
        sleep(1);
    }
}

} // namespace

int main(int argc, char** argv) {
    if (getpid() != 1) {
        say("run: not PID 1 (pid " + std::to_string(getpid()) + "); only the VM rig runs this");
        return 2;
    }
    // Signals are blocked and read from a signalfd, as berth does: the kernel drops signals that
    // PID 1 leaves at their default action, but queues blocked ones. (sigwaitinfo would unblock
    // them while it sleeps, and probes that read SigBlk in /proc/1/status could not see it.)
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGCHLD, SIGTERM, SIGPWR, SIGINT, SIGHUP}) {
        sigaddset(&set, sig);
    }
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        say(std::string("signalfd: ") + std::strerror(errno));
    }
    reboot(RB_DISABLE_CAD); // ctrl-alt-del becomes SIGINT to PID 1, as under berth

    struct stat st {};
    const char* config = argc > 2 ? argv[2] : "(none)";
    say(std::string("up as PID 1, fleet file '") + config + "' " +
        (stat(config, &st) == 0 ? std::to_string(st.st_size) + " bytes" : "missing"));
    reap_all(); // children that exited before the signal mask was set

    for (;;) {
        signalfd_siginfo info{};
        if (read(sfd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) {
            say(std::string("read signalfd: ") + std::strerror(errno));
            sleep(1);
            continue;
        }
        int sig = static_cast<int>(info.ssi_signo);
        std::string from =
            std::string(strsignal(sig)) + " from pid " + std::to_string(info.ssi_pid);
        if (sig == SIGCHLD) {
            reap_all();
        } else if (sig == SIGTERM || sig == SIGPWR) {
            end(RB_POWER_OFF, from + ": powering off");
        } else if (sig == SIGINT) {
            end(RB_AUTOBOOT, from + ": rebooting");
        } else {
            say(from + ": ignored");
        }
    }
}
