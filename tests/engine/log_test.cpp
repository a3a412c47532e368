// Named loggers: levels, and JSON lines that stay valid JSON whatever the message holds.
#include "engine/log.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace {

TEST(log, json_lines_escape_quotes_backslashes_and_control_bytes) {
    berth::log::configure(berth::log::format::json, spdlog::level::info);
    const std::string text = "path \"a\\b\" tab\there\nnext";
    testing::internal::CaptureStderr();
    berth::log::get("engine-test")->info("{}", text);
    std::string line = testing::internal::GetCapturedStderr();
    ASSERT_FALSE(line.empty());
    auto value = boost::json::parse(line);
    EXPECT_EQ(value.at("msg").as_string(), text);
    EXPECT_EQ(value.at("module").as_string(), "engine-test");
    EXPECT_EQ(value.at("level").as_string(), "info");
    berth::log::configure(berth::log::format::text, spdlog::level::info);
}

TEST(log, levels_filter_and_parse) {
    berth::log::configure(berth::log::format::text, spdlog::level::warn);
    testing::internal::CaptureStderr();
    berth::log::get("engine-test")->info("hidden");
    berth::log::get("engine-test")->warn("shown");
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_EQ(out.find("hidden"), std::string::npos);
    EXPECT_NE(out.find("warning engine-test: shown"), std::string::npos) << out;
    EXPECT_EQ(berth::log::parse_level("debug"), spdlog::level::debug);
    EXPECT_EQ(berth::log::parse_level("loud"), std::nullopt);
    berth::log::configure(berth::log::format::text, spdlog::level::info);
}

} // namespace
