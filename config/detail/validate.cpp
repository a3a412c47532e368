// Cross-entry validation (references, cycles) and the dependency start order.
#include "config/detail/validate.hpp"

#include "config/detail/text.hpp"
#include "config/loader.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <queue>

namespace berth::config::detail {
namespace {

// A dependency of service `from`: the service it needs and where that is written.
struct edge {
    std::size_t to;
    bool required; // listed in `requires` (else in `after`)
    std::size_t position;
};

using graph = std::vector<std::vector<edge>>;

std::optional<std::size_t> index_of(const fleet& f, std::string_view name) {
    const service* s = f.find_service(name);
    if (s == nullptr) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(s - f.services.data());
}

bool contains(const std::vector<std::string>& sorted, std::string_view name) {
    return std::binary_search(sorted.begin(), sorted.end(), name, std::less<>());
}

std::string suggestion(std::string_view word, const std::vector<std::string>& names) {
    const std::vector<std::string_view> candidates(names.begin(), names.end());
    return did_you_mean(word, candidates);
}

std::string list_path(const service_refs& refs, bool required, const list_reference& at) {
    return refs.path + (required ? ".requires[" : ".after[") + std::to_string(at.index) + "]";
}

void add_edges(reporter& report, const fleet& f, const service_refs& refs,
               const std::vector<std::string>& names, bool required, const declared_names& declared,
               std::vector<edge>& out) {
    const auto& references = required ? refs.required : refs.after;
    for (std::size_t k = 0; k < names.size(); ++k) {
        if (auto to = index_of(f, names[k])) {
            out.push_back(edge{*to, required, k});
        } else if (!contains(declared.services, names[k])) {
            report.error(references[k].where, list_path(refs, required, references[k]),
                         "unknown service " + quote(names[k]) +
                             suggestion(names[k], declared.services));
        }
    }
}

// Tarjan's algorithm without recursion (a 10,000-service chain must not exhaust the stack).
std::vector<std::vector<std::size_t>> strongly_connected(const graph& g) {
    constexpr std::size_t unvisited = static_cast<std::size_t>(-1);
    std::vector<std::size_t> order(g.size(), unvisited), low(g.size(), 0);
    std::vector<bool> on_stack(g.size(), false);
    std::vector<std::size_t> stack;
    std::vector<std::vector<std::size_t>> components;
    std::size_t counter = 0;
    for (std::size_t root = 0; root < g.size(); ++root) {
        if (order[root] != unvisited) {
            continue;
        }
        std::vector<std::pair<std::size_t, std::size_t>> frames{{root, 0}}; // node, next edge
        order[root] = low[root] = counter++;
        stack.push_back(root);
        on_stack[root] = true;
        while (!frames.empty()) {
            auto& [node, next] = frames.back();
            if (next < g[node].size()) {
                const std::size_t to = g[node][next++].to;
                if (order[to] == unvisited) {
                    order[to] = low[to] = counter++;
                    stack.push_back(to);
                    on_stack[to] = true;
                    frames.emplace_back(to, 0);
                } else if (on_stack[to]) {
                    low[node] = std::min(low[node], order[to]);
                }
                continue;
            }
            const std::size_t done = node;
            frames.pop_back();
            if (!frames.empty()) {
                low[frames.back().first] = std::min(low[frames.back().first], low[done]);
            }
            if (low[done] != order[done]) {
                continue;
            }
            std::vector<std::size_t> component;
            std::size_t member = 0;
            do {
                member = stack.back();
                stack.pop_back();
                on_stack[member] = false;
                component.push_back(member);
            } while (member != done);
            components.push_back(std::move(component));
        }
    }
    return components;
}

// The shortest cycle from start back to start inside component, as the edges taken.
std::vector<const edge*> cycle_through(const graph& g, std::size_t start,
                                       const std::vector<std::size_t>& component) {
    std::vector<const edge*> via(g.size(), nullptr);
    std::vector<std::size_t> from(g.size(), 0);
    std::vector<bool> inside(g.size(), false);
    for (std::size_t n : component) {
        inside[n] = true;
    }
    std::deque<std::size_t> queue{start};
    const edge* closing = nullptr;
    std::size_t closing_from = start;
    while (!queue.empty() && closing == nullptr) {
        const std::size_t node = queue.front();
        queue.pop_front();
        for (const edge& e : g[node]) {
            if (e.to == start) {
                closing = &e;
                closing_from = node;
                break;
            }
            if (inside[e.to] && via[e.to] == nullptr) {
                via[e.to] = &e;
                from[e.to] = node;
                queue.push_back(e.to);
            }
        }
    }
    std::vector<const edge*> path{closing};
    for (std::size_t n = closing_from; n != start; n = from[n]) {
        path.push_back(via[n]);
    }
    std::reverse(path.begin(), path.end());
    return path;
}

void report_cycles(reporter& report, const fleet& f, const std::vector<service_refs>& refs,
                   const graph& g) {
    for (const auto& component : strongly_connected(g)) {
        const std::size_t start = *std::min_element(component.begin(), component.end());
        const bool self_loop = std::any_of(g[start].begin(), g[start].end(),
                                           [&](const edge& e) { return e.to == start; });
        if (component.size() == 1 && !self_loop) {
            continue;
        }
        const auto cycle = cycle_through(g, start, component);
        std::string text = f.services[start].name;
        for (const edge* e : cycle) {
            text += " -> " + f.services[e->to].name;
        }
        const edge& first = *cycle.front();
        const service_refs& r = refs[start];
        const list_reference& at = (first.required ? r.required : r.after)[first.position];
        report.error(at.where, list_path(r, first.required, at), "dependency cycle: " + text);
    }
}

} // namespace

void validate_references(reporter& report, const fleet& f, const std::vector<service_refs>& refs,
                         const declared_names& declared) {
    graph g(f.services.size());
    for (std::size_t i = 0; i < f.services.size(); ++i) {
        const service& s = f.services[i];
        if (s.image && !contains(declared.images, *s.image)) {
            report.error(refs[i].image, refs[i].path + ".image",
                         "unknown image " + quote(*s.image) +
                             suggestion(*s.image, declared.images));
        } else if (s.image && !refs[i].command_given) {
            const image* img = f.find_image(*s.image);
            if (img != nullptr && !img->ref) {
                report.error(refs[i].self, refs[i].path + ".command",
                             "required key is missing: the program and its arguments, e.g. "
                             "command = [\"/bin/httpd\"] (only an imported image, ref = ..., "
                             "brings a default command)");
            }
        }
        add_edges(report, f, refs[i], s.after, false, declared, g[i]);
        add_edges(report, f, refs[i], s.required, true, declared, g[i]);
    }
    report_cycles(report, f, refs, g);
}

} // namespace berth::config::detail

namespace berth::config {

std::vector<const service*> start_order(const fleet& f) {
    const std::size_t n = f.services.size();
    std::vector<std::vector<std::size_t>> dependents(n);
    std::vector<std::size_t> waiting(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::size_t> deps;
        for (const auto* list : {&f.services[i].after, &f.services[i].required}) {
            for (const auto& name : *list) {
                const service* d = f.find_service(name);
                if (d != nullptr) {
                    deps.push_back(static_cast<std::size_t>(d - f.services.data()));
                }
            }
        }
        std::sort(deps.begin(), deps.end());
        deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
        for (std::size_t d : deps) {
            dependents[d].push_back(i);
        }
        waiting[i] = deps.size();
    }
    std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
    for (std::size_t i = 0; i < n; ++i) {
        if (waiting[i] == 0) {
            ready.push(i);
        }
    }
    std::vector<const service*> order;
    std::vector<bool> placed(n, false);
    while (!ready.empty()) {
        const std::size_t i = ready.top();
        ready.pop();
        order.push_back(&f.services[i]);
        placed[i] = true;
        for (std::size_t d : dependents[i]) {
            if (--waiting[d] == 0) {
                ready.push(d);
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) { // only on a cycle, which the loader never returns
        if (!placed[i]) {
            order.push_back(&f.services[i]);
        }
    }
    return order;
}

} // namespace berth::config
