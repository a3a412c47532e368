// Per-container series: reading a cgroup's statistics and rendering them as sample lines.
#include "metrics/container_table.hpp"

namespace berth::metrics {

using text::kind;

const std::array<text::family, container_family_count> container_families = {{
    {"berth_container_cpu_usage_seconds_total",
     "CPU time consumed by the container's cgroup (cpu.stat usage_usec).", kind::counter},
    {"berth_container_cpu_user_seconds_total",
     "CPU time spent in user mode by the container's cgroup (cpu.stat user_usec).", kind::counter},
    {"berth_container_cpu_system_seconds_total",
     "CPU time spent in kernel mode by the container's cgroup (cpu.stat system_usec).",
     kind::counter},
    {"berth_container_cpu_periods_total",
     "Enforcement periods of the container's cpu.max quota that had runnable tasks "
     "(cpu.stat nr_periods).",
     kind::counter},
    {"berth_container_cpu_throttled_periods_total",
     "Enforcement periods in which the container was throttled by cpu.max "
     "(cpu.stat nr_throttled).",
     kind::counter},
    {"berth_container_cpu_throttled_seconds_total",
     "Time the container's tasks were throttled by cpu.max (cpu.stat throttled_usec).",
     kind::counter},
    {"berth_container_memory_usage_bytes",
     "Memory charged to the container's cgroup (memory.current).", kind::gauge},
    {"berth_container_memory_peak_bytes",
     "Highest memory usage of the container's cgroup since it was created (memory.peak).",
     kind::gauge},
    {"berth_container_memory_events_total",
     "memory.events of the container's cgroup: event=high (throttled over memory.high), "
     "max (reached memory.max), oom (allocation failed at memory.max), oom_kill (processes "
     "killed by the OOM killer).",
     kind::counter},
    {"berth_container_pids",
     "Tasks (processes and threads) in the container's cgroup "
     "(pids.current).",
     kind::gauge},
    {"berth_container_io_read_bytes_total",
     "Bytes read by the container from block devices, all devices summed (io.stat rbytes).",
     kind::counter},
    {"berth_container_io_written_bytes_total",
     "Bytes written by the container to block devices, all devices summed (io.stat wbytes).",
     kind::counter},
}};

namespace {

double seconds_of_usec(std::uint64_t usec) {
    return static_cast<double>(usec) / 1e6;
}

// Keeps the reading of one file, or counts its error.
template <typename T>
void take(result<std::optional<T>> r, std::optional<T>& into, stats_reading& out) {
    if (r) {
        into = std::move(*r);
        return;
    }
    ++out.errors;
    if (!out.first_error) {
        out.first_error = r.error();
    }
}

void render(container_table::entry& e) {
    auto& lines = e.lines;
    lines.clear();
    std::string& out = lines.buffer();
    const container_stats& s = e.stats;
    const auto& f = container_families;
    auto sample = [&](std::size_t family, auto value) {
        text::append_sample(out, f[family].name, e.labels, value);
        lines.end_family();
    };
    auto none = [&] { lines.end_family(); };
    auto optional_usec = [&](std::size_t family, const std::optional<std::uint64_t>& usec) {
        usec ? sample(family, seconds_of_usec(*usec)) : none();
    };
    auto optional_count = [&](std::size_t family, const std::optional<std::uint64_t>& n) {
        n ? sample(family, *n) : none();
    };

    if (s.cpu) {
        sample(0, seconds_of_usec(s.cpu->usage_usec));
        sample(1, seconds_of_usec(s.cpu->user_usec));
        sample(2, seconds_of_usec(s.cpu->system_usec));
        optional_count(3, s.cpu->nr_periods);
        optional_count(4, s.cpu->nr_throttled);
        optional_usec(5, s.cpu->throttled_usec);
    } else {
        for (int i = 0; i < 6; ++i) {
            none();
        }
    }

    optional_count(6, s.memory_current);
    optional_count(7, s.memory_peak);

    if (s.memory_events) {
        const auto& ev = *s.memory_events;
        text::append_sample(out, f[8].name, e.labels, ev.high, "event=\"high\"");
        text::append_sample(out, f[8].name, e.labels, ev.max, "event=\"max\"");
        text::append_sample(out, f[8].name, e.labels, ev.oom, "event=\"oom\"");
        text::append_sample(out, f[8].name, e.labels, ev.oom_kill, "event=\"oom_kill\"");
    }
    lines.end_family();

    optional_count(9, s.pids_current);

    if (s.io) {
        sample(10, s.io->rbytes);
        sample(11, s.io->wbytes);
    } else {
        none();
        none();
    }
}

} // namespace

stats_reading read_container_stats(const std::string& dir) {
    stats_reading out;
    take(cgroup::read_cpu_stat(dir), out.stats.cpu, out);
    take(cgroup::read_memory_current(dir), out.stats.memory_current, out);
    take(cgroup::read_memory_peak(dir), out.stats.memory_peak, out);
    take(cgroup::read_memory_events(dir), out.stats.memory_events, out);
    take(cgroup::read_pids_current(dir), out.stats.pids_current, out);
    take(cgroup::read_io_stat(dir), out.stats.io, out);
    return out;
}

void container_table::add(std::string_view service, std::string_view replica,
                          std::string cgroup_path) {
    auto it = entries_.find(key_less::view(service, replica));
    if (it != entries_.end()) {
        it->second->cgroup_path = std::move(cgroup_path);
        return;
    }
    auto e = std::make_unique<entry>();
    e->service = service;
    e->replica = replica;
    e->cgroup_path = std::move(cgroup_path);
    e->labels = text::label_set("service", service, "replica", replica);
    entries_.emplace(std::pair<std::string, std::string>(service, replica), std::move(e));
}

bool container_table::remove(std::string_view service, std::string_view replica) noexcept {
    auto it = entries_.find(key_less::view(service, replica));
    if (it == entries_.end()) {
        return false;
    }
    entries_.erase(it);
    return true;
}

const container_table::entry* container_table::find(std::string_view service,
                                                    std::string_view replica) const noexcept {
    auto it = entries_.find(key_less::view(service, replica));
    return it == entries_.end() ? nullptr : it->second.get();
}

container_table::entry* container_table::next_after(const cursor& at) noexcept {
    auto it = at ? entries_.upper_bound(*at) : entries_.begin();
    return it == entries_.end() ? nullptr : it->second.get();
}

void container_table::update(entry& e, container_stats stats) {
    e.stats = std::move(stats);
    e.read_once = true;
    render(e);
}

void container_table::append_text(std::string& out) const {
    text_cursor at;
    text::piece_budget unlimited;
    append_text(out, at, unlimited);
}

bool container_table::append_text(std::string& out, text_cursor& at,
                                  text::piece_budget& budget) const {
    auto lines_of = [](const std::unique_ptr<entry>& e) {
        return e->read_once ? &e->lines : nullptr;
    };
    return text::append_families_from(out, container_families, entries_, lines_of, at, budget);
}

std::size_t container_table::text_size() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, e] : entries_) {
        n += e->lines.size();
    }
    return n;
}

} // namespace berth::metrics
