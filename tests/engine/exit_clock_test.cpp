// The taskstats exit clock: the parser on hand-made messages (unit), and on the real kernel
// (root, CAP_NET_ADMIN) the lifetime of a process that sleeps a known time, alone and through
// the reaper on a loop, with the exit-to-reaped latency it gives.
#include "engine/exit_clock.hpp"
#include "engine/reaper.hpp"

#include <gtest/gtest.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace berth {
namespace {

using namespace std::chrono_literals;

void put(std::string& out, const void* data, std::size_t size) {
    out.append(static_cast<const char*>(data), size);
    out.append(NLA_ALIGN(out.size()) - out.size(), '\0');
}

std::string attribute(std::uint16_t type, const std::string& payload) {
    nlattr a{static_cast<std::uint16_t>(NLA_HDRLEN + payload.size()), type};
    std::string out;
    put(out, &a, sizeof a);
    put(out, payload.data(), payload.size());
    return out;
}

// What the kernel sends at a task's exit: AGGR_PID { PID, STATS }, optionally more.
std::string exit_message(std::uint16_t family, std::uint32_t pid, std::uint64_t usec,
                         const std::string& extra = "") {
    taskstats stats{};
    stats.version = TASKSTATS_VERSION;
    stats.ac_etime = usec;
    std::string nested =
        attribute(TASKSTATS_TYPE_PID, std::string(reinterpret_cast<const char*>(&pid), 4)) +
        attribute(TASKSTATS_TYPE_STATS,
                  std::string(reinterpret_cast<const char*>(&stats), sizeof stats));
    std::string body = attribute(TASKSTATS_TYPE_AGGR_PID | NLA_F_NESTED, nested) + extra;
    genlmsghdr g{TASKSTATS_CMD_NEW, TASKSTATS_GENL_VERSION, 0};
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + GENL_HDRLEN + body.size());
    h.nlmsg_type = family;
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(reinterpret_cast<const char*>(&g), sizeof g);
    return out + body;
}

std::vector<std::pair<pid_t, std::chrono::microseconds>> parsed(std::string_view buffer,
                                                                std::uint16_t family = 0) {
    std::vector<std::pair<pid_t, std::chrono::microseconds>> out;
    exit_clock::parse(buffer, family,
                      [&](pid_t p, std::chrono::microseconds t) { out.emplace_back(p, t); });
    return out;
}

TEST(exit_clock_parse, reads_each_per_task_record_and_skips_the_rest) {
    std::string tgid_sum = attribute(TASKSTATS_TYPE_AGGR_TGID | NLA_F_NESTED,
                                     attribute(TASKSTATS_TYPE_TGID, std::string(4, '\1')));
    std::string two = exit_message(30, 4242, 1'500'000, tgid_sum) + exit_message(30, 7, 12);
    auto records = parsed(two);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0], std::make_pair(pid_t{4242}, std::chrono::microseconds(1'500'000)));
    EXPECT_EQ(records[1], std::make_pair(pid_t{7}, std::chrono::microseconds(12)));
    EXPECT_EQ(parsed(two, 31).size(), 0u) << "another family's messages are not exit records";
}

TEST(exit_clock_parse, a_cut_or_corrupted_message_gives_no_record_and_no_overread) {
    const std::string whole = exit_message(30, 99, 5);
    for (std::size_t n = 0; n < whole.size(); ++n) {
        // Copied, so a sanitizer sees any read past the cut.
        std::vector<char> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_EQ(parsed(std::string_view(cut.data(), cut.size())).size(), 0u) << n << " bytes";
    }
    std::string bad = whole;
    bad[NLMSG_HDRLEN + GENL_HDRLEN] = '\xff'; // the outer attribute's length, far too long
    EXPECT_EQ(parsed(bad).size(), 0u);
}

class exit_clock_kernel : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (taskstats listeners need CAP_NET_ADMIN)";
        }
        auto opened = exit_clock::open(io_);
        if (!opened) {
            GTEST_SKIP() << "no taskstats here: " << opened.error().message();
        }
        clock_ = std::move(*opened);
    }

    // A child that sleeps `ms` then exits 3.
    static pid_t sleeper(int ms) {
        pid_t pid = ::fork();
        if (pid == 0) {
            ::usleep(static_cast<useconds_t>(ms) * 1000);
            ::_exit(3);
        }
        return pid;
    }

    boost::asio::io_context io_;
    std::unique_ptr<exit_clock> clock_;
};

TEST_F(exit_clock_kernel, the_lifetime_of_an_expected_process_comes_from_its_exit_record) {
    auto before = clock_->records();
    pid_t quiet = sleeper(50);
    pid_t timed = sleeper(200);
    ASSERT_GT(quiet, 0);
    ASSERT_GT(timed, 0);
    clock_->expect(timed);
    int st = 0;
    ASSERT_EQ(::waitpid(quiet, &st, 0), quiet);
    ASSERT_EQ(::waitpid(timed, &st, 0), timed);
    auto lifetime = clock_->take(timed);
    ASSERT_TRUE(lifetime.has_value()) << "the exit record comes before the parent can wait";
    EXPECT_GE(*lifetime, 200ms);
    EXPECT_LT(*lifetime, 5s);
    EXPECT_EQ(clock_->take(timed), std::nullopt) << "taken once";
    EXPECT_EQ(clock_->take(quiet), std::nullopt) << "never expected";
    EXPECT_GE(clock_->records(), before + 2) << "both exits were heard";
}

TEST_F(exit_clock_kernel, the_reaper_hands_out_the_lifetime_and_the_latency_follows) {
    reaper reap(io_);
    reap.use_exit_clock(clock_.get());
    auto forked_at = std::chrono::steady_clock::now();
    pid_t pid = sleeper(100);
    ASSERT_GT(pid, 0);
    unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    ASSERT_TRUE(pidfd) << std::strerror(errno);
    std::optional<exit_info> seen;
    ASSERT_TRUE(reap.watch(pid, std::move(pidfd), [&](const exit_info& e) { seen = e; }));
    // The clock's own wait keeps the loop busy: run until the exit, 5 s at most.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!seen && io_.run_one_until(deadline) > 0) {
    }
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->code, 3);
    ASSERT_TRUE(seen->lifetime.has_value());
    EXPECT_GE(*seen->lifetime, 100ms);
    auto latency = seen->reaped - (forked_at + *seen->lifetime);
    EXPECT_GE(latency, 0ms) << "the exit cannot come after the reap";
    EXPECT_LT(latency, 1s) << "an idle loop reaps at once";
}

} // namespace
} // namespace berth
