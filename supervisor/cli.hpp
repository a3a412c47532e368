// The berth command line: parsing, --help, and the dispatch to check / run / version.
#pragma once

#include <string>
#include <vector>

namespace berth::cli {

// Exit codes of the berth binary (also in --help and the README).
enum exit_code : int {
    exit_ok = 0,      // success; `run`: the fleet was stopped cleanly
    exit_failure = 1, // the fleet file has errors, or the supervisor could not start
    exit_usage = 2,   // bad command line
};

// Runs the berth command line; returns the process exit code. Never throws.
int main(const std::vector<std::string>& args) noexcept;

// The text of `berth --help`.
std::string help_text();

} // namespace berth::cli
