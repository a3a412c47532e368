// The overlay layer store: checks layers, mounts each image's stack once, counts references.
#include "engine/layer_store.hpp"

#include "engine/log.hpp"
#include "engine/mountinfo.hpp"
#include "engine/unique_fd.hpp"
#include "shim/protocol.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

namespace berth {
namespace {

std::string subject(std::string_view name) {
    return "image '" + std::string(name) + "'";
}

status check_image_name(std::string_view name) {
    bool bad = name.empty() || name == "." || name == ".." || name.size() > 255 ||
               name.find('/') != std::string_view::npos ||
               name.find('\0') != std::string_view::npos;
    if (bad) {
        return error(EINVAL, subject(name) + ": not a valid image name (one path component)");
    }
    return {};
}

status check_layers(std::string_view name, const std::vector<std::string>& layers) {
    if (layers.empty()) {
        return error(EINVAL, subject(name) + ": no layers");
    }
    if (layers.size() > overlay_max_layers) {
        return error(EINVAL, subject(name) + ": " + std::to_string(layers.size()) +
                                 " layers, over overlayfs' limit of " +
                                 std::to_string(overlay_max_layers));
    }
    for (const auto& layer : layers) {
        std::string where = subject(name) + ": layer '" + layer + "'";
        if (layer.empty() || layer.front() != '/') {
            return error(EINVAL, where + ": not an absolute path");
        }
        struct stat st {};
        if (::stat(layer.c_str(), &st) != 0) {
            return error::from_errno(where);
        }
        if (!S_ISDIR(st.st_mode)) {
            return error(ENOTDIR, where);
        }
    }
    return {};
}

status make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
        return error::from_errno("mkdir '" + path + "'");
    }
    return {};
}

// The messages the kernel left in an fs_context ("e overlay: ..."), joined by "; ".
std::string context_log(int fs_fd) {
    std::string text;
    std::array<char, 512> buf;
    while (true) {
        ssize_t n = ::read(fs_fd, buf.data(), buf.size() - 1);
        if (n <= 0) {
            return text;
        }
        std::string_view line(buf.data(), static_cast<std::size_t>(n));
        while (!line.empty() && line.back() == '\n') {
            line.remove_suffix(1);
        }
        text += text.empty() ? "" : "; ";
        text += line;
    }
}

// An fsconfig failure, with the kernel's own words when it left any.
error fsconfig_error(int fs_fd, std::string context) {
    int code = errno;
    std::string log = context_log(fs_fd);
    if (!log.empty()) {
        context += " (" + log + ")";
    }
    return error(code, std::move(context));
}

// Which step of the new mount API failed, so the caller can fall back to mount(2).
struct fsconfig_outcome {
    status result;
    bool try_legacy = false; // the kernel refused a layer passed by descriptor (before 6.13)
};

fsconfig_outcome mount_with_fsconfig(std::string_view name, const std::vector<std::string>& layers,
                                     const std::string& target) {
    unique_fd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fs) {
        return {error::from_errno(subject(name) + ": fsopen overlay")};
    }
    if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", "berth-image", 0) != 0) {
        return {fsconfig_error(fs.get(), subject(name) + ": fsconfig source")};
    }
    // "lowerdir+" appends below the layers given so far: top-most first.
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        const std::string& layer = *it;
        if (layer.size() <= fsconfig_string_max) {
            if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", layer.c_str(), 0) != 0) {
                return {fsconfig_error(fs.get(), subject(name) + ": layer '" + layer +
                                                     "': fsconfig lowerdir+")};
            }
            continue;
        }
        unique_fd dir(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) {
            return {error::from_errno(subject(name) + ": layer '" + layer + "': open")};
        }
        if (::fsconfig(fs.get(), FSCONFIG_SET_FD, "lowerdir+", nullptr, dir.get()) != 0) {
            bool too_old = errno == EINVAL;
            return {fsconfig_error(fs.get(), subject(name) + ": layer '" + layer +
                                                 "': fsconfig lowerdir+ by descriptor"),
                    too_old};
        }
    }
    if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        return {fsconfig_error(fs.get(), subject(name) + ": create overlay")};
    }
    unique_fd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY));
    if (!mnt) {
        return {error::from_errno(subject(name) + ": fsmount")};
    }
    if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        return {error::from_errno(subject(name) + ": move_mount to '" + target + "'")};
    }
    return {status()};
}

// E2BIG when a mount(2) option string would not fit in its page.
status check_options_size(std::size_t size) {
    if (size > legacy_mount_options_max) {
        return error(E2BIG, "the lowerdir option is " + std::to_string(size) +
                                " bytes, over mount(2)'s limit of " +
                                std::to_string(legacy_mount_options_max));
    }
    return {};
}

// Makes a directory the working directory of the process and puts the old one back when it
// goes out of scope, on every path. The working directory belongs to the whole process (every
// thread shares it): this is safe because berth is single-threaded and nothing between the
// change and the restore resolves a relative path but the mount it is made for.
class working_dir_change {
public:
    static result<working_dir_change> enter(int dir_fd, std::string_view dir_name) {
        unique_fd saved(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!saved) {
            return error::from_errno("open the working directory");
        }
        if (::fchdir(dir_fd) != 0) {
            return error::from_errno("chdir '" + std::string(dir_name) + "'");
        }
        return working_dir_change(std::move(saved));
    }

    working_dir_change(working_dir_change&&) noexcept = default;
    working_dir_change& operator=(working_dir_change&&) = delete;

    ~working_dir_change() {
        if (saved_ && ::fchdir(saved_.get()) != 0) {
            log::get("engine")->error("restore the working directory: {}", std::strerror(errno));
        }
    }

private:
    explicit working_dir_change(unique_fd saved) : saved_(std::move(saved)) {}

    unique_fd saved_;
};

constexpr const char* proc_fd_dir = "/proc/self/fd";

// mount(2) with every layer, and the target, named by its descriptor number:
// "lowerdir=14:13:12" on "15". overlayfs resolves each lowerdir entry during the mount call
// like a path given to open(2), a relative one against the caller's working directory
// (kern_path with LOOKUP_FOLLOW, in the option parser before Linux 6.5 and in the fs_context
// one since; checked on 6.1 and 6.18); in /proc/self/fd each number is a magic link to the
// open directory, which that lookup follows. So an entry costs a few bytes whatever its
// path, and 500 layers, overlayfs' maximum, need about 2.5 KB of the page. The target goes by
// descriptor too, so a relative state dir still names the right directory.
// /proc/self/mountinfo then shows those numbers as the lowerdir option (docs/layers.md).
status mount_by_descriptor(std::string_view name, const std::vector<std::string>& layers,
                           const std::string& target) {
    std::string what = subject(name) + ": mount overlay of " + std::to_string(layers.size()) +
                       " layers by descriptor";
    std::vector<unique_fd> dirs;
    std::vector<int> numbers;
    dirs.reserve(layers.size());
    for (const auto& layer : layers) {
        unique_fd dir(::open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir) {
            return error::from_errno(what + ": layer '" + layer + "': open");
        }
        numbers.push_back(dir.get());
        dirs.push_back(std::move(dir));
    }
    unique_fd target_dir(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!target_dir) {
        return error::from_errno(what + ": open '" + target + "'");
    }
    auto options = layer_store::descriptor_options(numbers);
    if (!options) {
        return options.error().within(what);
    }
    unique_fd fd_dir(::open(proc_fd_dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd_dir) {
        return error::from_errno(what + ": open '" + std::string(proc_fd_dir) + "'");
    }

    auto cwd = working_dir_change::enter(fd_dir.get(), proc_fd_dir);
    if (!cwd) {
        return cwd.error().within(what);
    }
    std::string target_entry = std::to_string(target_dir.get());
    if (::mount("berth-image", target_entry.c_str(), "overlay", MS_RDONLY, options->c_str()) != 0) {
        return error::from_errno(what + " on '" + target + "'");
    }
    return {};
}

// mount(2): the layer paths when they fit in its option page, else the layers by descriptor.
// Also on 6.5-6.7, which have fsconfig but no "lowerdir+": fsconfig "lowerdir" would take the
// whole list as one string of at most fsconfig_string_max bytes, far less than mount(2)'s
// page. `why_not_new` says why the new mount API is not (or no longer) an option, for the log.
status mount_with_options(std::string_view name, const std::vector<std::string>& layers,
                          const std::string& target, std::string_view why_not_new) {
    auto options = layer_store::legacy_options(layers);
    if (!options) {
        log::get("engine")->debug("image={} layers={} {}, {}: mounting by descriptor", name,
                                  layers.size(), options.error().context(), why_not_new);
        return mount_by_descriptor(name, layers, target);
    }
    if (::mount("berth-image", target.c_str(), "overlay", MS_RDONLY, options->c_str()) != 0) {
        return error::from_errno(subject(name) + ": mount overlay on '" + target + "'");
    }
    return {};
}

// Unmounts lazily and removes the mount point directory; a path no longer mounted is fine.
status unmount_and_remove(const std::string& path) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        return error::from_errno("umount '" + path + "'");
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
        return error::from_errno("rmdir '" + path + "'");
    }
    return {};
}

} // namespace

layer_store::layer_store(std::string state_dir, mount_api api)
    : state_dir_(std::move(state_dir)), api_(api) {}

layer_store::~layer_store() {
    if (dev_template_) {
        if (auto s = unmount_and_remove(*dev_template_); !s) {
            log::get("engine")->warn("dev template at shutdown: {}", s.error().message());
        }
    }
    for (auto& [name, img] : images_) {
        if (!img.mounted) {
            continue;
        }
        if (auto s = unmount_and_remove(img.path); !s) {
            log::get("engine")->warn("image={} release at shutdown: {}", name, s.error().message());
        }
    }
}

std::string layer_store::image_path(std::string_view name) const {
    return state_dir_ + "/images/" + std::string(name);
}

namespace {

// Fills the template's tmpfs at `dir` with the tree of shim/protocol.h, the one the shim
// builds without dev=; modes set by chmod, whatever the umask.
status fill_dev_template(const std::string& dir) {
    for (const berth_dev_node& n : berth_dev_nodes) {
        const std::string path = dir + "/" + n.name;
        if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) != 0 ||
            ::chmod(path.c_str(), 0666) != 0) {
            return error::from_errno("mknod '" + path + "'");
        }
    }
    for (const char* name : berth_dev_dirs) {
        const std::string path = dir + "/" + name;
        if (::mkdir(path.c_str(), 0755) != 0 || ::chmod(path.c_str(), 0755) != 0) {
            return error::from_errno("mkdir '" + path + "'");
        }
    }
    for (const berth_dev_link& l : berth_dev_links) {
        const std::string path = dir + "/" + l.name;
        if (::symlink(l.target, path.c_str()) != 0) {
            return error::from_errno("symlink '" + path + "'");
        }
    }
    return {};
}

} // namespace

result<std::string> layer_store::dev_template() {
    if (dev_template_) {
        return *dev_template_;
    }
    const std::string target = state_dir_ + "/images/.dev";
    for (const std::string& dir : {state_dir_, state_dir_ + "/images", target}) {
        if (auto s = make_dir(dir); !s) {
            return s.error().within("dev template");
        }
    }
    constexpr unsigned long flags = MS_NOSUID | MS_NOEXEC;
    if (::mount("tmpfs", target.c_str(), "tmpfs", flags, "mode=0755,size=64k") != 0) {
        auto err = error::from_errno("dev template: mount tmpfs on '" + target + "'");
        ::rmdir(target.c_str());
        return err;
    }
    auto filled = fill_dev_template(target);
    // Read-only for the superblock, not only this mount: no container's bind of it can be
    // made writable without CAP_SYS_ADMIN, which berth never grants.
    if (filled &&
        ::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | flags, nullptr) != 0) {
        filled = error::from_errno("remount read-only '" + target + "'");
    }
    if (!filled) {
        (void)unmount_and_remove(target);
        return filled.error().within("dev template");
    }
    dev_template_ = target;
    log::get("engine")->debug("dev template mounted at '{}'", target);
    return target;
}

std::size_t layer_store::references(std::string_view name) const {
    auto it = images_.find(name);
    return it == images_.end() ? 0 : it->second.references;
}

result<std::string> layer_store::legacy_options(const std::vector<std::string>& layers) {
    std::string text = "lowerdir=";
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        if (it != layers.rbegin()) {
            text += ':';
        }
        for (char c : *it) {
            if (c == '\\' || c == ':' || c == ',') {
                text += '\\';
            }
            text += c;
        }
    }
    if (auto s = check_options_size(text.size()); !s) {
        return s.error();
    }
    return text;
}

result<std::string> layer_store::descriptor_options(const std::vector<int>& fds) {
    std::string text = "lowerdir=";
    for (auto it = fds.rbegin(); it != fds.rend(); ++it) {
        if (it != fds.rbegin()) {
            text += ':';
        }
        text += std::to_string(*it);
    }
    if (auto s = check_options_size(text.size()); !s) {
        return s.error();
    }
    return text;
}

bool layer_store::kernel_has_lowerdir_plus() {
    if (!lowerdir_plus_) {
        // A path that cannot exist: Linux 6.8+ resolves "lowerdir+" at once and says ENOTDIR;
        // 6.5-6.7 reject the unknown key (EINVAL); older kernels accept any key here and
        // fail only at create. The probe leaves one "failed to resolve" line in the kernel log.
        unique_fd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
        bool has = false;
        if (fs) {
            int rc =
                ::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", "/dev/null/berth-probe", 0);
            has = rc != 0 && errno == ENOTDIR;
        }
        lowerdir_plus_ = has;
        log::get("engine")->debug("overlay lowerdir+ (new mount API): {}", has ? "yes" : "no");
    }
    return *lowerdir_plus_;
}

status layer_store::mount_stack(std::string_view name, const std::vector<std::string>& layers,
                                const std::string& target) {
    if (api_ == mount_api::legacy_only) {
        return mount_with_options(name, layers, target, "and this store uses mount(2) only");
    }
    if (!kernel_has_lowerdir_plus()) {
        return mount_with_options(name, layers, target,
                                  "and this kernel lacks fsconfig 'lowerdir+' (Linux 6.8)");
    }
    fsconfig_outcome outcome = mount_with_fsconfig(name, layers, target);
    if (outcome.result || !outcome.try_legacy) {
        return outcome.result;
    }
    log::get("engine")->debug("image={} fsconfig could not take a long layer path: {}", name,
                              outcome.result.error().message());
    return mount_with_options(name, layers, target,
                              "and this kernel takes no layer by descriptor (Linux 6.13) for "
                              "paths over 255 bytes");
}

result<std::string> layer_store::mount_image(std::string_view name,
                                             const std::vector<std::string>& layers) {
    if (auto s = check_image_name(name); !s) {
        return s.error();
    }
    if (auto it = images_.find(name); it != images_.end()) {
        if (it->second.layers != layers) {
            return error(EEXIST, subject(name) + ": already mounted with another layer stack");
        }
        ++it->second.references;
        return it->second.path;
    }

    if (auto s = check_layers(name, layers); !s) {
        return s.error();
    }

    if (layers.size() == 1) {
        images_.emplace(std::string(name), image{layers, layers.front(), 1, false});
        return layers.front();
    }

    std::string target = image_path(name);
    for (const std::string& dir : {state_dir_, state_dir_ + "/images", target}) {
        if (auto s = make_dir(dir); !s) {
            return s.error().within(subject(name));
        }
    }
    auto mounted = is_mount_point(target);
    if (!mounted) {
        return mounted.error().within(subject(name));
    }
    if (mounted.value()) {
        return error(EBUSY, subject(name) + ": '" + target +
                                "' is already a mount point (left by an earlier run? "
                                "cleanup_leftovers removes those)");
    }

    if (auto s = mount_stack(name, layers, target); !s) {
        ::rmdir(target.c_str());
        return s.error();
    }
    images_.emplace(std::string(name), image{layers, target, 1, true});
    log::get("engine")->debug("image={} mounted {} layers at '{}'", name, layers.size(), target);
    return target;
}

status layer_store::release_image(std::string_view name) {
    auto it = images_.find(name);
    if (it == images_.end() || it->second.references == 0) {
        return error(ENOENT, subject(name) + ": release: not mounted");
    }
    image& img = it->second;
    if (--img.references > 0) {
        return {};
    }
    if (img.mounted) {
        if (auto s = unmount_and_remove(img.path); !s) {
            // Keep the entry: the destructor tries again.
            return s.error().within(subject(name));
        }
    }
    images_.erase(it);
    return {};
}

status layer_store::cleanup_leftovers(const std::string& state_dir) {
    std::string images_dir = state_dir + "/images";
    char* real = ::realpath(images_dir.c_str(), nullptr);
    if (real == nullptr) {
        return errno == ENOENT ? status() : error::from_errno("realpath '" + images_dir + "'");
    }
    images_dir = real;
    std::free(real);

    auto mounts = read_mountinfo();
    if (!mounts) {
        return mounts.error().within("layer store cleanup");
    }
    // Every leftover is tried; the first failure is what the caller gets.
    status outcome;
    auto note = [&](error err) {
        log::get("engine")->warn("{}", err.message());
        if (outcome.has_value()) {
            outcome = std::move(err);
        }
    };
    for (const auto& m : mounts_under(mounts.value(), images_dir)) {
        if (m.mount_point == images_dir) {
            continue; // something mounted on images/ itself is not ours to remove
        }
        if (::umount2(m.mount_point.c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
            errno != ENOENT) {
            note(error::from_errno("layer store cleanup: umount '" + m.mount_point + "'"));
            continue;
        }
        log::get("engine")->info("removed leftover image mount '{}'", m.mount_point);
    }

    DIR* stream = ::opendir(images_dir.c_str());
    if (stream == nullptr) {
        return error::from_errno("layer store cleanup: opendir '" + images_dir + "'");
    }
    std::vector<std::string> dirs;
    while (struct dirent* entry = ::readdir(stream)) {
        std::string_view entry_name = entry->d_name;
        if (entry_name == "." || entry_name == "..") {
            continue;
        }
        std::string path = images_dir + "/" + std::string(entry_name);
        struct stat st {};
        bool is_dir =
            entry->d_type == DT_DIR ||
            (entry->d_type == DT_UNKNOWN && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
        if (is_dir) {
            dirs.push_back(std::move(path));
        }
    }
    ::closedir(stream);
    for (const auto& dir : dirs) {
        if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
            note(error::from_errno("layer store cleanup: rmdir '" + dir + "'"));
        }
    }
    return outcome;
}

} // namespace berth
