// Unit tests of the volume store in temp directories (no root needed): named and anonymous
// volumes, host bind checks, target checks, mount order, leases, listing and removal.
#include "engine/volume_store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace berth {
namespace {

namespace fs = std::filesystem;
using kind = volume_request::kind;

class volume_store_test : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-volumes-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        fs::create_directories(base_ / "lib/berth");
        fs::create_directories(base_ / "run/berth");
        fs::create_directories(base_ / "srv/www");
        settings_.root = (base_ / "lib/berth/volumes").string();
        settings_.anonymous_root = (base_ / "run/berth/volumes").string();
        settings_.protected_paths = {(base_ / "lib/berth").string(),
                                     (base_ / "run/berth").string()};
    }
    void TearDown() override { fs::remove_all(base_); }

    result<prepared_volumes> prepare(std::vector<volume_request> v, std::string replica = "db/0") {
        return volume_store(settings_).prepare(replica, v, 0, 0);
    }

    std::string error_of(std::vector<volume_request> v) {
        auto r = prepare(std::move(v));
        return r ? "" : r.error().message();
    }

    fs::path base_;
    volume_store::settings settings_;
};

TEST_F(volume_store_test, a_named_volume_is_created_once_and_kept) {
    auto first = prepare({{kind::named, "data", "/var/lib/db", false}});
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_EQ(first->binds.size(), 1u);
    EXPECT_EQ(first->binds[0], (volume_bind{settings_.root + "/data", "/var/lib/db", false}));
    EXPECT_EQ(first->leases.size(), 1u);
    EXPECT_TRUE(fs::is_directory(settings_.root + "/data"));
    EXPECT_EQ(fs::status(settings_.root).permissions(), fs::perms::owner_all);
    std::ofstream(settings_.root + "/data/kept") << "1";
    auto second = prepare({{kind::named, "data", "/var/lib/db", true}});
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->binds[0].read_only);
    EXPECT_TRUE(fs::exists(settings_.root + "/data/kept"));
}

TEST_F(volume_store_test, anonymous_volumes_are_per_replica_and_removed_with_it) {
    auto r = prepare({{kind::anonymous, "", "/var/cache/app", false}}, "web/3");
    ASSERT_TRUE(r) << r.error().message();
    std::string dir = settings_.anonymous_root + "/web/3/var%2Fcache%2Fapp";
    EXPECT_EQ(r->binds[0].source, dir);
    EXPECT_TRUE(r->leases.empty());
    std::ofstream(dir + "/f") << "x";
    auto again = prepare({{kind::anonymous, "", "/var/cache/app", false}}, "web/3");
    ASSERT_TRUE(again);
    EXPECT_TRUE(fs::exists(dir + "/f")) << "kept across restarts of the replica's container";
    auto other = prepare({{kind::anonymous, "", "/var/cache/app", false}}, "web/4");
    ASSERT_TRUE(other);
    EXPECT_NE(other->binds[0].source, dir);

    volume_store store(settings_);
    ASSERT_TRUE(store.remove_anonymous("web/3"));
    EXPECT_FALSE(fs::exists(settings_.anonymous_root + "/web/3"));
    EXPECT_TRUE(fs::exists(settings_.anonymous_root + "/web/4"));
    ASSERT_TRUE(store.remove_anonymous("web/4"));
    EXPECT_FALSE(fs::exists(settings_.anonymous_root + "/web")) << "the service's dir goes last";
    EXPECT_FALSE(store.remove_anonymous("../etc"));

    settings_.anonymous_root.clear();
    EXPECT_EQ(error_of({{kind::anonymous, "", "/cache", false}}),
              "volume '/cache': anonymous volumes need a place (no anonymous_root): Invalid "
              "argument");
}

TEST_F(volume_store_test, host_binds_are_checked) {
    auto ok = prepare({{kind::bind, (base_ / "srv/www").string(), "/www", true}});
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_EQ(ok->binds[0], (volume_bind{(base_ / "srv/www").string(), "/www", true}));

    std::string missing = (base_ / "srv/nothing").string();
    EXPECT_EQ(error_of({{kind::bind, missing, "/x", false}}), "volume '" + missing +
                                                                  ":/x': host path '" + missing +
                                                                  "': No such file or directory");
    std::string inside = (base_ / "lib/berth/volumes").string();
    fs::create_directories(inside);
    EXPECT_EQ(error_of({{kind::bind, inside, "/x", false}}),
              "volume '" + inside + ":/x': host path '" + inside + "' is inside berth's own '" +
                  (base_ / "lib/berth").string() + "': Operation not permitted");
    std::string holder = (base_ / "run").string();
    EXPECT_EQ(error_of({{kind::bind, holder, "/x", false}}),
              "volume '" + holder + ":/x': host path '" + holder + "' holds berth's own '" +
                  (base_ / "run/berth").string() + "': Operation not permitted");
    // Through a symlink it is the same place.
    fs::create_symlink(base_ / "lib/berth", base_ / "srv/sneaky");
    std::string sneaky = (base_ / "srv/sneaky").string();
    EXPECT_NE(error_of({{kind::bind, sneaky, "/x", false}}).find("is inside berth's own"),
              std::string::npos);
    EXPECT_EQ(error_of({{kind::bind, "relative/path", "/x", false}}),
              "volume 'relative/path:/x': host path 'relative/path' is not absolute: Invalid "
              "argument");
}

TEST_F(volume_store_test, targets_are_checked) {
    auto src = (base_ / "srv/www").string();
    EXPECT_EQ(error_of({{kind::named, "d", "relative", false}}),
              "volume 'd:relative': target 'relative' is not an absolute path: Invalid argument");
    EXPECT_EQ(error_of({{kind::named, "d", "/", false}}),
              "volume 'd:/': target is '/', the container's root: Invalid argument");
    EXPECT_EQ(error_of({{kind::named, "d", "/a/../b", false}}),
              "volume 'd:/a/../b': target '/a/../b' has an empty, \".\" or \"..\" component: "
              "Invalid argument");
    EXPECT_EQ(error_of({{kind::bind, src, "/proc/sys", false}}),
              "volume '" + src +
                  ":/proc/sys': target '/proc/sys' is under /proc, which the shim "
                  "mounts over: Invalid argument");
    EXPECT_NE(error_of({{kind::bind, src, "/dev", false}}).find("is under /dev"),
              std::string::npos);
    EXPECT_EQ(error_of({{kind::named, "a", "/data", false}, {kind::named, "b", "/data", false}}),
              "volume 'b:/data': a second volume at '/data': Invalid argument");
    EXPECT_EQ(error_of({{kind::named, ".hidden", "/data", false}}),
              "volume '.hidden:/data': name '.hidden' starts with '.': Invalid argument");
    EXPECT_EQ(error_of({{kind::named, "a/b", "/data", false}}),
              "volume 'a/b:/data': name 'a/b' holds a character other than [A-Za-z0-9_.-]: "
              "Invalid argument");
}

TEST_F(volume_store_test, binds_come_parents_first) {
    auto src = (base_ / "srv/www").string();
    auto r = prepare({{kind::named, "inner", "/srv/data/inner", false},
                      {kind::bind, src, "/srv", true},
                      {kind::named, "outer", "/srv/data", false}});
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->binds.size(), 3u);
    EXPECT_EQ(r->binds[0].target, "/srv");
    EXPECT_EQ(r->binds[1].target, "/srv/data");
    EXPECT_EQ(r->binds[2].target, "/srv/data/inner");
}

TEST_F(volume_store_test, leases_and_the_fleet_keep_a_volume_from_removal) {
    volume_store store(settings_);
    {
        auto r = prepare({{kind::named, "db", "/db", false}, {kind::named, "idle", "/i", false}});
        ASSERT_TRUE(r) << r.error().message();
        auto busy = store.remove("db");
        ASSERT_FALSE(busy);
        EXPECT_EQ(busy.error().message(), "volume 'db': in use by a running container (a lease "
                                          "is held): Device or resource busy");
        auto listed = store.list();
        ASSERT_TRUE(listed);
        ASSERT_EQ(listed->size(), 2u);
        EXPECT_EQ((*listed)[0].name, "db");
        EXPECT_TRUE((*listed)[0].in_use);
    }
    std::ofstream(settings_.root + "/db/file") << "12345";
    auto listed = store.list();
    ASSERT_TRUE(listed);
    EXPECT_FALSE((*listed)[0].in_use);
    EXPECT_EQ((*listed)[0].size, 5u);

    auto fleet = store.remove("db", {"db"});
    ASSERT_FALSE(fleet);
    EXPECT_EQ(fleet.error().message(), "volume 'db': in use by the fleet: Device or resource busy");
    ASSERT_TRUE(store.remove("db"));
    EXPECT_FALSE(fs::exists(settings_.root + "/db"));
    auto gone = store.remove("db");
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code(), ENOENT);
    listed = store.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].name, "idle");
}

TEST_F(volume_store_test, an_empty_store_lists_nothing) {
    auto listed = volume_store(settings_).list();
    ASSERT_TRUE(listed) << listed.error().message();
    EXPECT_TRUE(listed->empty());
}

} // namespace
} // namespace berth
