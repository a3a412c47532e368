// Building a root template in a short-lived child that shares the supervisor's memory and fd
// table: everything it needs is prepared here beforehand, and it does nothing but system calls.
#include "engine/root_template.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>

extern "C" long berth_clone3(clone_args* args, size_t size, int (*fn)(void*), void* arg);

namespace berth {
namespace {

constexpr std::uint64_t attr_rdonly = 0x1; // MOUNT_ATTR_RDONLY (linux/mount.h)

struct mount_attr_args { // struct mount_attr (linux/mount.h)
    std::uint64_t attr_set = 0;
    std::uint64_t attr_clr = 0;
    std::uint64_t propagation = 0;
    std::uint64_t userns_fd = 0;
};

// What the child does, as plain C strings and arrays (no library code runs in the child);
// it reports its failing step here.
struct build_context {
    const char* scratch = nullptr;
    const char* const* dirs = nullptr; // relative, parents first
    std::size_t dir_count = 0;
    const char* const* sources = nullptr; // absolute
    const char* const* targets = nullptr; // relative
    std::size_t bind_count = 0;
    int ns_fd = -1;
    const char* failed_step = nullptr;
    int failed_errno = 0;
};

__attribute__((no_sanitize("address", "undefined"))) int fail(build_context* ctx,
                                                              const char* step) noexcept {
    ctx->failed_errno = errno;
    ctx->failed_step = step;
    return 1;
}

__attribute__((no_sanitize("address", "undefined"))) int build_child(void* arg) noexcept {
    auto* ctx = static_cast<build_context*>(arg);
    if (::unshare(CLONE_NEWNS) != 0) {
        return fail(ctx, "unshare");
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return fail(ctx, "make mounts private");
    }
    // Only directories and mount points live here: a few kB is plenty.
    if (::mount("tmpfs", ctx->scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "mode=0755,size=64k,nr_inodes=4096") != 0) {
        return fail(ctx, "mount tmpfs");
    }
    if (::chdir(ctx->scratch) != 0) {
        return fail(ctx, "chdir");
    }
    for (std::size_t i = 0; i < ctx->dir_count; ++i) {
        if (::mkdir(ctx->dirs[i], 0755) != 0 && errno != EEXIST) {
            return fail(ctx, "mkdir");
        }
    }
    for (std::size_t i = 0; i < ctx->bind_count; ++i) {
        const char* target = ctx->targets[i];
        if (::mount(ctx->sources[i], target, nullptr, MS_BIND, nullptr) != 0) {
            return fail(ctx, "bind");
        }
        // Read-only on this mount only, keeping the flags it had (nodev on the /dev tree
        // would make its nodes useless).
        mount_attr_args attr;
        attr.attr_set = attr_rdonly;
        if (::syscall(SYS_mount_setattr, AT_FDCWD, target, 0, &attr, sizeof attr) != 0) {
            return fail(ctx, "make bind read-only");
        }
    }
    if (::mount(nullptr, ".", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
        return fail(ctx, "remount tmpfs read-only");
    }
    // While /proc is still in reach; the fd is the supervisor's too (CLONE_FILES).
    ctx->ns_fd = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (ctx->ns_fd < 0) {
        return fail(ctx, "open /proc/self/ns/mnt");
    }
    if (::syscall(SYS_pivot_root, ".", ".") != 0) {
        return fail(ctx, "pivot_root");
    }
    if (::umount2(".", MNT_DETACH) != 0) {
        return fail(ctx, "detach the old root");
    }
    return 0;
}

// "a/b/c" for "/a/b/c", with each parent ("a", "a/b") appended to dirs first.
std::string add_relative(const std::string& absolute, std::vector<std::string>& dirs) {
    std::string rel = absolute.substr(absolute.find_first_not_of('/'));
    for (std::size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
        dirs.push_back(rel.substr(0, slash));
    }
    dirs.push_back(rel);
    return rel;
}

// Absolute, no ':' or ',' (the shim's separators), no "." or ".." component, not "/".
bool plain_absolute(const std::string& path) {
    if (path.size() < 2 || path[0] != '/' || path.find_first_of(":,") != std::string::npos) {
        return false;
    }
    for (std::size_t pos = 1; pos <= path.size();) {
        auto end = std::min(path.find('/', pos), path.size());
        auto part = path.substr(pos, end - pos);
        if (part == "." || part == "..") {
            return false;
        }
        pos = end + 1;
    }
    return true;
}

bool below(const std::string& path, const std::string& dir) {
    return path == dir || path.rfind(dir + "/", 0) == 0;
}

} // namespace

result<unique_fd> build_root_template(const root_template_paths& paths) {
    const std::string what = "root template for '" + paths.lower + "'";
    std::vector<std::string> sources;
    for (std::size_t pos = 0; pos <= paths.lower.size();) {
        auto colon = paths.lower.find(':', pos);
        auto end = colon == std::string::npos ? paths.lower.size() : colon;
        sources.push_back(paths.lower.substr(pos, end - pos));
        pos = end + 1;
    }
    if (!paths.dev.empty()) {
        sources.push_back(paths.dev);
    }
    if (!plain_absolute(paths.scratch) || paths.scratch.back() == '/') {
        return error(EINVAL, what + ": scratch '" + paths.scratch + "' is not a usable path");
    }
    for (const auto& s : sources) {
        // Below the scratch dir it would be hidden by the tmpfs mounted there.
        if (!plain_absolute(s) || below(s, paths.scratch)) {
            return error(EINVAL, what + ": '" + s + "' is not a usable path");
        }
    }

    std::vector<std::string> dirs;
    std::vector<std::string> targets;
    for (const auto& s : sources) {
        targets.push_back(add_relative(s, dirs));
    }
    add_relative(paths.scratch, dirs);

    auto c_strings = [](const std::vector<std::string>& words) {
        std::vector<const char*> out;
        for (const auto& w : words) {
            out.push_back(w.c_str());
        }
        return out;
    };
    const auto dir_ptrs = c_strings(dirs);
    const auto source_ptrs = c_strings(sources);
    const auto target_ptrs = c_strings(targets);
    build_context ctx;
    ctx.scratch = paths.scratch.c_str();
    ctx.dirs = dir_ptrs.data();
    ctx.dir_count = dir_ptrs.size();
    ctx.sources = source_ptrs.data();
    ctx.targets = target_ptrs.data();
    ctx.bind_count = source_ptrs.size();

    std::vector<char> stack(64 * 1024);
    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    args.stack = reinterpret_cast<std::uint64_t>(stack.data());
    args.stack_size = stack.size();
    long pid = berth_clone3(&args, sizeof args, build_child, &ctx);
    if (pid < 0) {
        return error(static_cast<int>(-pid), what + ": clone3");
    }
    unique_fd ns(ctx.ns_fd);
    siginfo_t info{};
    int waited = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
    int wait_errno = errno;
    ::close(pidfd);
    if (ctx.failed_step != nullptr) {
        return error(ctx.failed_errno, what + ": " + ctx.failed_step);
    }
    if (waited != 0) {
        return error(wait_errno, what + ": waitid");
    }
    if (info.si_code != CLD_EXITED || info.si_status != 0 || !ns) {
        return error(ECHILD, what + ": the builder did not finish");
    }
    return ns;
}

result<int> root_templates::acquire(const root_template_paths& paths) {
    auto it = by_lower_.find(paths.lower);
    if (it == by_lower_.end()) {
        auto ns = build_root_template(paths);
        if (!ns) {
            return ns.error();
        }
        it = by_lower_.emplace(paths.lower, entry{std::move(*ns), 0}).first;
    }
    ++it->second.users;
    return it->second.ns.get();
}

void root_templates::release(const std::string& lower) {
    auto it = by_lower_.find(lower);
    if (it != by_lower_.end() && --it->second.users <= 0) {
        by_lower_.erase(it);
    }
}

} // namespace berth
