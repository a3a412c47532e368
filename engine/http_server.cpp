// HTTP/1.1 on the loop: accept, parse with Beast under limits, call the handler, write its
// answer (at once or when it comes), then keep the connection for the next request or close it.
#include "engine/http_server.hpp"

#include "engine/log.hpp"
#include "engine/unique_fd.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <list>
#include <type_traits>

namespace berth::http {
namespace detail {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

std::shared_ptr<spdlog::logger> logger() {
    return log::get("engine");
}

// What a connection in the lingering close still reads and drops before giving up: the rest
// of a refused request, so that closing does not reset the connection before the client has
// read the error response.
constexpr std::size_t linger_discard_bytes = 1 << 20;

// The least one write of a response sends (when the body is larger), however many responses
// share limits::max_write_bytes: below it, the writes' fixed costs would dominate.
constexpr std::size_t min_write_bytes = 64 << 10;

// `text` inside a JSON string: quotes, backslashes and control bytes cannot occur in the
// fixed messages this file writes, but Beast's error texts pass through here too.
std::string json_error(std::string_view text) {
    std::string out = "{\"error\":\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) >= 0x20) {
            out += c;
        }
    }
    out += "\"}";
    return out;
}

// A header value as sent: control bytes (CR, LF above all) would end the field or the head.
const std::string& field_value(const std::string& value) {
    for (const char c : value) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
            throw std::invalid_argument("a header field value holds a control byte");
        }
    }
    return value;
}

// The status line and header fields of r with a body of `length` bytes; throws
// std::invalid_argument for what HTTP forbids: a status outside 100..599, a body on a status
// that has none (1xx, 204, 304), a bad field name or value.
std::string response_head(const response& r, std::size_t length, unsigned version,
                          bool keep_alive) {
    if (r.status < 100 || r.status > 599) {
        throw std::invalid_argument("status " + std::to_string(r.status));
    }
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (bodiless && length > 0) {
        throw std::invalid_argument("status " + std::to_string(r.status) + " with a body");
    }
    std::string head = version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(r.status);
    head += ' ';
    head += bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    head += "\r\nServer: berth\r\nContent-Type: ";
    head += field_value(r.content_type);
    if (!bodiless) {
        head += "\r\nContent-Length: ";
        head += std::to_string(length);
    }
    if (keep_alive != (version != 10)) {
        head += keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close";
    }
    for (const auto& [name, value] : r.fields) {
        const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
        });
        if (!token) {
            throw std::invalid_argument("header field name '" + name + "'");
        }
        head += "\r\n" + name + ": " + field_value(value);
    }
    head += "\r\n\r\n";
    return head;
}

// A complete response as bytes, for the refusal written without waiting (see refuse).
std::string serialized(unsigned status, std::string_view message) {
    const std::string body = json_error(message);
    return response_head(response{status, "application/json", {}, {}, {}}, body.size(), 11, false) +
           body;
}

void set_cloexec(int fd) noexcept {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// Stops a socket or acceptor without closing it: cancels its operations and shuts it down
// (a connection's peer sees EOF; a listening socket takes no more connections). Closing it
// here would be wrong with Boost 1.81's io_uring backend: a closed socket's cancelled
// operation waits in a freed slot for its completion, and if the loop never runs again (berth's
// exit: the loop stops, then the server and the io_context are destroyed) the io_context
// destroys that operation only after every service is gone, and its handler's objects touch
// them (use after free, seen by ASan; chriskohlhoff/asio#1235). An open socket's operations are
// destroyed in the io_context's orderly shutdown instead. The fd is closed when the object is
// destroyed.
template <typename Socket> void cancel_and_shut(Socket& s) noexcept {
    if (!s.is_open()) {
        return;
    }
    error_code ignored;
    s.cancel(ignored);
    ::shutdown(s.native_handle(), SHUT_RDWR);
}

} // namespace

// The request a connection waits to answer (see responder): the first answer goes to the
// connection, later ones are dropped; an unanswered slot answers 500 when it goes.
class reply_slot {
public:
    virtual ~reply_slot() = default;

    // `shared`, when set, is the body instead of r.body.
    void answer(response r, std::shared_ptr<const std::string> shared = {}) noexcept {
        if (!answered_) {
            answered_ = true;
            deliver(std::move(r), std::move(shared));
        }
    }
    bool answered() const noexcept { return answered_; }

protected:
    virtual void deliver(response r, std::shared_ptr<const std::string> shared) noexcept = 0;

    bool answered_ = false;
};

// What server needs of a listener, whatever its protocol.
class listener_base {
public:
    virtual ~listener_base() = default;
    virtual void close() noexcept = 0;
    virtual std::size_t connections() const noexcept = 0;
    virtual std::uint16_t local_port() const noexcept = 0;
};

template <typename Protocol> class listener;

// One accepted connection: reads requests one after another, each under the timeout, and
// answers them in order. Owned by its pending operations (shared_ptr captured in every
// completion handler); the listener only keeps a raw pointer in its list, removed by the
// destructor.
template <typename Protocol>
class connection : public std::enable_shared_from_this<connection<Protocol>> {
public:
    using socket_type = typename Protocol::socket;

    connection(std::shared_ptr<listener<Protocol>> owner, socket_type socket)
        : owner_(std::move(owner)), socket_(std::move(socket)), timer_(socket_.get_executor()),
          buffer_(owner_->limits_.max_header_bytes + owner_->limits_.max_body_bytes + 65536) {}

    ~connection() {
        if (writing_) {
            owner_->write_ended(); // a write whose completion never ran (the loop stopped)
        }
        if (slot_) {
            owner_->forget(*slot_);
        }
    }

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // The connection's place in the listener's list, once it is in it.
    std::optional<typename std::list<connection*>::iterator> slot_;

    void start() noexcept {
        guarded([this] {
            read_peer();
            read_request();
        });
    }

    // Ends the connection: the peer sees EOF at once, pending operations finish with an error,
    // and the last of them destroys the connection (closing the fd). Idempotent. See
    // cancel_and_shut for why the socket is not closed here.
    void stop() noexcept {
        stopped_ = true;
        cancel_and_shut(socket_);
        timer_.cancel();
    }

private:
    // Runs a step of the connection; an exception (allocation) ends the connection only.
    template <typename F> void guarded(F&& step) noexcept {
        try {
            step();
        } catch (const std::exception& e) {
            logger()->error("http {}: connection: {}", owner_->name_, e.what());
            stop();
        } catch (...) {
            logger()->error("http {}: connection: unknown exception", owner_->name_);
            stop();
        }
    }

    void read_peer() {
        if constexpr (std::is_same_v<Protocol, asio::local::stream_protocol>) {
            ucred cred{};
            socklen_t len = sizeof cred;
            if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
                peer_ = cred;
            }
        }
    }

    void arm_timer() {
        timer_.expires_after(owner_->limits_.timeout);
        timer_.async_wait([weak = this->weak_from_this()](const error_code& ec) {
            if (ec) {
                return;
            }
            if (auto self = weak.lock()) {
                logger()->debug("http {}: connection timed out", self->owner_->name_);
                self->stop();
            }
        });
    }

    void read_request() {
        if (stopped_) {
            return;
        }
        const auto& lim = owner_->limits_;
        parser_.emplace();
        parser_->header_limit(
            static_cast<std::uint32_t>(std::min<std::size_t>(lim.max_header_bytes, UINT32_MAX)));
        parser_->body_limit(static_cast<std::uint64_t>(lim.max_body_bytes));
        arm_timer();
        bhttp::async_read(socket_, buffer_, *parser_,
                          [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                              self->guarded([&] { self->on_read(ec); });
                          });
    }

    void on_read(const error_code& ec) {
        if (stopped_) {
            return;
        }
        if (ec) {
            on_read_error(ec);
            return;
        }
        const auto& msg = parser_->get();
        request req{std::string(msg.method_string()), std::string(msg.target()), msg.body(), peer_};
        const bool head = msg.method() == bhttp::verb::head;
        call_handler(req, std::make_shared<pending_reply>(this->shared_from_this(), msg.version(),
                                                          msg.keep_alive(), head));
    }

    // The answer to the request just read, whenever the handler gives it: written unless the
    // connection has stopped meanwhile.
    void answer(response r, std::shared_ptr<const std::string> shared, unsigned version,
                bool keep_alive, bool head) noexcept {
        guarded([&] {
            if (stopped_) {
                run_on_sent(r.on_sent);
                return;
            }
            write(std::move(r), std::move(shared), version, keep_alive, head);
        });
    }

    void on_read_error(const error_code& ec) {
        if (ec == bhttp::error::header_limit) {
            write_error(431, "request header too large");
        } else if (ec == bhttp::error::body_limit) {
            write_error(413, "request body too large");
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            write_error(400, "malformed request: " + ec.message());
        } else {
            // The client closed (between requests or in the middle of one), the timeout or
            // close() cancelled the read, or the socket failed: nobody to answer.
            if (ec != asio::error::operation_aborted && ec != bhttp::error::end_of_stream) {
                logger()->debug("http {}: read: {}", owner_->name_, ec.message());
            }
            stop();
        }
    }

    // The slot of one request: holds the connection until the handler answers (or drops every
    // copy of its responder, which answers 500).
    class pending_reply final : public reply_slot {
    public:
        pending_reply(std::shared_ptr<connection> conn, unsigned version, bool keep_alive,
                      bool head) noexcept
            : conn_(std::move(conn)), version_(version), keep_alive_(keep_alive), head_(head) {}

        ~pending_reply() override {
            if (answered_ || !conn_) {
                return;
            }
            answered_ = true;
            auto conn = std::move(conn_);
            if (conn->stopped_) {
                return; // nobody to answer: closed, timed out or the client left
            }
            conn->guarded([&] {
                logger()->error("http {}: the handler dropped a request without answering it",
                                conn->owner_->name_);
                conn->answer(response{500, "application/json", json_error("no response"), {}},
                             nullptr, version_, keep_alive_, head_);
            });
        }

    private:
        void deliver(response r, std::shared_ptr<const std::string> shared) noexcept override {
            if (auto conn = std::move(conn_)) {
                conn->answer(std::move(r), std::move(shared), version_, keep_alive_, head_);
            }
        }

        std::shared_ptr<connection> conn_;
        unsigned version_;
        bool keep_alive_;
        bool head_;
    };

    // Hands the request to the handler; an exception before the answer becomes a 500.
    void call_handler(const request& req, const std::shared_ptr<reply_slot>& slot) {
        try {
            owner_->handler_(req, responder(slot));
            return;
        } catch (const std::exception& e) {
            logger()->error("http {}: {} {}: handler: {}", owner_->name_, req.method, req.target,
                            e.what());
        } catch (...) {
            logger()->error("http {}: {} {}: handler: unknown exception", owner_->name_, req.method,
                            req.target);
        }
        slot->answer(response{500, "application/json", json_error("internal error"), {}});
    }

    void run_on_sent(std::function<void()>& sent) noexcept {
        if (auto f = std::exchange(sent, nullptr)) {
            try {
                f();
            } catch (const std::exception& e) {
                logger()->error("http {}: after the response: {}", owner_->name_, e.what());
            } catch (...) {
                logger()->error("http {}: after the response: unknown exception", owner_->name_);
            }
        }
    }

    void write_error(unsigned status, std::string_view message) {
        write(response{status, "application/json", json_error(message), {}}, nullptr, 11, false,
              false);
    }

    // The head of the response around the body in owned_body_, or in shared_body_ when that
    // is set (written from where it is, never copied); a response HTTP forbids (a 204 with a
    // body, a bad status, a header value with control bytes) is replaced by a 500.
    void build(response& r, std::shared_ptr<const std::string> shared, unsigned version,
               bool keep_alive, bool head) {
        owned_body_ = std::move(r.body);
        shared_body_ = std::move(shared);
        const std::string_view body = this->body();
        try {
            head_ = response_head(r, body.size(), version, keep_alive);
        } catch (const std::invalid_argument& e) {
            logger()->error("http {}: bad response from the handler: {}", owner_->name_, e.what());
            owned_body_ = json_error("internal error");
            shared_body_.reset();
            head_ = response_head(response{500, "application/json", {}, {}, {}}, owned_body_.size(),
                                  version, keep_alive);
        }
        if (head) {
            release_body(); // HEAD: the head of the GET, Content-Length included, and no body
        }
        sent_ = 0;
    }

    std::string_view body() const noexcept {
        return shared_body_ ? std::string_view(*shared_body_) : std::string_view(owned_body_);
    }

    void release_body() noexcept {
        shared_body_.reset();
        std::string().swap(owned_body_);
    }

    void write(response r, std::shared_ptr<const std::string> shared, unsigned version,
               bool keep_alive, bool head) {
        on_sent_ = std::move(r.on_sent);
        keep_alive_ = keep_alive && !owner_->closed_;
        build(r, std::move(shared), version, keep_alive_, head);
        writing_ = true;
        owner_->write_started();
        write_next(true);
    }

    // One write of what is left of head and body, at most the connection's share of
    // max_write_bytes; the next one once it is done, until all is out. The first sends
    // min_write_bytes at most: responses often start together (one body for many scrapers),
    // before the count of responses being written says what a share is.
    void write_next(bool first = false) {
        const std::size_t share = owner_->write_share();
        std::size_t room = first ? std::min(share, min_write_bytes) : share;
        const std::array<std::string_view, 2> parts{head_, body()};
        std::array<asio::const_buffer, 2> out;
        std::size_t at = sent_; // bytes of head_ and then of the body already sent
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const std::size_t skip = std::min(at, parts[i].size());
            const std::size_t take = std::min(parts[i].size() - skip, room);
            out[i] = asio::buffer(parts[i].data() + skip, take);
            at -= skip;
            room -= take;
        }
        socket_.async_write_some(
            out, [self = this->shared_from_this()](const error_code& ec, std::size_t n) {
                self->guarded([&] {
                    self->sent_ += n;
                    const bool done = self->sent_ >= self->head_.size() + self->body().size();
                    if (!ec && !self->stopped_ && !done) {
                        self->write_next();
                    } else {
                        self->on_written(ec);
                    }
                });
            });
    }

    void on_written(const error_code& ec) {
        if (std::exchange(writing_, false)) {
            owner_->write_ended();
        }
        release_body();
        std::string().swap(head_);
        run_on_sent(on_sent_);
        if (stopped_) {
            return;
        }
        if (ec) {
            logger()->debug("http {}: write: {}", owner_->name_, ec.message());
            stop();
        } else if (keep_alive_) {
            read_request();
        } else {
            linger();
        }
    }

    // Closing at once could reset the connection (unread request bytes) and destroy the
    // response in flight: send FIN, then read and drop what still comes until the client
    // closes, the timeout, or linger_discard_bytes.
    void linger() {
        error_code ignored;
        socket_.shutdown(socket_type::shutdown_send, ignored);
        arm_timer();
        discard_next();
    }

    void discard_next() {
        socket_.async_read_some(asio::buffer(discard_), [self = this->shared_from_this()](
                                                            const error_code& ec, std::size_t n) {
            self->discarded_ += n;
            if (ec || self->stopped_ || self->discarded_ > linger_discard_bytes) {
                self->stop();
                return;
            }
            self->guarded([&] { self->discard_next(); });
        });
    }

    std::shared_ptr<listener<Protocol>> owner_;
    socket_type socket_;
    asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    std::string head_; // status line and header fields of the response being written
    std::string owned_body_;
    std::shared_ptr<const std::string> shared_body_;
    std::function<void()> on_sent_;
    std::optional<ucred> peer_;
    std::array<char, 4096> discard_{};
    std::size_t discarded_ = 0;
    std::size_t sent_ = 0; // bytes of head_ and then body() written
    bool writing_ = false;
    bool keep_alive_ = false;
    bool stopped_ = false;
};

// The listening socket, its accept loop and the list of open connections.
template <typename Protocol>
class listener final : public listener_base,
                       public std::enable_shared_from_this<listener<Protocol>> {
public:
    listener(asio::io_context& io, async_handler h, limits lim, std::string name)
        : handler_(std::move(h)), limits_(lim), name_(std::move(name)), acceptor_(io), retry_(io) {}

    // Adopts the bound, listening socket (CLOEXEC, made by the caller).
    status adopt(Protocol protocol, unique_fd fd) {
        error_code ec;
        acceptor_.assign(protocol, fd.get(), ec);
        if (ec) {
            return error(ec.value(), "http " + name_ + ": listen");
        }
        fd.release();
        return {};
    }

    void remove_on_close(std::string path, dev_t dev, ino_t ino) {
        unix_path_ = std::move(path);
        unix_dev_ = dev;
        unix_ino_ = ino;
    }

    void set_port(std::uint16_t port) noexcept { port_ = port; }

    void start() { accept_next(); }

    void close() noexcept override {
        if (closed_) {
            return;
        }
        closed_ = true;
        cancel_and_shut(acceptor_); // no new connections; the fd closes with the listener
        retry_.cancel();
        std::vector<std::shared_ptr<connection<Protocol>>> open;
        for (connection<Protocol>* c : live_) {
            if (auto p = c->weak_from_this().lock()) {
                open.push_back(std::move(p));
            }
        }
        for (const auto& c : open) {
            c->stop();
        }
        remove_socket_file();
    }

    std::size_t connections() const noexcept override { return live_.size(); }
    std::uint16_t local_port() const noexcept override { return port_; }

    // Responses being written: each write sends an equal share of max_write_bytes, so that
    // the writes of one loop turn together stay within it (but at least min_write_bytes each).
    void write_started() noexcept { ++writing_; }
    void write_ended() noexcept { --writing_; }
    std::size_t write_share() const noexcept {
        const std::size_t all = std::max<std::size_t>(limits_.max_write_bytes, 1);
        const std::size_t floor = std::min(all, min_write_bytes);
        return std::max(all / std::max<std::size_t>(writing_, 1), floor);
    }

    void forget(typename std::list<connection<Protocol>*>::iterator slot) noexcept {
        live_.erase(slot);
        if (live_.size() < limits_.max_connections) {
            saturated_ = false;
        }
    }

    const async_handler handler_;
    const limits limits_;
    const std::string name_;
    bool closed_ = false;

private:
    void accept_next() {
        if (closed_) {
            return;
        }
        auto peer = std::make_shared<typename Protocol::socket>(acceptor_.get_executor());
        acceptor_.async_accept(
            *peer, [self = this->shared_from_this(), peer](const error_code& ec) {
                try {
                    self->on_accept(ec, std::move(*peer));
                } catch (const std::exception& e) {
                    logger()->error("http {}: accept: {}", self->name_, e.what());
                    self->retry_later();
                }
            });
    }

    void on_accept(const error_code& ec, typename Protocol::socket socket) {
        if (closed_ || ec == asio::error::operation_aborted) {
            return;
        }
        if (ec) {
            // Out of fds or memory: the pending connection stays in the backlog; try again
            // after a pause rather than spinning on the same error (logged once per episode).
            if (!accept_failing_) {
                accept_failing_ = true;
                logger()->warn("http {}: accept: {}; retrying every 100 ms", name_, ec.message());
            }
            retry_later();
            return;
        }
        accept_failing_ = false;
        set_cloexec(socket.native_handle());
        if (live_.size() >= limits_.max_connections) {
            refuse(socket);
        } else {
            open(std::move(socket));
        }
        accept_next();
    }

    void retry_later() {
        if (closed_) {
            return;
        }
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([self = this->shared_from_this()](const error_code& ec) {
            if (ec) {
                return;
            }
            try {
                self->accept_next();
            } catch (const std::exception& e) {
                logger()->error("http {}: accept: {}", self->name_, e.what());
                self->retry_later();
            }
        });
    }

    void open(typename Protocol::socket socket) {
        if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
            error_code ignored;
            socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        }
        auto conn =
            std::make_shared<connection<Protocol>>(this->shared_from_this(), std::move(socket));
        conn->slot_ = live_.insert(live_.end(), conn.get());
        conn->start();
    }

    // Over max_connections: a 503 written without waiting (a fresh socket's send buffer takes
    // it), then closed. Waiting for the client would hold the very resources the limit is for.
    void refuse(typename Protocol::socket& socket) {
        if (!saturated_) {
            saturated_ = true;
            logger()->warn("http {}: {} connections open (max_connections); refusing new ones",
                           name_, live_.size());
        }
        static const std::string busy = serialized(503, "too many connections");
        (void)::send(socket.native_handle(), busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        error_code ignored;
        socket.shutdown(Protocol::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    // Removes the socket file unless someone has replaced it since bind.
    void remove_socket_file() noexcept {
        if (unix_path_.empty()) {
            return;
        }
        struct stat st {};
        if (::lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
            st.st_ino == unix_ino_) {
            ::unlink(unix_path_.c_str());
        }
        unix_path_.clear();
    }

    typename Protocol::acceptor acceptor_;
    asio::steady_timer retry_;
    std::list<connection<Protocol>*> live_;
    std::string unix_path_;
    dev_t unix_dev_ = 0;
    ino_t unix_ino_ = 0;
    std::uint16_t port_ = 0;
    std::size_t writing_ = 0;
    bool saturated_ = false;
    bool accept_failing_ = false;
};

namespace {

// Whether a process listens on the Unix socket at `path` (a connect succeeds or is queued).
result<bool> socket_is_live(const std::string& path, const std::string& subject) {
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        return error::from_errno(subject + ": socket");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN || errno == EINPROGRESS) {
        return true;
    }
    if (errno == ECONNREFUSED || errno == ENOENT) {
        return false;
    }
    return error::from_errno(subject + ": probe the existing socket");
}

// Removes a stale socket file at path; refuses to touch anything else.
status remove_stale(const std::string& path, const std::string& subject) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        return errno == ENOENT ? status{} : error::from_errno(subject + ": stat");
    }
    if (!S_ISSOCK(st.st_mode)) {
        return error(EEXIST, subject + ": exists and is not a socket");
    }
    auto live = socket_is_live(path, subject);
    if (!live) {
        return live.error();
    }
    if (*live) {
        return error(EADDRINUSE, subject + ": another process is listening on it");
    }
    if (::unlink(path.c_str()) != 0) {
        return error::from_errno(subject + ": remove the stale socket");
    }
    return {};
}

// bind(2) creates the file with the umask applied: a tight umask (berth has one thread)
// closes the window between bind and chmod in which others could connect.
status bind_unix(int fd, const std::string& path, mode_t mode, const std::string& subject) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    const mode_t old_mask = ::umask(0177);
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(old_mask);
    if (rc != 0) {
        return error(bind_errno, subject + ": bind");
    }
    if (::chmod(path.c_str(), mode) != 0) {
        auto err = error::from_errno(subject + ": chmod");
        ::unlink(path.c_str());
        return err;
    }
    return {};
}

template <typename Protocol>
result<std::shared_ptr<listener<Protocol>>>
make_listener(boost::asio::io_context& io, Protocol protocol, async_handler h, limits lim,
              std::string name, unique_fd fd) {
    try {
        auto l = std::make_shared<listener<Protocol>>(io, std::move(h), lim, name);
        if (auto st = l->adopt(protocol, std::move(fd)); !st) {
            return st.error();
        }
        return l;
    } catch (const std::exception& e) {
        return error(ENOMEM, "http " + name + ": " + e.what());
    }
}

// A synchronous handler as an async_handler that answers inside the call.
async_handler answering_at_once(handler h) {
    return [h = std::move(h)](const request& req, responder reply) { reply(h(req)); };
}

} // namespace
} // namespace detail

void responder::operator()(response r) const noexcept {
    if (slot_) {
        slot_->answer(std::move(r));
    }
}

void responder::operator()(shared_response r) const noexcept {
    if (slot_) {
        std::shared_ptr<const std::string> body = std::move(r.body);
        slot_->answer(response{r.status, std::move(r.content_type), {}, std::move(r.on_sent)},
                      std::move(body));
    }
}

bool responder::answered() const noexcept {
    return slot_ && slot_->answered();
}

server::server(std::shared_ptr<detail::listener_base> impl) noexcept : impl_(std::move(impl)) {}

server::~server() {
    close();
}

void server::close() noexcept {
    if (impl_) {
        impl_->close();
    }
}

std::size_t server::connections() const noexcept {
    return impl_ ? impl_->connections() : 0;
}

std::uint16_t server::local_port() const noexcept {
    return impl_ ? impl_->local_port() : 0;
}

result<std::unique_ptr<server>> server::listen_unix(boost::asio::io_context& io,
                                                    const std::string& path, mode_t mode,
                                                    handler on_request, limits lim) {
    return listen_unix(io, path, mode, detail::answering_at_once(std::move(on_request)), lim);
}

result<std::unique_ptr<server>> server::listen_unix(boost::asio::io_context& io,
                                                    const std::string& path, mode_t mode,
                                                    async_handler on_request, limits lim) {
    using local = boost::asio::local::stream_protocol;
    const std::string subject = "http '" + path + "'";
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
        return error(ENAMETOOLONG, subject + ": a socket path needs 1.." +
                                       std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                                       " bytes");
    }
    if (auto st = detail::remove_stale(path, subject); !st) {
        return st.error();
    }
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return error::from_errno(subject + ": socket");
    }
    if (auto st = detail::bind_unix(fd.get(), path, mode, subject); !st) {
        return st.error();
    }
    struct stat st {};
    if (::listen(fd.get(), SOMAXCONN) != 0 || ::lstat(path.c_str(), &st) != 0) {
        auto err = error::from_errno(subject + ": listen");
        ::unlink(path.c_str());
        return err;
    }
    auto l = detail::make_listener<local>(io, local(), std::move(on_request), lim, "'" + path + "'",
                                          std::move(fd));
    if (!l) {
        ::unlink(path.c_str());
        return l.error();
    }
    (*l)->remove_on_close(path, st.st_dev, st.st_ino);
    (*l)->start();
    return std::unique_ptr<server>(new server(std::move(*l)));
}

result<std::unique_ptr<server>> server::listen_tcp(boost::asio::io_context& io,
                                                   const std::string& host, std::uint16_t port,
                                                   handler on_request, limits lim) {
    return listen_tcp(io, host, port, detail::answering_at_once(std::move(on_request)), lim);
}

result<std::unique_ptr<server>> server::listen_tcp(boost::asio::io_context& io,
                                                   const std::string& host, std::uint16_t port,
                                                   async_handler on_request, limits lim) {
    using tcp = boost::asio::ip::tcp;
    const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    const std::string subject = "http " + shown_host + ":" + std::to_string(port);
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(host, ec);
    if (ec) {
        return error(EINVAL, subject + ": not a numeric IP address");
    }
    tcp::endpoint endpoint(address, port);
    unique_fd fd(::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return error::from_errno(subject + ": socket");
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
        return error::from_errno(subject + ": bind");
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
        return error::from_errno(subject + ": listen");
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
        return error::from_errno(subject + ": getsockname");
    }
    const auto actual =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    auto l = detail::make_listener<tcp>(io, endpoint.protocol(), std::move(on_request), lim,
                                        shown_host + ":" + std::to_string(actual), std::move(fd));
    if (!l) {
        return l.error();
    }
    (*l)->set_port(actual);
    (*l)->start();
    return std::unique_ptr<server>(new server(std::move(*l)));
}

} // namespace berth::http
