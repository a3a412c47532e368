// Unit tests of the shim's spec parser (shim/spec.c): every key, bad values, bad shapes.
#include "shim/spec.h"

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/resource.h>

#include <string>
#include <vector>

namespace {

// Owns the words and a main()-style argv over them (argv[argc] == nullptr).
struct args {
    explicit args(std::vector<std::string> w) : words(std::move(w)) {
        words.insert(words.begin(), "berth-shim");
        for (auto& word : words) {
            argv.push_back(word.data());
        }
        argv.push_back(nullptr);
    }
    int argc() const { return static_cast<int>(words.size()); }

    std::vector<std::string> words;
    std::vector<char*> argv;
};

struct parsed {
    berth_shim_spec spec;
    berth_shim_spec_error error;
    bool ok() const { return error.what == nullptr; }
};

parsed parse(args& a) {
    parsed p{};
    p.error = berth_shim_spec_parse(&p.spec, a.argc(), a.argv.data());
    return p;
}

// Parses the spec words followed by "-- /bin/true"; the args stay alive for string checks.
struct fixture_spec {
    explicit fixture_spec(std::vector<std::string> spec)
        : a([&] {
              spec.push_back("--");
              spec.push_back("/bin/true");
              return args(std::move(spec));
          }()) {
        p = parse(a);
    }
    args a;
    parsed p;
};

std::string error_of(std::vector<std::string> spec) {
    fixture_spec f(std::move(spec));
    return f.p.ok() ? "" : f.p.error.what;
}

TEST(shim_spec, minimal_spec_has_defaults) {
    fixture_spec f({});
    ASSERT_TRUE(f.p.ok()) << f.p.error.what;
    const auto& s = f.p.spec;
    EXPECT_STREQ(s.name, "");
    EXPECT_EQ(s.ns_flags, 0);
    EXPECT_EQ(s.lower, nullptr);
    EXPECT_EQ(s.scratch, nullptr);
    EXPECT_EQ(s.scratch_size, nullptr);
    EXPECT_EQ(s.dev, nullptr);
    EXPECT_EQ(s.root_switch, BERTH_SHIM_ROOT_PIVOT);
    EXPECT_FALSE(s.sched_other);
    EXPECT_EQ(s.hostname, nullptr);
    EXPECT_EQ(s.cwd, nullptr);
    EXPECT_FALSE(s.set_uid);
    EXPECT_FALSE(s.set_gid);
    EXPECT_FALSE(s.set_groups);
    EXPECT_EQ(s.rlimit_count, 0);
    EXPECT_EQ(s.caps, BERTH_SHIM_CAPS_DEFAULT);
    EXPECT_FALSE(s.init);
    ASSERT_NE(s.workload, nullptr);
    EXPECT_STREQ(s.workload[0], "/bin/true");
    EXPECT_EQ(s.workload[1], nullptr);
}

TEST(shim_spec, every_key_is_read) {
    fixture_spec f({"name=web/2", "ns=mount,uts,ipc,cgroup,net", "lower=/images/a:/images/b",
                    "scratch=/run/berth/web-2", "scratch_size=67108864", "dev=/run/berth/dev",
                    "root_switch=move", "hostname=web-2", "cwd=/srv", "uid=1000", "gid=1001",
                    "groups=10,20,30", "rlimit=NOFILE:1024:4096", "rlimit=CORE:0:inf", "caps=all",
                    "init=1"});
    ASSERT_TRUE(f.p.ok()) << f.p.error.what << ": " << (f.p.error.word ? f.p.error.word : "");
    const auto& s = f.p.spec;
    EXPECT_STREQ(s.name, "web/2");
    EXPECT_EQ(s.ns_flags,
              CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWNET);
    EXPECT_STREQ(s.lower, "/images/a:/images/b");
    EXPECT_STREQ(s.scratch, "/run/berth/web-2");
    EXPECT_STREQ(s.scratch_size, "67108864");
    EXPECT_STREQ(s.dev, "/run/berth/dev");
    EXPECT_EQ(s.root_switch, BERTH_SHIM_ROOT_MOVE);
    EXPECT_STREQ(s.hostname, "web-2");
    EXPECT_STREQ(s.cwd, "/srv");
    EXPECT_TRUE(s.set_uid);
    EXPECT_EQ(s.uid, 1000u);
    EXPECT_TRUE(s.set_gid);
    EXPECT_EQ(s.gid, 1001u);
    ASSERT_TRUE(s.set_groups);
    ASSERT_EQ(s.group_count, 3);
    EXPECT_EQ(s.groups[0], 10u);
    EXPECT_EQ(s.groups[2], 30u);
    ASSERT_EQ(s.rlimit_count, 2);
    EXPECT_EQ(s.rlimits[0].resource, RLIMIT_NOFILE);
    EXPECT_STREQ(s.rlimits[0].name, "NOFILE");
    EXPECT_EQ(s.rlimits[0].soft, 1024u);
    EXPECT_EQ(s.rlimits[0].hard, 4096u);
    EXPECT_EQ(s.rlimits[1].resource, RLIMIT_CORE);
    EXPECT_EQ(s.rlimits[1].soft, 0u);
    EXPECT_EQ(s.rlimits[1].hard, RLIM_INFINITY);
    EXPECT_EQ(s.caps, BERTH_SHIM_CAPS_ALL);
    EXPECT_TRUE(s.init);
}

TEST(shim_spec, root_switch_template_is_parsed) {
    fixture_spec f({"ns=mount", "lower=/l", "scratch=/s", "root_switch=template"});
    ASSERT_TRUE(f.p.ok()) << f.p.error.what;
    EXPECT_EQ(f.p.spec.root_switch, BERTH_SHIM_ROOT_TEMPLATE);
    EXPECT_EQ(error_of({"ns=mount", "root_switch=template"}), "root_switch= needs lower=");
}

TEST(shim_spec, explicit_defaults_are_accepted) {
    fixture_spec f(
        {"ns=mount", "lower=/l", "scratch=/s", "root_switch=pivot", "caps=default", "init=0"});
    ASSERT_TRUE(f.p.ok()) << f.p.error.what;
    EXPECT_EQ(f.p.spec.root_switch, BERTH_SHIM_ROOT_PIVOT);
    EXPECT_EQ(f.p.spec.caps, BERTH_SHIM_CAPS_DEFAULT);
    EXPECT_FALSE(f.p.spec.init);
}

TEST(shim_spec, namespaces) {
    EXPECT_EQ(error_of({"ns=mount"}), "");
    EXPECT_EQ(error_of({"ns="}), "");
    EXPECT_EQ(error_of({"ns=mount,mount"}), "");
    EXPECT_EQ(error_of({"ns=pid"}), "ns: pid comes from the supervisor's clone3");
    EXPECT_EQ(error_of({"ns=mount,user"}), "ns: unknown namespace");
    EXPECT_EQ(error_of({"ns=Mount"}), "ns: unknown namespace");
    EXPECT_EQ(error_of({"ns=mount,,uts"}), "ns: unknown namespace");
    EXPECT_EQ(error_of({"ns=mount,"}), "ns: empty namespace name");
    EXPECT_EQ(error_of({"ns=,mount"}), "ns: unknown namespace");
}

TEST(shim_spec, lower_and_scratch) {
    const std::string ok_base = "ns=mount";
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s"}), "");
    EXPECT_EQ(error_of({ok_base, "lower=l", "scratch=/s"}),
              "lower: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/a,b", "scratch=/s"}),
              "lower: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=", "scratch=/s"}),
              "lower: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s:t"}),
              "scratch: not an absolute path without ',', ':' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=s"}),
              "scratch: not an absolute path without ',', ':' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/l"}), "lower= needs scratch=");
    EXPECT_EQ(error_of({ok_base, "scratch=/s"}), "scratch= needs lower=");
    EXPECT_EQ(error_of({ok_base, "scratch_size=1024"}), "scratch= needs lower=");
    EXPECT_EQ(error_of({"lower=/l", "scratch=/s"}), "lower= needs ns=mount");
    EXPECT_EQ(error_of({"ns=uts", "lower=/l", "scratch=/s"}), "lower= needs ns=mount");
}

TEST(shim_spec, dev_tree) {
    const std::string ok_base = "ns=mount";
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s", "dev=/d"}), "");
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s", "dev=d"}),
              "dev: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s", "dev=/a,b"}),
              "dev: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "lower=/l", "scratch=/s", "dev="}),
              "dev: not an absolute path without ',' or '\\'");
    EXPECT_EQ(error_of({ok_base, "dev=/d"}), "dev= needs lower=");
}

TEST(shim_spec, scratch_size) {
    const std::vector<std::string> base{"ns=mount", "lower=/l", "scratch=/s"};
    auto with = [&](std::string word) {
        auto words = base;
        words.push_back(std::move(word));
        return error_of(words);
    };
    EXPECT_EQ(with("scratch_size=1"), "");
    EXPECT_EQ(with("scratch_size=18446744073709551615"), "");
    const std::string bad = "scratch_size: not a positive number of bytes";
    EXPECT_EQ(with("scratch_size=0"), bad);
    EXPECT_EQ(with("scratch_size=18446744073709551616"), bad);
    EXPECT_EQ(with("scratch_size=064"), bad);
    EXPECT_EQ(with("scratch_size=64M"), bad);
    EXPECT_EQ(with("scratch_size=-1"), bad);
    EXPECT_EQ(with("scratch_size="), bad);
}

TEST(shim_spec, root_switch_needs_an_image) {
    EXPECT_EQ(error_of({"ns=mount", "lower=/l", "scratch=/s", "root_switch=move"}), "");
    EXPECT_EQ(error_of({"ns=mount", "root_switch=move"}), "root_switch= needs lower=");
    EXPECT_EQ(error_of({"root_switch=pivot"}), "root_switch= needs lower=");
}

TEST(shim_spec, sched_takes_only_other) {
    fixture_spec f({"sched=other"});
    ASSERT_TRUE(f.p.ok()) << f.p.error.what;
    EXPECT_TRUE(f.p.spec.sched_other);
    EXPECT_EQ(error_of({"sched=fifo"}), "sched: not \"other\"");
    EXPECT_EQ(error_of({"sched="}), "sched: not \"other\"");
}

TEST(shim_spec, root_switch_caps_init_values) {
    EXPECT_EQ(error_of({"root_switch=chroot"}),
              "root_switch: not \"pivot\", \"move\" or \"template\"");
    EXPECT_EQ(error_of({"root_switch="}), "root_switch: not \"pivot\", \"move\" or \"template\"");
    EXPECT_EQ(error_of({"caps=none"}), "caps: neither \"default\" nor \"all\"");
    EXPECT_EQ(error_of({"init=yes"}), "init: neither 0 nor 1");
    EXPECT_EQ(error_of({"init="}), "init: neither 0 nor 1");
}

TEST(shim_spec, hostname) {
    EXPECT_EQ(error_of({"ns=uts", std::string("hostname=") + std::string(64, 'h')}), "");
    EXPECT_EQ(error_of({"ns=uts", std::string("hostname=") + std::string(65, 'h')}),
              "hostname: empty or longer than 64 bytes");
    EXPECT_EQ(error_of({"ns=uts", "hostname="}), "hostname: empty or longer than 64 bytes");
    // Without its own uts namespace the shim would rename the host.
    EXPECT_EQ(error_of({"hostname=box"}), "hostname= needs ns=uts");
    EXPECT_EQ(error_of({"ns=mount", "hostname=box"}), "hostname= needs ns=uts");
}

// join=: a running container's pid, with only the credential keys beside it.
TEST(shim_spec, join) {
    EXPECT_EQ(error_of({"join=42", "uid=1000", "gid=1000", "cwd=/srv", "caps=default"}), "");
    EXPECT_EQ(error_of({"join=4194304"}), "");
    EXPECT_EQ(error_of({"join=0"}), "join: not a process id");
    EXPECT_EQ(error_of({"join=4194305"}), "join: not a process id");
    EXPECT_EQ(error_of({"join=web"}), "join: not a process id");
    const char* refused = "join= takes none of ns=, lower=, volume=, hostname=, init=1";
    EXPECT_EQ(error_of({"join=42", "ns=mount"}), refused);
    EXPECT_EQ(error_of({"join=42", "ns=mount,uts", "hostname=box"}), refused);
    EXPECT_EQ(error_of({"join=42", "init=1"}), refused);
    EXPECT_EQ(error_of({"join=42", "ns=mount", "volume=/srv:/data"}), refused);
}

TEST(shim_spec, cwd) {
    EXPECT_EQ(error_of({"cwd=/"}), "");
    EXPECT_EQ(error_of({"cwd=srv"}), "cwd: not an absolute path");
    EXPECT_EQ(error_of({"cwd="}), "cwd: not an absolute path");
}

TEST(shim_spec, ids) {
    EXPECT_EQ(error_of({"uid=0", "gid=0"}), "");
    EXPECT_EQ(error_of({"uid=4294967294"}), "");
    EXPECT_EQ(error_of({"uid=4294967295"}), "uid: not a number below 4294967295");
    EXPECT_EQ(error_of({"uid=-1"}), "uid: not a number below 4294967295");
    EXPECT_EQ(error_of({"uid=root"}), "uid: not a number below 4294967295");
    EXPECT_EQ(error_of({"uid="}), "uid: not a number below 4294967295");
    EXPECT_EQ(error_of({"uid= 1"}), "uid: not a number below 4294967295");
    EXPECT_EQ(error_of({"gid=1x"}), "gid: not a number below 4294967295");
    EXPECT_EQ(error_of({"gid=99999999999"}), "gid: not a number below 4294967295");
}

TEST(shim_spec, groups) {
    fixture_spec none({"groups="});
    ASSERT_TRUE(none.p.ok());
    EXPECT_TRUE(none.p.spec.set_groups);
    EXPECT_EQ(none.p.spec.group_count, 0);

    const std::string bad = "groups: not a list of numbers below 4294967295";
    EXPECT_EQ(error_of({"groups=1,,2"}), bad);
    EXPECT_EQ(error_of({"groups=,1"}), bad);
    EXPECT_EQ(error_of({"groups=wheel"}), bad);
    EXPECT_EQ(error_of({"groups=1,"}), "groups: trailing ','");

    std::string many = "groups=0";
    for (int g = 1; g < 64; ++g) {
        many += "," + std::to_string(g);
    }
    EXPECT_EQ(error_of({many}), "");
    EXPECT_EQ(error_of({many + ",64"}), "groups: more than 64");
}

TEST(shim_spec, rlimit_syntax) {
    EXPECT_EQ(error_of({"rlimit=nofile:inf:inf"}), "");
    EXPECT_EQ(error_of({"rlimit=NOFILE:10:10", "rlimit=NPROC:5:inf", "rlimit=STACK:inf:inf"}), "");
    EXPECT_EQ(error_of({"rlimit=NOFILE:100"}), "rlimit: not RES:SOFT:HARD");
    EXPECT_EQ(error_of({"rlimit=NOFILE"}), "rlimit: not RES:SOFT:HARD");
    EXPECT_EQ(error_of({"rlimit="}), "rlimit: not RES:SOFT:HARD");
    EXPECT_EQ(error_of({"rlimit=FILES:1:1"}), "rlimit: unknown resource");
    EXPECT_EQ(error_of({"rlimit=RLIMIT_NOFILE:1:1"}), "rlimit: unknown resource");
    EXPECT_EQ(error_of({"rlimit=:1:1"}), "rlimit: unknown resource");
    const std::string bad = "rlimit: limit neither a number nor \"inf\"";
    EXPECT_EQ(error_of({"rlimit=NOFILE::1"}), bad);
    EXPECT_EQ(error_of({"rlimit=NOFILE:1:"}), bad);
    EXPECT_EQ(error_of({"rlimit=NOFILE:1:2:3"}), bad);
    EXPECT_EQ(error_of({"rlimit=NOFILE:unlimited:inf"}), bad);
    EXPECT_EQ(error_of({"rlimit=NOFILE:-1:1"}), bad);
    // UINT64_MAX is RLIM_INFINITY: only "inf" may say it.
    EXPECT_EQ(error_of({"rlimit=NOFILE:1:18446744073709551615"}), bad);
    EXPECT_EQ(error_of({"rlimit=NOFILE:200:100"}), "rlimit: soft limit above hard limit");
    EXPECT_EQ(error_of({"rlimit=NOFILE:inf:100"}), "rlimit: soft limit above hard limit");
    EXPECT_EQ(error_of({"rlimit=NOFILE:1:1", "rlimit=nofile:2:2"}), "rlimit: resource given twice");
}

TEST(shim_spec, every_resource_name_is_known) {
    const std::pair<const char*, int> resources[] = {
        {"CPU", RLIMIT_CPU},           {"FSIZE", RLIMIT_FSIZE},
        {"DATA", RLIMIT_DATA},         {"STACK", RLIMIT_STACK},
        {"CORE", RLIMIT_CORE},         {"RSS", RLIMIT_RSS},
        {"NPROC", RLIMIT_NPROC},       {"NOFILE", RLIMIT_NOFILE},
        {"MEMLOCK", RLIMIT_MEMLOCK},   {"AS", RLIMIT_AS},
        {"LOCKS", RLIMIT_LOCKS},       {"SIGPENDING", RLIMIT_SIGPENDING},
        {"MSGQUEUE", RLIMIT_MSGQUEUE}, {"NICE", RLIMIT_NICE},
        {"RTPRIO", RLIMIT_RTPRIO},     {"RTTIME", RLIMIT_RTTIME},
    };
    std::vector<std::string> words;
    for (const auto& [name, resource] : resources) {
        words.push_back(std::string("rlimit=") + name + ":1:2");
    }
    fixture_spec f(words);
    ASSERT_TRUE(f.p.ok()) << f.p.error.what;
    ASSERT_EQ(f.p.spec.rlimit_count, 16);
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(f.p.spec.rlimits[i].resource, resources[i].second) << resources[i].first;
        EXPECT_STREQ(f.p.spec.rlimits[i].name, resources[i].first);
    }
}

TEST(shim_spec, shape_errors_name_the_word) {
    fixture_spec unknown({"name=a", "colour=blue"});
    EXPECT_STREQ(unknown.p.error.what, "unknown key");
    EXPECT_STREQ(unknown.p.error.word, "colour=blue");

    fixture_spec bare({"mount"});
    EXPECT_STREQ(bare.p.error.what, "expected key=value");
    EXPECT_STREQ(bare.p.error.word, "mount");

    fixture_spec twice({"cwd=/a", "cwd=/b"});
    EXPECT_STREQ(twice.p.error.what, "key given twice");
    EXPECT_STREQ(twice.p.error.word, "cwd=/b");

    fixture_spec bad_value({"uid=x"});
    EXPECT_STREQ(bad_value.p.error.word, "uid=x");

    EXPECT_EQ(error_of({"=1"}), "unknown key");
    EXPECT_EQ(error_of({"Name=a"}), "unknown key");
    EXPECT_EQ(error_of({"name"}), "expected key=value");
}

TEST(shim_spec, missing_separator_and_empty_workload) {
    args no_separator({"name=a", "/bin/true"});
    auto p = parse(no_separator);
    EXPECT_STREQ(p.error.what, "expected key=value");

    args nothing({});
    p = parse(nothing);
    EXPECT_STREQ(p.error.what, "missing \"--\" before the workload");
    EXPECT_EQ(p.error.word, nullptr);

    args only_keys({"name=a"});
    p = parse(only_keys);
    EXPECT_STREQ(p.error.what, "missing \"--\" before the workload");

    args empty({"name=a", "--"});
    p = parse(empty);
    EXPECT_STREQ(p.error.what, "no workload after \"--\"");

    args empty_program({"--", ""});
    p = parse(empty_program);
    EXPECT_STREQ(p.error.what, "empty workload program");
}

TEST(shim_spec, empty_argv_is_refused) {
    char* argv[] = {nullptr};
    berth_shim_spec spec;
    auto err = berth_shim_spec_parse(&spec, 0, argv);
    EXPECT_STREQ(err.what, "missing \"--\" before the workload");
}

TEST(shim_spec, workload_words_are_not_parsed) {
    args a({"name=a", "--", "env", "uid=5", "--", "x"});
    auto p = parse(a);
    ASSERT_TRUE(p.ok()) << p.error.what;
    EXPECT_FALSE(p.spec.set_uid);
    EXPECT_STREQ(p.spec.workload[0], "env");
    EXPECT_STREQ(p.spec.workload[1], "uid=5");
    EXPECT_STREQ(p.spec.workload[2], "--");
    EXPECT_STREQ(p.spec.workload[3], "x");
    EXPECT_EQ(p.spec.workload[4], nullptr);
    // The strings point into argv: nothing is copied.
    EXPECT_EQ(p.spec.workload, a.argv.data() + 3);
}

TEST(shim_spec, first_separator_ends_the_spec) {
    args a({"--", "--"});
    auto p = parse(a);
    ASSERT_TRUE(p.ok()) << p.error.what;
    EXPECT_STREQ(p.spec.workload[0], "--");
}

TEST(shim_spec, reparse_resets_everything) {
    fixture_spec first({"uid=5", "rlimit=NOFILE:1:1", "init=1"});
    ASSERT_TRUE(first.p.ok());
    args second({"--", "/bin/true"});
    auto& spec = first.p.spec;
    auto err = berth_shim_spec_parse(&spec, second.argc(), second.argv.data());
    ASSERT_EQ(err.what, nullptr);
    EXPECT_FALSE(spec.set_uid);
    EXPECT_EQ(spec.rlimit_count, 0);
    EXPECT_FALSE(spec.init);
}

} // namespace
