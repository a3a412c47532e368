// The plan of a reload: how a newly loaded fleet differs from the running one, per service.
#pragma once

#include "config/fleet.hpp"
#include "supervisor/control.hpp"

#include <vector>

namespace berth {

// Services added, removed, changed (anything but the replica count differs, including the
// layers of the image it uses) or only scaled, in the new fleet's start order, removals last.
// Changes to [supervisor] settings are not part of the plan: they need a restart of berth.
std::vector<reload_change> plan_reload(const config::fleet& running, const config::fleet& next);

} // namespace berth
