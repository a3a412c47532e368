// The image store: imports (staged in tmp/, renamed into place), metadata, leases, removal.
#include "engine/image_store.hpp"

#include "engine/blob_stream.hpp"
#include "engine/fs_tree.hpp"
#include "engine/layer_unpack.hpp"
#include "engine/log.hpp"

#include <boost/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <map>

namespace berth {
namespace {

namespace json = boost::json;

constexpr std::size_t metadata_max = 16 << 20;

std::string subject(std::string_view name) {
    return "image '" + std::string(name) + "'";
}

// images/<file>: '/' in a name (a repository path) becomes '+', which names never hold.
std::string file_name_of(std::string_view name) {
    std::string file(name);
    std::replace(file.begin(), file.end(), '/', '+');
    return file + ".json";
}

std::string hex_of(std::string_view digest) {
    return std::string(digest.substr(digest.find(':') + 1));
}

std::string now_rfc3339() {
    std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

status make_dir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
        return error::from_errno("mkdir '" + path + "'");
    }
    return {};
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Names of a directory's entries, "." and ".." excluded; empty when it cannot be read.
std::vector<std::string> entries_of(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return names;
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            names.push_back(std::move(n));
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

json::array string_array(const std::vector<std::string>& items) {
    json::array a;
    for (const auto& s : items) {
        a.emplace_back(s);
    }
    return a;
}

std::string render_metadata(const imported_image& image) {
    json::object config;
    config["Entrypoint"] = string_array(image.config.entrypoint);
    config["Cmd"] = string_array(image.config.cmd);
    config["Env"] = string_array(image.config.env);
    config["WorkingDir"] = image.config.working_dir;
    config["User"] = image.config.user;
    json::object labels;
    for (const auto& [k, v] : image.config.labels) {
        labels[k] = v;
    }
    config["Labels"] = std::move(labels);
    json::array layers;
    for (const auto& l : image.layer_digests) {
        layers.emplace_back(json::object{{"digest", l.digest}, {"size", l.size}});
    }
    json::object top{{"schema", 1},
                     {"name", image.name},
                     {"format", image.format},
                     {"source", image.source},
                     {"imported", image.imported},
                     {"created", image.created},
                     {"architecture", image.architecture},
                     {"os", image.os},
                     {"config_digest", image.config_digest},
                     {"layers", std::move(layers)},
                     {"config", std::move(config)}};
    return json::serialize(top) + "\n";
}

std::string text_at(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    const auto* s = v != nullptr ? v->if_string() : nullptr;
    return s != nullptr ? std::string(s->c_str(), s->size()) : "";
}

std::vector<std::string> texts_at(const json::object& o, std::string_view key) {
    std::vector<std::string> out;
    const auto* v = o.if_contains(key);
    if (v != nullptr && v->is_array()) {
        for (const auto& item : v->get_array()) {
            if (const auto* s = item.if_string(); s != nullptr) {
                out.emplace_back(s->c_str(), s->size());
            }
        }
    }
    return out;
}

result<imported_image> parse_metadata(std::string_view text, std::string_view name) {
    json::error_code ec;
    json::value doc = json::parse(text, ec);
    const auto* top = ec ? nullptr : doc.if_object();
    if (top == nullptr) {
        return error(EINVAL, subject(name) + ": metadata is not a JSON object");
    }
    imported_image image;
    image.name = text_at(*top, "name");
    image.format = text_at(*top, "format");
    image.source = text_at(*top, "source");
    image.imported = text_at(*top, "imported");
    image.created = text_at(*top, "created");
    image.architecture = text_at(*top, "architecture");
    image.os = text_at(*top, "os");
    image.config_digest = text_at(*top, "config_digest");
    if (const auto* layers = top->if_contains("layers"); layers != nullptr && layers->is_array()) {
        for (const auto& item : layers->get_array()) {
            const auto* o = item.if_object();
            if (o == nullptr) {
                continue;
            }
            image_layer l;
            l.digest = text_at(*o, "digest");
            if (const auto* s = o->if_contains("size"); s != nullptr && s->is_uint64()) {
                l.size = s->get_uint64();
            } else if (s != nullptr && s->is_int64()) {
                l.size = static_cast<std::uint64_t>(s->get_int64());
            }
            if (!is_sha256_hex(hex_of(l.digest)) || l.digest.rfind("sha256:", 0) != 0) {
                return error(EINVAL, subject(name) + ": metadata names a layer '" + l.digest +
                                         "' that is not a sha256 digest");
            }
            image.layer_digests.push_back(std::move(l));
        }
    }
    if (image.name != name || image.layer_digests.empty()) {
        return error(EINVAL, subject(name) + ": metadata without this name or without layers");
    }
    if (const auto* c = top->if_contains("config"); c != nullptr && c->is_object()) {
        const auto& o = c->get_object();
        image.config.entrypoint = texts_at(o, "Entrypoint");
        image.config.cmd = texts_at(o, "Cmd");
        image.config.env = texts_at(o, "Env");
        image.config.working_dir = text_at(o, "WorkingDir");
        image.config.user = text_at(o, "User");
        if (const auto* labels = o.if_contains("Labels");
            labels != nullptr && labels->is_object()) {
            for (const auto& [k, v] : labels->get_object()) {
                if (const auto* s = v.if_string(); s != nullptr) {
                    image.config.labels[std::string(k)] = std::string(s->c_str(), s->size());
                }
            }
        }
    }
    for (const auto& l : image.layer_digests) {
        image.size += l.size;
    }
    return image;
}

result<std::string> read_fd(int fd, std::string_view name) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return error::from_errno(subject(name) + ": stat metadata");
    }
    if (static_cast<std::uint64_t>(st.st_size) > metadata_max) {
        return error(EFBIG, subject(name) + ": metadata too large");
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    ssize_t n = ::pread(fd, text.data(), text.size(), 0);
    if (n < 0) {
        return error::from_errno(subject(name) + ": read metadata");
    }
    text.resize(static_cast<std::size_t>(n));
    return text;
}

// Layers to unpack, one per distinct diff_id: where they end up and what they hold.
struct staged_layer {
    std::string hex;
    std::string staged; // below tmp/, or empty when the store already has it
    std::uint64_t size = 0;
};

// Why a layer's digests are not what the archive says, if they are not.
std::optional<error> digest_problem(const blob_digests& d, const layer_blob& blob,
                                    const std::string& diff_id, const std::string& where) {
    if (!blob.digest.empty() && "sha256:" + d.blob != blob.digest) {
        return error(EINVAL, where + ": digest mismatch: the blob's sha256 is " + d.blob +
                                 ", the manifest says " + blob.digest);
    }
    if ("sha256:" + d.content != diff_id) {
        return error(EINVAL, where + ": digest mismatch: the uncompressed layer's sha256 is " +
                                 d.content + ", the config's diff_id is " + diff_id);
    }
    return std::nullopt;
}

// One import, step by step; the staging directory goes away with it in every case.
class import_job {
public:
    import_job(const image_store& store, std::string path, const import_options& options)
        : store_(store), path_(std::move(path)), options_(options) {}
    ~import_job() {
        if (!staging_.empty()) {
            if (auto st = fs_tree::remove_tree(staging_); !st) {
                log::get("engine")->warn("image import: {}", st.error().message());
            }
        }
        for (const auto& placed : placed_) {
            (void)fs_tree::remove_tree(placed); // rollback of a failed final step
        }
    }
    import_job(const import_job&) = delete;
    import_job& operator=(const import_job&) = delete;

    result<imported_image> run();

private:
    status open_source();
    status unpack_outer(unique_fd file);
    status choose_name();
    status check_platform();
    status take_layer(std::size_t index);
    status place();

    const image_store& store_;
    std::string path_;
    import_options options_;
    std::string staging_;
    unique_fd archive_root_;
    archive_image archive_;
    std::string name_;
    std::map<std::string, staged_layer> layers_; // by hex
    std::vector<image_layer> listed_;
    std::vector<std::string> placed_;
};

result<imported_image> import_job::run() {
    std::string tmpl = store_.root() + "/tmp/import-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        return error::from_errno("mkdtemp '" + tmpl + "'");
    }
    staging_ = tmpl;

    if (auto st = open_source(); !st) {
        return st.error();
    }

    auto read = read_image_archive(archive_root_.get(), options_.ref);
    if (!read) {
        return read.error();
    }
    archive_ = std::move(*read);

    if (auto st = choose_name(); !st) {
        return st.error();
    }

    if (auto st = check_platform(); !st) {
        return st.error();
    }

    for (std::size_t i = 0; i < archive_.layers.size(); ++i) {
        if (auto st = take_layer(i); !st) {
            return st.error();
        }
    }

    if (auto st = place(); !st) {
        return st.error();
    }
    return store_.find(name_);
}

status import_job::open_source() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        return error::from_errno("open");
    }
    if (S_ISDIR(st.st_mode)) {
        archive_root_.reset(::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!archive_root_) {
            return error::from_errno("open");
        }
        return {};
    }
    unique_fd file(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) {
        return error::from_errno("open");
    }
    return unpack_outer(std::move(file));
}

// A tar archive is laid out under the staging directory first: its members are found by
// name, in any order, and a layer may be read twice (once per image listing it).
status import_job::unpack_outer(unique_fd file) {
    std::string dir = staging_ + "/archive";
    if (auto st = make_dir(dir, 0700); !st) {
        return st;
    }
    unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) {
        return error::from_errno("open '" + dir + "'");
    }
    auto stream = blob_stream::open(std::move(file));
    if (!stream) {
        return stream.error();
    }
    auto tar = (*stream)->tar();
    if (!tar) {
        return tar.error();
    }
    unpack_options outer;
    outer.layer = false;
    if (auto unpacked = unpack_tar(*tar, dir_fd.get(), dir, outer); !unpacked) {
        return unpacked.error();
    }
    if (auto rest = (*stream)->finish(); !rest) {
        return rest.error();
    }
    archive_root_.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return {};
}

status import_job::choose_name() {
    name_ = options_.name.empty() ? archive_.ref : options_.name;
    if (name_.empty()) {
        return error(EINVAL, "the archive names no image: give it a name (--name)");
    }
    if (auto why = image_store::check_name(name_)) {
        return error(EINVAL, subject(name_) + ": " + *why);
    }
    if (exists(store_.root() + "/images/" + file_name_of(name_))) {
        return error(EEXIST, subject(name_) + ": already in the store; remove it first");
    }
    return {};
}

status import_job::check_platform() {
    const auto& c = archive_.config;
    if (!c.os.empty() && c.os != "linux") {
        return error(ENOEXEC, "the image is for " + c.os + ", not linux");
    }
    if (!c.architecture.empty() && c.architecture != machine_architecture()) {
        return error(ENOEXEC, "the image is for " + c.architecture + ", this machine is " +
                                  machine_architecture());
    }
    return {};
}

// Reads layer `index` once: unpacked into the staging directory when the store lacks it,
// only checked against its digests when the store (or this import) already has it.
status import_job::take_layer(std::size_t index) {
    const layer_blob& blob = archive_.layers[index];
    const std::string& diff_id = archive_.config.diff_ids[index];
    std::string hex = hex_of(diff_id);
    std::string where = "layer " + std::to_string(index + 1) + " of " +
                        std::to_string(archive_.layers.size()) + " ('" + blob.path + "')";

    auto fd = fs_tree::open_in_root(archive_root_.get(), blob.path, O_RDONLY);
    if (!fd) {
        return fd.error().within(where);
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return error(EINVAL, where + ": not a regular file");
    }
    if (blob.size && *blob.size != static_cast<std::uint64_t>(st.st_size)) {
        return error(EINVAL, where + ": " + std::to_string(st.st_size) +
                                 " bytes, but the manifest says " + std::to_string(*blob.size));
    }
    auto stream = blob_stream::open(std::move(*fd));
    if (!stream) {
        return stream.error().within(where);
    }

    bool fresh = !layers_.contains(hex) && !exists(store_.layer_path(diff_id));
    staged_layer staged{hex, "", 0};
    if (fresh) {
        staged.staged = staging_ + "/" + hex;
        if (auto made = make_dir(staged.staged, 0755); !made) {
            return made.error().within(where);
        }
        unique_fd dir(::open(staged.staged.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) {
            return error::from_errno(where + ": open '" + staged.staged + "'");
        }
        auto tar = (*stream)->tar();
        if (!tar) {
            return tar.error().within(where);
        }
        unpack_options opts;
        opts.allow_devices = options_.allow_devices;
        auto unpacked = unpack_tar(*tar, dir.get(), staged.staged, opts);
        if (!unpacked) {
            // A corrupted blob often shows first as a malformed entry; its digest says what
            // really happened.
            auto digests = (*stream)->finish();
            if (digests) {
                if (auto wrong = digest_problem(*digests, blob, diff_id, where)) {
                    return error(wrong->code(), wrong->context() + " (unpacking had stopped at: " +
                                                    unpacked.error().message() + ")");
                }
            }
            return unpacked.error().within(where);
        }
        staged.size = unpacked->bytes;
    }
    auto digests = (*stream)->finish();
    if (!digests) {
        return digests.error().within(where);
    }
    if (auto wrong = digest_problem(*digests, blob, diff_id, where)) {
        return *wrong;
    }
    if (fresh) {
        layers_[hex] = staged;
    } else if (auto known = layers_.find(hex); known != layers_.end()) {
        staged.size = known->second.size;
    } else {
        staged.size = fs_tree::tree_bytes(store_.layer_path(diff_id));
        layers_[hex] = staged;
    }
    listed_.push_back({diff_id, staged.size});
    return {};
}

// Everything unpacked and checked: flushed, renamed into place, then the metadata written.
status import_job::place() {
    unique_fd staging(::open(staging_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!staging || ::syncfs(staging.get()) != 0) {
        return error::from_errno("sync '" + staging_ + "'");
    }
    for (const auto& [hex, layer] : layers_) {
        if (layer.staged.empty()) {
            continue;
        }
        std::string target = store_.layer_path("sha256:" + hex);
        if (::rename(layer.staged.c_str(), target.c_str()) != 0) {
            return error::from_errno("rename '" + layer.staged + "' to '" + target + "'");
        }
        placed_.push_back(target);
    }
    imported_image image;
    image.name = name_;
    image.layer_digests = listed_;
    image.config = archive_.config.config;
    image.created = archive_.config.created;
    image.imported = now_rfc3339();
    image.architecture = archive_.config.architecture;
    image.os = archive_.config.os;
    image.config_digest = archive_.config_digest;
    image.format = archive_.format;
    image.source = path_;
    std::string file = store_.root() + "/images/" + file_name_of(name_);
    if (auto st = fs_tree::write_file_atomic(file, render_metadata(image)); !st) {
        return st;
    }
    placed_.clear(); // committed
    return {};
}

} // namespace

image_store::image_store(std::string root) : root_(std::move(root)) {}

std::string image_store::layer_path(std::string_view digest) const {
    return root_ + "/layers/sha256/" + hex_of(digest);
}

std::string image_store::metadata_path(std::string_view name) const {
    return root_ + "/images/" + file_name_of(name);
}

std::optional<std::string> image_store::check_name(std::string_view name) {
    if (name.empty() || name.size() > 128) {
        return "not 1 to 128 bytes long";
    }
    if (!std::isalnum(static_cast<unsigned char>(name.front()))) {
        return "does not start with a letter or digit";
    }
    for (char c : name) {
        bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                  c == ':' || c == '@' || c == '/' || c == '-';
        if (!ok) {
            return "holds a character other than [A-Za-z0-9._:@/-]";
        }
    }
    std::size_t at = 0;
    while (at <= name.size()) {
        std::size_t slash = std::min(name.find('/', at), name.size());
        auto part = name.substr(at, slash - at);
        if (part.empty() || part == "." || part == "..") {
            return "has an empty, \".\" or \"..\" path component";
        }
        at = slash + 1;
    }
    return std::nullopt;
}

status image_store::make_dirs() const {
    for (const auto& dir :
         {root_, root_ + "/layers", root_ + "/layers/sha256", root_ + "/images", root_ + "/tmp"}) {
        if (auto st = make_dir(dir, 0700); !st) {
            return st;
        }
    }
    return {};
}

result<unique_fd> image_store::lock_store() const {
    std::string path = root_ + "/lock";
    unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) {
        return error::from_errno("open '" + path + "'");
    }
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            return error::from_errno("lock '" + path + "'");
        }
    }
    return fd;
}

result<imported_image> image_store::import(const std::string& path, const import_options& options) {
    std::string where = "image archive '" + path + "'";
    if (!options.name.empty()) {
        if (auto why = check_name(options.name)) {
            return error(EINVAL, subject(options.name) + ": " + *why);
        }
    }
    if (auto st = make_dirs(); !st) {
        return st.error();
    }
    auto lock = lock_store();
    if (!lock) {
        return lock.error();
    }
    // Under the lock no other import runs: whatever tmp/ holds was left by a crash, and so
    // is every layer no image lists (a crash between placing layers and writing metadata).
    for (const auto& leftover : entries_of(root_ + "/tmp")) {
        if (auto st = fs_tree::remove_tree(root_ + "/tmp/" + leftover); !st) {
            return st.error();
        }
    }
    if (auto collected = collect_unlocked(); !collected) {
        log::get("engine")->warn("image store '{}': {}", root_, collected.error().message());
    }
    import_job job(*this, path, options);
    return job.run().within(where);
}

result<imported_image> image_store::load(int fd, std::string_view name) const {
    auto text = read_fd(fd, name);
    if (!text) {
        return text.error();
    }
    auto image = parse_metadata(*text, name);
    if (!image) {
        return image.error();
    }
    std::set<std::string> seen;
    for (auto it = image->layer_digests.rbegin(); it != image->layer_digests.rend(); ++it) {
        std::string dir = layer_path(it->digest);
        if (!seen.insert(dir).second) {
            continue;
        }
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            return error(ENOENT, subject(name) + ": layer " + it->digest +
                                     " is missing from the store ('" + dir + "')");
        }
        image->layers.insert(image->layers.begin(), dir);
    }
    return image;
}

result<imported_image> image_store::find(std::string_view name) const {
    if (check_name(name)) {
        return error(EINVAL, subject(name) + ": not a valid image name");
    }
    std::string path = metadata_path(name);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return error(errno, subject(name) + (errno == ENOENT ? ": no such image in '" + root_ + "'"
                                                             : ": open '" + path + "'"));
    }
    return load(fd.get(), name);
}

result<image_lease> image_store::acquire(std::string_view name) const {
    if (check_name(name)) {
        return error(EINVAL, subject(name) + ": not a valid image name");
    }
    std::string path = metadata_path(name);
    // remove() unlinks the file while holding LOCK_EX: a lock won on an unlinked file is
    // retried on whatever the name now holds.
    for (int attempt = 0; attempt < 8; ++attempt) {
        unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            return error(errno,
                         subject(name) + (errno == ENOENT ? ": no such image in '" + root_ + "'"
                                                          : ": open '" + path + "'"));
        }
        while (::flock(fd.get(), LOCK_SH) != 0) {
            if (errno != EINTR) {
                return error::from_errno(subject(name) + ": lock '" + path + "'");
            }
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            return error::from_errno(subject(name) + ": stat '" + path + "'");
        }
        if (st.st_nlink == 0) {
            continue;
        }
        auto image = load(fd.get(), name);
        if (!image) {
            return image.error();
        }
        return image_lease(std::move(fd), std::move(*image));
    }
    return error(EAGAIN, subject(name) + ": replaced while being locked, again and again");
}

result<std::vector<imported_image>> image_store::list() const {
    std::vector<imported_image> out;
    for (const auto& file : entries_of(root_ + "/images")) {
        if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".json") != 0) {
            continue;
        }
        std::string name = file.substr(0, file.size() - 5);
        std::replace(name.begin(), name.end(), '+', '/');
        auto image = find(name);
        if (!image) {
            log::get("engine")->warn("{}", image.error().message());
            continue;
        }
        out.push_back(std::move(*image));
    }
    return out;
}

status image_store::remove(std::string_view name,
                           const std::set<std::string, std::less<>>& in_use) {
    if (check_name(name)) {
        return error(EINVAL, subject(name) + ": not a valid image name");
    }
    if (in_use.contains(name)) {
        return error(EBUSY, subject(name) + ": in use by the fleet");
    }
    auto lock = lock_store();
    if (!lock) {
        return lock.error();
    }
    std::string path = metadata_path(name);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return error(errno, subject(name) + (errno == ENOENT ? ": no such image in '" + root_ + "'"
                                                             : ": open '" + path + "'"));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        return error(errno == EWOULDBLOCK ? EBUSY : errno,
                     subject(name) + ": in use by a running container (a lease is held)");
    }
    if (::unlink(path.c_str()) != 0) {
        return error::from_errno(subject(name) + ": remove '" + path + "'");
    }
    fd.reset();
    auto collected = collect_unlocked();
    if (!collected) {
        return collected.error().within(subject(name) + ": removed, but");
    }
    return {};
}

result<std::size_t> image_store::collect_garbage() {
    if (!exists(root_ + "/layers/sha256")) {
        return std::size_t{0};
    }
    auto lock = lock_store();
    if (!lock) {
        return lock.error();
    }
    return collect_unlocked();
}

result<std::size_t> image_store::collect_unlocked() {
    std::set<std::string> referenced;
    for (const auto& file : entries_of(root_ + "/images")) {
        if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".json") != 0) {
            continue;
        }
        std::string name = file.substr(0, file.size() - 5);
        std::replace(name.begin(), name.end(), '+', '/');
        unique_fd fd(::open((root_ + "/images/" + file).c_str(), O_RDONLY | O_CLOEXEC));
        auto text = fd ? read_fd(fd.get(), name)
                       : result<std::string>(error::from_errno("open '" + file + "'"));
        auto image = text ? parse_metadata(*text, name) : result<imported_image>(text.error());
        if (!image) {
            // Never delete what an unreadable image might hold.
            return image.error().within("garbage collection skipped");
        }
        for (const auto& l : image->layer_digests) {
            referenced.insert(hex_of(l.digest));
        }
    }
    std::size_t removed = 0;
    for (const auto& hex : entries_of(root_ + "/layers/sha256")) {
        if (referenced.contains(hex)) {
            continue;
        }
        // Renamed away first: a crash mid-removal must not leave a partial layer under a name
        // a later import would trust.
        std::string doomed = root_ + "/tmp/gc-" + hex;
        if (::rename((root_ + "/layers/sha256/" + hex).c_str(), doomed.c_str()) != 0) {
            return error::from_errno("rename layer '" + hex + "' for removal");
        }
        if (auto st = fs_tree::remove_tree(doomed); !st) {
            return st.error();
        }
        ++removed;
    }
    return removed;
}

} // namespace berth
