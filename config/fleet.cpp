// Lookups in a loaded fleet (its entries are sorted by name).
#include "config/fleet.hpp"

#include <algorithm>

namespace berth::config {
namespace {

template <typename Entry>
const Entry* find_by_name(const std::vector<Entry>& entries, std::string_view name) noexcept {
    const auto it = std::lower_bound(entries.begin(), entries.end(), name,
                                     [](const Entry& e, std::string_view n) { return e.name < n; });
    return it != entries.end() && it->name == name ? &*it : nullptr;
}

} // namespace

const image* fleet::find_image(std::string_view name) const noexcept {
    return find_by_name(images, name);
}

const service* fleet::find_service(std::string_view name) const noexcept {
    return find_by_name(services, name);
}

} // namespace berth::config
