// The sd_notify socket.
#include "supervisor/notify.hpp"

#include "engine/log.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace berth {

notify_listener::notify_listener(boost::asio::io_context& io, int fd, std::string address,
                                 handler h)
    : socket_(io, fd), address_(std::move(address)), on_message_(std::move(h)) {}

result<std::unique_ptr<notify_listener>> notify_listener::open(boost::asio::io_context& io,
                                                               const std::string& name,
                                                               handler on_message) noexcept {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return error::from_errno("notify socket");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name.size() + 1 > sizeof addr.sun_path) {
        ::close(fd);
        return error(ENAMETOOLONG, "notify socket '@" + name + "'");
    }
    std::memcpy(addr.sun_path + 1, name.data(), name.size()); // sun_path[0] = 0: abstract
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    int on = 1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        auto err = error::from_errno("notify socket '@" + name + "': bind");
        ::close(fd);
        return err;
    }
    try {
        std::unique_ptr<notify_listener> l(
            new notify_listener(io, fd, "@" + name, std::move(on_message)));
        l->receive_next();
        return l;
    } catch (const std::exception& e) {
        ::close(fd);
        return error(ENOMEM, std::string("notify socket: ") + e.what());
    }
}

void notify_listener::receive_next() {
    socket_.async_wait(
        boost::asio::posix::stream_descriptor::wait_read,
        [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
            if (ec || alive.expired()) {
                return;
            }
            // A bounded number of datagrams per wake-up.
            for (int i = 0; i < 64; ++i) {
                std::array<char, 4096> buf;
                alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
                iovec iov{buf.data(), buf.size()};
                msghdr msg{};
                msg.msg_iov = &iov;
                msg.msg_iovlen = 1;
                msg.msg_control = control;
                msg.msg_controllen = sizeof control;
                ssize_t n =
                    ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0) {
                    break;
                }
                pid_t sender = 0;
                for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                        ucred cred{};
                        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                        sender = cred.pid;
                    }
                }
                if (sender > 0) {
                    try {
                        on_message_(sender, {buf.data(), static_cast<std::size_t>(n)});
                    } catch (const std::exception& e) {
                        log::get("supervisor")->error("notify: {}", e.what());
                    }
                    if (alive.expired()) {
                        return; // the handler ended the replica, and this listener with it
                    }
                }
            }
            receive_next();
        });
}

notify_message parse_notify(std::string_view text) {
    notify_message m;
    while (!text.empty()) {
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line == "READY=1") {
            m.ready = true;
        } else if (line == "STOPPING=1") {
            m.stopping = true;
        } else if (line == "WATCHDOG=1") {
            m.watchdog = true;
        } else if (line.rfind("STATUS=", 0) == 0) {
            m.status = std::string(line.substr(7));
        }
    }
    return m;
}

} // namespace berth
