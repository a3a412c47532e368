// Unit tests of limit writing through the file seam: a temp directory that mimics a cgroup.
#include "engine/cgroup.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace berth::cgroup {
namespace {

namespace fs = std::filesystem;

// <tmp>/parent (cgroup.controllers) and <tmp>/parent/web, whose interface files exist empty,
// as the kernel would have made them for the controllers listed.
class fake_cgroup : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-cgroup-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        parent_ = base_ + "/parent";
        dir_ = parent_ + "/web";
        fs::create_directories(dir_);
    }

    void TearDown() override {
        std::error_code ec;
        fs::remove_all(base_, ec);
    }

    static void put(const std::string& path, const std::string& text) {
        std::ofstream out(path, std::ios::trunc);
        out << text;
    }

    static std::string get(const std::string& path) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    // Offers `controllers` at the parent and enables them for `web`, with their files.
    void offer(const std::string& parent_controllers, const std::string& own_controllers) {
        put(parent_ + "/cgroup.controllers", parent_controllers + "\n");
        put(dir_ + "/cgroup.controllers", own_controllers + "\n");
        for (const char* file : {"memory.max", "memory.high", "memory.swap.max", "pids.max",
                                 "cpu.max", "cpu.weight", "cpuset.cpus"}) {
            put(dir_ + "/" + file, "");
        }
    }

    std::string base_;
    std::string parent_;
    std::string dir_;
};

TEST_F(fake_cgroup, writes_each_limit_to_its_file_in_kernel_syntax) {
    offer("cpu cpuset io memory pids", "cpu cpuset io memory pids");
    put(dir_ + "/io.weight", "");
    limits l;
    l.memory_max = 64 * 1024 * 1024;
    l.memory_high = 48 * 1024 * 1024;
    l.memory_swap_max = 0;
    l.pids_max = 128;
    l.cpu_max = cpu_quota{50000, 100000};
    l.cpu_weight = 200;
    l.io_weight = 300;
    l.cpuset_cpus = "0-1,3";

    auto s = apply_limits(dir_, l);
    ASSERT_TRUE(s.has_value()) << s.error().message();

    EXPECT_EQ(get(dir_ + "/memory.max"), "67108864");
    EXPECT_EQ(get(dir_ + "/memory.high"), "50331648");
    EXPECT_EQ(get(dir_ + "/memory.swap.max"), "0");
    EXPECT_EQ(get(dir_ + "/pids.max"), "128");
    EXPECT_EQ(get(dir_ + "/cpu.max"), "50000 100000");
    EXPECT_EQ(get(dir_ + "/cpu.weight"), "200");
    EXPECT_EQ(get(dir_ + "/io.weight"), "default 300");
    EXPECT_EQ(get(dir_ + "/cpuset.cpus"), "0-1,3");
}

TEST_F(fake_cgroup, unlimited_writes_max) {
    offer("cpu memory pids", "cpu memory pids");
    limits l;
    l.memory_max = unlimited;
    l.memory_high = unlimited;
    l.memory_swap_max = unlimited;
    l.pids_max = unlimited;
    l.cpu_max = cpu_quota{std::nullopt, 250000};

    auto s = apply_limits(dir_, l);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(get(dir_ + "/memory.max"), "max");
    EXPECT_EQ(get(dir_ + "/memory.high"), "max");
    EXPECT_EQ(get(dir_ + "/memory.swap.max"), "max");
    EXPECT_EQ(get(dir_ + "/pids.max"), "max");
    EXPECT_EQ(get(dir_ + "/cpu.max"), "max 250000");
}

TEST_F(fake_cgroup, a_controller_nobody_offers_is_an_error_naming_it) {
    offer("cpu pids", "cpu pids");
    limits l;
    l.pids_max = 10;
    l.memory_max = 1 << 20;

    auto s = apply_limits(dir_, l);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(), "cgroup '" + dir_ +
                                       "': limit memory_max needs the memory controller, which "
                                       "this cgroup2 hierarchy does not offer");
    // Checked before anything is written.
    EXPECT_EQ(get(dir_ + "/pids.max"), "");
}

TEST_F(fake_cgroup, a_controller_the_parent_keeps_to_itself_is_an_error_naming_the_parent) {
    offer("cpu memory pids", "cpu pids");
    limits l;
    l.memory_high = 1 << 20;

    auto s = apply_limits(dir_, l);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(), "cgroup '" + dir_ +
                                       "': limit memory_high needs the memory controller, which '" +
                                       parent_ + "' does not enable in cgroup.subtree_control");
}

TEST_F(fake_cgroup, every_limit_names_its_own_controller) {
    offer("", "");
    struct probe {
        limits l;
        std::string limit;
        std::string controller;
    };
    std::vector<probe> probes(8);
    probes[0].l.memory_max = 1;
    probes[0].limit = "memory_max";
    probes[0].controller = "memory";
    probes[1].l.memory_high = 1;
    probes[1].limit = "memory_high";
    probes[1].controller = "memory";
    probes[2].l.memory_swap_max = 1;
    probes[2].limit = "memory_swap_max";
    probes[2].controller = "memory";
    probes[3].l.pids_max = 1;
    probes[3].limit = "pids_max";
    probes[3].controller = "pids";
    probes[4].l.cpu_max = cpu_quota{10000, 100000};
    probes[4].limit = "cpu_max";
    probes[4].controller = "cpu";
    probes[5].l.cpu_weight = 50;
    probes[5].limit = "cpu_weight";
    probes[5].controller = "cpu";
    probes[6].l.io_weight = 50;
    probes[6].limit = "io_weight";
    probes[6].controller = "io";
    probes[7].l.cpuset_cpus = "0";
    probes[7].limit = "cpuset_cpus";
    probes[7].controller = "cpuset";

    for (const auto& p : probes) {
        auto s = apply_limits(dir_, p.l);
        ASSERT_FALSE(s.has_value()) << p.limit;
        EXPECT_EQ(s.error().message(), "cgroup '" + dir_ + "': limit " + p.limit + " needs the " +
                                           p.controller +
                                           " controller, which this cgroup2 hierarchy does not "
                                           "offer");
        EXPECT_EQ(controllers_needed(p.l), std::vector<std::string>{p.controller});
    }
}

TEST_F(fake_cgroup, io_weight_goes_to_bfq_when_only_bfq_is_there) {
    offer("io", "io");
    put(dir_ + "/io.bfq.weight", "");
    limits l;
    l.io_weight = 5050;
    auto s = apply_limits(dir_, l);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(get(dir_ + "/io.bfq.weight"), "default 550");
    EXPECT_FALSE(fs::exists(dir_ + "/io.weight"));
}

TEST_F(fake_cgroup, io_weight_goes_to_both_files_when_both_exist) {
    offer("io", "io");
    put(dir_ + "/io.weight", "");
    put(dir_ + "/io.bfq.weight", "");
    limits l;
    l.io_weight = 100;
    auto s = apply_limits(dir_, l);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_EQ(get(dir_ + "/io.weight"), "default 100");
    EXPECT_EQ(get(dir_ + "/io.bfq.weight"), "default 100");
}

TEST_F(fake_cgroup, io_weight_without_any_weight_file_is_an_error) {
    offer("io", "io");
    limits l;
    l.io_weight = 100;
    auto s = apply_limits(dir_, l);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(), "cgroup '" + dir_ +
                                       "': limit io_weight needs io.weight (iocost) or "
                                       "io.bfq.weight (BFQ), and this kernel offers neither");
}

TEST(cgroup_limits, bfq_weight_keeps_the_default_and_the_ends) {
    EXPECT_EQ(bfq_weight_for(1), 1u);
    EXPECT_EQ(bfq_weight_for(50), 50u);
    EXPECT_EQ(bfq_weight_for(100), 100u);
    EXPECT_EQ(bfq_weight_for(10000), 1000u);
    EXPECT_EQ(bfq_weight_for(5050), 550u);
}

TEST_F(fake_cgroup, values_out_of_the_kernels_range_are_refused_before_any_write) {
    offer("cpu cpuset io memory pids", "cpu cpuset io memory pids");
    auto message = [&](const limits& l) {
        auto s = apply_limits(dir_, l);
        EXPECT_FALSE(s.has_value());
        EXPECT_EQ(s.has_value() ? 0 : s.error().code(), EINVAL);
        return s.has_value() ? std::string() : s.error().context();
    };
    std::string who = "cgroup '" + dir_ + "': limit ";

    limits weight;
    weight.cpu_weight = 0;
    EXPECT_EQ(message(weight), who + "cpu_weight 0 is outside 1..10000");
    weight.cpu_weight = 10001;
    EXPECT_EQ(message(weight), who + "cpu_weight 10001 is outside 1..10000");

    limits io;
    io.io_weight = 0;
    EXPECT_EQ(message(io), who + "io_weight 0 is outside 1..10000");

    limits period;
    period.cpu_max = cpu_quota{10000, 999};
    EXPECT_EQ(message(period), who + "cpu_max period 999 is outside 1000..1000000");

    limits quota;
    quota.cpu_max = cpu_quota{999, 100000};
    EXPECT_EQ(message(quota), who + "cpu_max quota 999 is below the kernel's minimum of 1000");

    limits cpus;
    cpus.cpuset_cpus = "zero";
    EXPECT_EQ(message(cpus), who + "cpuset_cpus 'zero' is not a CPU list like '0-3,6'");
    cpus.cpuset_cpus = "";
    EXPECT_EQ(message(cpus), who + "cpuset_cpus '' is not a CPU list like '0-3,6'");

    EXPECT_EQ(get(dir_ + "/cpu.weight"), "");
    EXPECT_EQ(get(dir_ + "/cpu.max"), "");
}

TEST_F(fake_cgroup, no_limits_touch_nothing) {
    // Not even cgroup.controllers is read: this directory has none.
    auto s = apply_limits(dir_, limits{});
    EXPECT_TRUE(s.has_value());
    EXPECT_TRUE(controllers_needed(limits{}).empty());
}

TEST_F(fake_cgroup, a_missing_interface_file_is_an_error_naming_it) {
    offer("memory", "memory");
    fs::remove(dir_ + "/memory.swap.max"); // e.g. a kernel without swap accounting
    limits l;
    l.memory_swap_max = 0;
    auto s = apply_limits(dir_, l);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(),
              "cgroup '" + dir_ + "': open memory.swap.max: No such file or directory");
}

TEST_F(fake_cgroup, controllers_needed_lists_each_once_sorted) {
    limits l;
    l.memory_max = 1;
    l.memory_high = 1;
    l.cpu_weight = 1;
    l.cpu_max = cpu_quota{};
    l.pids_max = 1;
    EXPECT_EQ(controllers_needed(l), (std::vector<std::string>{"cpu", "memory", "pids"}));
}

TEST_F(fake_cgroup, enable_controllers_enables_what_is_offered_and_wanted) {
    put(dir_ + "/cgroup.controllers", "cpu memory hugetlb\n");
    put(dir_ + "/cgroup.subtree_control", "");
    auto enabled = enable_controllers(dir_, {"cpu", "io", "memory"});
    ASSERT_TRUE(enabled.has_value()) << enabled.error().message();
    EXPECT_EQ(enabled.value(), (std::vector<std::string>{"cpu", "memory"}));
    // One "+name" write per controller; the fake file keeps the last one.
    EXPECT_EQ(get(dir_ + "/cgroup.subtree_control"), "+memory");
}

TEST_F(fake_cgroup, reads_controller_lists) {
    put(dir_ + "/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(dir_ + "/cgroup.subtree_control", "\n");
    auto offered = read_controllers(dir_);
    ASSERT_TRUE(offered.has_value());
    EXPECT_EQ(offered.value(), (std::vector<std::string>{"cpuset", "cpu", "io", "memory", "pids"}));
    auto enabled = read_subtree_control(dir_);
    ASSERT_TRUE(enabled.has_value());
    EXPECT_TRUE(enabled->empty());
}

TEST_F(fake_cgroup, write_text_of_a_missing_directory_names_the_cgroup) {
    auto s = write_text(base_ + "/gone", "cgroup.freeze", "1");
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(),
              "cgroup '" + base_ + "/gone': open cgroup.freeze: No such file or directory");
}

TEST(cgroup_tree_unit, refuses_a_root_that_is_not_cgroup2) {
    char tmpl[] = "/tmp/berth-cgroup-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string base = tmpl;
    auto t = tree::open(base + "/sub/");
    bool created = fs::is_directory(base + "/sub");
    std::error_code ec;
    fs::remove_all(base, ec);
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().message(),
              "cgroup '" + base + "/sub': open tree: not on a cgroup2 filesystem");
    EXPECT_TRUE(created) << "open creates the root (mkdir -p) before checking it";

    auto relative = tree::open("berth");
    ASSERT_FALSE(relative.has_value());
    EXPECT_EQ(relative.error().code(), EINVAL);
}

} // namespace
} // namespace berth::cgroup
