// The overlay layer store: one shared read-only mount per image, reference-counted.
//
// An image is an ordered stack of layer directories, bottom first (the order config lists
// them). mount_image() mounts the stack once, read-only and without an upper layer, at
// <state_dir>/images/<name>, and returns the path every container of the image uses as its
// single lowerdir; containers add their own upper/work (the shim's job), so page cache and
// dentries of the layers are shared. A one-layer image needs no mount: its layer directory is
// returned as it is. A stack too long for mount(2)'s option page is mounted with its layers
// given by descriptor (mount_by_descriptor in layer_store.cpp). See docs/layers.md.
#pragma once

#include "engine/result.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

// overlayfs accepts at most this many lower layers (OVL_MAX_STACK).
inline constexpr std::size_t overlay_max_layers = 500;

// mount(2) copies one page of options and terminates it: 4095 bytes of text at most.
inline constexpr std::size_t legacy_mount_options_max = 4095;

// fsconfig(FSCONFIG_SET_STRING) copies at most 255 bytes of value (strndup_user(.., 256)).
inline constexpr std::size_t fsconfig_string_max = 255;

class layer_store {
public:
    // How image overlays are mounted. automatic: the new mount API with one "lowerdir+" per
    // layer (Linux 6.8; layer paths over 255 bytes passed by descriptor, Linux 6.13) when the
    // kernel has it, otherwise mount(2): the legacy option string of layer paths when it fits
    // in legacy_mount_options_max, else the layers by descriptor (descriptor_options), which
    // fits any stack overlayfs accepts. legacy_only forces mount(2), so that tests reach that
    // path on new kernels too.
    enum class mount_api { automatic, legacy_only };

    explicit layer_store(std::string state_dir, mount_api api = mount_api::automatic);

    // Lazily unmounts every image still mounted and removes its directory.
    ~layer_store();

    layer_store(const layer_store&) = delete;
    layer_store& operator=(const layer_store&) = delete;
    layer_store(layer_store&&) = delete;
    layer_store& operator=(layer_store&&) = delete;

    // Takes a reference on image `name` and returns the path to use as the containers'
    // lowerdir. The first reference checks every layer ("image 'base': layer '/x': No such
    // file or directory"), then mounts; later ones with the same stack only count. The same
    // name with a different stack is an error (EEXIST): give a changed image a new name.
    result<std::string> mount_image(std::string_view name, const std::vector<std::string>& layers);

    // Drops a reference; the last one unmounts the image (MNT_DETACH, so a container that
    // still uses it keeps it alive until it exits) and removes its directory.
    status release_image(std::string_view name);

    // The references held on `name` (0 when not mounted).
    std::size_t references(std::string_view name) const;

    // <state_dir>/images/<name>: where a stack of two or more layers is mounted.
    std::string image_path(std::string_view name) const;

    // The containers' minimal /dev, made once and shared: a tmpfs mounted read-only (nosuid,
    // noexec) at <state_dir>/images/.dev (no image name starts with '.') holding null, zero,
    // full, random, urandom and tty (mode 0666), empty pts/ and shm/ for each container's own
    // devpts and tmpfs, and the links ptmx, fd, stdin, stdout, stderr. The shim binds it
    // (dev=) instead of building the same tree at every start. Mounted on the first call;
    // later calls return the same path; unmounted by the destructor, and by
    // cleanup_leftovers after a crash.
    result<std::string> dev_template();

    // Removes what an earlier run left in <state_dir>/images: lazily unmounts every mount
    // below it (found in /proc/self/mountinfo, deepest first), then rmdirs its directories.
    // Never deletes files: a directory that is not empty stays, and is reported. Call it at
    // start, before the first mount_image.
    static status cleanup_leftovers(const std::string& state_dir);

    // The legacy mount(2) option string for a stack given bottom first:
    // "lowerdir=<top>:...:<bottom>" (overlayfs lists the top-most layer first), with '\', ':'
    // and ',' in paths escaped by a backslash. E2BIG past legacy_mount_options_max (about 44
    // layers of <root>/layers/sha256/<64 hex>); the store then mounts by descriptor.
    static result<std::string> legacy_options(const std::vector<std::string>& layers);

    // The mount(2) option string for layer directories open as `fds` (bottom first, like the
    // layers): "lowerdir=<top fd>:...:<bottom fd>", entries overlayfs resolves relative to the
    // working directory, which is /proc/self/fd while the store mounts. A few bytes a layer:
    // 500 layers fit unless their numbers reach eight digits. E2BIG past
    // legacy_mount_options_max.
    static result<std::string> descriptor_options(const std::vector<int>& fds);

private:
    struct image {
        std::vector<std::string> layers; // bottom first
        std::string path;                // what mount_image returned
        std::size_t references = 0;
        bool mounted = false; // false for a one-layer image
    };

    status mount_stack(std::string_view name, const std::vector<std::string>& layers,
                       const std::string& target);
    bool kernel_has_lowerdir_plus();

    std::string state_dir_;
    mount_api api_;
    std::optional<bool> lowerdir_plus_; // probed once, on the first multi-layer mount
    std::map<std::string, image, std::less<>> images_;
    std::optional<std::string> dev_template_; // mounted there
};

} // namespace berth
