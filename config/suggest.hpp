// "Did you mean" for names the user typed: the suggestion the loader gives for unknown keys,
// offered to other modules (berthctl's unknown service names) so both suggest alike.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace berth::config {

// "; did you mean 'x'?" for the candidate closest to word, or "" when none is close.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

} // namespace berth::config
