// PID 1 duties: boot mounts, the kernel command line, and power off / reboot.
#include "supervisor/pid1.hpp"

#include "engine/log.hpp"
#include "engine/mountinfo.hpp"

#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace berth::pid1 {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("pid1");
}

struct boot_mount {
    const char* target;
    const char* fstype;
    const char* options;
    unsigned long flags;
};

constexpr boot_mount boot_mounts[] = {
    {"/proc", "proc", nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC},
    {"/sys", "sysfs", nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC},
    {"/dev", "devtmpfs", "mode=0755", MS_NOSUID},
    {"/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC},
    {"/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV},
    {"/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV},
    {"/sys/fs/cgroup", "cgroup2", "nsdelegate", MS_NOSUID | MS_NODEV | MS_NOEXEC},
};

bool mounted(const char* path) {
    auto table = read_mountinfo();
    return table && is_mount_point(*table, path);
}

// The loopback interface is down in a fresh network namespace, the machine's included: the
// metrics endpoint and local clients need it.
void bring_up_loopback() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        logger()->warn("bring up lo: socket: {}", std::strerror(errno));
        return;
    }
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP) == 0) {
        req.ifr_flags |= IFF_UP;
        if (::ioctl(fd, SIOCSIFFLAGS, &req) != 0) {
            logger()->warn("bring up lo: {}", std::strerror(errno));
        }
    }
    ::close(fd);
}

} // namespace

void boot() noexcept {
    for (const auto& m : boot_mounts) {
        if (std::string_view(m.target) != "/proc" && mounted(m.target)) {
            continue;
        }
        if (std::string_view(m.target) == "/proc" && ::access("/proc/self", F_OK) == 0) {
            continue;
        }
        ::mkdir(m.target, 0755);
        if (::mount(m.fstype, m.target, m.fstype, m.flags, m.options) != 0) {
            logger()->warn("mount {} on '{}': {}", m.fstype, m.target, std::strerror(errno));
        }
    }
    bring_up_loopback();
    if (::reboot(RB_DISABLE_CAD) != 0) {
        logger()->warn("ctrl-alt-del to SIGINT: {}", std::strerror(errno));
    }
    std::ifstream in("/etc/hostname");
    std::string name;
    if (in && std::getline(in, name) && !name.empty()) {
        if (::sethostname(name.data(), name.size()) != 0) {
            logger()->warn("sethostname '{}': {}", name, std::strerror(errno));
        }
    }
}

std::filesystem::path config_path(const std::filesystem::path& fallback) noexcept {
    try {
        std::ifstream in("/proc/cmdline");
        std::string word;
        while (in >> word) {
            constexpr std::string_view key = "berth.config=";
            if (word.rfind(key, 0) == 0 && word.size() > key.size()) {
                return word.substr(key.size());
            }
        }
    } catch (...) {
        // An unreadable command line means no override.
    }
    return fallback;
}

ending idle_until_signal() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGPWR}) {
        sigaddset(&set, s);
    }
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    logger()->error("no fleet is running; waiting for SIGTERM (power off) or SIGINT (reboot)");
    for (;;) {
        siginfo_t info{};
        if (::sigwaitinfo(&set, &info) < 0) {
            continue;
        }
        if (info.si_signo == SIGCHLD) {
            while (::waitpid(-1, nullptr, WNOHANG) > 0) {
            }
            continue;
        }
        return info.si_signo == SIGINT ? ending::reboot : ending::power_off;
    }
}

void end_machine(ending how) noexcept {
    logger()->info("{}", how == ending::reboot ? "rebooting" : "powering off");
    ::sync();
    // Unmount what is not needed to the end, deepest first; the kernel syncs the rest.
    if (auto table = read_mountinfo()) {
        for (const auto& m : mounts_under(*table, "/")) {
            if (m.mount_point != "/" && m.mount_point != "/proc") {
                ::umount2(m.mount_point.c_str(), MNT_DETACH);
            }
        }
    }
    ::sync();
    ::reboot(how == ending::reboot ? RB_AUTOBOOT : RB_POWER_OFF);
    logger()->critical("reboot: {}; staying up", std::strerror(errno));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    for (;;) {
        siginfo_t info{};
        ::sigwaitinfo(&set, &info);
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
}

} // namespace berth::pid1
