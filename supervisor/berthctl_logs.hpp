// berthctl logs: a replica's log file read locally, the last lines across rotation, and
// following it like `tail -F`.
#pragma once

#include "engine/result.hpp"

#include <cstddef>
#include <string>

namespace berth::ctl {

// Prints to stdout the last `lines` lines (SIZE_MAX: all) of the log at path read together
// with its rotated predecessors (NAME.K ... NAME.1, NAME, as engine/log_file rotates). With
// follow, then prints what is appended, across rotation and truncation, and returns only on
// an error (a signal ends it). A log that does not exist yet is an error, unless following.
status show_log(const std::string& path, std::size_t lines, bool follow);

} // namespace berth::ctl
