// The taskstats exit listener: generic netlink set-up (family lookup, CPU-mask registration),
// draining on the loop, and the parsing of exit records, read with memcpy at checked offsets.
#include "engine/exit_clock.hpp"

#include "engine/log.hpp"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>

namespace berth {
namespace {

constexpr std::size_t receive_buffer = 4u << 20; // about 9,000 records between two drains
constexpr int setup_timeout_ms = 1000;

std::size_t aligned(std::size_t n) {
    return (n + NLA_ALIGNTO - 1) & ~static_cast<std::size_t>(NLA_ALIGNTO - 1);
}

// Appends one attribute (header, payload, padding) to a message under construction.
void put_attribute(std::string& out, std::uint16_t type, const void* data, std::size_t size) {
    nlattr a{};
    a.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + size);
    a.nla_type = type;
    out.append(reinterpret_cast<const char*>(&a), sizeof a);
    out.append(static_cast<const char*>(data), size);
    out.append(aligned(out.size()) - out.size(), '\0');
}

// A generic-netlink request: nlmsghdr + genlmsghdr + the attributes.
std::string request(std::uint16_t family, std::uint8_t command, std::uint8_t version,
                    std::uint16_t flags, const std::string& attributes) {
    nlmsghdr h{};
    genlmsghdr g{};
    g.cmd = command;
    g.version = version;
    h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + GENL_HDRLEN + attributes.size());
    h.nlmsg_type = family;
    h.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    h.nlmsg_seq = 1;
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(NLMSG_HDRLEN - sizeof h, '\0');
    out.append(reinterpret_cast<const char*>(&g), sizeof g);
    out.append(GENL_HDRLEN - sizeof g, '\0');
    return out + attributes;
}

// Calls f(type, payload) for each attribute in `area`; stops at the first malformed one.
template <typename F> void for_each_attribute(std::string_view area, F&& f) {
    while (area.size() >= NLA_HDRLEN) {
        nlattr a{};
        std::memcpy(&a, area.data(), sizeof a);
        if (a.nla_len < NLA_HDRLEN || a.nla_len > area.size()) {
            return;
        }
        f(static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK),
          area.substr(NLA_HDRLEN, a.nla_len - NLA_HDRLEN));
        area.remove_prefix(std::min(area.size(), aligned(a.nla_len)));
    }
}

// Calls f(header, payload after the netlink header) for each message in a datagram.
template <typename F> void for_each_message(std::string_view buffer, F&& f) {
    while (buffer.size() >= NLMSG_HDRLEN) {
        nlmsghdr h{};
        std::memcpy(&h, buffer.data(), sizeof h);
        if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > buffer.size()) {
            return;
        }
        f(h, buffer.substr(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN));
        buffer.remove_prefix(
            std::min(buffer.size(), static_cast<std::size_t>(NLMSG_ALIGN(h.nlmsg_len))));
    }
}

status send_all(int fd, const std::string& message, const std::string& what) {
    if (::send(fd, message.data(), message.size(), 0) != static_cast<ssize_t>(message.size())) {
        return error::from_errno("taskstats: " + what + ": send");
    }
    return {};
}

// One reply during set-up, waited for at most setup_timeout_ms (SO_RCVTIMEO).
result<std::string> receive_reply(int fd, const std::string& what) {
    std::string buffer(64 * 1024, '\0');
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
        return error::from_errno("taskstats: " + what + ": receive");
    }
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
}

// NLMSG_ERROR's code in a reply (0 is an ack), or nullopt when the reply holds none.
std::optional<int> error_code(std::string_view reply) {
    std::optional<int> code;
    for_each_message(reply, [&](const nlmsghdr& h, std::string_view payload) {
        if (h.nlmsg_type == NLMSG_ERROR && payload.size() >= sizeof(int)) {
            int e = 0;
            std::memcpy(&e, payload.data(), sizeof e); // nlmsgerr.error: 0 or -errno
            code = -e;
        }
    });
    return code;
}

result<std::uint16_t> resolve_family(int fd) {
    std::string attributes;
    put_attribute(attributes, CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME,
                  sizeof TASKSTATS_GENL_NAME);
    if (auto st = send_all(fd, request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, attributes),
                           "look up the family");
        !st) {
        return st.error();
    }
    auto reply = receive_reply(fd, "look up the family");
    if (!reply) {
        return reply.error();
    }
    if (auto code = error_code(*reply); code && *code != 0) {
        return error(*code, "taskstats: look up the family (is CONFIG_TASKSTATS set?)");
    }
    std::optional<std::uint16_t> family;
    for_each_message(*reply, [&](const nlmsghdr&, std::string_view payload) {
        if (payload.size() < GENL_HDRLEN) {
            return;
        }
        for_each_attribute(
            payload.substr(GENL_HDRLEN), [&](std::uint16_t type, std::string_view value) {
                if (type == CTRL_ATTR_FAMILY_ID && value.size() >= sizeof(std::uint16_t)) {
                    std::uint16_t id = 0;
                    std::memcpy(&id, value.data(), sizeof id);
                    family = id;
                }
            });
    });
    if (!family) {
        return error(EPROTO, "taskstats: look up the family: no family id in the reply");
    }
    return *family;
}

std::string possible_cpus() {
    std::ifstream in("/sys/devices/system/cpu/possible");
    std::string mask;
    std::getline(in, mask);
    return mask.empty() ? "0" : mask;
}

} // namespace

void exit_clock::parse(std::string_view buffer, std::uint16_t family,
                       const std::function<void(pid_t, std::chrono::microseconds)>& seen) {
    for_each_message(buffer, [&](const nlmsghdr& h, std::string_view payload) {
        if ((family != 0 && h.nlmsg_type != family) || payload.size() < GENL_HDRLEN) {
            return;
        }
        genlmsghdr g{};
        std::memcpy(&g, payload.data(), sizeof g);
        if (g.cmd != TASKSTATS_CMD_NEW) {
            return;
        }
        for_each_attribute(payload.substr(GENL_HDRLEN), [&](std::uint16_t type,
                                                            std::string_view nested) {
            if (type != TASKSTATS_TYPE_AGGR_PID) {
                return; // AGGR_TGID: the thread group's sum; NULL: padding
            }
            std::optional<pid_t> pid;
            std::optional<std::uint64_t> usec;
            for_each_attribute(nested, [&](std::uint16_t inner, std::string_view value) {
                if (inner == TASKSTATS_TYPE_PID && value.size() >= sizeof(std::uint32_t)) {
                    std::uint32_t v = 0;
                    std::memcpy(&v, value.data(), sizeof v);
                    pid = static_cast<pid_t>(v);
                } else if (inner == TASKSTATS_TYPE_STATS &&
                           value.size() >= offsetof(taskstats, ac_etime) + sizeof(std::uint64_t)) {
                    std::uint64_t v = 0;
                    std::memcpy(&v, value.data() + offsetof(taskstats, ac_etime), sizeof v);
                    usec = v;
                }
            });
            if (pid && usec) {
                seen(*pid, std::chrono::microseconds(*usec));
            }
        });
    });
}

result<std::unique_ptr<exit_clock>> exit_clock::open(boost::asio::io_context& io) {
    unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC));
    if (!fd) {
        return error::from_errno("taskstats: open a generic netlink socket");
    }
    sockaddr_nl self{};
    self.nl_family = AF_NETLINK;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&self), sizeof self) != 0) {
        return error::from_errno("taskstats: bind");
    }
    timeval timeout{0, setup_timeout_ms * 1000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int size = static_cast<int>(receive_buffer);
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    auto family = resolve_family(fd.get());
    if (!family) {
        return family.error();
    }
    std::string cpus = possible_cpus();
    std::string attributes;
    put_attribute(attributes, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, cpus.c_str(), cpus.size() + 1);
    if (auto st = send_all(
            fd.get(),
            request(*family, TASKSTATS_CMD_GET, TASKSTATS_GENL_VERSION, NLM_F_ACK, attributes),
            "register the CPU listener");
        !st) {
        return st.error();
    }
    auto ack = receive_reply(fd.get(), "register the CPU listener");
    if (!ack) {
        return ack.error();
    }
    if (auto code = error_code(*ack); !code || *code != 0) {
        return error(code.value_or(EPROTO), "taskstats: register the CPU listener for " + cpus);
    }
    return std::unique_ptr<exit_clock>(new exit_clock(io, std::move(fd), *family));
}

exit_clock::exit_clock(boost::asio::io_context& io, unique_fd socket, std::uint16_t family)
    : socket_(io, socket.release()), family_(family) {
    socket_.non_blocking(true);
    arm();
}

exit_clock::~exit_clock() {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
}

void exit_clock::arm() {
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                           if (ec == boost::asio::error::operation_aborted) {
                               return;
                           }
                           drain();
                           arm();
                       });
}

void exit_clock::drain() noexcept {
    static thread_local std::array<char, 64 * 1024> buffer;
    for (;;) {
        ssize_t n = ::recv(socket_.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS) {
                ++overruns_; // the kernel dropped records; the socket still works
                continue;
            }
            if (errno != EAGAIN && errno != EINTR) {
                log::get("engine")->warn("taskstats: receive: {}", std::strerror(errno));
            }
            if (errno != EINTR) {
                return;
            }
            continue;
        }
        parse(std::string_view(buffer.data(), static_cast<std::size_t>(n)), family_,
              [this](pid_t pid, std::chrono::microseconds lifetime) { record(pid, lifetime); });
    }
}

void exit_clock::record(pid_t pid, std::chrono::microseconds lifetime) noexcept {
    ++records_;
    if (auto it = expected_.find(pid); it != expected_.end()) {
        it->second = lifetime;
    }
}

void exit_clock::expect(pid_t pid) {
    expected_[pid] = std::nullopt;
}

std::optional<std::chrono::microseconds> exit_clock::take(pid_t pid) {
    drain();
    auto it = expected_.find(pid);
    if (it == expected_.end()) {
        return std::nullopt;
    }
    auto lifetime = it->second;
    expected_.erase(it);
    return lifetime;
}

void exit_clock::forget(pid_t pid) noexcept {
    expected_.erase(pid);
}

} // namespace berth
