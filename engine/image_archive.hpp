// Reading an image archive's structure: a `docker save` archive (manifest.json) or an OCI
// image layout (oci-layout, index.json, blobs/sha256/...), already laid out in a directory.
// Every JSON document read is checked against the digest that names it; the layers are only
// located here (image_store unpacks and checks them).
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

// The run-time defaults of an image config ("config" of the OCI image config, which Docker's
// has too). Absent fields are empty.
struct image_config {
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::vector<std::string> env; // "KEY=value"
    std::string working_dir;
    std::string user; // "uid", "uid:gid", "name", "name:group", as the image says
    std::map<std::string, std::string> labels;

    // What runs when nothing else is said: Entrypoint followed by Cmd (Docker's rule).
    std::vector<std::string> command() const;

    friend bool operator==(const image_config&, const image_config&) = default;
};

// The parts of an image config berth keeps.
struct parsed_config {
    image_config config;
    std::vector<std::string> diff_ids; // "sha256:<hex>", bottom first
    std::string created;               // RFC 3339, as the image says; may be empty
    std::string architecture;
    std::string os;
};

// Parses an image config (application/vnd.oci.image.config.v1+json or Docker's): the
// defaults, rootfs.diff_ids (required, each a sha256 digest) and the platform.
result<parsed_config> parse_image_config(std::string_view json);

struct layer_blob {
    std::string path;                  // relative to the archive's root
    std::string digest;                // "sha256:<hex>" of the blob; empty if the archive
                                       // names none (Docker's "<id>/layer.tar")
    std::optional<std::uint64_t> size; // from an OCI descriptor
    std::string media_type;            // empty for Docker archives
};

struct archive_image {
    std::string format;        // "oci" or "docker"
    std::string ref;           // the name the archive gives the image, shortened; may be empty
    std::string config_digest; // "sha256:<hex>"
    std::string config_json;   // its digest checked
    parsed_config config;
    std::vector<layer_blob> layers; // bottom first, as many as config.diff_ids
};

// Reads the archive laid out below root_fd (every path resolved inside it, see
// fs_tree::open_in_root). An OCI layout is read when oci-layout and index.json exist, else
// manifest.json. An archive holding several images needs want_ref (matched against the OCI
// ref annotations or Docker's RepoTags, shortened); a multi-platform index is resolved to
// linux and this machine's architecture.
result<archive_image> read_image_archive(int root_fd, std::string_view want_ref);

// "docker.io/library/busybox:1.36" -> "busybox:1.36", "docker.io/x/y" -> "x/y"; else as is.
std::string short_ref(std::string_view ref);

// This machine's architecture in OCI's words ("amd64", "arm64", ...).
std::string machine_architecture();

} // namespace berth
