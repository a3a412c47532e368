// cgroup v2 files, controllers, process placement, freeze/kill/remove and the subtree layout.
#include "engine/cgroup.hpp"

#include "engine/log.hpp"
#include "engine/mountinfo.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace berth::cgroup {
namespace {

std::string subject(const std::string& dir) {
    return "cgroup '" + dir + "'";
}

error failure(const std::string& dir, std::string_view action) {
    return error::from_errno(subject(dir) + ": " + std::string(action));
}

std::string join(std::string_view dir, std::string_view name) {
    std::string path(dir);
    if (path.empty() || path.back() != '/') {
        path += '/';
    }
    path += name;
    return path;
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        std::size_t start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        if (i > start) {
            words.emplace_back(text.substr(start, i - start));
        }
    }
    return words;
}

bool contains(const std::vector<std::string>& list, std::string_view word) {
    return std::find(list.begin(), list.end(), word) != list.end();
}

// Reads a whole file from an open descriptor, from offset 0.
result<std::string> read_all_at(int fd) {
    std::string text;
    std::array<char, 4096> buf;
    off_t offset = 0;
    while (true) {
        ssize_t n = ::pread(fd, buf.data(), buf.size(), offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return error::from_errno("read");
        }
        if (n == 0) {
            return text;
        }
        text.append(buf.data(), static_cast<std::size_t>(n));
        offset += n;
    }
}

// mkdir -p: creates each missing component; an existing directory is fine.
status make_dirs(const std::string& path) {
    for (std::size_t pos = 1; pos <= path.size(); ++pos) {
        if (pos != path.size() && path[pos] != '/') {
            continue;
        }
        std::string prefix = path.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
            return error::from_errno("mkdir '" + prefix + "'");
        }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return error::from_errno("stat '" + path + "'");
    }
    if (!S_ISDIR(st.st_mode)) {
        return error(ENOTDIR, "'" + path + "'");
    }
    return {};
}

// A cgroup name is one path component that cgroupfs accepts and that cannot be mistaken for
// an interface file.
status check_name(std::string_view kind, std::string_view name) {
    bool bad = name.empty() || name == "." || name == ".." || name.size() > 255 ||
               name.find('/') != std::string_view::npos ||
               name.find('\n') != std::string_view::npos || name.substr(0, 7) == "cgroup.";
    if (bad) {
        return error(EINVAL, std::string(kind) + " name '" + std::string(name) +
                                 "' is not a valid cgroup directory name");
    }
    return {};
}

status make_leaf_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        return failure(path, "mkdir");
    }
    return {};
}

// Collects every directory below `dir`, children before their parents.
status collect_dirs_deepest_first(const std::string& dir, std::vector<std::string>& out) {
    DIR* stream = ::opendir(dir.c_str());
    if (stream == nullptr) {
        return failure(dir, "opendir");
    }
    std::vector<std::string> children;
    errno = 0;
    while (struct dirent* entry = ::readdir(stream)) {
        std::string_view name = entry->d_name;
        if (entry->d_type == DT_DIR && name != "." && name != "..") {
            children.push_back(join(dir, name));
        }
    }
    int read_errno = errno;
    ::closedir(stream);
    if (read_errno != 0) {
        return error(read_errno, subject(dir) + ": readdir");
    }
    for (const auto& child : children) {
        if (auto s = collect_dirs_deepest_first(child, out); !s) {
            return s;
        }
    }
    out.push_back(dir);
    return {};
}

using steady = std::chrono::steady_clock;

int millis_left(steady::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    return static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
}

void sleep_briefly(std::chrono::milliseconds pause) {
    struct timespec ts {};
    ts.tv_nsec = static_cast<long>(pause.count()) * 1000000L;
    ::nanosleep(&ts, nullptr);
}

// Waits on cgroup.events until populated is 0, at most until `deadline`.
status wait_unpopulated(const std::string& dir, steady::time_point deadline,
                        std::chrono::milliseconds budget) {
    auto fd = open_events(dir);
    if (!fd) {
        return fd.error();
    }
    while (true) {
        auto ev = read_events(fd->get());
        if (!ev) {
            return ev.error().within(subject(dir));
        }
        if (!ev->populated) {
            return {};
        }
        int left = millis_left(deadline);
        if (left == 0) {
            return error(EBUSY, subject(dir) + ": remove: processes still alive " +
                                    std::to_string(budget.count()) + " ms after cgroup.kill");
        }
        pollfd pfd{fd->get(), POLLPRI, 0};
        if (::poll(&pfd, 1, left) < 0 && errno != EINTR) {
            return failure(dir, "poll cgroup.events");
        }
    }
}

// rmdir, retrying EBUSY (tasks still being torn down) until `deadline`.
status remove_with_retry(const std::string& dir, steady::time_point deadline) {
    auto pause = std::chrono::milliseconds(1);
    while (true) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
            return {};
        }
        if (errno != EBUSY || millis_left(deadline) == 0) {
            return failure(dir, "rmdir");
        }
        sleep_briefly(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
}

bool is_at_or_under(std::string_view path, std::string_view dir) {
    while (dir.size() > 1 && dir.back() == '/') {
        dir.remove_suffix(1);
    }
    return path.substr(0, dir.size()) == dir &&
           (path.size() == dir.size() || path[dir.size()] == '/');
}

} // namespace

// ---- locating the hierarchy ----------------------------------------------------------------

result<std::string> mount_point() {
    auto mounts = read_mountinfo();
    if (!mounts) {
        return mounts.error();
    }
    return find_cgroup2_mount(mounts.value());
}

result<std::string> default_root(bool pid1) {
    auto mount = mount_point();
    if (!mount || pid1) {
        return mount;
    }
    return join(mount.value(), "berth");
}

result<std::string> path_of_process(pid_t pid) {
    std::string file = pid == 0 ? "/proc/self/cgroup" : "/proc/" + std::to_string(pid) + "/cgroup";
    unique_fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return error::from_errno("'" + file + "': open");
    }
    auto text = read_all_at(fd.get());
    if (!text) {
        return text.error().within("'" + file + "'");
    }
    std::string_view rest = text.value();
    while (!rest.empty()) {
        std::size_t end = std::min(rest.find('\n'), rest.size());
        std::string_view line = rest.substr(0, end);
        rest.remove_prefix(std::min(end + 1, rest.size()));
        if (line.substr(0, 3) != "0::") {
            continue;
        }
        auto mount = mount_point();
        if (!mount) {
            return mount.error();
        }
        std::string_view relative = line.substr(3);
        if (relative == "/") {
            return mount.value();
        }
        return mount.value() + std::string(relative);
    }
    return error(ENOENT, "'" + file + "': no cgroup2 (\"0::\") line");
}

// ---- files ----------------------------------------------------------------------------------

result<std::optional<std::string>> read_text_if_present(const std::string& dir,
                                                        std::string_view file) {
    std::string path = join(dir, file);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return std::optional<std::string>();
        }
        return failure(dir, "open " + std::string(file));
    }
    auto text = read_all_at(fd.get());
    if (!text) {
        return error(text.error().code(), subject(dir) + ": read " + std::string(file));
    }
    return std::optional<std::string>(std::move(text.value()));
}

result<std::string> read_text(const std::string& dir, std::string_view file) {
    auto text = read_text_if_present(dir, file);
    if (!text) {
        return text.error();
    }
    if (!text->has_value()) {
        return error(ENOENT, subject(dir) + ": open " + std::string(file));
    }
    return std::move(**text);
}

status write_text(const std::string& dir, std::string_view file, std::string_view value) {
    std::string path = join(dir, file);
    unique_fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) {
        return failure(dir, "open " + std::string(file));
    }
    ssize_t n;
    do {
        n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return failure(dir, "write " + std::string(file));
    }
    if (static_cast<std::size_t>(n) != value.size()) {
        return error(EIO, subject(dir) + ": write " + std::string(file) + ": short write");
    }
    return {};
}

result<std::string> read_text_at(int fd) {
    return read_all_at(fd);
}

// ---- controllers ----------------------------------------------------------------------------

std::vector<std::string> default_controllers() {
    return {"cpu", "cpuset", "io", "memory", "pids"};
}

result<std::vector<std::string>> read_controllers(const std::string& dir) {
    auto text = read_text(dir, "cgroup.controllers");
    if (!text) {
        return text.error();
    }
    return split_words(text.value());
}

result<std::vector<std::string>> read_subtree_control(const std::string& dir) {
    auto text = read_text(dir, "cgroup.subtree_control");
    if (!text) {
        return text.error();
    }
    return split_words(text.value());
}

result<std::vector<std::string>> enable_controllers(const std::string& dir,
                                                    const std::vector<std::string>& wanted) {
    auto offered = read_controllers(dir);
    if (!offered) {
        return offered.error();
    }
    std::vector<std::string> enabled;
    for (const auto& name : wanted) {
        if (!contains(offered.value(), name)) {
            continue;
        }
        if (auto s = write_text(dir, "cgroup.subtree_control", "+" + name); !s) {
            if (s.error().code() == EBUSY) {
                return error(EBUSY, subject(dir) + ": enable " + name +
                                        " for children: the cgroup holds processes, and one "
                                        "that enables controllers may not");
            }
            return s.error();
        }
        enabled.push_back(name);
    }
    return enabled;
}

// ---- processes ------------------------------------------------------------------------------

result<unique_fd> open_dir(const std::string& dir) {
    unique_fd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        return failure(dir, "open");
    }
    return fd;
}

status move_process(const std::string& dir, pid_t pid) {
    return write_text(dir, "cgroup.procs", std::to_string(pid));
}

status move_self_into(const std::string& dir) {
    return write_text(dir, "cgroup.procs", "0");
}

// ---- state and operations -------------------------------------------------------------------

result<events> parse_events(std::string_view text) {
    events ev;
    bool saw_populated = false;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t end = std::min(text.find('\n', i), text.size());
        std::vector<std::string> words = split_words(text.substr(i, end - i));
        i = end + 1;
        if (words.size() != 2) {
            continue;
        }
        if (words[1] != "0" && words[1] != "1") {
            return error(EINVAL, "cgroup.events: bad value '" + words[1] + "' for " + words[0]);
        }
        if (words[0] == "populated") {
            ev.populated = words[1] == "1";
            saw_populated = true;
        } else if (words[0] == "frozen") {
            ev.frozen = words[1] == "1";
        }
    }
    if (!saw_populated) {
        return error(EINVAL, "cgroup.events: no 'populated' line");
    }
    return ev;
}

result<events> read_events(const std::string& dir) {
    auto text = read_text(dir, "cgroup.events");
    if (!text) {
        return text.error();
    }
    return parse_events(text.value()).within(subject(dir));
}

result<unique_fd> open_events(const std::string& dir, std::string_view file) {
    std::string path = join(dir, file);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return failure(dir, "open " + std::string(file));
    }
    return fd;
}

result<events> read_events(int fd) {
    auto text = read_all_at(fd);
    if (!text) {
        return text.error().within("cgroup.events");
    }
    return parse_events(text.value());
}

status freeze(const std::string& dir) {
    return write_text(dir, "cgroup.freeze", "1");
}

status thaw(const std::string& dir) {
    return write_text(dir, "cgroup.freeze", "0");
}

status kill_all(const std::string& dir) {
    return write_text(dir, "cgroup.kill", "1");
}

status remove(const std::string& dir) {
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        return failure(dir, "rmdir");
    }
    return {};
}

status remove_leaf(const std::string& dir, std::chrono::milliseconds budget) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        return {};
    }
    if (errno != EBUSY) {
        return failure(dir, "rmdir");
    }
    // EBUSY also means child cgroups: those are not strays, and nothing is killed for them.
    std::vector<std::string> dirs;
    if (auto s = collect_dirs_deepest_first(dir, dirs); !s) {
        return s;
    }
    if (dirs.size() > 1) {
        return error(EBUSY, subject(dir) + ": rmdir: not a leaf (" +
                                std::to_string(dirs.size() - 1) + " cgroups below)");
    }
    auto deadline = steady::now() + budget;
    if (auto s = kill_all(dir); !s) {
        return s;
    }
    if (auto s = wait_unpopulated(dir, deadline, budget); !s) {
        return s;
    }
    if (auto s = remove_with_retry(dir, deadline); !s) {
        return s;
    }
    berth::log::get("engine")->debug("cgroup '{}': killed what was left, then removed it", dir);
    return {};
}

status remove_tree(const std::string& dir, std::chrono::milliseconds budget) {
    auto deadline = steady::now() + budget;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        return errno == ENOENT ? status() : failure(dir, "stat");
    }

    // Fail closed: without knowing where the caller is, killing a subtree is not safe.
    auto self = path_of_process(0);
    if (!self) {
        return self.error().within(subject(dir) + ": remove");
    }
    if (is_at_or_under(self.value(), dir)) {
        return error(EPERM, subject(dir) + ": remove: refusing, the caller itself is in '" +
                                self.value() + "'");
    }

    if (auto s = kill_all(dir); !s) {
        return s;
    }

    if (auto s = wait_unpopulated(dir, deadline, budget); !s) {
        return s;
    }

    std::vector<std::string> dirs;
    if (auto s = collect_dirs_deepest_first(dir, dirs); !s) {
        return s;
    }
    for (const auto& d : dirs) {
        if (auto s = remove_with_retry(d, deadline); !s) {
            return s;
        }
    }
    berth::log::get("engine")->debug("removed cgroup subtree '{}' ({} directories)", dir,
                                     dirs.size());
    return {};
}

// ---- the supervisor's subtree ---------------------------------------------------------------

result<tree> tree::open(std::string root, std::vector<std::string> wanted) {
    while (root.size() > 1 && root.back() == '/') {
        root.pop_back();
    }
    if (root.empty() || root.front() != '/') {
        return error(EINVAL, subject(root) + ": open tree: the root must be an absolute path");
    }
    if (auto s = make_dirs(root); !s) {
        return s.error().within(subject(root) + ": open tree");
    }
    struct statfs fs {};
    if (::statfs(root.c_str(), &fs) != 0) {
        return failure(root, "statfs");
    }
    if (fs.f_type != CGROUP2_SUPER_MAGIC) {
        return error(0, subject(root) + ": open tree: not on a cgroup2 filesystem");
    }
    auto available = read_controllers(root);
    if (!available) {
        return available.error();
    }
    return tree(std::move(root), std::move(wanted), std::move(available.value()));
}

std::string tree::init_path() const {
    return join(root_, "init");
}

std::string tree::service_path(std::string_view service) const {
    return join(root_, service);
}

std::string tree::replica_path(std::string_view service, std::string_view replica) const {
    return join(service_path(service), replica);
}

result<std::string> tree::create_init() const {
    std::string path = init_path();
    if (auto s = make_leaf_dir(path); !s) {
        return s.error();
    }
    return path;
}

result<std::vector<std::string>> tree::enable_root_controllers() const {
    return enable_controllers(root_, wanted_);
}

result<std::string> tree::create_service(std::string_view service) const {
    if (auto s = check_name("service", service); !s) {
        return s.error().within(subject(root_));
    }
    if (service == "init") {
        return error(EINVAL, subject(root_) + ": service name 'init' is reserved for the "
                                              "supervisor's own cgroup");
    }
    std::string path = service_path(service);
    if (auto s = make_leaf_dir(path); !s) {
        return s.error();
    }
    auto enabled = enable_controllers(path, wanted_);
    if (!enabled) {
        return enabled.error();
    }
    return path;
}

result<std::string> tree::create_replica(std::string_view service, std::string_view replica) const {
    if (auto s = check_name("service", service); !s) {
        return s.error().within(subject(root_));
    }
    if (auto s = check_name("replica", replica); !s) {
        return s.error().within(subject(service_path(service)));
    }
    std::string path = replica_path(service, replica);
    if (auto s = make_leaf_dir(path); !s) {
        return s.error();
    }
    return path;
}

} // namespace berth::cgroup
