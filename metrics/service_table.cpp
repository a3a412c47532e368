// Per-service series: replica counts by state, restarts and exits, rendered at each change.
#include "metrics/service_table.hpp"

#include <algorithm>

namespace berth::metrics {

using text::kind;

const std::array<text::family, service_family_count> service_families = {{
    {"berth_service_desired_replicas", "Replicas the service is configured to run.", kind::gauge},
    {"berth_service_running_replicas",
     "Replicas of the service whose workload is running (running, ready or stopping).",
     kind::gauge},
    {"berth_service_replicas", "Replicas of the service in each lifecycle state.", kind::gauge},
    {"berth_service_restarts_total", "Restarts of the service's replicas by the restart policy.",
     kind::counter},
    {"berth_service_exits_total",
     "Exits of the service's containers: reason=code (exited by itself), signal (killed by a "
     "signal), oom (killed by the OOM killer).",
     kind::counter},
}};

namespace {

constexpr std::array<std::string_view, 3> reason_labels = {"reason=\"code\"", "reason=\"signal\"",
                                                           "reason=\"oom\""};

} // namespace

service_table::service_table(std::vector<std::string> states,
                             std::vector<std::string> running_states)
    : states_(std::move(states)) {
    for (const auto& s : states_) {
        state_labels_.push_back(text::label_set("state", s));
        running_.push_back(std::find(running_states.begin(), running_states.end(), s) !=
                           running_states.end());
    }
}

service_table::entry& service_table::get(std::string_view service) {
    auto it = services_.find(service);
    if (it != services_.end()) {
        return it->second;
    }
    entry& e = services_[std::string(service)];
    e.labels = text::label_set("service", service);
    e.in_state.assign(states_.size(), 0);
    return e;
}

void service_table::set_desired(std::string_view service, std::uint32_t desired) {
    entry& e = get(service);
    e.desired = desired;
    render(e);
}

bool service_table::remove(std::string_view service) noexcept {
    auto it = services_.find(service);
    if (it == services_.end()) {
        return false;
    }
    services_.erase(it);
    return true;
}

bool service_table::set_replica_state(std::string_view service, std::string_view replica,
                                      std::string_view state) {
    auto known = std::find(states_.begin(), states_.end(), state);
    if (known == states_.end()) {
        return false;
    }
    std::size_t index = static_cast<std::size_t>(known - states_.begin());
    entry& e = get(service);
    auto it = e.replica_state.find(replica);
    if (it == e.replica_state.end()) {
        it = e.replica_state.emplace(std::string(replica), index).first;
    } else {
        --e.in_state[it->second];
        e.running -= running_[it->second] ? 1 : 0;
        it->second = index;
    }
    ++e.in_state[index];
    e.running += running_[index] ? 1 : 0;
    render(e);
    return true;
}

bool service_table::remove_replica(std::string_view service, std::string_view replica) {
    auto svc = services_.find(service);
    if (svc == services_.end()) {
        return false;
    }
    entry& e = svc->second;
    auto it = e.replica_state.find(replica);
    if (it == e.replica_state.end()) {
        return false;
    }
    --e.in_state[it->second];
    e.running -= running_[it->second] ? 1 : 0;
    e.replica_state.erase(it);
    render(e);
    return true;
}

void service_table::count_restart(std::string_view service) {
    entry& e = get(service);
    ++e.restarts;
    render(e);
}

void service_table::count_exit(std::string_view service, exit_reason reason) {
    entry& e = get(service);
    ++e.exits[static_cast<std::size_t>(reason)];
    render(e);
}

void service_table::render(entry& e) const {
    auto& lines = e.lines;
    lines.clear();
    std::string& out = lines.buffer();
    const auto& f = service_families;

    if (e.desired) {
        text::append_sample(out, f[0].name, e.labels, std::uint64_t{*e.desired});
    }
    lines.end_family();

    text::append_sample(out, f[1].name, e.labels, std::uint64_t{e.running});
    lines.end_family();

    for (std::size_t i = 0; i < states_.size(); ++i) {
        text::append_sample(out, f[2].name, e.labels, std::uint64_t{e.in_state[i]},
                            state_labels_[i]);
    }
    lines.end_family();

    text::append_sample(out, f[3].name, e.labels, e.restarts);
    lines.end_family();

    for (std::size_t i = 0; i < reason_labels.size(); ++i) {
        text::append_sample(out, f[4].name, e.labels, e.exits[i], reason_labels[i]);
    }
    lines.end_family();
}

void service_table::append_text(std::string& out) const {
    text_cursor at;
    text::piece_budget unlimited;
    append_text(out, at, unlimited);
}

bool service_table::append_text(std::string& out, text_cursor& at,
                                text::piece_budget& budget) const {
    auto lines_of = [](const entry& e) { return &e.lines; };
    return text::append_families_from(out, service_families, services_, lines_of, at, budget);
}

std::size_t service_table::text_size() const noexcept {
    std::size_t n = 0;
    for (const auto& [name, e] : services_) {
        n += e.lines.size();
    }
    return n;
}

} // namespace berth::metrics
