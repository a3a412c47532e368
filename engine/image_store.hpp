// Imported images: layers unpacked once into a content-addressed store, each image's metadata
// beside them. See docs/images.md.
//
// Layout below the root (default /var/lib/berth; directories mode 0700, since layers keep
// setuid files and, with allow_devices, device nodes that no other user may reach):
//   layers/sha256/<hex>/   one layer in overlayfs' format, named by its diff_id (the sha256 of
//                          its uncompressed tar), shared by every image that holds it
//   images/<name>.json     one image: layer digests bottom first, its config defaults
//   tmp/                   imports in progress, unpacked here and renamed into place at the
//                          end; emptied at the start of every import
//   lock                   held exclusively while an import or a removal changes the store
#pragma once

#include "engine/image_archive.hpp"
#include "engine/result.hpp"
#include "engine/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr const char* default_storage_root = "/var/lib/berth";

struct image_layer {
    std::string digest; // "sha256:<hex>": the layer's diff_id
    std::uint64_t size = 0;
};

struct imported_image {
    std::string name;
    // Layer directories, bottom first, for layer_store::mount_image. A layer the image lists
    // twice appears once, at its top-most place: the lower copy could add nothing.
    std::vector<std::string> layers;
    std::vector<image_layer> layer_digests; // every layer as the image lists it, bottom first
    image_config config;
    std::string created;  // from the image config (RFC 3339), may be empty
    std::string imported; // when berth imported it (RFC 3339, UTC)
    std::string architecture;
    std::string os;
    std::string config_digest;
    std::string format;     // "oci" or "docker"
    std::string source;     // the path it was imported from
    std::uint64_t size = 0; // bytes of regular files over all its layers
};

struct import_options {
    std::string name;           // the store's name for it; empty: the name in the archive
    std::string ref;            // which image of an archive holding several
    bool allow_devices = false; // keep device nodes found in layers (refused otherwise)
};

// A shared lock on one image's metadata: while it is held, image_store::remove of that name
// fails with EBUSY, from any process. Hold one per image a running fleet uses.
class image_lease {
public:
    image_lease() = default;
    const imported_image& image() const noexcept { return image_; }
    bool held() const noexcept { return fd_.valid(); }

private:
    friend class image_store;
    image_lease(unique_fd fd, imported_image image)
        : fd_(std::move(fd)), image_(std::move(image)) {}
    unique_fd fd_;
    imported_image image_;
};

class image_store {
public:
    explicit image_store(std::string root = default_storage_root);

    // Imports a `docker save` archive or an OCI image layout: a directory or a tar file,
    // gzip- or zstd-compressed or plain. Every blob is checked against its digest (the
    // config, the manifests, each layer's compressed bytes where the archive names them, and
    // each layer's uncompressed tar against the config's diff_ids). On any error nothing of
    // this import stays in the store. Errors name the file and the problem:
    //   "image archive 'x.tar': layer 2 of 3 ('blobs/sha256/ab..'): digest mismatch: ...".
    // An existing name is an error (EEXIST): remove it first. Blocks while another import or
    // removal runs on the same store.
    result<imported_image> import(const std::string& path, const import_options& options);

    // The image called name (ENOENT if there is none), its layer directories checked to exist.
    result<imported_image> find(std::string_view name) const;

    // find() and a lease on the image, held until the lease is destroyed.
    result<image_lease> acquire(std::string_view name) const;

    // Every image, sorted by name. Metadata files that cannot be read are skipped (and logged).
    result<std::vector<imported_image>> list() const;

    // Removes an image, then every layer no other image holds. EBUSY when name is in in_use
    // ("in use by service ...", the supervisor's own knowledge) or a lease is held on it.
    status remove(std::string_view name, const std::set<std::string, std::less<>>& in_use = {});

    // Removes every layer that no image lists (left by a crash between an import's last two
    // steps, say); returns how many. remove() does this itself.
    result<std::size_t> collect_garbage();

    const std::string& root() const noexcept { return root_; }

    // <root>/layers/sha256/<hex> for "sha256:<hex>".
    std::string layer_path(std::string_view digest) const;

    // Why name is not a valid image name (1..128 bytes of [A-Za-z0-9._:@/-], starting with a
    // letter or digit, no empty, "." or ".." path component), or nullopt when it is.
    static std::optional<std::string> check_name(std::string_view name);

private:
    std::string metadata_path(std::string_view name) const;
    result<unique_fd> lock_store() const;
    status make_dirs() const;
    result<imported_image> load(int fd, std::string_view name) const;
    result<std::size_t> collect_unlocked(); // with the store's lock held

    std::string root_;
};

} // namespace berth
