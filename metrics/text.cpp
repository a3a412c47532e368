// The Prometheus text exposition format: escaping, headers, numbers and sample lines.
#include "metrics/text.hpp"

#include <charconv>
#include <cmath>

namespace berth::metrics::text {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '"':
            out += "\\\"";
            break;
        case '\n':
            out += "\\n";
            break;
        default:
            out += c;
            break;
        }
    }
    return out;
}

std::string label_set(std::string_view name, std::string_view value) {
    std::string out(name);
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
    return out;
}

std::string label_set(std::string_view name1, std::string_view value1, std::string_view name2,
                      std::string_view value2) {
    std::string out = label_set(name1, value1);
    out += ',';
    out += label_set(name2, value2);
    return out;
}

void append_header(std::string& out, const family& f) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += f.help;
    out += "\n# TYPE ";
    out += f.name;
    out += f.type == kind::counter ? " counter\n" : " gauge\n";
}

void append_number(std::string& out, std::uint64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec; // 24 characters hold every 64-bit value
    out.append(buf, end);
}

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec; // the shortest form of a finite double fits in 32 characters
    out.append(buf, end);
}

namespace {

template <typename T>
void append_line(std::string& out, std::string_view name, std::string_view labels, T value,
                 std::string_view extra) {
    out += name;
    out += '{';
    out += labels;
    if (!extra.empty()) {
        out += ',';
        out += extra;
    }
    out += "} ";
    append_number(out, value);
    out += '\n';
}

} // namespace

void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value, std::string_view extra) {
    append_line(out, name, labels, value, extra);
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, double value,
                   std::string_view extra) {
    append_line(out, name, labels, value, extra);
}

} // namespace berth::metrics::text
