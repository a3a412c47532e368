// The decoding toolkit: reporter, field, table_reader and the scalar decoders.
#include "config/detail/decode.hpp"

#include "config/detail/text.hpp"
#include "config/values.hpp"

#include <algorithm>
#include <charconv>

namespace berth::config::detail {
namespace {

std::string got_string(std::string_view text) {
    return quote(text, shown_bytes);
}

// "expected WHAT, got GOT[: reason]".
void expected(const field& f, std::string_view what, std::string_view got,
              std::string_view reason = {}) {
    std::string message = "expected " + std::string(what) + ", got " + std::string(got);
    if (!reason.empty()) {
        message += ": ";
        message += reason;
    }
    f.error(std::move(message));
}

// A string's text, or nullopt after a type error naming what.
const std::string* string_of(const field& f, std::string_view what, std::string_view hint = {}) {
    if (const auto* s = f.node.as_string()) {
        return &s->get();
    }
    f.type_error(what, hint);
    return nullptr;
}

constexpr std::string_view duration_what = "a duration such as \"10s\" (units ms, s, m, h)";
constexpr std::string_view size_what = "a size such as \"64M\" or a number of bytes";
constexpr std::string_view cpu_what = "a CPU share such as \"50%\" (of one core), \"1.5\" "
                                      "(cores) or \"max\"";

} // namespace

void reporter::error(const location& where, std::string key_path, std::string message) {
    diagnostics_.push_back(diagnostic{
        where.file != nullptr ? *where.file : std::string(),
        static_cast<int>(where.position.line),
        static_cast<int>(where.position.column),
        std::move(key_path),
        std::move(message),
    });
}

std::string field::path() const {
    std::string out = key.empty() ? std::string(parent) : join_key(parent, key);
    if (index >= 0) {
        out += "[" + std::to_string(index) + "]";
    }
    return out;
}

void field::error(std::string message) const {
    report.error(where(), path(), std::move(message));
}

void field::type_error(std::string_view what, std::string_view hint) const {
    std::string message = "expected " + std::string(what) + ", got " + std::string(type_name(node));
    if (!hint.empty()) {
        message += " (" + std::string(hint) + ")";
    }
    error(std::move(message));
}

field field::element(const toml::node& n, std::size_t i) const {
    return field{report, file, n, parent, key, static_cast<std::ptrdiff_t>(i)};
}

std::vector<table_entry> entries_of(const toml::table& table, const std::string& file) {
    std::vector<table_entry> entries;
    entries.reserve(table.size());
    for (const auto& [key, node] : table) {
        entries.push_back(table_entry{&key, &node, &file});
    }
    return entries; // toml::table iterates in key order (it is a std::map)
}

table_reader::table_reader(reporter& report, std::vector<table_entry> entries, std::string path,
                           location where)
    : report_(report), entries_(std::move(entries)), used_(entries_.size(), false),
      path_(std::move(path)), where_(where) {
    known_.reserve(48); // the largest table, [service.NAME], asks for 31 keys
}

table_reader::table_reader(reporter& report, const std::string& file, const toml::table& table,
                           std::string path, location where)
    : table_reader(report, entries_of(table, file), std::move(path), where) {}

std::optional<field> table_reader::get(std::string_view key) {
    known_.push_back(key);
    const auto it =
        std::lower_bound(entries_.begin(), entries_.end(), key,
                         [](const table_entry& e, std::string_view k) { return e.key->str() < k; });
    if (it == entries_.end() || it->key->str() != key) {
        return std::nullopt;
    }
    used_[static_cast<std::size_t>(it - entries_.begin())] = true;
    return field{report_, *it->file, *it->node, path_, it->key->str()};
}

void table_reader::missing(std::string_view key, std::string_view what) {
    report_.error(where_, join_key(path_, key), "required key is missing: " + std::string(what));
}

void table_reader::error_at(std::string_view key, std::string message) {
    report_.error(where_, join_key(path_, key), std::move(message));
}

void table_reader::finish() {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        if (used_[i]) {
            continue;
        }
        const table_entry& e = entries_[i];
        report_.error(location{e.file, e.key->source().begin}, join_key(path_, e.key->str()),
                      "unknown key" + did_you_mean(e.key->str(), known_));
    }
}

std::optional<table_reader> open_table(const field& f, std::string_view what) {
    if (const auto* table = f.node.as_table()) {
        return table_reader(f.report, f.file, *table, f.path(), f.where());
    }
    f.type_error(what);
    return std::nullopt;
}

std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a float";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
        return "a date";
    case toml::node_type::time:
        return "a time";
    case toml::node_type::date_time:
        return "a date-time";
    case toml::node_type::none:
        break;
    }
    return "nothing";
}

std::optional<std::string> as_string(const field& f) {
    const std::string* s = string_of(f, "a string");
    if (s == nullptr) {
        return std::nullopt;
    }
    if (s->find('\0') != std::string::npos) {
        f.error("a string here cannot hold a NUL byte (\\u0000)");
        return std::nullopt;
    }
    return *s;
}

std::optional<bool> as_bool(const field& f) {
    if (const auto* b = f.node.as_boolean()) {
        return b->get();
    }
    f.type_error("true or false");
    return std::nullopt;
}

std::optional<std::uint32_t> as_count(const field& f, std::uint32_t min, std::uint32_t max) {
    const std::string what =
        "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    const auto* i = f.node.as_integer();
    if (i == nullptr) {
        f.type_error(what);
        return std::nullopt;
    }
    if (i->get() < min || i->get() > max) {
        expected(f, what, std::to_string(i->get()));
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(i->get());
}

std::optional<std::string> as_absolute_path(const field& f) {
    const std::string* s = string_of(f, "an absolute path");
    if (s == nullptr) {
        return std::nullopt;
    }
    auto path = parse_absolute_path(*s);
    if (!path) {
        expected(f, "an absolute path", got_string(*s), path.error());
        return std::nullopt;
    }
    return std::move(path).value();
}

std::optional<std::vector<std::string>> as_string_array(const field& f) {
    const auto* array = f.node.as_array();
    if (array == nullptr) {
        f.type_error("an array of strings");
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < array->size(); ++i) {
        if (auto s = as_string(f.element(*array->get(i), i))) {
            out.push_back(std::move(*s));
        } else {
            ok = false;
        }
    }
    return ok ? std::optional(std::move(out)) : std::nullopt;
}

std::optional<duration> as_duration(const field& f, duration min) {
    const std::string* s =
        string_of(f, duration_what, f.node.is_number() ? "a bare number has no unit" : "");
    if (s == nullptr) {
        return std::nullopt;
    }
    auto d = parse_duration(*s);
    if (!d) {
        expected(f, duration_what, got_string(*s), d.error());
        return std::nullopt;
    }
    if (*d < min) {
        expected(f,
                 min == duration{1} ? "a duration greater than 0"
                                    : "a duration of at least " + format_duration(min),
                 got_string(*s));
        return std::nullopt;
    }
    return *d;
}

std::optional<std::uint64_t> as_size(const field& f, bool allow_zero) {
    std::uint64_t bytes = 0;
    std::string got;
    if (const auto* i = f.node.as_integer()) {
        got = std::to_string(i->get());
        if (i->get() < 0) {
            expected(f, size_what, got, "negative values are not allowed");
            return std::nullopt;
        }
        bytes = static_cast<std::uint64_t>(i->get());
    } else if (const auto* s = f.node.as_string()) {
        got = got_string(s->get());
        auto size = parse_size(s->get());
        if (!size) {
            expected(f, size_what, got, size.error());
            return std::nullopt;
        }
        bytes = *size;
    } else {
        f.type_error(size_what);
        return std::nullopt;
    }
    if (bytes == 0 && !allow_zero) {
        expected(f, "a size greater than 0", got);
        return std::nullopt;
    }
    return bytes;
}

std::optional<limit_value> as_size_limit(const field& f, bool allow_zero) {
    if (const auto* s = f.node.as_string(); s != nullptr && s->get() == "max") {
        return limit_value::max();
    }
    if (!f.node.is_string() && !f.node.is_integer()) {
        f.type_error("a size such as \"64M\", a number of bytes or \"max\"");
        return std::nullopt;
    }
    if (auto bytes = as_size(f, allow_zero)) {
        return limit_value::of(*bytes);
    }
    return std::nullopt;
}

std::optional<limit_value> as_pids_limit(const field& f) {
    constexpr std::string_view what = "a number of processes from 1, or \"max\"";
    if (const auto* s = f.node.as_string(); s != nullptr && s->get() == "max") {
        return limit_value::max();
    }
    const auto* i = f.node.as_integer();
    if (i == nullptr) {
        f.type_error(what);
        return std::nullopt;
    }
    if (i->get() < 1) {
        expected(f, what, std::to_string(i->get()));
        return std::nullopt;
    }
    return limit_value::of(static_cast<std::uint64_t>(i->get()));
}

std::optional<limit_value> as_cpu(const field& f) {
    std::string text;
    if (const auto* s = f.node.as_string()) {
        text = s->get();
    } else if (const auto* i = f.node.as_integer()) {
        text = std::to_string(i->get());
    } else if (const auto* d = f.node.as_floating_point()) {
        char buffer[64];
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d->get());
        text.assign(buffer, ec == std::errc{} ? end : buffer);
    } else {
        f.type_error(cpu_what);
        return std::nullopt;
    }
    auto quota = parse_cpu(text);
    if (!quota) {
        expected(f, cpu_what, f.node.is_string() ? got_string(text) : text, quota.error());
        return std::nullopt;
    }
    return *quota;
}

std::optional<int> as_signal(const field& f) {
    constexpr std::string_view what = "a signal such as \"SIGTERM\" or a number 1..64";
    std::string text;
    if (const auto* s = f.node.as_string()) {
        text = s->get();
    } else if (const auto* i = f.node.as_integer()) {
        text = std::to_string(i->get());
        if (i->get() < 1) {
            expected(f, what, text, "signal number out of range (1 to 64)");
            return std::nullopt;
        }
    } else {
        f.type_error(what);
        return std::nullopt;
    }
    auto number = parse_signal(text);
    if (!number) {
        expected(f, what, f.node.is_string() ? got_string(text) : text, number.error());
        return std::nullopt;
    }
    return *number;
}

std::optional<int> as_enum(const field& f, std::span<const enum_name> names,
                           std::string_view alternative) {
    std::string what = "one of";
    std::vector<std::string_view> candidates;
    for (std::size_t i = 0; i < names.size(); ++i) {
        what += (i == 0 ? " \"" : i + 1 == names.size() ? " or \"" : ", \"");
        what += std::string(names[i].name) + "\"";
        candidates.push_back(names[i].name);
    }
    if (!alternative.empty()) {
        what += ", or " + std::string(alternative);
    }
    const std::string* s = string_of(f, what);
    if (s == nullptr) {
        return std::nullopt;
    }
    for (const auto& n : names) {
        if (n.name == *s) {
            return n.value;
        }
    }
    f.error("expected " + what + ", got " + got_string(*s) + did_you_mean(*s, candidates));
    return std::nullopt;
}

} // namespace berth::config::detail
