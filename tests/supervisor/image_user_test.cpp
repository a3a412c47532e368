// An image's User as credentials: numeric forms, names from the image's own passwd and group
// files, what is missing, and that a symlinked /etc/passwd cannot reach the host's.
#include "supervisor/image_user.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <stdlib.h>

namespace berth {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view passwd = "root:x:0:0:root:/root:/bin/sh\n"
                                    "broken line\n"
                                    "www:x:33:33:www-data:/var/www:/bin/false\n"
                                    "app:x:1000:1001::/home/app:/bin/sh\n"
                                    "app:x:2000:2000:a later duplicate:/:/bin/sh\n"
                                    "bad:x:notanumber:1:::\n"
                                    "last:x:7:8::/:/bin/sh"; // no final newline
constexpr std::string_view group = "root:x:0:\nstaff:x:50:app,www\ndata:x:4242:\n";

TEST(image_user, passwd_and_group_lines_are_read_as_getpwnam_reads_them) {
    EXPECT_EQ(find_passwd_entry(passwd, "www"), (config::credentials{33, 33}));
    EXPECT_EQ(find_passwd_entry(passwd, "app"), (config::credentials{1000, 1001}))
        << "the first entry wins";
    EXPECT_EQ(find_passwd_entry(passwd, "last"), (config::credentials{7, 8}));
    EXPECT_EQ(find_passwd_entry(passwd, "bad"), std::nullopt);
    EXPECT_EQ(find_passwd_entry(passwd, "broken line"), std::nullopt);
    EXPECT_EQ(find_passwd_entry(passwd, "ww"), std::nullopt);
    EXPECT_EQ(find_passwd_entry("", "root"), std::nullopt);
    EXPECT_EQ(find_group_entry(group, "staff"), 50u);
    EXPECT_EQ(find_group_entry(group, "app"), std::nullopt) << "a member is not a group";
}

class image_user_root : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-image-user-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        fs::create_directories(root_ / "etc");
        write("etc/passwd", passwd);
        write("etc/group", group);
    }
    void TearDown() override {
        if (!root_.empty()) {
            fs::remove_all(root_);
        }
    }
    void write(const std::string& relative, std::string_view text) {
        std::ofstream(root_ / relative) << text;
    }
    result<config::credentials> resolve(std::string_view user) {
        return resolve_image_user(user, root_.string());
    }

    fs::path root_;
};

TEST_F(image_user_root, numbers_names_and_their_mixtures) {
    EXPECT_EQ(*resolve("1234"), (config::credentials{1234, 1234})) << "as the user key takes it";
    EXPECT_EQ(*resolve("5:6"), (config::credentials{5, 6}));
    EXPECT_EQ(*resolve("www"), (config::credentials{33, 33}));
    EXPECT_EQ(*resolve("app"), (config::credentials{1000, 1001})) << "the primary group";
    EXPECT_EQ(*resolve("app:staff"), (config::credentials{1000, 50}));
    EXPECT_EQ(*resolve("app:4242"), (config::credentials{1000, 4242}));
    EXPECT_EQ(*resolve("77:data"), (config::credentials{77, 4242}));
}

TEST_F(image_user_root, what_the_image_lacks_is_named) {
    auto nobody = resolve("nobody");
    ASSERT_FALSE(nobody);
    EXPECT_EQ(nobody.error().message(),
              "User 'nobody': no user 'nobody' in the image's /etc/passwd: No such file or "
              "directory");
    auto nogroup = resolve("app:wheel");
    ASSERT_FALSE(nogroup);
    EXPECT_EQ(nogroup.error().message(),
              "User 'app:wheel': no group 'wheel' in the image's /etc/group: No such file or "
              "directory");
    EXPECT_FALSE(resolve("app:")) << "an empty group";
    EXPECT_FALSE(resolve(":staff")) << "an empty user";
    EXPECT_FALSE(resolve("99999999999")) << "past 32 bits";

    fs::remove(root_ / "etc/passwd");
    auto missing = resolve("www");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("User 'www': the image's /etc/passwd"),
              std::string::npos)
        << missing.error().message();
}

TEST_F(image_user_root, a_symlinked_passwd_resolves_inside_the_image) {
    // An absolute link resolves against the image root, never the host's /etc/passwd.
    fs::create_directories(root_ / "usr/share/base");
    std::ofstream(root_ / "usr/share/base/passwd") << "svc:x:321:654::/:/bin/sh\n";
    fs::remove(root_ / "etc/passwd");
    fs::create_symlink("/usr/share/base/passwd", root_ / "etc/passwd");
    EXPECT_EQ(*resolve("svc"), (config::credentials{321, 654}));
    fs::remove(root_ / "etc/passwd");
    fs::create_symlink("../../../../../../etc/passwd", root_ / "etc/passwd");
    auto escaped = resolve("root");
    EXPECT_FALSE(escaped) << "the link stays in the image, where etc/passwd is the link itself";
}

} // namespace
} // namespace berth
