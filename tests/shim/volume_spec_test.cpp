// Unit tests of the shim's volume= key (shim/spec.c): shapes, modes, limits, combinations.
#include "shim/spec.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <string>
#include <vector>

namespace {

struct parsed {
    explicit parsed(std::vector<std::string> spec) {
        words = {"berth-shim"};
        words.insert(words.end(), spec.begin(), spec.end());
        words.push_back("--");
        words.push_back("/bin/true");
        for (auto& w : words) {
            argv.push_back(w.data());
        }
        argv.push_back(nullptr);
        error = berth_shim_spec_parse(&spec_, static_cast<int>(words.size()), argv.data());
    }
    bool ok() const { return error.what == nullptr; }
    std::string what() const { return error.what == nullptr ? "" : error.what; }
    std::string source(int i) const {
        return {spec_.volumes[i].source, spec_.volumes[i].source_length};
    }
    std::string target(int i) const {
        return {spec_.volumes[i].target, spec_.volumes[i].target_length};
    }

    std::vector<std::string> words;
    std::vector<char*> argv;
    berth_shim_spec spec_;
    berth_shim_spec_error error;
};

TEST(shim_volume_spec, volumes_are_read_in_order_with_their_modes) {
    parsed p({"ns=mount", "volume=/var/lib/berth/volumes/data:/var/lib/db",
              "volume=/srv/www:/www:ro", "volume=/run/x:/x:rw"});
    ASSERT_TRUE(p.ok()) << p.what();
    ASSERT_EQ(p.spec_.volume_count, 3);
    EXPECT_EQ(p.source(0), "/var/lib/berth/volumes/data");
    EXPECT_EQ(p.target(0), "/var/lib/db");
    EXPECT_FALSE(p.spec_.volumes[0].read_only);
    EXPECT_EQ(p.source(1), "/srv/www");
    EXPECT_EQ(p.target(1), "/www");
    EXPECT_TRUE(p.spec_.volumes[1].read_only);
    EXPECT_EQ(p.target(2), "/x");
    EXPECT_FALSE(p.spec_.volumes[2].read_only);
}

TEST(shim_volume_spec, no_volumes_by_default) {
    parsed p({});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.spec_.volume_count, 0);
}

TEST(shim_volume_spec, bad_volumes_are_refused) {
    EXPECT_EQ(parsed({"ns=mount", "volume=/a"}).what(), "volume: not SRC:DST[:ro]");
    EXPECT_EQ(parsed({"ns=mount", "volume=/a:/b:rx"}).what(),
              "volume: mode neither \"ro\" nor \"rw\"");
    EXPECT_EQ(parsed({"ns=mount", "volume=/a:/b:ro:x"}).what(),
              "volume: mode neither \"ro\" nor \"rw\"");
    for (const char* word :
         {"volume=a:/b", "volume=/a:b", "volume=/a:/", "volume=/:/b", "volume=:/b", "volume=/a:"}) {
        EXPECT_EQ(parsed({"ns=mount", word}).what(),
                  "volume: source or target not an absolute path other than /")
            << word;
    }
    for (const char* word : {"volume=/a:/b/../c", "volume=/a:/b/./c", "volume=/a:/b//c",
                             "volume=/a:/b/", "volume=/a:/..:ro"}) {
        EXPECT_EQ(parsed({"ns=mount", word}).what(),
                  "volume: target with an empty, \".\" or \"..\" component")
            << word;
    }
    EXPECT_TRUE(parsed({"ns=mount", "volume=/a:/b/..c"}).ok());
}

TEST(shim_volume_spec, volumes_need_a_mount_namespace) {
    parsed p({"volume=/a:/b"});
    EXPECT_EQ(p.what(), "volume= needs ns=mount");
}

TEST(shim_volume_spec, at_most_64_volumes) {
    std::vector<std::string> words{"ns=mount"};
    for (int i = 0; i < 64; ++i) {
        words.push_back("volume=/src:/t" + std::to_string(i));
    }
    EXPECT_TRUE(parsed(words).ok());
    words.push_back("volume=/src:/one-too-many");
    EXPECT_EQ(parsed(words).what(), "volume: more than 64");
}

} // namespace
