// Structured strings: signals, users, CPU lists, volumes, listen addresses, paths, names.
#include "config/values.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace berth::config {
namespace {

TEST(Signal, AcceptsNamesAndNumbers) {
    EXPECT_EQ(*parse_signal("SIGTERM"), SIGTERM);
    EXPECT_EQ(*parse_signal("TERM"), SIGTERM);
    EXPECT_EQ(*parse_signal("SIGKILL"), SIGKILL);
    EXPECT_FALSE(parse_signal("SIGRTMIN"));
    EXPECT_EQ(*parse_signal("1"), 1);
    EXPECT_EQ(*parse_signal("64"), 64);
    EXPECT_EQ(*parse_signal("SIGWINCH"), SIGWINCH);
}

TEST(Signal, RejectsUnknownAndOutOfRange) {
    EXPECT_EQ(parse_signal("0").error(), "signal number out of range (1 to 64)");
    EXPECT_EQ(parse_signal("65").error(), "signal number out of range (1 to 64)");
    EXPECT_EQ(parse_signal("99999999999999999999").error(), "signal number out of range (1 to 64)");
    EXPECT_EQ(parse_signal("sigterm").error(),
              "unknown signal (use a name such as \"SIGTERM\" or \"TERM\", or a number 1..64)");
    EXPECT_FALSE(parse_signal("SIG"));
    EXPECT_FALSE(parse_signal(""));
    EXPECT_FALSE(parse_signal("-9"));
}

TEST(Signal, FormatsNamesOrNumbers) {
    EXPECT_EQ(format_signal(SIGTERM), "SIGTERM");
    EXPECT_EQ(format_signal(SIGHUP), "SIGHUP");
    EXPECT_EQ(format_signal(40), "40");
    for (int n = 1; n <= 64; ++n) {
        EXPECT_EQ(*parse_signal(format_signal(n)), n);
    }
}

TEST(User, AcceptsNumericIds) {
    EXPECT_EQ(*parse_user("1000"), (credentials{1000, 1000}));
    EXPECT_EQ(*parse_user("1000:100"), (credentials{1000, 100}));
    EXPECT_EQ(*parse_user("0:0"), (credentials{0, 0}));
    EXPECT_EQ(*parse_user("4294967294:4294967294"), (credentials{4294967294u, 4294967294u}));
    EXPECT_EQ(format_user({1000, 100}), "1000:100");
}

TEST(User, RejectsNamesAndBadIds) {
    const std::string names = "user and group names are not supported (they need the image's "
                              "/etc/passwd, which berth does not read); give numeric ids, e.g. "
                              "\"1000:1000\"";
    EXPECT_EQ(parse_user("www-data").error(), names);
    EXPECT_EQ(parse_user("1000:staff").error(), names);
    EXPECT_EQ(parse_user("4294967295").error(), "uid out of range (0 to 4294967294)");
    EXPECT_EQ(parse_user("1:4294967295").error(), "gid out of range (0 to 4294967294)");
    EXPECT_FALSE(parse_user(""));
    EXPECT_FALSE(parse_user("1000:"));
    EXPECT_FALSE(parse_user("-1"));
    EXPECT_FALSE(parse_user("1:2:3"));
}

TEST(Cpuset, ValidatesListSyntax) {
    EXPECT_EQ(*parse_cpuset("0-3,5"), "0-3,5");
    EXPECT_EQ(*parse_cpuset("7"), "7");
    EXPECT_EQ(*parse_cpuset("0-8191"), "0-8191");
    EXPECT_EQ(parse_cpuset("3-1").error(), "range \"N-M\" needs N <= M");
    EXPECT_EQ(parse_cpuset("8192").error(), "expected a CPU number 0..8191 or a range \"N-M\"");
    EXPECT_EQ(parse_cpuset("").error(), "empty (leave cpuset_cpus out to allow every CPU)");
    for (auto bad : {"0,", ",1", "0-", "-1", "0 - 3", "a", "0-3-5", "0,,1"}) {
        EXPECT_FALSE(parse_cpuset(bad)) << bad;
    }
}

TEST(Volume, ParsesNamedBindAndAnonymous) {
    auto named = *parse_volume("data:/var/lib/db");
    EXPECT_EQ(named.type, volume::kind::named);
    EXPECT_EQ(named.source, "data");
    EXPECT_EQ(named.target, "/var/lib/db");
    EXPECT_FALSE(named.read_only);

    auto bind = *parse_volume("/srv/www:/www:ro");
    EXPECT_EQ(bind.type, volume::kind::bind);
    EXPECT_EQ(bind.source, "/srv/www");
    EXPECT_EQ(bind.target, "/www");
    EXPECT_TRUE(bind.read_only);

    auto anonymous = *parse_volume("/cache");
    EXPECT_EQ(anonymous.type, volume::kind::anonymous);
    EXPECT_EQ(anonymous.source, "");
    EXPECT_EQ(anonymous.target, "/cache");

    auto templated = *parse_volume("data-{replica}:/data/:rw");
    EXPECT_EQ(templated.source, "data-{replica}");
    EXPECT_EQ(templated.target, "/data");
    EXPECT_FALSE(templated.read_only);
}

TEST(Volume, RejectsMalformed) {
    EXPECT_EQ(parse_volume("data:www").error(), "target: not absolute (it must start with '/')");
    EXPECT_EQ(parse_volume("/").error(), "target: cannot mount a volume over '/'");
    EXPECT_EQ(parse_volume("/cache:ro").error(),
              "an anonymous volume starts empty: \":ro\" makes no sense without a source");
    EXPECT_EQ(parse_volume("a:b:/c").error(),
              "expected \"[source:]target[:ro|:rw]\" (paths cannot hold ':')");
    EXPECT_EQ(parse_volume(":/c").error(), "empty source before ':'");
    EXPECT_EQ(parse_volume("da ta:/c").error(),
              "a volume name may only hold letters, digits, '_', '.', '-' (a source starting "
              "with '/' is a bind mount)");
    EXPECT_EQ(parse_volume("{index}:/c").error(),
              "volume name: unknown placeholder at offset 0 (the placeholders are {service} and "
              "{replica})");
    EXPECT_EQ(parse_volume("..:/c").error(), "a volume name must not be empty or start with '.'");
    EXPECT_EQ(parse_volume("/a/../b:/c").error(), "source: a path cannot hold \"..\" components");
}

TEST(Volume, FormatsBackToTheSameVolume) {
    for (auto text : {"data:/var/lib/db", "/srv/www:/www:ro", "/cache", "v-{replica}:/v:ro"}) {
        EXPECT_EQ(format_volume(*parse_volume(text)), text);
    }
}

TEST(ListenAddress, AcceptsNumericAddresses) {
    EXPECT_EQ(*parse_listen_address("127.0.0.1:9464"), (listen_address{"127.0.0.1", 9464}));
    EXPECT_EQ(*parse_listen_address("0.0.0.0:0"), (listen_address{"0.0.0.0", 0}));
    EXPECT_EQ(*parse_listen_address("[::1]:9464"), (listen_address{"::1", 9464}));
    EXPECT_EQ(*parse_listen_address("[::]:80"), (listen_address{"::", 80}));
    EXPECT_EQ(*parse_listen_address("[fe80::1:2]:80"), (listen_address{"fe80::1:2", 80}));
    EXPECT_EQ(*parse_listen_address("[1:2:3:4:5:6:7:8]:1"), (listen_address{"1:2:3:4:5:6:7:8", 1}));
    EXPECT_EQ(*parse_listen_address("[::ffff:10.0.0.1]:1"), (listen_address{"::ffff:10.0.0.1", 1}));
    EXPECT_EQ(format_listen_address({"::1", 9464}), "[::1]:9464");
    EXPECT_EQ(format_listen_address({"10.0.0.1", 80}), "10.0.0.1:80");
}

TEST(ListenAddress, RejectsNamesAndMalformed) {
    EXPECT_EQ(parse_listen_address("localhost:9464").error(),
              "expected a numeric IPv4 address or [IPv6] (no name resolution in PID 1)");
    EXPECT_EQ(parse_listen_address("127.0.0.1").error(),
              "expected \"host:port\", e.g. \"127.0.0.1:9464\"");
    EXPECT_EQ(parse_listen_address("127.0.0.1:").error(),
              "expected a port number 0..65535 after ':'");
    EXPECT_EQ(parse_listen_address("127.0.0.1:65536").error(),
              "expected a port number 0..65535 after ':'");
    EXPECT_EQ(parse_listen_address("9464").error(),
              "expected \"host:port\", e.g. \"127.0.0.1:9464\"");
    for (auto bad : {"256.0.0.1:1", "1.2.3:1", "01.2.3.4:1", "[1::2::3]:1", "[12345::]:1",
                     "[1:2:3:4:5:6:7:8:9]:1", "[:::]:1", "::1:80", "[]:1", "[g::]:1"}) {
        EXPECT_FALSE(parse_listen_address(bad)) << bad;
    }
}

TEST(AbsolutePath, NormalizesAndRejects) {
    EXPECT_EQ(*parse_absolute_path("/"), "/");
    EXPECT_EQ(*parse_absolute_path("//run//berth/./x/"), "/run/berth/x");
    EXPECT_EQ(parse_absolute_path("run").error(), "not absolute (it must start with '/')");
    EXPECT_EQ(parse_absolute_path("/a/..").error(), "a path cannot hold \"..\" components");
    EXPECT_EQ(parse_absolute_path(std::string("/a\0b", 4)).error(),
              "a path cannot hold a NUL byte");
    EXPECT_EQ(parse_absolute_path("/" + std::string(4095, 'a')).error(),
              "path too long (at most 4095 bytes)");
}

TEST(Name, AcceptsAndRejects) {
    EXPECT_FALSE(check_name("web"));
    EXPECT_FALSE(check_name("db_2-primary"));
    EXPECT_FALSE(check_name(std::string(48, 'a')));
    EXPECT_EQ(*check_name(std::string(49, 'a')), "a name must be 1 to 48 characters long");
    EXPECT_EQ(*check_name(""), "a name must be 1 to 48 characters long");
    EXPECT_EQ(*check_name("-web"), "a name must start with a letter or digit");
    EXPECT_EQ(*check_name("my.web"), "a name may only hold letters, digits, '_' and '-'");
    EXPECT_EQ(*check_name("init"),
              "\"init\" is reserved (the supervisor's own cgroup is <root>/init)");
}

TEST(Hostname, AcceptsAndRejects) {
    EXPECT_FALSE(check_hostname("web-0"));
    EXPECT_FALSE(check_hostname("a.example_host"));
    EXPECT_EQ(*check_hostname(std::string(65, 'a')), "a hostname must be 1 to 64 bytes long");
    EXPECT_EQ(*check_hostname(".a"), "a hostname must not start with '-' or '.'");
    EXPECT_EQ(*check_hostname("a b"), "a hostname may only hold letters, digits, '.', '_' and '-'");
}

} // namespace
} // namespace berth::config
