// Unit tests of the cgroup statistics and cgroup.events parsers, and of "not available".
#include "engine/cgroup.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace berth::cgroup {
namespace {

namespace fs = std::filesystem;

TEST(cgroup_stats, parses_memory_events) {
    auto ev = parse_memory_events("low 1\nhigh 22\nmax 333\noom 4\noom_kill 5\noom_group_kill 6\n");
    ASSERT_TRUE(ev.has_value()) << ev.error().message();
    EXPECT_EQ(ev->low, 1u);
    EXPECT_EQ(ev->high, 22u);
    EXPECT_EQ(ev->max, 333u);
    EXPECT_EQ(ev->oom, 4u);
    EXPECT_EQ(ev->oom_kill, 5u);
    EXPECT_EQ(ev->oom_group_kill, 6u);
}

TEST(cgroup_stats, memory_events_of_an_older_kernel_leave_new_keys_zero) {
    auto ev = parse_memory_events("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n");
    ASSERT_TRUE(ev.has_value());
    EXPECT_EQ(ev->max, 7u);
    EXPECT_EQ(ev->oom_group_kill, 0u);
}

TEST(cgroup_stats, malformed_flat_keyed_lines_are_errors) {
    auto no_value = parse_memory_events("low\n");
    ASSERT_FALSE(no_value.has_value());
    EXPECT_EQ(no_value.error().context(), "line 'low' is not 'key value'");

    auto bad_number = parse_memory_events("oom x\n");
    ASSERT_FALSE(bad_number.has_value());
    EXPECT_EQ(bad_number.error().context(), "bad number for 'oom'");
}

TEST(cgroup_stats, parses_cpu_stat_with_throttling) {
    auto st = parse_cpu_stat("usage_usec 1000\nuser_usec 600\nsystem_usec 400\n"
                             "core_sched.force_idle_usec 0\nnr_periods 10\nnr_throttled 3\n"
                             "throttled_usec 2500\nnr_bursts 0\nburst_usec 0\n");
    ASSERT_TRUE(st.has_value()) << st.error().message();
    EXPECT_EQ(st->usage_usec, 1000u);
    EXPECT_EQ(st->user_usec, 600u);
    EXPECT_EQ(st->system_usec, 400u);
    EXPECT_EQ(st->nr_periods, 10u);
    EXPECT_EQ(st->nr_throttled, 3u);
    EXPECT_EQ(st->throttled_usec, 2500u);
}

TEST(cgroup_stats, cpu_stat_without_the_cpu_controller_has_no_throttling) {
    auto st = parse_cpu_stat("usage_usec 5\nuser_usec 3\nsystem_usec 2\n");
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->usage_usec, 5u);
    EXPECT_FALSE(st->nr_periods.has_value());
    EXPECT_FALSE(st->nr_throttled.has_value());
    EXPECT_FALSE(st->throttled_usec.has_value());

    auto empty = parse_cpu_stat("");
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error().context(), "no usage_usec line");
}

TEST(cgroup_stats, sums_io_stat_over_devices) {
    auto st = parse_io_stat("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
                            "8:16 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=5 dios=1\n");
    ASSERT_TRUE(st.has_value()) << st.error().message();
    EXPECT_EQ(st->rbytes, 1100u);
    EXPECT_EQ(st->wbytes, 2200u);
    EXPECT_EQ(st->rios, 11u);
    EXPECT_EQ(st->wios, 22u);

    auto none = parse_io_stat("");
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(none->rbytes, 0u);

    auto bad = parse_io_stat("8:0 rbytes=x\n");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().context(), "bad number for 'rbytes'");
}

TEST(cgroup_stats, parses_counters) {
    auto n = parse_counter("4096\n");
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n.value(), 4096u);
    auto max = parse_counter("max\n");
    ASSERT_FALSE(max.has_value());
    EXPECT_EQ(max.error().context(), "'max' is not a counter");
}

TEST(cgroup_events, parses_populated_and_frozen) {
    auto ev = parse_events("populated 1\nfrozen 0\n");
    ASSERT_TRUE(ev.has_value());
    EXPECT_TRUE(ev->populated);
    EXPECT_FALSE(ev->frozen);

    auto frozen = parse_events("populated 0\nfrozen 1\n");
    ASSERT_TRUE(frozen.has_value());
    EXPECT_FALSE(frozen->populated);
    EXPECT_TRUE(frozen->frozen);

    auto old_kernel = parse_events("populated 1\n"); // before cgroup.freeze (5.2)
    ASSERT_TRUE(old_kernel.has_value());
    EXPECT_TRUE(old_kernel->populated);

    auto none = parse_events("frozen 0\n");
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().context(), "cgroup.events: no 'populated' line");

    auto bad = parse_events("populated 2\n");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().context(), "cgroup.events: bad value '2' for populated");
}

class fake_stats : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-cgroup-stats-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void put(const std::string& file, const std::string& text) {
        std::ofstream(dir_ + "/" + file) << text;
    }
    std::string dir_;
};

TEST_F(fake_stats, absent_files_are_not_available_rather_than_errors) {
    auto current = read_memory_current(dir_);
    ASSERT_TRUE(current.has_value()) << current.error().message();
    EXPECT_FALSE(current->has_value());

    auto peak = read_memory_peak(dir_);
    ASSERT_TRUE(peak.has_value());
    EXPECT_FALSE(peak->has_value());

    auto events = read_memory_events(dir_);
    ASSERT_TRUE(events.has_value());
    EXPECT_FALSE(events->has_value());

    auto pids = read_pids_current(dir_);
    ASSERT_TRUE(pids.has_value());
    EXPECT_FALSE(pids->has_value());

    auto cpu = read_cpu_stat(dir_);
    ASSERT_TRUE(cpu.has_value());
    EXPECT_FALSE(cpu->has_value());

    auto io = read_io_stat(dir_);
    ASSERT_TRUE(io.has_value());
    EXPECT_FALSE(io->has_value());
}

TEST_F(fake_stats, present_files_are_read_and_parsed) {
    put("memory.current", "8192\n");
    put("memory.peak", "16384\n");
    put("memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n");
    put("pids.current", "3\n");
    put("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n");
    put("io.stat", "254:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n");

    EXPECT_EQ(read_memory_current(dir_).value(), 8192u);
    EXPECT_EQ(read_memory_peak(dir_).value(), 16384u);
    EXPECT_EQ(read_memory_events(dir_).value()->oom_kill, 1u);
    EXPECT_EQ(read_pids_current(dir_).value(), 3u);
    EXPECT_EQ(read_cpu_stat(dir_).value()->usage_usec, 10u);
    EXPECT_EQ(read_io_stat(dir_).value()->wbytes, 1024u);
}

TEST_F(fake_stats, a_garbled_file_is_an_error_with_the_cgroup_and_file) {
    put("memory.current", "lots\n");
    auto current = read_memory_current(dir_);
    ASSERT_FALSE(current.has_value());
    EXPECT_EQ(current.error().message(),
              "cgroup '" + dir_ + "': memory.current: 'lots' is not a counter: Invalid argument");
}

TEST_F(fake_stats, events_read_through_a_descriptor_from_offset_zero) {
    put("cgroup.events", "populated 1\nfrozen 0\n");
    auto fd = open_events(dir_);
    ASSERT_TRUE(fd.has_value()) << fd.error().message();
    for (int round = 0; round < 2; ++round) { // rereading starts at offset 0 again
        auto ev = read_events(fd->get());
        ASSERT_TRUE(ev.has_value()) << ev.error().message();
        EXPECT_TRUE(ev->populated);
    }
    auto by_path = read_events(dir_);
    ASSERT_TRUE(by_path.has_value());
    EXPECT_TRUE(by_path->populated);

    put("memory.events", "low 0\nhigh 3\nmax 0\noom 0\noom_kill 0\n");
    auto mfd = open_events(dir_, "memory.events");
    ASSERT_TRUE(mfd.has_value());
    auto mev = read_memory_events(mfd->get());
    ASSERT_TRUE(mev.has_value()) << mev.error().message();
    EXPECT_EQ(mev->high, 3u);

    auto missing = open_events(dir_ + "/nope");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message(),
              "cgroup '" + dir_ + "/nope': open cgroup.events: No such file or directory");
}

} // namespace
} // namespace berth::cgroup
