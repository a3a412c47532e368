// The control API's routes against a fake fleet_control: every route, every error status
// with its JSON text. The handler is called directly; control_http_test covers the socket.
#include "supervisor/control_api.hpp"

#include "control_test_support.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace json = boost::json;
using berth::test::fake_fleet;

namespace {

class control_api_test : public ::testing::Test {
protected:
    fake_fleet fleet;
    berth::http::handler handler = berth::make_control_handler(fleet);

    berth::http::response call(const std::string& method, const std::string& target,
                               const std::string& body = "", uid_t uid = 0) {
        berth::http::request req{method, target, body, ucred{1234, uid, 0}};
        return handler(req);
    }

    // The JSON body of a response, checked to be an object.
    static json::object body_of(const berth::http::response& res) {
        EXPECT_EQ(res.content_type, "application/json");
        json::value v = json::parse(res.body);
        EXPECT_TRUE(v.is_object()) << res.body;
        return v.is_object() ? v.as_object() : json::object{};
    }

    // Expects an error response: the status and the exact {"error": text}.
    static void expect_error(const berth::http::response& res, unsigned status,
                             const std::string& text) {
        EXPECT_EQ(res.status, status) << res.body;
        auto body = body_of(res);
        ASSERT_TRUE(body.contains("error")) << res.body;
        EXPECT_EQ(body.at("error").as_string(), text);
    }
};

TEST_F(control_api_test, version) {
    auto res = call("GET", "/v1/version");
    ASSERT_EQ(res.status, 200u);
    auto body = body_of(res);
    EXPECT_EQ(body.at("name").as_string(), "berth");
    EXPECT_EQ(body.at("version").as_string(), BERTH_VERSION);
    EXPECT_EQ(body.at("api").as_string(), "v1");
}

TEST_F(control_api_test, services_lists_every_service_with_its_replicas) {
    auto res = call("GET", "/v1/services");
    ASSERT_EQ(res.status, 200u);
    auto services = body_of(res).at("services").as_array();
    ASSERT_EQ(services.size(), 3u);
    EXPECT_EQ(services[0].at("name").as_string(), "web");
    EXPECT_EQ(services[0].at("desired").as_int64(), 3);
    EXPECT_EQ(services[0].at("image").as_string(), "nginx");
    EXPECT_EQ(services[0].at("labels").as_object().at("org.test.tier").as_string(), "front");
    EXPECT_TRUE(services[1].at("image").is_null()) << "a service on the host's root";
    EXPECT_TRUE(services[1].at("labels").as_object().empty());
    EXPECT_EQ(services[2].at("replicas").as_array().size(), 0u);

    const auto& web = services[0].at("replicas").as_array();
    ASSERT_EQ(web.size(), 3u);
    const auto& r0 = web[0].as_object();
    EXPECT_EQ(r0.at("service").as_string(), "web");
    EXPECT_EQ(r0.at("index").as_int64(), 0);
    EXPECT_EQ(r0.at("name").as_string(), "web/0");
    EXPECT_EQ(r0.at("state").as_string(), "ready");
    EXPECT_EQ(r0.at("pid").as_int64(), 812);
    EXPECT_DOUBLE_EQ(r0.at("uptime_seconds").as_double(), 7384.5);
    EXPECT_EQ(r0.at("restarts").as_int64(), 0);
    EXPECT_TRUE(r0.at("last_exit").is_null());
    EXPECT_FALSE(r0.at("last_exit_oom").as_bool());
    EXPECT_TRUE(r0.at("failure").is_null());
    EXPECT_EQ(r0.at("memory_bytes").to_number<std::uint64_t>(), 12897485u);
    EXPECT_DOUBLE_EQ(r0.at("cpu_seconds").as_double(), 1.25);
    EXPECT_EQ(r0.at("log_path").as_string(), "/var/log/berth/web/0.log");
    EXPECT_EQ(r0.at("cgroup_path").as_string(), "/sys/fs/cgroup/berth/web/0");

    const auto& r2 = web[2].as_object();
    EXPECT_TRUE(r2.at("pid").is_null());
    EXPECT_TRUE(r2.at("uptime_seconds").is_null());
    EXPECT_TRUE(r2.at("memory_bytes").is_null());
    EXPECT_TRUE(r2.at("cpu_seconds").is_null());
    EXPECT_TRUE(r2.at("log_path").is_null());
    EXPECT_EQ(r2.at("last_exit").as_string(), "killed by SIGKILL");
    EXPECT_TRUE(r2.at("last_exit_oom").as_bool());
    EXPECT_EQ(r2.at("failure").as_string(), "restart limit reached");
}

TEST_F(control_api_test, one_service) {
    auto res = call("GET", "/v1/services/db");
    ASSERT_EQ(res.status, 200u);
    auto body = body_of(res);
    EXPECT_EQ(body.at("name").as_string(), "db");
    EXPECT_EQ(body.at("replicas").as_array().size(), 1u);
}

TEST_F(control_api_test, unknown_service_is_404) {
    expect_error(call("GET", "/v1/services/wbe"), 404,
                 "no service named 'wbe'; did you mean 'web'?");
    expect_error(call("GET", "/v1/services/wbe/replicas/0"), 404,
                 "no service named 'wbe'; did you mean 'web'?");
    expect_error(call("GET", "/v1/services/zzzzzz"), 404, "no service named 'zzzzzz'");
}

TEST_F(control_api_test, one_replica) {
    auto res = call("GET", "/v1/services/web/replicas/1");
    ASSERT_EQ(res.status, 200u);
    auto body = body_of(res);
    EXPECT_EQ(body.at("name").as_string(), "web/1");
    EXPECT_EQ(body.at("state").as_string(), "backoff");
    EXPECT_EQ(body.at("last_exit").as_string(), "exited 1");
}

TEST_F(control_api_test, unknown_replica_is_404_with_the_range) {
    expect_error(call("GET", "/v1/services/web/replicas/7"), 404,
                 "service 'web' has no replica 7 (replicas 0..2)");
    expect_error(call("GET", "/v1/services/idle/replicas/0"), 404,
                 "service 'idle' has no replica 0");
}

TEST_F(control_api_test, replica_index_must_be_a_number) {
    expect_error(call("GET", "/v1/services/web/replicas/x"), 400,
                 "replica index 'x' is not a number");
    expect_error(call("GET", "/v1/services/web/replicas/-1"), 400,
                 "replica index '-1' is not a number");
    expect_error(call("POST", "/v1/services/web/replicas/99999999999/stop"), 400,
                 "replica index '99999999999' is not a number");
    EXPECT_TRUE(fleet.calls.empty());
}

TEST_F(control_api_test, service_actions_reach_the_fleet) {
    for (const std::string action : {"start", "stop", "restart"}) {
        auto res = call("POST", "/v1/services/web/" + action);
        ASSERT_EQ(res.status, 200u) << res.body;
        auto body = body_of(res);
        EXPECT_EQ(body.at("action").as_string(), action);
        EXPECT_EQ(body.at("service").as_string(), "web");
        EXPECT_TRUE(body.at("replica").is_null());
    }
    EXPECT_EQ(fleet.calls, (std::vector<std::string>{"start web", "stop web", "restart web"}));
}

TEST_F(control_api_test, replica_actions_reach_the_fleet) {
    for (const std::string action : {"start", "stop", "restart"}) {
        auto res = call("POST", "/v1/services/web/replicas/2/" + action, "{}");
        ASSERT_EQ(res.status, 200u) << res.body;
        EXPECT_EQ(body_of(res).at("replica").as_int64(), 2);
    }
    EXPECT_EQ(fleet.calls,
              (std::vector<std::string>{"start web/2", "stop web/2", "restart web/2"}));
}

TEST_F(control_api_test, action_errors_keep_the_fleet_text) {
    expect_error(call("POST", "/v1/services/wbe/restart"), 404,
                 "no service named 'wbe'; did you mean 'web'?");

    fleet.fail_next = berth::error(EINVAL, "web/9: no such replica index");
    expect_error(call("POST", "/v1/services/web/replicas/9/stop"), 400,
                 "web/9: no such replica index");

    fleet.fail_next = berth::error(EBUSY, "berth is shutting down");
    expect_error(call("POST", "/v1/services/web/start"), 409, "berth is shutting down");

    // Any other errno is a 500 with the whole message, errno text last.
    fleet.fail_next = berth::error(EACCES, "service web/0: cgroup '/x': create");
    expect_error(call("POST", "/v1/services/web/replicas/0/start"), 500,
                 "service web/0: cgroup '/x': create: Permission denied");
}

TEST_F(control_api_test, action_bodies_must_be_empty_objects) {
    expect_error(call("POST", "/v1/services/web/stop", R"({"force": true})"), 400,
                 "request body: unknown field 'force'");
    expect_error(call("POST", "/v1/services/web/stop", "[1]"), 400,
                 "request body: expected a JSON object");
    EXPECT_TRUE(fleet.calls.empty());
}

TEST_F(control_api_test, reload_applies_by_default) {
    fleet.reload_answer.applied = true;
    fleet.reload_answer.plan = {
        {berth::reload_change::kind::scaled, "web", "replicas 3 -> 5"},
        {berth::reload_change::kind::added, "cache", ""},
    };
    auto res = call("POST", "/v1/reload");
    ASSERT_EQ(res.status, 200u) << res.body;
    auto body = body_of(res);
    EXPECT_FALSE(body.at("dry_run").as_bool());
    EXPECT_TRUE(body.at("applied").as_bool());
    EXPECT_TRUE(body.at("errors").as_array().empty());
    const auto& plan = body.at("plan").as_array();
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[0].at("kind").as_string(), "scaled");
    EXPECT_EQ(plan[0].at("service").as_string(), "web");
    EXPECT_EQ(plan[0].at("detail").as_string(), "replicas 3 -> 5");
    EXPECT_EQ(plan[1].at("kind").as_string(), "added");
    EXPECT_EQ(fleet.calls, std::vector<std::string>{"reload"});
}

TEST_F(control_api_test, reload_dry_run_from_the_body_or_the_query) {
    EXPECT_EQ(call("POST", "/v1/reload", R"({"dry_run": true})").status, 200u);
    EXPECT_EQ(call("POST", "/v1/reload?dry_run=1").status, 200u);
    EXPECT_EQ(call("POST", "/v1/reload?dry_run=true").status, 200u);
    EXPECT_EQ(call("POST", "/v1/reload?dry_run").status, 200u);
    EXPECT_EQ(call("POST", "/v1/reload?dry_run=0", R"({"dry_run": false})").status, 200u);
    EXPECT_EQ(call("POST", "/v1/reload", R"({"dry_run": false})").status, 200u);
    EXPECT_EQ(fleet.calls,
              (std::vector<std::string>{"reload dry_run", "reload dry_run", "reload dry_run",
                                        "reload dry_run", "reload", "reload"}));
    EXPECT_TRUE(body_of(call("POST", "/v1/reload?dry_run=1")).at("dry_run").as_bool());
}

TEST_F(control_api_test, reload_bad_parameters_are_400) {
    expect_error(call("POST", "/v1/reload", R"({"dry_run": tru})"), 400,
                 "request body: invalid JSON: syntax error");
    expect_error(call("POST", "/v1/reload", R"({"dry_run": "yes"})"), 400,
                 "request body: 'dry_run' must be true or false");
    expect_error(call("POST", "/v1/reload", R"({"dryrun": true})"), 400,
                 "request body: unknown field 'dryrun'; expected 'dry_run'");
    expect_error(call("POST", "/v1/reload?dry_run=maybe"), 400,
                 "query parameter dry_run must be 1, 0, true or false, not 'maybe'");
    expect_error(call("POST", "/v1/reload?dryrun=1"), 400,
                 "unknown query parameter 'dryrun'; expected 'dry_run'");
    expect_error(call("POST", "/v1/reload?dry_run=1", R"({"dry_run": false})"), 400,
                 "dry_run differs between the query and the body");
    EXPECT_TRUE(fleet.calls.empty());
}

TEST_F(control_api_test, reload_of_an_invalid_file_is_422_with_the_errors) {
    fleet.reload_answer.errors = {"/etc/berth/berth.toml:3:1: error: unknown key 'replica'",
                                  "/etc/berth/berth.toml:9:5: error: bad size"};
    auto res = call("POST", "/v1/reload");
    expect_error(res, 422, "the fleet file has 2 errors; nothing was changed");
    auto body = body_of(res);
    ASSERT_EQ(body.at("errors").as_array().size(), 2u);
    EXPECT_EQ(body.at("errors").as_array()[1].as_string(),
              "/etc/berth/berth.toml:9:5: error: bad size");
    EXPECT_FALSE(body.at("applied").as_bool());
}

TEST_F(control_api_test, shutdown_begins_only_after_the_answer_is_sent) {
    auto res = call("POST", "/v1/shutdown", R"({"reboot": true})");
    ASSERT_EQ(res.status, 202u) << res.body;
    auto body = body_of(res);
    EXPECT_TRUE(body.at("shutting_down").as_bool());
    EXPECT_TRUE(body.at("reboot").as_bool());
    EXPECT_TRUE(fleet.calls.empty());
    ASSERT_TRUE(res.on_sent);
    res.on_sent();
    EXPECT_EQ(fleet.calls, std::vector<std::string>{"shutdown reboot"});

    auto plain = call("POST", "/v1/shutdown");
    ASSERT_EQ(plain.status, 202u);
    EXPECT_FALSE(body_of(plain).at("reboot").as_bool());
    plain.on_sent();
    EXPECT_EQ(fleet.calls.back(), "shutdown");

    expect_error(call("POST", "/v1/shutdown", R"({"reboot": 1})"), 400,
                 "request body: 'reboot' must be true or false");
}

TEST_F(control_api_test, wrong_method_is_405) {
    expect_error(call("POST", "/v1/services"), 405,
                 "method 'POST' is not allowed on '/v1/services'; use GET");
    expect_error(call("DELETE", "/v1/services/web"), 405,
                 "method 'DELETE' is not allowed on '/v1/services/web'; use GET");
    expect_error(call("GET", "/v1/reload"), 405,
                 "method 'GET' is not allowed on '/v1/reload'; use POST");
    expect_error(call("GET", "/v1/services/web/replicas/0/restart"), 405,
                 "method 'GET' is not allowed on '/v1/services/web/replicas/0/restart'; use POST");
    using fields = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(call("PUT", "/v1/services").fields, (fields{{"Allow", "GET, HEAD"}}));
    EXPECT_EQ(call("GET", "/v1/reload").fields, (fields{{"Allow", "POST"}}));
    EXPECT_EQ(call("GET", "/v1/services").fields, fields{});
    EXPECT_TRUE(fleet.calls.empty());
}

TEST_F(control_api_test, unknown_routes_are_404) {
    expect_error(call("GET", "/"), 404, "no route for GET /");
    expect_error(call("GET", "/v1/nope"), 404, "no route for GET /v1/nope");
    expect_error(call("POST", "/v1/services/web/explode"), 404,
                 "no route for POST /v1/services/web/explode");
    expect_error(call("GET", "/v1/services/web/replicas"), 404,
                 "no route for GET /v1/services/web/replicas");
    expect_error(call("GET", "/v2/services"), 404,
                 "API version 'v2' is not served; this berth speaks v1");
    expect_error(call("GET", "http://localhost/v1/services"), 400,
                 "bad request target 'http://localhost/v1/services'");
}

TEST_F(control_api_test, get_routes_take_no_query) {
    expect_error(call("GET", "/v1/services?all=1"), 400, "unknown query parameter 'all'");
}

TEST_F(control_api_test, paths_are_percent_decoded_and_may_end_in_a_slash) {
    EXPECT_EQ(body_of(call("GET", "/v1/services/w%65b")).at("name").as_string(), "web");
    EXPECT_EQ(call("GET", "/v1/services/").status, 200u);
}

TEST_F(control_api_test, head_is_served_like_get) {
    EXPECT_EQ(call("HEAD", "/v1/services").status, 200u);
}

TEST_F(control_api_test, peers_outside_the_allowed_uids_are_403) {
    expect_error(call("GET", "/v1/services", "", 1000), 403,
                 "permission denied: uid 1000 may not use the control API");
    expect_error(call("POST", "/v1/shutdown", "", 1000), 403,
                 "permission denied: uid 1000 may not use the control API");
    auto no_peer = handler(berth::http::request{"GET", "/v1/version", "", std::nullopt});
    expect_error(no_peer, 403,
                 "permission denied: no peer credentials (the control API is served on a Unix "
                 "socket only)");
    EXPECT_TRUE(fleet.calls.empty());
}

TEST_F(control_api_test, allowed_uids_are_configurable) {
    auto custom = berth::make_control_handler(fleet, berth::control_options{{0, 1000}});
    EXPECT_EQ(custom(berth::http::request{"GET", "/v1/version", "", ucred{1, 1000, 1000}}).status,
              200u);
    auto none = berth::make_control_handler(fleet, berth::control_options{{4242}});
    EXPECT_EQ(none(berth::http::request{"GET", "/v1/version", "", ucred{1, 0, 0}}).status, 403u);
}

TEST_F(control_api_test, a_throwing_fleet_is_500) {
    fleet.throw_on_services = true;
    expect_error(call("GET", "/v1/services"), 500, "internal error: boom");
}

} // namespace
