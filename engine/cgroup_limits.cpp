// cgroup v2 limits: value checks, the controller check, and the file and text of each limit.
#include "engine/cgroup.hpp"

#include <unistd.h>

#include <algorithm>

namespace berth::cgroup {
namespace {

// One file write a limit turns into.
struct planned_write {
    std::string_view limit;      // the engine's name, "memory_max"
    std::string_view controller; // "memory"
    std::string file;            // "memory.max"; empty for io_weight until resolved
    std::string value;           // "67108864", "max", "50000 100000", "default 100"
};

std::string subject(const std::string& dir) {
    return "cgroup '" + dir + "'";
}

std::string number_or_max(std::uint64_t value) {
    return value == unlimited ? "max" : std::to_string(value);
}

status check_range(const std::string& dir, std::string_view limit, std::uint64_t value,
                   std::uint64_t low, std::uint64_t high) {
    if (value < low || value > high) {
        return error(EINVAL, subject(dir) + ": limit " + std::string(limit) + " " +
                                 std::to_string(value) + " is outside " + std::to_string(low) +
                                 ".." + std::to_string(high));
    }
    return {};
}

status check_cpu_list(const std::string& dir, std::string_view cpus) {
    bool ok = !cpus.empty() && std::all_of(cpus.begin(), cpus.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == ',' || c == '-';
    });
    if (!ok) {
        return error(EINVAL, subject(dir) + ": limit cpuset_cpus '" + std::string(cpus) +
                                 "' is not a CPU list like '0-3,6'");
    }
    return {};
}

// Checks every value and turns the set fields into writes, in a fixed order.
result<std::vector<planned_write>> plan(const std::string& dir, const limits& l) {
    std::vector<planned_write> writes;
    if (l.memory_max) {
        writes.push_back({"memory_max", "memory", "memory.max", number_or_max(*l.memory_max)});
    }
    if (l.memory_high) {
        writes.push_back({"memory_high", "memory", "memory.high", number_or_max(*l.memory_high)});
    }
    if (l.memory_swap_max) {
        writes.push_back(
            {"memory_swap_max", "memory", "memory.swap.max", number_or_max(*l.memory_swap_max)});
    }
    if (l.pids_max) {
        writes.push_back({"pids_max", "pids", "pids.max", number_or_max(*l.pids_max)});
    }
    if (l.cpu_max) {
        // The kernel's bounds (kernel/sched/core.c): period 1 ms .. 1 s, quota at least 1 ms.
        if (auto s = check_range(dir, "cpu_max period", l.cpu_max->period_us, 1000, 1000000); !s) {
            return s.error();
        }
        std::string quota = "max";
        if (l.cpu_max->quota_us) {
            if (*l.cpu_max->quota_us < 1000) {
                return error(EINVAL, subject(dir) + ": limit cpu_max quota " +
                                         std::to_string(*l.cpu_max->quota_us) +
                                         " is below the kernel's minimum of 1000");
            }
            quota = std::to_string(*l.cpu_max->quota_us);
        }
        writes.push_back(
            {"cpu_max", "cpu", "cpu.max", quota + " " + std::to_string(l.cpu_max->period_us)});
    }
    if (l.cpu_weight) {
        if (auto s = check_range(dir, "cpu_weight", *l.cpu_weight, 1, 10000); !s) {
            return s.error();
        }
        writes.push_back({"cpu_weight", "cpu", "cpu.weight", std::to_string(*l.cpu_weight)});
    }
    if (l.io_weight) {
        if (auto s = check_range(dir, "io_weight", *l.io_weight, 1, 10000); !s) {
            return s.error();
        }
        writes.push_back({"io_weight", "io", "", ""});
    }
    if (l.cpuset_cpus) {
        if (auto s = check_cpu_list(dir, *l.cpuset_cpus); !s) {
            return s.error();
        }
        writes.push_back({"cpuset_cpus", "cpuset", "cpuset.cpus", *l.cpuset_cpus});
    }
    return writes;
}

std::string parent_of(const std::string& dir) {
    std::size_t slash = dir.find_last_of('/');
    return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

// The error for a limit whose controller `dir` lacks: either nobody above offers it, or the
// parent has it but does not pass it on.
error missing_controller(const std::string& dir, const planned_write& w) {
    std::string parent = parent_of(dir);
    auto parent_offers = read_controllers(parent);
    bool offered = parent_offers && std::find(parent_offers->begin(), parent_offers->end(),
                                              w.controller) != parent_offers->end();
    std::string text = subject(dir) + ": limit " + std::string(w.limit) + " needs the " +
                       std::string(w.controller) + " controller, which ";
    if (offered) {
        text += "'" + parent + "' does not enable in cgroup.subtree_control";
    } else {
        text += "this cgroup2 hierarchy does not offer";
    }
    return error(0, text);
}

status check_controllers(const std::string& dir, const std::vector<planned_write>& writes) {
    auto own = read_controllers(dir);
    if (!own) {
        return own.error();
    }
    for (const auto& w : writes) {
        if (std::find(own->begin(), own->end(), w.controller) == own->end()) {
            return missing_controller(dir, w);
        }
    }
    return {};
}

bool file_exists(const std::string& dir, std::string_view file) {
    std::string path = dir + "/" + std::string(file);
    return ::access(path.c_str(), F_OK) == 0;
}

// io_weight goes to each weight file present: io.weight belongs to iocost, io.bfq.weight to
// the BFQ scheduler; which one acts depends on the device, so both are written when both exist.
status write_io_weight(const std::string& dir, std::uint32_t weight) {
    bool iocost = file_exists(dir, "io.weight");
    bool bfq = file_exists(dir, "io.bfq.weight");
    if (!iocost && !bfq) {
        return error(0, subject(dir) + ": limit io_weight needs io.weight (iocost) or "
                                       "io.bfq.weight (BFQ), and this kernel offers neither");
    }
    if (iocost) {
        if (auto s = write_text(dir, "io.weight", "default " + std::to_string(weight)); !s) {
            return s;
        }
    }
    if (bfq) {
        std::string value = "default " + std::to_string(bfq_weight_for(weight));
        if (auto s = write_text(dir, "io.bfq.weight", value); !s) {
            return s;
        }
    }
    return {};
}

} // namespace

std::vector<std::string> controllers_needed(const limits& l) {
    std::vector<std::string> names;
    if (l.cpu_max || l.cpu_weight) {
        names.emplace_back("cpu");
    }
    if (l.cpuset_cpus) {
        names.emplace_back("cpuset");
    }
    if (l.io_weight) {
        names.emplace_back("io");
    }
    if (l.memory_max || l.memory_high || l.memory_swap_max) {
        names.emplace_back("memory");
    }
    if (l.pids_max) {
        names.emplace_back("pids");
    }
    return names;
}

std::uint32_t bfq_weight_for(std::uint32_t io_weight) {
    // BFQ's range is 1..1000 (BFQ_MIN_WEIGHT, BFQ_MAX_WEIGHT); cgroup v2 weights are 1..10000
    // with 100 the default. Keep 1..100 as is and squeeze 100..10000 into 100..1000.
    std::uint32_t w = std::clamp<std::uint32_t>(io_weight, 1, 10000);
    if (w <= 100) {
        return w;
    }
    return 100 + (w - 100) * 900 / 9900;
}

status apply_limits(const std::string& dir, const limits& l) {
    auto writes = plan(dir, l);
    if (!writes) {
        return writes.error();
    }
    if (writes->empty()) {
        return {};
    }

    if (auto s = check_controllers(dir, writes.value()); !s) {
        return s;
    }

    for (const auto& w : writes.value()) {
        status s = w.limit == "io_weight" ? write_io_weight(dir, *l.io_weight)
                                          : write_text(dir, w.file, w.value);
        if (!s) {
            return s;
        }
    }
    return {};
}

} // namespace berth::cgroup
