// Rendering diagnostics as "FILE:LINE:COLUMN: KEY_PATH: MESSAGE" lines.
#include "config/diagnostic.hpp"

namespace berth::config {

std::string diagnostic::to_string() const {
    std::string out = file;
    if (line > 0) {
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    if (!key_path.empty()) {
        out += (out.empty() ? "" : ": ") + key_path;
    }
    out += (out.empty() ? "" : ": ") + message;
    return out;
}

std::string format_diagnostics(std::span<const diagnostic> diagnostics) {
    std::string out;
    for (const diagnostic& d : diagnostics) {
        out += d.to_string();
        out += '\n';
    }
    return out;
}

} // namespace berth::config
