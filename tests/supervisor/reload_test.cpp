// plan_reload: the plan of a reload, from two fleets loaded from text.
#include "config/loader.hpp"
#include "supervisor/reload.hpp"

#include <gtest/gtest.h>

namespace {

berth::config::fleet load(const std::string& text) {
    auto r = berth::config::load_fleet_from_string(text, "fleet.toml");
    EXPECT_TRUE(r.ok()) << berth::config::format_diagnostics(r.diagnostics);
    return r.fleet.value_or(berth::config::fleet{});
}

std::vector<std::string> lines(const std::vector<berth::reload_change>& plan) {
    std::vector<std::string> out;
    for (const auto& c : plan) {
        out.push_back(std::string(berth::to_string(c.what)) + " " + c.service + ": " + c.detail);
    }
    return out;
}

const char* base = R"(
[image.a]
layers = ["/layers/a"]

[service.db]
image = "a"
command = ["/bin/db"]

[service.web]
image = "a"
command = ["/bin/web"]
replicas = 100
after = ["db"]
)";

TEST(reload_plan, an_unchanged_fleet_has_an_empty_plan) {
    EXPECT_TRUE(berth::plan_reload(load(base), load(base)).empty());
}

TEST(reload_plan, scaling_is_only_a_scale) {
    std::string next = base;
    next.replace(next.find("replicas = 100"), 14, "replicas = 150");
    EXPECT_EQ(lines(berth::plan_reload(load(base), load(next))),
              (std::vector<std::string>{"scaled web: replicas 100 -> 150"}));
}

TEST(reload_plan, a_changed_command_and_env_are_named) {
    std::string next = base;
    next.replace(next.find("\"/bin/db\"]"), 10, "\"/bin/db2\"]\nenv = { A = \"1\" }");
    EXPECT_EQ(lines(berth::plan_reload(load(base), load(next))),
              (std::vector<std::string>{"changed db: command, env changed"}));
}

TEST(reload_plan, changed_image_layers_change_every_user_of_the_image) {
    std::string next = base;
    next.replace(next.find("/layers/a"), 9, "/layers/b");
    EXPECT_EQ(lines(berth::plan_reload(load(base), load(next))),
              (std::vector<std::string>{"changed db: image layers changed",
                                        "changed web: image layers changed"}));
}

TEST(reload_plan, added_and_removed_services_removals_last_in_reverse_order) {
    std::string next = R"(
[image.a]
layers = ["/layers/a"]

[service.cache]
command = ["/bin/cache"]
replicas = 2
)";
    EXPECT_EQ(
        lines(berth::plan_reload(load(base), load(next))),
        (std::vector<std::string>{"added cache: 2 replicas", "removed web: ", "removed db: "}));
}

} // namespace
