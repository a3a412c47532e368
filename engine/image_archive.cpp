// The structure of `docker save` archives and OCI image layouts, every document checked.
#include "engine/image_archive.hpp"

#include "engine/fs_tree.hpp"
#include "engine/sha256.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>

namespace berth {
namespace {

namespace json = boost::json;

constexpr std::size_t json_max = 4 << 20; // manifests and configs are a few kB

constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::array<std::string_view, 2> config_types = {
    "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"};
constexpr std::array<std::string_view, 8> layer_types = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"};

template <std::size_t N> bool one_of(std::string_view v, const std::array<std::string_view, N>& a) {
    return std::find(a.begin(), a.end(), v) != a.end();
}

std::string quoted(std::string_view path) {
    return "'" + std::string(path) + "'";
}

result<json::value> parse_json(std::string_view text, std::string_view what) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
        return error(EINVAL, quoted(what) + ": not valid JSON: " + ec.message());
    }
    return v;
}

const json::object* object_at(const json::value& v, std::string_view key) {
    const auto* o = v.if_object();
    if (o == nullptr) {
        return nullptr;
    }
    const auto* found = o->if_contains(key);
    return found != nullptr ? found->if_object() : nullptr;
}

std::string string_at(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    const auto* s = v != nullptr ? v->if_string() : nullptr;
    return s != nullptr ? std::string(s->c_str(), s->size()) : std::string();
}

// An array of strings at key; null or absent is empty; anything else is an error.
result<std::vector<std::string>> strings_at(const json::object& o, std::string_view key,
                                            std::string_view what) {
    std::vector<std::string> out;
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) {
        return out;
    }
    const auto* a = v->if_array();
    if (a == nullptr) {
        return error(EINVAL, quoted(what) + ": '" + std::string(key) + "' is not an array");
    }
    for (const auto& item : *a) {
        const auto* s = item.if_string();
        if (s == nullptr) {
            return error(EINVAL, quoted(what) + ": '" + std::string(key) +
                                     "' holds something other than strings");
        }
        out.emplace_back(s->c_str(), s->size());
    }
    return out;
}

// "sha256:<hex>" -> "<hex>"; errors for other algorithms and malformed digests.
result<std::string> digest_hex(std::string_view digest, std::string_view what) {
    auto colon = digest.find(':');
    if (colon == std::string_view::npos) {
        return error(EINVAL, quoted(what) + ": '" + std::string(digest) + "' is not a digest");
    }
    if (digest.substr(0, colon) != "sha256") {
        return error(ENOTSUP, quoted(what) + ": digest algorithm '" +
                                  std::string(digest.substr(0, colon)) +
                                  "' is not supported (only sha256)");
    }
    auto hex = digest.substr(colon + 1);
    if (!is_sha256_hex(hex)) {
        return error(EINVAL, quoted(what) + ": '" + std::string(digest) + "' is not a digest");
    }
    return std::string(hex);
}

// A small document from the archive, checked against the sha256 that names it.
result<std::string> read_checked(int root, const std::string& path, const std::string& hex,
                                 std::optional<std::uint64_t> size) {
    auto text = fs_tree::read_in_root(root, path, json_max);
    if (!text) {
        return text.error();
    }
    if (size && *size != text->size()) {
        return error(EINVAL, quoted(path) + ": " + std::to_string(text->size()) +
                                 " bytes, but its descriptor says " + std::to_string(*size));
    }
    auto actual = sha256::of(*text);
    if (actual != hex) {
        return error(EINVAL, quoted(path) + ": digest mismatch: the file's sha256 is " + actual +
                                 ", the archive names it sha256:" + hex);
    }
    return text;
}

struct descriptor {
    std::string media_type;
    std::string hex;
    std::optional<std::uint64_t> size;
    std::string path; // blobs/sha256/<hex>
    const json::object* object = nullptr;
};

result<descriptor> descriptor_of(const json::value& v, std::string_view what) {
    const auto* o = v.if_object();
    if (o == nullptr) {
        return error(EINVAL, quoted(what) + ": a descriptor that is not an object");
    }
    descriptor d;
    d.object = o;
    d.media_type = string_at(*o, "mediaType");
    auto hex = digest_hex(string_at(*o, "digest"), what);
    if (!hex) {
        return hex.error();
    }
    d.hex = *hex;
    if (const auto* s = o->if_contains("size"); s != nullptr && s->is_number()) {
        json::error_code ec;
        auto n = s->to_number<std::uint64_t>(ec);
        if (ec) {
            return error(EINVAL, quoted(what) + ": a descriptor size that is not a count");
        }
        d.size = n;
    }
    d.path = "blobs/sha256/" + d.hex;
    return d;
}

// The annotations that name an image in an index, shortened; "" when none.
std::string ref_of(const descriptor& d) {
    const auto* a = d.object->if_contains("annotations");
    const auto* o = a != nullptr ? a->if_object() : nullptr;
    if (o == nullptr) {
        return "";
    }
    std::string full = string_at(*o, "io.containerd.image.name");
    return short_ref(full.empty() ? string_at(*o, "org.opencontainers.image.ref.name") : full);
}

bool platform_matches(const descriptor& d) {
    const auto* p = d.object->if_contains("platform");
    const auto* o = p != nullptr ? p->if_object() : nullptr;
    if (o == nullptr) {
        return false;
    }
    return string_at(*o, "os") == "linux" &&
           string_at(*o, "architecture") == machine_architecture();
}

std::string platforms_of(const std::vector<descriptor>& list) {
    std::string text;
    for (const auto& d : list) {
        const auto* p = d.object->if_contains("platform");
        const auto* o = p != nullptr ? p->if_object() : nullptr;
        text += text.empty() ? "" : ", ";
        text += o != nullptr ? string_at(*o, "os") + "/" + string_at(*o, "architecture") : "?";
    }
    return text;
}

result<std::vector<descriptor>> manifests_of(const json::value& index, std::string_view what) {
    const auto* o = index.if_object();
    const auto* list = o != nullptr ? o->if_contains("manifests") : nullptr;
    if (list == nullptr || !list->is_array()) {
        return error(EINVAL, quoted(what) + ": no 'manifests' array");
    }
    std::vector<descriptor> out;
    for (const auto& item : list->get_array()) {
        auto d = descriptor_of(item, what);
        if (!d) {
            return d.error();
        }
        out.push_back(std::move(*d));
    }
    if (out.empty()) {
        return error(EINVAL, quoted(what) + ": an empty 'manifests' array");
    }
    return out;
}

bool is_index(const descriptor& d, const json::value& doc) {
    if (d.media_type == oci_index || d.media_type == docker_list) {
        return true;
    }
    const auto* o = doc.if_object();
    return d.media_type.empty() && o != nullptr && o->contains("manifests");
}

struct chosen_manifest {
    descriptor d;
    std::string text;
    std::string ref;
};

// Follows index -> (index ->) manifest, choosing by ref at the top and by platform below.
result<chosen_manifest> choose_manifest(int root, std::vector<descriptor> list,
                                        std::string_view want_ref, std::string_view where,
                                        int depth) {
    std::string ref;
    if (depth == 0) {
        if (!want_ref.empty()) {
            std::string want = short_ref(want_ref);
            std::erase_if(list, [&](const descriptor& d) { return ref_of(d) != want; });
            if (list.empty()) {
                return error(ENOENT,
                             quoted(where) + ": no image named '" + std::string(want_ref) + "'");
            }
        }
        std::vector<std::string> refs;
        for (const auto& d : list) {
            if (!ref_of(d).empty() &&
                std::find(refs.begin(), refs.end(), ref_of(d)) == refs.end()) {
                refs.push_back(ref_of(d));
            }
        }
        if (refs.size() > 1) {
            std::string names;
            for (const auto& r : refs) {
                names += (names.empty() ? "" : ", ") + r;
            }
            return error(EINVAL, quoted(where) + ": holds " + std::to_string(refs.size()) +
                                     " images (" + names + "): choose one with --ref");
        }
        ref = refs.empty() ? "" : refs.front();
    }
    if (list.size() > 1) {
        std::vector<descriptor> matching;
        std::copy_if(list.begin(), list.end(), std::back_inserter(matching), platform_matches);
        if (matching.empty()) {
            return error(ENOENT, quoted(where) + ": no manifest for linux/" +
                                     machine_architecture() + " (has " + platforms_of(list) + ")");
        }
        list = {matching.front()};
    }
    descriptor d = list.front();
    auto text = read_checked(root, d.path, d.hex, d.size);
    if (!text) {
        return text.error();
    }
    auto doc = parse_json(*text, d.path);
    if (!doc) {
        return doc.error();
    }
    if (is_index(d, *doc)) {
        if (depth >= 2) {
            return error(ELOOP, quoted(d.path) + ": indexes nested too deep");
        }
        auto inner = manifests_of(*doc, d.path);
        if (!inner) {
            return inner.error();
        }
        auto chosen = choose_manifest(root, std::move(*inner), "", d.path, depth + 1);
        if (chosen && chosen->ref.empty()) {
            chosen->ref = ref;
        }
        return chosen;
    }
    if (!d.media_type.empty() && d.media_type != oci_manifest && d.media_type != docker_manifest) {
        return error(ENOTSUP, quoted(d.path) + ": media type '" + d.media_type +
                                  "' is not an image manifest");
    }
    return chosen_manifest{std::move(d), std::move(*text), ref};
}

status check_layer_count(const archive_image& image, std::string_view where) {
    if (image.layers.size() != image.config.diff_ids.size()) {
        return error(EINVAL, quoted(where) + ": " + std::to_string(image.layers.size()) +
                                 " layers, but the config lists " +
                                 std::to_string(image.config.diff_ids.size()) + " diff_ids");
    }
    if (image.layers.empty()) {
        return error(EINVAL, quoted(where) + ": an image without layers");
    }
    return {};
}

result<archive_image> read_oci(int root, std::string_view want_ref) {
    auto layout = fs_tree::read_in_root(root, "oci-layout", json_max);
    if (!layout) {
        return layout.error();
    }
    auto layout_doc = parse_json(*layout, "oci-layout");
    if (!layout_doc) {
        return layout_doc.error();
    }
    const auto* lo = layout_doc->if_object();
    if (lo == nullptr || string_at(*lo, "imageLayoutVersion") != "1.0.0") {
        return error(ENOTSUP, "'oci-layout': imageLayoutVersion is not \"1.0.0\"");
    }
    auto index_text = fs_tree::read_in_root(root, "index.json", json_max);
    if (!index_text) {
        return index_text.error();
    }
    auto index = parse_json(*index_text, "index.json");
    if (!index) {
        return index.error();
    }
    auto list = manifests_of(*index, "index.json");
    if (!list) {
        return list.error();
    }
    auto chosen = choose_manifest(root, std::move(*list), want_ref, "index.json", 0);
    if (!chosen) {
        return chosen.error();
    }
    auto manifest = parse_json(chosen->text, chosen->d.path);
    if (!manifest) {
        return manifest.error();
    }
    const auto* mo = manifest->if_object();
    const auto* config = object_at(*manifest, "config");
    const auto* layers = mo != nullptr ? mo->if_contains("layers") : nullptr;
    if (config == nullptr || layers == nullptr || !layers->is_array()) {
        return error(EINVAL, quoted(chosen->d.path) + ": a manifest without config or layers");
    }
    archive_image image;
    image.format = "oci";
    image.ref = chosen->ref;
    auto cd = descriptor_of(*mo->if_contains("config"), chosen->d.path);
    if (!cd) {
        return cd.error();
    }
    if (!cd->media_type.empty() && !one_of(cd->media_type, config_types)) {
        return error(ENOTSUP, quoted(chosen->d.path) + ": config media type '" + cd->media_type +
                                  "': not a container image");
    }
    auto config_text = read_checked(root, cd->path, cd->hex, cd->size);
    if (!config_text) {
        return config_text.error();
    }
    auto parsed = parse_image_config(*config_text);
    if (!parsed) {
        return parsed.error().within(quoted(cd->path));
    }
    image.config_digest = "sha256:" + cd->hex;
    image.config_json = std::move(*config_text);
    image.config = std::move(*parsed);
    for (const auto& item : layers->get_array()) {
        auto ld = descriptor_of(item, chosen->d.path);
        if (!ld) {
            return ld.error();
        }
        if (!one_of(ld->media_type, layer_types)) {
            return error(ENOTSUP, quoted(ld->path) + ": layer media type '" + ld->media_type +
                                      "' is not supported");
        }
        image.layers.push_back({ld->path, "sha256:" + ld->hex, ld->size, ld->media_type});
    }
    if (auto st = check_layer_count(image, chosen->d.path); !st) {
        return st.error();
    }
    return image;
}

// A file named by its digest: "blobs/sha256/<hex>" or "<hex>.json" / "<hex>.tar" ("" else).
std::string hex_in_name(const std::string& path) {
    if (path.rfind("blobs/sha256/", 0) == 0 && is_sha256_hex(path.substr(13))) {
        return path.substr(13);
    }
    if (path.size() == 69 && path.compare(64, 5, ".json") == 0 &&
        is_sha256_hex(path.substr(0, 64))) {
        return path.substr(0, 64);
    }
    return "";
}

result<archive_image> read_docker(int root, std::string_view want_ref) {
    auto text = fs_tree::read_in_root(root, "manifest.json", json_max);
    if (!text) {
        return text.error();
    }
    auto doc = parse_json(*text, "manifest.json");
    if (!doc) {
        return doc.error();
    }
    const auto* entries = doc->if_array();
    if (entries == nullptr || entries->empty()) {
        return error(EINVAL, "'manifest.json': not a non-empty array");
    }
    std::string names;
    for (const auto& item : *entries) {
        const auto* o = item.if_object();
        if (o == nullptr) {
            return error(EINVAL, "'manifest.json': an entry that is not an object");
        }
        auto tags = strings_at(*o, "RepoTags", "manifest.json");
        if (!tags) {
            return tags.error();
        }
        for (const auto& t : *tags) {
            names += (names.empty() ? "" : ", ") + short_ref(t);
        }
    }
    const json::object* chosen = nullptr;
    std::string ref;
    for (const auto& item : *entries) {
        const auto* o = item.if_object();
        auto tags = strings_at(*o, "RepoTags", "manifest.json");
        bool wanted = want_ref.empty();
        for (const auto& t : *tags) {
            wanted = wanted || short_ref(t) == short_ref(want_ref);
        }
        if (wanted && chosen != nullptr) {
            return error(EINVAL, "'manifest.json': holds " + std::to_string(entries->size()) +
                                     " images (" + names + "): choose one with --ref");
        }
        if (wanted) {
            chosen = o;
            ref = want_ref.empty() ? (tags->empty() ? "" : short_ref(tags->front()))
                                   : short_ref(want_ref);
        }
    }
    if (chosen == nullptr) {
        return error(ENOENT, "'manifest.json': no image named '" + std::string(want_ref) + "'");
    }
    archive_image image;
    image.format = "docker";
    image.ref = ref;
    std::string config_path = string_at(*chosen, "Config");
    std::string hex = hex_in_name(config_path);
    if (config_path.empty()) {
        return error(EINVAL, "'manifest.json': an entry without Config");
    }
    if (hex.empty()) {
        return error(EINVAL,
                     quoted(config_path) +
                         ": the config is not named by its digest, so it cannot be checked");
    }
    auto config_text = read_checked(root, config_path, hex, std::nullopt);
    if (!config_text) {
        return config_text.error();
    }
    auto parsed = parse_image_config(*config_text);
    if (!parsed) {
        return parsed.error().within(quoted(config_path));
    }
    image.config_digest = "sha256:" + hex;
    image.config_json = std::move(*config_text);
    image.config = std::move(*parsed);
    auto layers = strings_at(*chosen, "Layers", "manifest.json");
    if (!layers) {
        return layers.error();
    }
    for (const auto& path : *layers) {
        std::string layer_hex = path.rfind("blobs/sha256/", 0) == 0 ? hex_in_name(path) : "";
        image.layers.push_back(
            {path, layer_hex.empty() ? "" : "sha256:" + layer_hex, std::nullopt, ""});
    }
    if (auto st = check_layer_count(image, "manifest.json"); !st) {
        return st.error();
    }
    return image;
}

bool exists_in(int root, const char* path) {
    return fs_tree::open_in_root(root, path, O_PATH).has_value();
}

} // namespace

std::vector<std::string> image_config::command() const {
    std::vector<std::string> out = entrypoint;
    out.insert(out.end(), cmd.begin(), cmd.end());
    return out;
}

result<parsed_config> parse_image_config(std::string_view text) {
    auto doc = parse_json(text, "config");
    if (!doc) {
        return doc.error();
    }
    const auto* top = doc->if_object();
    if (top == nullptr) {
        return error(EINVAL, "not a JSON object");
    }
    parsed_config out;
    out.created = string_at(*top, "created");
    out.architecture = string_at(*top, "architecture");
    out.os = string_at(*top, "os");
    if (const auto* c = object_at(*doc, "config"); c != nullptr) {
        for (auto [key, field] :
             {std::pair{"Entrypoint", &out.config.entrypoint}, std::pair{"Cmd", &out.config.cmd},
              std::pair{"Env", &out.config.env}}) {
            auto list = strings_at(*c, key, "config");
            if (!list) {
                return list.error();
            }
            *field = std::move(*list);
        }
        out.config.working_dir = string_at(*c, "WorkingDir");
        out.config.user = string_at(*c, "User");
        if (const auto* labels = c->if_contains("Labels");
            labels != nullptr && labels->is_object()) {
            for (const auto& [k, v] : labels->get_object()) {
                if (const auto* s = v.if_string(); s != nullptr) {
                    out.config.labels[std::string(k)] = std::string(s->c_str(), s->size());
                }
            }
        }
    }
    const auto* rootfs = object_at(*doc, "rootfs");
    if (rootfs == nullptr) {
        return error(EINVAL, "no 'rootfs'");
    }
    auto ids = strings_at(*rootfs, "diff_ids", "config");
    if (!ids) {
        return ids.error();
    }
    for (const auto& id : *ids) {
        if (auto hex = digest_hex(id, "config rootfs.diff_ids"); !hex) {
            return hex.error();
        }
    }
    out.diff_ids = std::move(*ids);
    return out;
}

result<archive_image> read_image_archive(int root_fd, std::string_view want_ref) {
    if (exists_in(root_fd, "oci-layout") && exists_in(root_fd, "index.json")) {
        return read_oci(root_fd, want_ref);
    }
    if (exists_in(root_fd, "manifest.json")) {
        return read_docker(root_fd, want_ref);
    }
    return error(EINVAL, "neither an OCI image layout (oci-layout, index.json) nor a "
                         "`docker save` archive (manifest.json)");
}

std::string short_ref(std::string_view ref) {
    for (std::string_view prefix : {"docker.io/library/", "docker.io/"}) {
        if (ref.substr(0, prefix.size()) == prefix && ref.size() > prefix.size()) {
            return std::string(ref.substr(prefix.size()));
        }
    }
    return std::string(ref);
}

std::string machine_architecture() {
    utsname u{};
    ::uname(&u);
    std::string m = u.machine;
    if (m == "x86_64") {
        return "amd64";
    }
    if (m == "aarch64") {
        return "arm64";
    }
    if (m.rfind("armv", 0) == 0) {
        return "arm";
    }
    if (m == "i386" || m == "i686") {
        return "386";
    }
    return m; // riscv64, ppc64le, s390x: the same words in OCI
}

} // namespace berth
