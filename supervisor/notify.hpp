// The sd_notify protocol's receiving end: one datagram socket per replica, in the abstract
// namespace ("berth-<berth pid>-<service>-<index>", service.cpp), so the socket a message
// arrives on says which replica sent it; each message also comes with the sender's pid, from
// the kernel-checked credentials (SO_PASSCRED).
#pragma once

#include "engine/result.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace berth {

class notify_listener {
public:
    // Called for every datagram: the sender's pid (in berth's pid namespace: the kernel
    // translates SCM_CREDENTIALS) and the message ("READY=1\nSTATUS=...").
    using handler = std::function<void(pid_t sender, std::string_view message)>;

    // Binds "@<name>" (abstract: nothing on disk to clean up, reachable from containers that
    // share berth's network namespace) and starts receiving on the loop.
    static result<std::unique_ptr<notify_listener>>
    open(boost::asio::io_context& io, const std::string& name, handler on_message) noexcept;

    // The value for $NOTIFY_SOCKET: "@<name>".
    const std::string& address() const noexcept { return address_; }

private:
    notify_listener(boost::asio::io_context& io, int fd, std::string address, handler h);
    void receive_next();

    boost::asio::posix::stream_descriptor socket_;
    std::string address_;
    handler on_message_;
    // A completion already queued when the listener is destroyed still runs, with success:
    // it holds this only weakly and returns once it has expired.
    std::shared_ptr<char> alive_ = std::make_shared<char>();
};

// The values of one sd_notify message, as systemd reads it: "KEY=VALUE" lines.
struct notify_message {
    bool ready = false;
    bool stopping = false;
    bool watchdog = false;
    std::optional<std::string> status;
};

notify_message parse_notify(std::string_view text);

} // namespace berth
