// Asio's io_uring backend in Boost 1.81 submits its cancel SQEs without setting their
// user_data, so a cancel's completion lands on whatever queue the ring slot served before:
// another descriptor's wait then ends with a foreign result (ENOENT, ECANCELED), or freed
// memory is written. engine/asio_uring_fix.hpp, included into every berth translation unit,
// clears it. This test churns cancels and checks that a bystander's wait stays untouched.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <vector>

namespace {

namespace asio = boost::asio;

struct pipe_fds {
    int read = -1;
    int write = -1;
    pipe_fds() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        read = fds[0];
        write = fds[1];
    }
    ~pipe_fds() {
        if (write >= 0) {
            ::close(write);
        }
    }
};

TEST(uring_cancel, cancelled_waits_never_complete_someone_elses) {
    asio::io_context io;
    pipe_fds quiet; // never written: its wait may only end by our own cancel at the end
    asio::posix::stream_descriptor bystander(io, quiet.read);
    std::optional<boost::system::error_code> bystander_result;
    bystander.async_wait(asio::posix::stream_descriptor::wait_read,
                         [&](const boost::system::error_code& ec) { bystander_result = ec; });

    int aborted = 0;
    int other = 0;
    for (int round = 0; round < 200; ++round) {
        // A batch of waits, each cancelled by closing its descriptor: one cancel SQE apiece,
        // in ring slots that earlier rounds' waits (with their user_data) used.
        std::vector<pipe_fds> pipes(64);
        std::vector<std::unique_ptr<asio::posix::stream_descriptor>> waits;
        for (auto& p : pipes) {
            waits.push_back(std::make_unique<asio::posix::stream_descriptor>(io, p.read));
            waits.back()->async_wait(asio::posix::stream_descriptor::wait_read,
                                     [&](const boost::system::error_code& ec) {
                                         ++(ec == asio::error::operation_aborted ? aborted : other);
                                     });
        }
        io.poll();
        waits.clear(); // closes the read ends: cancels every pending wait
        io.poll();
        ASSERT_FALSE(bystander_result.has_value())
            << "round " << round << ": the bystander's wait ended with '"
            << bystander_result->message() << "' though nothing was written to it";
    }
    EXPECT_EQ(other, 0) << "a cancelled wait completed with something else than aborted";
    EXPECT_EQ(aborted, 200 * 64);

    bystander.cancel();
    io.poll();
    ASSERT_TRUE(bystander_result.has_value());
    EXPECT_EQ(*bystander_result, asio::error::operation_aborted);
}

} // namespace
