// Loading a fleet: files and includes, merging entries across files, then decoding and
// validation. The only place exceptions are caught: the public functions turn anything that
// escapes into a diagnostic.
#include "config/loader.hpp"

#include "config/detail/decode_fleet.hpp"
#include "config/detail/glob.hpp"
#include "config/detail/parse_guard.hpp"
#include "config/detail/text.hpp"
#include "config/detail/validate.hpp"

#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <new>

namespace berth::config {
namespace {

namespace fs = std::filesystem;
using namespace detail;

struct document {
    const std::string* name; // display name, as given or resolved from an include pattern
    fs::path identity;       // canonical path, for include loops
    toml::table root;
};

// A file's bytes, or the reason it cannot be read.
std::optional<std::string> read_file(const fs::path& path, std::string& error) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec) {
        error = "read: " + ec.message();
        return std::nullopt;
    }
    if (!fs::is_regular_file(status)) {
        error = "read: not a regular file";
        return std::nullopt;
    }
    // Read in growing steps up to the limit: sizing the buffer to the limit up front cost
    // every load 64 MiB of zeroed pages (about 50 ms of CPU for a file of a few lines).
    std::ifstream in(path, std::ios::binary);
    std::string text;
    std::size_t step = 64 * 1024;
    while (in && text.size() <= max_file_size) {
        const std::size_t have = text.size();
        const std::size_t want = std::min(step, max_file_size + 1 - have);
        text.resize(have + want);
        in.read(text.data() + have, static_cast<std::streamsize>(want));
        text.resize(have + static_cast<std::size_t>(in.gcount()));
        step *= 2;
    }
    if (in.bad() || (!in.eof() && in.fail())) {
        error = "read: input/output error";
        return std::nullopt;
    }
    if (text.size() > max_file_size) {
        error = "read: larger than 64 MiB, the limit for a fleet file";
        return std::nullopt;
    }
    return text;
}

std::string position_text(const location& where) {
    return *where.file + ":" + std::to_string(where.position.line) + ":" +
           std::to_string(where.position.column);
}

// Broken services had their references checked with the others; the fleet holds none.
void drop_broken(std::vector<service>& services, const std::vector<bool>& broken) {
    std::vector<service> clean;
    for (std::size_t i = 0; i < services.size(); ++i) {
        if (!broken[i]) {
            clean.push_back(std::move(services[i]));
        }
    }
    services = std::move(clean);
}

class loader {
public:
    explicit loader(load_options options) : options_(options) {}

    void load_file(const fs::path& path, const location* from, const std::string& from_path);
    void load_text(std::string_view text, std::string_view name);
    load_result finish();

private:
    const std::string* keep_name(std::string name) { return &names_.emplace_back(name); }
    void parse(std::string_view text, const std::string* name, fs::path identity);
    void split_top_level(document& doc);
    void collect_supervisor(document& doc, const toml::table& table);
    void collect_entries(const document& doc, const toml::table& table, std::string_view kind,
                         std::map<std::string, table_entry>& into);
    void follow_includes(const document& doc, const field& f);
    void include_pattern(const document& doc, const field& f);
    bool check_loop(const fs::path& identity, const fs::path& path, const location& from,
                    const std::string& from_path);
    fleet decode();
    void sort_diagnostics();

    load_options options_;
    reporter report_;
    std::deque<std::string> names_;
    std::vector<std::unique_ptr<document>> documents_;
    std::vector<const document*> stack_; // the include chain being loaded
    std::vector<fs::path> files_;
    bool parse_failed_ = false;
    std::vector<table_entry> supervisor_;
    std::optional<location> supervisor_where_;
    std::map<std::string, table_entry> images_;
    std::map<std::string, table_entry> services_;
};

void loader::load_text(std::string_view text, std::string_view name) {
    std::error_code ec;
    fs::path identity = fs::weakly_canonical(fs::path(name), ec);
    files_.emplace_back(name);
    parse(text, keep_name(std::string(name)), ec ? fs::path() : identity);
}

void loader::load_file(const fs::path& path, const location* from, const std::string& from_path) {
    std::error_code ec;
    const fs::path identity = fs::canonical(path, ec);
    if (!ec && from != nullptr && !check_loop(identity, path, *from, from_path)) {
        return;
    }
    std::string error;
    std::optional<std::string> text = ec ? std::nullopt : read_file(path, error);
    if (ec) {
        error = "read: " + ec.message();
    }
    if (!text) {
        parse_failed_ = true;
        if (from != nullptr) {
            report_.error(*from, from_path, "include " + quote(path.string()) + ": " + error);
        } else {
            report_.error(location{keep_name(path.string()), {}}, "", error);
        }
        return;
    }
    files_.push_back(path);
    parse(*text, keep_name(path.string()), identity);
}

// False (after reporting) when identity is on the include chain or was loaded already.
bool loader::check_loop(const fs::path& identity, const fs::path& path, const location& from,
                        const std::string& from_path) {
    const auto on_stack = std::find_if(stack_.begin(), stack_.end(),
                                       [&](const document* d) { return d->identity == identity; });
    if (on_stack != stack_.end()) {
        std::string chain;
        for (auto it = on_stack; it != stack_.end(); ++it) {
            chain += quote(*(*it)->name) + " -> ";
        }
        report_.error(from, from_path, "include loop: " + chain + quote(path.string()));
        return false;
    }
    for (const auto& d : documents_) {
        if (d->identity == identity) {
            report_.error(from, from_path,
                          quote(path.string()) + " is already included as " + quote(*d->name) +
                              " (a file may be included once)");
            return false;
        }
    }
    return true;
}

void loader::parse(std::string_view text, const std::string* name, fs::path identity) {
    if (auto hazard = check_before_parse(text)) {
        parse_failed_ = true;
        report_.error(location{name,
                               {static_cast<toml::source_index>(hazard->line),
                                static_cast<toml::source_index>(hazard->column)}},
                      "", hazard->message);
        return;
    }
    auto doc = std::make_unique<document>(document{name, std::move(identity), {}});
    try {
        doc->root = toml::parse(text, std::string_view(*name));
    } catch (const toml::parse_error& e) {
        parse_failed_ = true;
        report_.error(location{name, e.source().begin}, "", std::string(e.description()));
        return;
    }
    document& d = *documents_.emplace_back(std::move(doc));
    stack_.push_back(&d);
    split_top_level(d);
    stack_.pop_back();
}

void loader::split_top_level(document& doc) {
    table_reader top(report_, *doc.name, doc.root, "", location{doc.name, {1, 1}});
    std::optional<field> include;
    if (auto f = top.get("supervisor")) {
        if (const auto* table = f->node.as_table()) {
            collect_supervisor(doc, *table);
            if (const toml::node* node = table->get("include")) {
                include.emplace(field{report_, *doc.name, *node, "supervisor", "include"});
            }
        } else {
            f->type_error("a table ([supervisor])");
        }
    }
    if (auto f = top.get("image")) {
        if (const auto* table = f->node.as_table()) {
            collect_entries(doc, *table, "image", images_);
        } else {
            f->type_error("a table of images ([image.NAME])");
        }
    }
    if (auto f = top.get("service")) {
        if (const auto* table = f->node.as_table()) {
            collect_entries(doc, *table, "service", services_);
        } else {
            f->type_error("a table of services ([service.NAME])");
        }
    }
    top.finish();
    if (include) {
        follow_includes(doc, *include);
    }
}

void loader::collect_supervisor(document& doc, const toml::table& table) {
    if (!supervisor_where_) {
        supervisor_where_ = location{doc.name, table.source().begin};
    }
    for (const table_entry& e : entries_of(table, *doc.name)) {
        if (e.key->str() == "include") {
            continue;
        }
        const auto first = std::find_if(supervisor_.begin(), supervisor_.end(), [&](auto& other) {
            return other.key->str() == e.key->str();
        });
        if (first != supervisor_.end()) {
            report_.error(location{e.file, e.key->source().begin},
                          join_key("supervisor", e.key->str()),
                          "set twice (first at " +
                              position_text({first->file, first->key->source().begin}) + ")");
            continue;
        }
        supervisor_.push_back(e);
    }
}

void loader::collect_entries(const document& doc, const toml::table& table, std::string_view kind,
                             std::map<std::string, table_entry>& into) {
    for (const table_entry& e : entries_of(table, *doc.name)) {
        const auto [it, inserted] = into.emplace(std::string(e.key->str()), e);
        if (inserted) {
            continue;
        }
        const table_entry& first = it->second;
        report_.error(location{e.file, e.key->source().begin}, join_key(kind, e.key->str()),
                      "duplicate " + std::string(kind) + " " + quote(e.key->str(), shown_bytes) +
                          " (first defined at " +
                          position_text({first.file, first.key->source().begin}) + ")");
    }
}

void loader::follow_includes(const document& doc, const field& f) {
    if (!options_.follow_includes) {
        f.error("includes are disabled for this load");
        return;
    }
    const auto* array = f.node.as_array();
    if (array == nullptr) {
        f.type_error("an array of file patterns such as [\"conf.d/*.toml\"]");
        return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
        include_pattern(doc, f.element(*array->get(i), i));
    }
}

void loader::include_pattern(const document& doc, const field& f) {
    const auto pattern = as_string(f);
    if (!pattern) {
        return;
    }
    if (pattern->empty()) {
        f.error("expected a file pattern, got \"\"");
        return;
    }
    const fs::path resolved = fs::path(*pattern).is_absolute()
                                  ? fs::path(*pattern)
                                  : fs::path(*doc.name).parent_path() / *pattern;
    const location from = f.where();
    const std::string from_path = f.path();
    if (!has_wildcard(*pattern)) {
        load_file(resolved, &from, from_path);
        return;
    }
    glob_result matches = expand_glob(resolved);
    if (!matches.error.empty()) {
        parse_failed_ = true;
        f.error("include " + quote(*pattern, shown_bytes) + ": " + matches.error);
    }
    for (const fs::path& file : matches.files) {
        load_file(file, &from, from_path);
    }
}

fleet loader::decode() {
    fleet out;
    std::sort(
        supervisor_.begin(), supervisor_.end(),
        [](const table_entry& a, const table_entry& b) { return a.key->str() < b.key->str(); });
    const location where =
        supervisor_where_.value_or(location{files_.empty() ? nullptr : &names_.front(), {}});
    table_reader supervisor(report_, std::move(supervisor_), "supervisor", where);
    out.supervisor = decode_supervisor(supervisor);
    declared_names declared;
    for (const auto& [name, entry] : images_) {
        declared.images.push_back(name);
        if (auto im = decode_image(report_, entry)) {
            out.images.push_back(std::move(*im));
        }
    }
    std::vector<service_refs> refs;
    std::vector<bool> broken;
    for (const auto& [name, entry] : services_) {
        declared.services.push_back(name);
        if (auto s = decode_service(report_, entry)) {
            out.services.push_back(std::move(s->service));
            refs.push_back(std::move(s->refs));
            broken.push_back(s->broken);
        }
    }
    if (!parse_failed_) {
        validate_references(report_, out, refs, declared);
    }
    drop_broken(out.services, broken);
    return out;
}

void loader::sort_diagnostics() {
    std::map<std::string_view, std::size_t> order;
    for (const std::string& name : names_) {
        order.emplace(name, order.size());
    }
    const auto rank = [&](const diagnostic& d) {
        const auto it = order.find(d.file);
        return std::make_tuple(it == order.end() ? order.size() : it->second, d.line, d.column);
    };
    std::stable_sort(report_.diagnostics().begin(), report_.diagnostics().end(),
                     [&](const diagnostic& a, const diagnostic& b) { return rank(a) < rank(b); });
}

load_result loader::finish() {
    load_result result;
    fleet decoded = decode();
    sort_diagnostics();
    if (report_.count() == 0) {
        result.fleet = std::move(decoded);
    }
    result.diagnostics = std::move(report_.diagnostics());
    result.files = std::move(files_);
    return result;
}

// The edge: whatever escaped loading becomes one more diagnostic.
template <typename Load> load_result guarded(std::string_view name, Load&& load) noexcept {
    const auto failure = [&](std::string message) {
        load_result result;
        result.diagnostics.push_back(diagnostic{std::string(name), 0, 0, "", std::move(message)});
        return result;
    };
    try {
        return load();
    } catch (const std::bad_alloc&) {
        return failure("load: out of memory");
    } catch (const std::exception& e) {
        return failure(std::string("load: internal error: ") + e.what());
    } catch (...) {
        return failure("load: internal error");
    }
}

} // namespace

load_result load_fleet(const fs::path& path, load_options options) noexcept {
    return guarded(path.native(), [&] {
        loader l(options);
        l.load_file(path, nullptr, "");
        return l.finish();
    });
}

load_result load_fleet_from_string(std::string_view text, std::string_view name,
                                   load_options options) noexcept {
    return guarded(name, [&] {
        loader l(options);
        l.load_text(text, name);
        return l.finish();
    });
}

} // namespace berth::config
