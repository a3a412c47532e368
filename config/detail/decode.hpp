// Internal to config/: turning toml++ nodes into fleet values, reporting every problem.
//
// A table_reader hands out the values of one TOML table by key and remembers which keys the
// schema asked for; finish() reports the rest as unknown keys, with the nearest known one.
// Decoders take a `field` (a node plus where it is) and return std::nullopt after reporting
// an error, so one bad value never hides the next.
#pragma once

#include "config/diagnostic.hpp"
#include "config/fleet.hpp"
#include "config/units.hpp"

#include <toml++/toml.h>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::config::detail {

struct location {
    const std::string* file = nullptr;
    toml::source_position position;
};

class reporter {
public:
    void error(const location& where, std::string key_path, std::string message);
    std::vector<diagnostic>& diagnostics() noexcept { return diagnostics_; }
    std::size_t count() const noexcept { return diagnostics_.size(); }

private:
    std::vector<diagnostic> diagnostics_;
};

// One TOML value under decoding. The key path is built only when an error needs it.
struct field {
    reporter& report;
    const std::string& file;
    const toml::node& node;
    std::string_view parent; // key path of the table holding the value
    std::string_view key;
    std::ptrdiff_t index = -1; // array element index, or -1

    std::string path() const;
    location where() const { return {&file, node.source().begin}; }
    void error(std::string message) const;
    // "expected WHAT, got a TYPE"; hint, when given, follows in parentheses.
    void type_error(std::string_view what, std::string_view hint = {}) const;
    field element(const toml::node& n, std::size_t i) const;
};

// A key of a table with the file it came from (tables merged from several files differ).
struct table_entry {
    const toml::key* key;
    const toml::node* node;
    const std::string* file;
};

// out = decode(f) when f decodes; out keeps its value (the default) otherwise.
template <typename T, typename Decode> void decode_into(const field& f, T& out, Decode&& decode) {
    if (auto value = std::invoke(decode, f)) {
        out = std::move(*value);
    }
}

class table_reader {
public:
    // entries sorted by key; path is the table's key path, where marks the table itself.
    table_reader(reporter& report, std::vector<table_entry> entries, std::string path,
                 location where);
    table_reader(reporter& report, const std::string& file, const toml::table& table,
                 std::string path, location where);

    // The value at key, or nullopt when absent. Either way key becomes a known key.
    std::optional<field> get(std::string_view key);

    // out = decode(value) when key is present and decodes.
    template <typename T, typename Decode>
    void read(std::string_view key, T& out, Decode&& decode) {
        if (auto f = get(key)) {
            decode_into(*f, out, decode);
        }
    }

    // Reports a missing required key at the table's position.
    void missing(std::string_view key, std::string_view what);
    // Reports an error about the table as a whole, under the key path of one of its keys.
    void error_at(std::string_view key, std::string message);
    // Reports every present key that get() never asked for.
    void finish();

    const std::string& path() const noexcept { return path_; }
    const location& where() const noexcept { return where_; }
    reporter& report() noexcept { return report_; }

private:
    reporter& report_;
    std::vector<table_entry> entries_;
    std::vector<bool> used_;
    std::vector<std::string_view> known_;
    std::string path_;
    location where_;
};

// Entries of a table in key order.
std::vector<table_entry> entries_of(const toml::table& table, const std::string& file);

// A decoded TOML table as a reader, or nullopt after reporting that f is not a table.
std::optional<table_reader> open_table(const field& f, std::string_view what);

// Type names in messages: "a string", "an integer", ...
std::string_view type_name(const toml::node& node);

// Scalar decoders. Strings never hold NUL bytes (every string ends up in a C string).
std::optional<std::string> as_string(const field& f);
std::optional<bool> as_bool(const field& f);
std::optional<std::uint32_t> as_count(const field& f, std::uint32_t min, std::uint32_t max);
std::optional<std::string> as_absolute_path(const field& f);
std::optional<std::vector<std::string>> as_string_array(const field& f);
// A duration string of at least min.
std::optional<duration> as_duration(const field& f, duration min);
// A size string or integer (bytes); zero only when allow_zero.
std::optional<std::uint64_t> as_size(const field& f, bool allow_zero);
// A size limit: as_size or "max".
std::optional<limit_value> as_size_limit(const field& f, bool allow_zero);
// A process count (integer or "max"), at least 1.
std::optional<limit_value> as_pids_limit(const field& f);
// cpu.max: "50%", "1.5", 2 (cores) or "max".
std::optional<limit_value> as_cpu(const field& f);
std::optional<int> as_signal(const field& f);

struct enum_name {
    std::string_view name;
    int value;
};

// One of names, with a suggestion when the string is close to one. `alternative`, when given,
// names a form that is not a string but also accepted (the caller decodes it), for the message:
// "expected one of \"a\" or \"b\", or ALTERNATIVE, got ...".
std::optional<int> as_enum(const field& f, std::span<const enum_name> names,
                           std::string_view alternative = {});

} // namespace berth::config::detail
