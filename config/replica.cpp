// Replica expansion: placeholder substitution and the per-replica view of a service.
#include "config/replica.hpp"

namespace berth::config {
namespace {

constexpr std::string_view service_token = "{service}";
constexpr std::string_view replica_token = "{replica}";

} // namespace

std::string expand_placeholders(std::string_view text, std::string_view service_name,
                                std::uint32_t index) {
    std::string out;
    out.reserve(text.size() + 8);
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::string_view rest = text.substr(pos);
        if (rest.starts_with(service_token)) {
            out += service_name;
            pos += service_token.size();
        } else if (rest.starts_with(replica_token)) {
            out += std::to_string(index);
            pos += replica_token.size();
        } else {
            out += text[pos++];
        }
    }
    return out;
}

std::optional<std::string> check_placeholders(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::string_view rest = text.substr(pos);
        if (rest.starts_with(service_token)) {
            pos += service_token.size();
        } else if (rest.starts_with(replica_token)) {
            pos += replica_token.size();
        } else if (text[pos] == '{' || text[pos] == '}') {
            return "unknown placeholder at offset " + std::to_string(pos) +
                   " (the placeholders are {service} and {replica})";
        } else {
            ++pos;
        }
    }
    return std::nullopt;
}

replica expand_replica(const service& s, std::uint32_t index) {
    replica r;
    r.id = s.name + "/" + std::to_string(index);
    r.index = index;
    if (s.hostname) {
        r.hostname = expand_placeholders(*s.hostname, s.name, index);
    }
    for (const auto& [key, value] : s.env) {
        r.env.emplace(key, expand_placeholders(value, s.name, index));
    }
    r.env.emplace(env_service, s.name);
    r.env.emplace(env_replica, std::to_string(index));
    r.volumes = s.volumes;
    for (auto& v : r.volumes) {
        v.source = expand_placeholders(v.source, s.name, index);
    }
    return r;
}

} // namespace berth::config
