// The Prometheus text exposition format (version 0.0.4), written directly for the large parts.
//
// prometheus-cpp's TextSerializer takes 160-460 ms for 150,000 series on the developers'
// machines (docs/metrics.md), more than a scrape may cost at 10,000 containers, so per-service
// and per-container series are rendered here instead: each entity (a service, a container)
// keeps its sample lines pre-rendered, grouped by family, and a scrape only concatenates them
// family by family. The format requires every line of one family to form one group.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace berth::metrics::text {

enum class kind { counter, gauge };

// One metric family: a name, its help text and type. Names and help are compile-time
// constants that need no escaping (checked by the tests).
struct family {
    std::string_view name;
    std::string_view help;
    kind type;
};

// `value` with backslash, double quote and newline escaped, as a label value requires.
std::string escape_label_value(std::string_view value);

// `name="value",name2="value2"`: a label set's inside, values escaped.
std::string label_set(std::string_view name, std::string_view value);
std::string label_set(std::string_view name1, std::string_view value1, std::string_view name2,
                      std::string_view value2);

// "# HELP <name> <help>\n# TYPE <name> <type>\n".
void append_header(std::string& out, const family& f);

// Numbers as the format expects them: integers exactly, doubles in their shortest
// round-trip form ("1.5", "2e-06").
void append_number(std::string& out, std::uint64_t value);
void append_number(std::string& out, double value);

// "<name>{<labels>} <value>\n", or "<name>{<labels>,<extra>} <value>\n" with an extra label
// set (already rendered by label_set).
void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value, std::string_view extra = {});
void append_sample(std::string& out, std::string_view name, std::string_view labels, double value,
                   std::string_view extra = {});

// The sample lines of one entity, in family order, with where each family's lines end, so that
// a scrape can take family i of every entity in turn. Rendering reuses the buffer's capacity:
// no allocation once an entity has been rendered once.
template <std::size_t Families> class segments {
public:
    // Starts a new rendering; then for each family in order: append its lines to buffer() and
    // call end_family().
    void clear() noexcept {
        text_.clear();
        next_ = 0;
    }
    std::string& buffer() noexcept { return text_; }
    void end_family() noexcept {
        if (next_ < Families) { // a renderer calls this exactly Families times
            end_[next_++] = static_cast<std::uint32_t>(text_.size());
        }
    }

    // The lines of family i (empty when the entity has no sample in it).
    std::string_view family_lines(std::size_t i) const noexcept {
        std::uint32_t begin = i == 0 ? 0 : end_[i - 1];
        return std::string_view(text_).substr(begin, end_[i] - begin);
    }
    bool empty() const noexcept { return text_.empty(); }
    std::size_t size() const noexcept { return text_.size(); }

private:
    std::string text_;
    std::array<std::uint32_t, Families> end_{};
    std::size_t next_ = 0;
};

// Appends every family that has at least one sample, with its header, taking each family's
// lines from every entity in order. Families without any sample are left out entirely.
template <std::size_t Families>
void append_families(std::string& out, const std::array<family, Families>& families,
                     std::span<const segments<Families>* const> entities) {
    for (std::size_t f = 0; f < Families; ++f) {
        bool header = false;
        for (const segments<Families>* e : entities) {
            std::string_view lines = e->family_lines(f);
            if (lines.empty()) {
                continue;
            }
            if (!header) {
                append_header(out, families[f]);
                header = true;
            }
            out.append(lines);
        }
    }
}

// When one piece of a write taken in pieces ends: once `deadline` has passed. The clock is read
// every `check_every` steps only, so a piece may run that many steps past the deadline; a
// budget never ends a piece before its first steps.
class piece_budget {
public:
    using clock = std::chrono::steady_clock;
    static constexpr unsigned check_every = 16;

    // A budget that never runs out: the whole write in one piece.
    piece_budget() noexcept = default;
    explicit piece_budget(clock::time_point deadline) noexcept : deadline_(deadline) {}

    // Counts one step; true once the deadline has passed.
    bool spent() noexcept {
        if (!deadline_ || ++steps_ % check_every != 0) {
            return false;
        }
        return clock::now() >= *deadline_;
    }

private:
    std::optional<clock::time_point> deadline_;
    unsigned steps_ = 0;
};

// Where a write of per-entity families (append_families_from) stands between two pieces: the
// family being written, whether its header is out, and the key of the last entity visited in
// it. Entities are found again by key, so the table may change between two pieces.
template <typename Key> struct family_cursor {
    std::size_t family = 0;
    bool header = false;
    std::optional<Key> last;
};

// append_families, resumable: writes from `at` on, the families of the entities of the ordered
// map `entities`, until `budget` is spent (false: `at` says where to go on) or everything is
// written (true). `lines_of(mapped value)` gives an entity's segments, or nullptr to skip it.
// An entity added between two pieces before the cursor misses the family being written and
// is in the following ones; a removed one is simply not found again: every family still
// forms one group, and no series appears twice. The whole write in one piece produces exactly
// what append_families produces.
template <std::size_t Families, typename Map, typename LinesOf>
bool append_families_from(std::string& out, const std::array<family, Families>& families,
                          const Map& entities, LinesOf lines_of,
                          family_cursor<typename Map::key_type>& at, piece_budget& budget) {
    for (; at.family < Families; ++at.family, at.header = false, at.last.reset()) {
        auto it = at.last ? entities.upper_bound(*at.last) : entities.begin();
        for (; it != entities.end(); ++it) {
            if (const segments<Families>* e = lines_of(it->second)) {
                std::string_view lines = e->family_lines(at.family);
                if (!lines.empty()) {
                    if (!at.header) {
                        append_header(out, families[at.family]);
                        at.header = true;
                    }
                    out.append(lines);
                }
            }
            if (budget.spent()) {
                at.last = it->first;
                return false;
            }
        }
    }
    return true;
}

} // namespace berth::metrics::text
