// libFuzzer target for the fleet loader and the unit parsers. Properties checked beyond "no
// crash, no exception": a fleet that loads renders to TOML that loads back to an equal
// fleet, and every parsed unit formats back to the same value.
#include "config/loader.hpp"
#include "config/normalize.hpp"
#include "config/units.hpp"
#include "config/values.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

using namespace berth::config;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "fuzz_loader: property violated: %s\n", what);
        std::abort();
    }
}

void check_units(std::string_view text) {
    if (auto d = parse_duration(text)) {
        require(*parse_duration(format_duration(*d)) == *d, "duration round trip");
    }
    if (auto s = parse_size(text)) {
        require(*parse_size(format_size(*s)) == *s, "size round trip");
    }
    if (auto c = parse_cpu(text)) {
        require(*parse_cpu(format_cpu(*c)) == *c, "cpu round trip");
    }
    if (auto v = parse_volume(text)) {
        require(*parse_volume(format_volume(*v)) == *v, "volume round trip");
    }
    if (auto a = parse_listen_address(text)) {
        require(*parse_listen_address(format_listen_address(*a)) == *a, "address round trip");
    }
    if (auto sig = parse_signal(text)) {
        require(*parse_signal(format_signal(*sig)) == *sig, "signal round trip");
    }
    if (auto u = parse_user(text)) {
        require(*parse_user(format_user(*u)) == *u, "user round trip");
    }
    (void)parse_cpuset(text);
    (void)parse_absolute_path(text);
}

void check_fleet(std::string_view text) {
    const load_result first = load_fleet_from_string(text, "fuzz.toml", load_options{false});
    require(first.ok() == first.diagnostics.empty(), "ok() iff no diagnostics");
    for (const diagnostic& d : first.diagnostics) {
        require(!d.to_string().empty() && !d.message.empty(), "diagnostics have a message");
    }
    if (!first.ok()) {
        return;
    }
    const std::string rendered = render_toml(*first.fleet);
    const load_result second = load_fleet_from_string(rendered, "rendered.toml");
    if (!second.ok()) {
        std::fprintf(stderr, "%s---\n%s", rendered.c_str(),
                     format_diagnostics(second.diagnostics).c_str());
    }
    require(second.ok(), "the rendering loads");
    require(*first.fleet == *second.fleet, "the rendering loads to an equal fleet");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size <= 256) {
        check_units(text);
    }
    check_fleet(text);
    return 0;
}
