// Test helpers: a strict parser of the Prometheus text format back into samples, and fake
// cgroup directories (plain files in a temp dir, which the engine's readers accept).
#pragma once

#include "metrics/registry.hpp"
#include "tests/common/temp_dir.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::metrics::testing {

// Registry options with berth's replica states and the ones that count as running, as the
// supervisor sets them up (fleet_runner::open_metrics).
inline registry::options states() {
    registry::options o;
    o.replica_states = {"waiting",  "starting", "running", "ready",
                        "stopping", "backoff",  "exited",  "failed"};
    o.running_states = {"running", "ready", "stopping"};
    return o;
}

struct sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct exposition {
    std::vector<sample> samples;
    std::map<std::string, std::string> types; // family -> counter|gauge|histogram|...
    std::map<std::string, std::string> help;
    std::vector<std::string> errors; // everything the parser found wrong

    // The samples named `name` whose labels include every pair of `match`.
    std::vector<const sample*> find(std::string_view name,
                                    const std::map<std::string, std::string>& match = {}) const {
        std::vector<const sample*> out;
        for (const auto& s : samples) {
            if (s.name != name) {
                continue;
            }
            bool ok = true;
            for (const auto& [k, v] : match) {
                auto it = s.labels.find(k);
                ok = ok && it != s.labels.end() && it->second == v;
            }
            if (ok) {
                out.push_back(&s);
            }
        }
        return out;
    }

    // The value of the one sample matching, or nullopt when there is none (a test fails when
    // there are several).
    std::optional<double> value(std::string_view name,
                                const std::map<std::string, std::string>& match = {}) const {
        auto found = find(name, match);
        EXPECT_LE(found.size(), 1u) << name << " matches several samples";
        if (found.empty()) {
            return std::nullopt;
        }
        return found.front()->value;
    }

    bool has_family(std::string_view family) const { return types.count(std::string(family)); }
};

// The family a sample name belongs to (histogram suffixes stripped when declared so).
inline std::string family_of(const exposition& e, const std::string& name) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            std::string base = name.substr(0, name.size() - suffix.size());
            auto it = e.types.find(base);
            if (it != e.types.end() && (it->second == "histogram" || it->second == "summary")) {
                return base;
            }
        }
    }
    return name;
}

// Parses and checks: every sample's family has a TYPE line before it, each family forms one
// contiguous group, no series (name + labels) appears twice, label values unescape.
inline exposition parse(std::string_view text) {
    exposition e;
    std::set<std::string> closed;
    std::set<std::string> series;
    std::string current;
    auto fail = [&](std::string what, std::string_view line) {
        e.errors.push_back(what + ": '" + std::string(line) + "'");
    };
    auto enter = [&](const std::string& family, std::string_view line) {
        if (family == current) {
            return;
        }
        if (closed.count(family)) {
            fail("family " + family + " is split into several groups", line);
        }
        if (!current.empty()) {
            closed.insert(current);
        }
        current = family;
    };
    if (!text.empty() && text.back() != '\n') {
        e.errors.push_back("the text does not end with a newline");
    }
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = text.find('\n', i);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(i, end - i);
        i = end + 1;
        if (line.empty()) {
            continue;
        }
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
            std::string_view rest = line.substr(7);
            std::size_t sp = rest.find(' ');
            if (sp == std::string_view::npos) {
                fail("bad comment", line);
                continue;
            }
            std::string family(rest.substr(0, sp));
            enter(family, line);
            (line[2] == 'H' ? e.help : e.types)[family] = std::string(rest.substr(sp + 1));
            continue;
        }
        if (line.front() == '#') {
            continue;
        }
        sample s;
        std::size_t pos = line.find_first_of("{ ");
        if (pos == std::string_view::npos) {
            fail("no value", line);
            continue;
        }
        s.name = std::string(line.substr(0, pos));
        if (line[pos] == '{') {
            ++pos;
            while (pos < line.size() && line[pos] != '}') {
                std::size_t eq = line.find('=', pos);
                if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
                    fail("bad label", line);
                    break;
                }
                std::string key(line.substr(pos, eq - pos));
                std::string value;
                std::size_t j = eq + 2;
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\' && j + 1 < line.size()) {
                        char c = line[++j];
                        value += c == 'n' ? '\n' : c;
                    } else {
                        value += line[j];
                    }
                }
                if (s.labels.count(key)) {
                    fail("label " + key + " repeated", line);
                }
                s.labels[key] = value;
                pos = j + 1;
                if (pos < line.size() && line[pos] == ',') {
                    ++pos;
                }
            }
            if (pos >= line.size()) {
                fail("unterminated labels", line);
                continue;
            }
            ++pos; // '}'
        }
        if (pos >= line.size() || line[pos] != ' ') {
            fail("no space before the value", line);
            continue;
        }
        std::string value(line.substr(pos + 1));
        if (value == "+Inf") {
            s.value = std::numeric_limits<double>::infinity();
        } else if (value == "-Inf") {
            s.value = -std::numeric_limits<double>::infinity();
        } else {
            char* endp = nullptr;
            s.value = std::strtod(value.c_str(), &endp);
            if (endp == value.c_str() || *endp != '\0') {
                fail("bad value", line);
                continue;
            }
        }
        std::string family = family_of(e, s.name);
        if (!e.types.count(family)) {
            fail("sample without a TYPE line for " + family, line);
        }
        enter(family, line);
        std::string key = s.name;
        for (const auto& [k, v] : s.labels) {
            key += "|" + k + "=" + v;
        }
        if (!series.insert(key).second) {
            fail("duplicate series", line);
        }
        e.samples.push_back(std::move(s));
    }
    return e;
}

using temp_dir = berth::test::temp_dir;

inline void write_file(const std::filesystem::path& p, std::string_view content) {
    std::ofstream out(p, std::ios::trunc);
    out << content;
    ASSERT_TRUE(out.good()) << p;
}

// What a fake cgroup directory holds; a field left unset: that file is absent.
struct fake_cgroup {
    std::optional<std::string> cpu_stat = "usage_usec 1500000\nuser_usec 1000000\n"
                                          "system_usec 500000\nnr_periods 40\nnr_throttled 7\n"
                                          "throttled_usec 250000\n";
    std::optional<std::string> memory_current = "1048576\n";
    std::optional<std::string> memory_peak = "2097152\n";
    std::optional<std::string> memory_events = "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\n";
    std::optional<std::string> pids_current = "4\n";
    std::optional<std::string> io_stat = "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 "
                                         "dios=0\n8:16 rbytes=24 wbytes=48 rios=3 wios=4\n";

    // Only what a cgroup2 leaf holds on a host whose hierarchy enables no controller.
    static fake_cgroup no_controllers() {
        fake_cgroup c;
        c.cpu_stat = "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n";
        c.memory_current.reset();
        c.memory_peak.reset();
        c.memory_events.reset();
        c.pids_current.reset();
        c.io_stat.reset();
        return c;
    }

    void write(const std::filesystem::path& dir) const {
        std::filesystem::create_directories(dir);
        auto put = [&](const char* file, const std::optional<std::string>& content) {
            std::error_code ec;
            std::filesystem::remove(dir / file, ec);
            if (content) {
                write_file(dir / file, *content);
            }
        };
        put("cpu.stat", cpu_stat);
        put("memory.current", memory_current);
        put("memory.peak", memory_peak);
        put("memory.events", memory_events);
        put("pids.current", pids_current);
        put("io.stat", io_stat);
    }
};

} // namespace berth::metrics::testing
