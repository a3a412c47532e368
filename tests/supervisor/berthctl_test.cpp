// The built berthctl binary against an in-process control server (http::server + the
// control API) over a fake fleet: output, --json, exit codes, logs.
#include "engine/http_server.hpp"
#include "supervisor/control_api.hpp"

#include "control_test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>

extern char** environ;

namespace http = berth::http;
namespace json = boost::json;
using namespace berth::test;

namespace {

const std::string berthctl_path = BERTH_BINARY_DIR "/bin/berthctl";

// A program (berthctl unless told) running with its stdout and stderr on pipes.
class child {
public:
    child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
          const std::string& program = berthctl_path) {
        int out[2];
        int err[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe2 failed");
        }
        out_.reset(out[0]);
        err_.reset(err[0]);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        std::vector<std::string> argv_s{program};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<std::string> env_s;
        for (char** e = environ; *e != nullptr; ++e) {
            if (std::string_view(*e).rfind("BERTH_SOCKET=", 0) != 0) {
                env_s.emplace_back(*e);
            }
        }
        env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
        auto pointers = [](std::vector<std::string>& v) {
            std::vector<char*> p;
            for (auto& s : v) {
                p.push_back(s.data());
            }
            p.push_back(nullptr);
            return p;
        };
        auto argv = pointers(argv_s);
        auto envp = pointers(env_s);
        int rc = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        ::close(err[1]);
        if (rc != 0) {
            throw std::runtime_error("posix_spawn " + program + ": " + std::strerror(rc));
        }
    }

    ~child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    // Reads stdout until it contains `text`; false at the deadline or on EOF.
    bool read_until(const std::string& text, std::chrono::seconds limit = 10s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (out_text.find(text) == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            pollfd p{out_.get(), POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0 ||
                !drain(out_, out_text)) {
                return false;
            }
        }
        return true;
    }

    // Waits for the exit (killing it at the deadline); the exit code, or -1.
    int wait(std::chrono::seconds limit = 30s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        bool out_open = true;
        bool err_open = true;
        while (out_open || err_open) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            pollfd p[2] = {{out_open ? out_.get() : -1, POLLIN, 0},
                           {err_open ? err_.get() : -1, POLLIN, 0}};
            if (left.count() <= 0 || ::poll(p, 2, static_cast<int>(left.count())) <= 0) {
                ::kill(pid_, SIGKILL);
                break;
            }
            if (p[0].revents != 0) {
                out_open = drain(out_, out_text);
            }
            if (p[1].revents != 0) {
                err_open = drain(err_, err_text);
            }
        }
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }

    void terminate() {
        ::kill(pid_, SIGTERM);
        wait();
    }

    std::string out_text;
    std::string err_text;

private:
    static bool drain(const berth::unique_fd& fd, std::string& into) {
        char buf[4096];
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n <= 0) {
            return false;
        }
        into.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    pid_t pid_ = -1;
    berth::unique_fd out_;
    berth::unique_fd err_;
};

struct run_result {
    int code;
    std::string out;
    std::string err;
};

class berthctl_test : public ::testing::Test {
protected:
    temp_dir dir;
    loop_thread loop;
    fake_fleet fleet;
    berth::control_options options;
    std::unique_ptr<http::server> server;
    std::string socket_path = (dir.path() / "control.sock").string();

    void SetUp() override {
        if (!std::filesystem::exists(berthctl_path)) {
            GTEST_SKIP() << "needs the built berthctl at " << berthctl_path;
        }
    }

    void TearDown() override {
        if (server) {
            loop.run_on_loop([&] { server->close(); });
        }
        loop.stop();
        server.reset();
    }

    // Starts serving; the fleet is changed only before this.
    void serve() {
        auto s = http::server::listen_unix(loop.io, socket_path, 0600,
                                           berth::make_control_handler(fleet, options));
        ASSERT_TRUE(s) << s.error().message();
        server = std::move(*s);
        loop.start();
    }

    run_result run(std::vector<std::string> args, std::vector<std::string> env = {}) {
        args.insert(args.begin(), {"--socket", socket_path});
        return run_raw(args, env);
    }

    static run_result run_raw(const std::vector<std::string>& args,
                              const std::vector<std::string>& env = {}) {
        child c(args, env);
        int code = c.wait();
        return {code, c.out_text, c.err_text};
    }

    std::string write_log(const std::string& name, int first, int last) {
        auto path = (dir.path() / name).string();
        std::ofstream out(path);
        for (int i = first; i <= last; ++i) {
            out << "line " << i << "\n";
        }
        return path;
    }

    static std::string lines(int first, int last) {
        std::string s;
        for (int i = first; i <= last; ++i) {
            s += "line " + std::to_string(i) + "\n";
        }
        return s;
    }
};

TEST_F(berthctl_test, status_prints_a_table) {
    serve();
    auto r = run({"status"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out,
              "SERVICE  REPLICA  STATE        PID  UPTIME  RESTARTS  LAST-EXIT                "
              "MEMORY  CPU\n"
              "web      0        ready        812  2h03m   0         -                        "
              "12.3M   1.25s\n"
              "web      1        backoff      -    -       3         exited 1                 "
              "-       -\n"
              "web      2        failed       -    -       5         killed by SIGKILL (OOM)  "
              "-       -\n"
              "db       0        ready        901  45s     0         -                        "
              "1.5K    0.50s\n"
              "idle     -        no replicas  -    -       -         -                        "
              "-       -\n"
              "web/2: restart limit reached\n");
}

TEST_F(berthctl_test, status_of_one_service_and_of_one_replica) {
    serve();
    auto service = run({"status", "db"});
    EXPECT_EQ(service.code, 0) << service.err;
    EXPECT_NE(service.out.find("\ndb       0"), std::string::npos) << service.out;
    EXPECT_EQ(service.out.find("web"), std::string::npos) << service.out;

    auto replica = run({"status", "web/1"});
    EXPECT_EQ(replica.code, 0) << replica.err;
    EXPECT_NE(replica.out.find("backoff"), std::string::npos) << replica.out;
    EXPECT_EQ(std::count(replica.out.begin(), replica.out.end(), '\n'), 2) << replica.out;
}

TEST_F(berthctl_test, status_json_is_the_api_answer) {
    serve();
    auto r = run({"status", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    json::value v = json::parse(r.out);
    const auto& services = v.at("services").as_array();
    ASSERT_EQ(services.size(), 3u);
    EXPECT_EQ(services[0].at("replicas").as_array()[0].at("pid").as_int64(), 812);
    EXPECT_TRUE(services[0].at("replicas").as_array()[2].at("last_exit_oom").as_bool());

    auto one = run({"--json", "status", "web/2"});
    ASSERT_EQ(one.code, 0) << one.err;
    EXPECT_EQ(json::parse(one.out).at("failure").as_string(), "restart limit reached");
}

TEST_F(berthctl_test, unknown_service_is_exit_1_with_the_daemon_text) {
    serve();
    auto status = run({"status", "wbe"});
    EXPECT_EQ(status.code, 1);
    EXPECT_EQ(status.err, "berthctl: no service named 'wbe'; did you mean 'web'?\n");
    EXPECT_EQ(status.out, "");

    auto start = run({"start", "wbe"});
    EXPECT_EQ(start.code, 1);
    EXPECT_EQ(start.err, "berthctl: no service named 'wbe'; did you mean 'web'?\n");
}

TEST_F(berthctl_test, start_stop_restart_a_service_or_a_replica) {
    serve();
    auto restart = run({"restart", "web/2"});
    EXPECT_EQ(restart.code, 0) << restart.err;
    EXPECT_EQ(restart.out, "restarting web/2\n");
    auto stop = run({"stop", "db"});
    EXPECT_EQ(stop.code, 0) << stop.err;
    EXPECT_EQ(stop.out, "stopping db\n");
    auto start = run({"start", "web/0", "--json"});
    EXPECT_EQ(start.code, 0) << start.err;
    EXPECT_EQ(json::parse(start.out).at("action").as_string(), "start");
    auto calls = loop.run_on_loop([&] { return fleet.calls; });
    EXPECT_EQ(calls, (std::vector<std::string>{"restart web/2", "stop db", "start web/0"}));
}

TEST_F(berthctl_test, usage_errors_are_exit_2) {
    serve();
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"frobnicate"},
        {"restart"},
        {"restart", "web/x"},
        {"restart", "web/"},
        {"stop", "web", "db"},
        {"logs", "web/0", "-n", "many"},
        {"status", "--reboot"},
        {"status", "--no-such-option"},
        {"reload", "now"},
    };
    for (const auto& args : bad) {
        auto r = run(args);
        EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args) << ": " << r.err;
        EXPECT_EQ(r.err.rfind("berthctl: ", 0), 0u) << r.err;
        EXPECT_NE(r.err.find("Try 'berthctl --help'."), std::string::npos) << r.err;
    }
    EXPECT_EQ(run({"restart", "web/x"}).err,
              "berthctl: 'web/x' is not SERVICE or SERVICE/REPLICA\nTry 'berthctl --help'.\n");
    EXPECT_EQ(run({"status", "--reboot"}).err,
              "berthctl: option '--reboot' does not apply to 'status'\nTry 'berthctl --help'.\n");
    EXPECT_TRUE(loop.run_on_loop([&] { return fleet.calls; }).empty());
}

TEST_F(berthctl_test, a_missing_socket_is_exit_3_naming_the_path) {
    const std::string missing = (dir.path() / "missing.sock").string();
    auto r = run_raw({"--socket", missing, "status"});
    EXPECT_EQ(r.code, 3);
    EXPECT_EQ(r.err, "berthctl: cannot reach berth at '" + missing +
                         "': connect: No such file or directory (is berth running?)\n");
}

TEST_F(berthctl_test, a_socket_nobody_listens_on_is_exit_3) {
    const std::string stale = (dir.path() / "stale.sock").string();
    {
        berth::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        stale.copy(addr.sun_path, sizeof addr.sun_path - 1);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    auto r = run_raw({"--socket", stale, "version"});
    EXPECT_EQ(r.code, 3);
    EXPECT_EQ(r.out, "berthctl " BERTH_VERSION "\n");
    EXPECT_EQ(r.err, "berthctl: cannot reach berth at '" + stale +
                         "': connect: Connection refused (is berth running?)\n");
}

TEST_F(berthctl_test, the_socket_comes_from_berth_socket_when_not_given) {
    serve();
    auto r = run_raw({"version"}, {"BERTH_SOCKET=" + socket_path});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "berthctl " BERTH_VERSION "\nberth " BERTH_VERSION " (API v1)\n");
}

TEST_F(berthctl_test, a_refused_peer_is_exit_1) {
    options.allowed_uids = {4242};
    serve();
    auto r = run({"status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "berthctl: permission denied: uid " + std::to_string(::geteuid()) +
                         " may not use the control API\n");
}

TEST_F(berthctl_test, logs_prints_the_last_lines) {
    fleet.fleet[0].replicas[0].log_path = write_log("web-0.log", 1, 20);
    serve();
    auto three = run({"logs", "web/0", "-n", "3"});
    EXPECT_EQ(three.code, 0) << three.err;
    EXPECT_EQ(three.out, lines(18, 20));
    auto by_default = run({"logs", "web/0"});
    EXPECT_EQ(by_default.out, lines(11, 20));
    auto all = run({"logs", "web/0", "-n", "all"});
    EXPECT_EQ(all.out, lines(1, 20));
    auto none = run({"logs", "web/0", "-n0"});
    EXPECT_EQ(none.code, 0);
    EXPECT_EQ(none.out, "");
}

TEST_F(berthctl_test, logs_reads_across_rotated_files) {
    auto path = write_log("web-0.log", 9, 11);
    write_log("web-0.log.1", 5, 8);
    write_log("web-0.log.2", 1, 4);
    fleet.fleet[0].replicas[0].log_path = path;
    serve();
    EXPECT_EQ(run({"logs", "web/0", "-n", "5"}).out, lines(7, 11));
    EXPECT_EQ(run({"logs", "web/0", "-n", "all"}).out, lines(1, 11));
    EXPECT_EQ(run({"logs", "web/0", "-n", "100"}).out, lines(1, 11));
}

TEST_F(berthctl_test, logs_counts_a_last_line_without_newline) {
    auto path = (dir.path() / "web-0.log").string();
    std::ofstream(path) << "a\nb\nc";
    fleet.fleet[0].replicas[0].log_path = path;
    serve();
    EXPECT_EQ(run({"logs", "web/0", "-n", "2"}).out, "b\nc");
}

TEST_F(berthctl_test, logs_of_a_one_replica_service_needs_no_number) {
    fleet.fleet[1].replicas[0].log_path = write_log("db-0.log", 1, 2);
    serve();
    auto r = run({"logs", "db"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, lines(1, 2));
    auto many = run({"logs", "web"});
    EXPECT_EQ(many.code, 2);
    EXPECT_EQ(many.err.rfind("berthctl: service web has 3 replicas; name one, as web/0\n", 0), 0u)
        << many.err;
}

TEST_F(berthctl_test, logs_without_a_log_file_is_exit_1) {
    serve();
    auto no_path = run({"logs", "web/2"});
    EXPECT_EQ(no_path.code, 1);
    EXPECT_EQ(no_path.err, "berthctl: web/2 has no log file (its output goes to /dev/null)\n");
    loop.run_on_loop([&] {
        fleet.fleet[0].replicas[1].log_path = (dir.path() / "gone" / "never-written.log").string();
    });
    auto missing = run({"logs", "web/1"});
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.err.find("gone/never-written.log': open: No such file or directory"),
              std::string::npos)
        << missing.err;
}

// berth creates a replica's log with its first output: a replica that has written nothing
// has a log directory but no file yet, and its logs are empty, not an error.
TEST_F(berthctl_test, logs_of_a_replica_that_wrote_nothing_are_empty) {
    fleet.fleet[0].replicas[1].log_path = (dir.path() / "never-written.log").string();
    serve();
    auto quiet = run({"logs", "web/1"});
    EXPECT_EQ(quiet.code, 0) << quiet.err;
    EXPECT_EQ(quiet.out, "");
    EXPECT_EQ(quiet.err, "");
}

TEST_F(berthctl_test, logs_follow_goes_on_across_rotation) {
    auto path = write_log("web-0.log", 1, 3);
    fleet.fleet[0].replicas[0].log_path = path;
    serve();
    child follower({"--socket", socket_path, "logs", "web/0", "-f", "-n", "1"}, {});
    ASSERT_TRUE(follower.read_until("line 3\n")) << follower.out_text;

    { std::ofstream(path, std::ios::app) << "line 4\n"; }
    ASSERT_TRUE(follower.read_until("line 4\n")) << follower.out_text;

    // What log_file does when the file is full: NAME -> NAME.1, a new NAME. A line written to
    // the old file just before the rename still comes out, then the new file's lines.
    { std::ofstream(path, std::ios::app) << "line 5\n"; }
    std::filesystem::rename(path, path + ".1");
    { std::ofstream(path) << "line 6\n"; }
    ASSERT_TRUE(follower.read_until("line 6\n")) << follower.out_text;
    { std::ofstream(path, std::ios::app) << "line 7\n"; }
    ASSERT_TRUE(follower.read_until("line 7\n")) << follower.out_text;
    EXPECT_EQ(follower.out_text, lines(3, 7));
    follower.terminate();
}

TEST_F(berthctl_test, reload_dry_run_prints_the_plan) {
    fleet.reload_answer.plan = {{berth::reload_change::kind::scaled, "web", "replicas 3 -> 5"},
                                {berth::reload_change::kind::added, "cache", ""}};
    serve();
    auto r = run({"reload", "--dry-run"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "a reload would make 2 changes:\n"
                     "  scaled   web: replicas 3 -> 5\n"
                     "  added    cache\n");
    EXPECT_EQ(loop.run_on_loop([&] { return fleet.calls; }),
              std::vector<std::string>{"reload dry_run"});
}

TEST_F(berthctl_test, reload_applied) {
    fleet.reload_answer.applied = true;
    fleet.reload_answer.plan = {{berth::reload_change::kind::removed, "old", ""}};
    serve();
    auto r = run({"reload"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "reloaded: 1 change:\n  removed  old\n");
}

TEST_F(berthctl_test, reload_of_an_invalid_file_prints_the_errors_and_is_exit_1) {
    fleet.reload_answer.errors = {"berth.toml:3:1: error: unknown key 'replica'",
                                  "berth.toml:9:5: error: bad size"};
    serve();
    auto r = run({"reload"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "berthctl: the fleet file has 2 errors; nothing was changed\n"
                     "berth.toml:3:1: error: unknown key 'replica'\n"
                     "berth.toml:9:5: error: bad size\n");
}

TEST_F(berthctl_test, shutdown_and_reboot) {
    serve();
    auto r = run({"shutdown", "--reboot"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "berth is stopping the fleet; then the machine reboots\n");
    EXPECT_TRUE(eventually([&] {
        return loop.run_on_loop([&] { return fleet.calls; }) ==
               std::vector<std::string>{"shutdown reboot"};
    }));
}

// The curl examples of docs/api.md, against the same server.
TEST_F(berthctl_test, curl_examples_from_the_docs_work) {
    const std::string curl = "/usr/bin/curl";
    if (!std::filesystem::exists(curl)) {
        GTEST_SKIP() << "needs curl (scripts/setup.sh installs it)";
    }
    serve();
    auto run_curl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--silent", "--show-error", "--unix-socket", socket_path});
        child c(args, {}, curl);
        int code = c.wait();
        EXPECT_EQ(code, 0) << c.err_text;
        return c.out_text;
    };
    auto services = json::parse(run_curl({"http://localhost/v1/services"}));
    EXPECT_EQ(services.at("services").as_array().size(), 3u);
    auto replica = json::parse(run_curl({"http://localhost/v1/services/web/replicas/0"}));
    EXPECT_EQ(replica.at("name").as_string(), "web/0");
    auto restart =
        json::parse(run_curl({"-X", "POST", "http://localhost/v1/services/web/replicas/2/stop"}));
    EXPECT_EQ(restart.at("action").as_string(), "stop");
    auto reload = json::parse(run_curl({"-X", "POST", "http://localhost/v1/reload?dry_run=1"}));
    EXPECT_TRUE(reload.at("dry_run").as_bool());
    auto reload_body = json::parse(
        run_curl({"-X", "POST", "-d", R"({"dry_run": false})", "http://localhost/v1/reload"}));
    EXPECT_FALSE(reload_body.at("dry_run").as_bool());
    auto shutdown = json::parse(
        run_curl({"-X", "POST", "-d", R"({"reboot": false})", "http://localhost/v1/shutdown"}));
    EXPECT_TRUE(shutdown.at("shutting_down").as_bool());
    auto version = json::parse(run_curl({"http://localhost/v1/version"}));
    EXPECT_EQ(version.at("api").as_string(), "v1");
    EXPECT_TRUE(eventually([&] {
        return loop.run_on_loop([&] { return fleet.calls; }) ==
               std::vector<std::string>{"stop web/2", "reload dry_run", "reload", "shutdown"};
    }));
}

TEST_F(berthctl_test, help_documents_the_exit_codes) {
    auto r = run_raw({"--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Exit status:"), std::string::npos);
    EXPECT_NE(r.out.find("3  cannot reach berth"), std::string::npos);
}

} // namespace
