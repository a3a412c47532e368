// Replica expansion: ids, {service}/{replica} substitution, BERTH_* variables.
#include "config/replica.hpp"

#include "helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::config {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

const service web = testing::only_service(R"(
[service.web]
command = ["/bin/httpd", "{replica}"]
replicas = 3
hostname = "{service}-{replica}.local"
env = { ID = "{service}/{replica}", PLAIN = "{json: 1}", TWICE = "{replica}{replica}" }
volumes = ["data-{replica}:/data", "/srv/{service}/{replica}:/srv", "/cache", "shared:/shared:ro"]
)");

TEST(Replica, IdsAreZeroBased) {
    EXPECT_EQ(expand_replica(web, 0).id, "web/0");
    EXPECT_EQ(expand_replica(web, 2).id, "web/2");
    EXPECT_EQ(expand_replica(web, 2).index, 2u);
}

TEST(Replica, HostnameIsExpanded) {
    EXPECT_EQ(expand_replica(web, 0).hostname, "web-0.local");
    EXPECT_EQ(expand_replica(web, 1).hostname, "web-1.local");
    EXPECT_EQ(expand_replica(web, 99'999).hostname, "web-99999.local");
}

TEST(Replica, DefaultHostnameAndNone) {
    const service plain = testing::only_service("[service.db]\ncommand = [\"/x\"]\n");
    EXPECT_EQ(expand_replica(plain, 4).hostname, "db-4");
    const service no_uts =
        testing::only_service("[service.db]\ncommand = [\"/x\"]\nnamespaces = [\"mount\"]\n");
    EXPECT_FALSE(expand_replica(no_uts, 0).hostname);
}

TEST(Replica, EnvIsExpandedAndCarriesBerthVariables) {
    EXPECT_THAT(expand_replica(web, 1).env,
                ElementsAre(Pair("BERTH_REPLICA", "1"), Pair("BERTH_SERVICE", "web"),
                            Pair("ID", "web/1"), Pair("PLAIN", "{json: 1}"), Pair("TWICE", "11")));
}

TEST(Replica, VolumeSourcesAreExpanded) {
    const auto volumes = expand_replica(web, 7).volumes;
    ASSERT_EQ(volumes.size(), 4u);
    EXPECT_EQ(volumes[0], (volume{volume::kind::named, "data-7", "/data", false}));
    EXPECT_EQ(volumes[1], (volume{volume::kind::bind, "/srv/web/7", "/srv", false}));
    EXPECT_EQ(volumes[2], (volume{volume::kind::anonymous, "", "/cache", false}));
    EXPECT_EQ(volumes[3], (volume{volume::kind::named, "shared", "/shared", true}));
}

TEST(Replica, CommandIsNotExpanded) {
    EXPECT_THAT(web.command, ElementsAre("/bin/httpd", "{replica}"));
}

TEST(Placeholders, ExpandAndCheck) {
    EXPECT_EQ(expand_placeholders("{service}-{replica}", "db", 12), "db-12");
    EXPECT_EQ(expand_placeholders("{replica", "db", 1), "{replica");
    EXPECT_EQ(expand_placeholders("", "db", 1), "");
    EXPECT_FALSE(check_placeholders("a-{service}-{replica}"));
    EXPECT_EQ(*check_placeholders("a-{id}"),
              "unknown placeholder at offset 2 (the placeholders are {service} and {replica})");
    EXPECT_TRUE(check_placeholders("{replica"));
    EXPECT_TRUE(check_placeholders("}"));
}

TEST(Placeholders, LongestExpansionIsChecked) {
    const std::string name(48, 'n');
    auto r = testing::load_text("[service." + name + "]\ncommand = [\"/x\"]\nhostname = \"" +
                                std::string(11, 'h') + "{service}-{replica}\"\n");
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_THAT(r.diagnostics[0].message,
                ::testing::EndsWith("a hostname must be 1 to 64 bytes long"));
    auto ok = testing::load_text("[service." + name + "]\ncommand = [\"/x\"]\nhostname = \"" +
                                 std::string(10, 'h') + "{service}-{replica}\"\n");
    EXPECT_TRUE(ok.ok()) << "64 bytes fit";
    ok = testing::load_text("[service." + name + "]\ncommand = [\"/x\"]\n");
    EXPECT_TRUE(ok.ok()) << "the default hostname fits for the longest name";
}

} // namespace
} // namespace berth::config
