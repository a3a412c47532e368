// The storage commands as a user types them (root: import keeps owners): `berth image import
// / ls / rm` and `berth volume ls / rm`, their output, exit codes and errors.
#include "supervisor/image_cli.hpp"
#include "tests/engine/image_test_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace berth {
namespace {

namespace fs = std::filesystem;
using namespace berth::test;

class image_cli : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root (an import keeps the layers' owners)";
        }
        char tmpl[] = "/tmp/berth-image-cli-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        root_ = (dir_ / "store").string();
    }
    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }

    // Runs one command; returns its exit code, with what it printed in out_ and err_.
    int run(int (*command)(const std::vector<std::string>&) noexcept, std::vector<std::string> args,
            bool with_root = true) {
        if (with_root) {
            args.push_back("--root");
            args.push_back(root_);
        }
        ::testing::internal::CaptureStdout();
        ::testing::internal::CaptureStderr();
        int code = command(args);
        out_ = ::testing::internal::GetCapturedStdout();
        err_ = ::testing::internal::GetCapturedStderr();
        return code;
    }

    fs::path dir_;
    std::string root_;
    std::string out_;
    std::string err_;
};

TEST_F(image_cli, import_list_and_remove) {
    write_docker_archive(dir_ / "a", {ustar({file_entry("f", std::string(1500, 'x'))})}, "app:1",
                         R"("created":"2024-05-06T07:08:09Z",)");
    ASSERT_EQ(run(image_main, {"import", (dir_ / "a").string()}), 0) << err_;
    EXPECT_EQ(out_, "imported app:1: 1 layers, 1.5 kB\n");
    ASSERT_EQ(run(image_main, {"import", (dir_ / "a").string(), "--name", "copy"}), 0) << err_;

    ASSERT_EQ(run(image_main, {"ls"}), 0) << err_;
    EXPECT_EQ(out_, "NAME   LAYERS  SIZE    CREATED\n"
                    "app:1  1       1.5 kB  2024-05-06 07:08\n"
                    "copy   1       1.5 kB  2024-05-06 07:08\n");

    EXPECT_EQ(run(image_main, {"import", (dir_ / "a").string()}), 1);
    EXPECT_EQ(err_, "berth: image import: image archive '" + (dir_ / "a").string() +
                        "': image 'app:1': already in the store; remove it first: File exists\n");

    ASSERT_EQ(run(image_main, {"rm", "app:1", "copy"}), 0) << err_;
    EXPECT_EQ(out_, "removed app:1\nremoved copy\n");
    EXPECT_EQ(run(image_main, {"rm", "copy"}), 1);
    EXPECT_EQ(err_, "berth: image rm: image 'copy': no such image in '" + root_ +
                        "': No such file or directory\n");
}

TEST_F(image_cli, gc_removes_the_layers_no_image_lists_and_keeps_the_others) {
    write_docker_archive(dir_ / "a", {ustar({file_entry("f", "kept")})}, "app:1");
    ASSERT_EQ(run(image_main, {"import", (dir_ / "a").string()}), 0) << err_;
    const fs::path layers = fs::path(root_) / "layers/sha256";
    ASSERT_EQ(std::distance(fs::directory_iterator(layers), fs::directory_iterator()), 1);
    // What a crash between placing a layer and writing the image's metadata leaves.
    const fs::path orphan = layers / std::string(64, 'e');
    put(orphan / "etc/stale", "from an import that never finished");

    ASSERT_EQ(run(image_main, {"gc"}), 0) << err_;
    EXPECT_EQ(out_, "removed 1 unreferenced layer\n");
    EXPECT_FALSE(fs::exists(orphan));
    ASSERT_EQ(std::distance(fs::directory_iterator(layers), fs::directory_iterator()), 1)
        << "app:1's layer stays";
    ASSERT_EQ(run(image_main, {"gc"}), 0) << err_;
    EXPECT_EQ(out_, "removed 0 unreferenced layers\n");

    // The next import collects such leftovers by itself, under the store's lock.
    put(orphan / "etc/stale", "again");
    ASSERT_EQ(run(image_main, {"import", (dir_ / "a").string(), "--name", "copy"}), 0) << err_;
    EXPECT_FALSE(fs::exists(orphan));
    EXPECT_EQ(run(image_main, {"gc", "extra"}), 2);
    EXPECT_NE(err_.find("berth: image gc: takes no operand"), std::string::npos) << err_;
}

TEST_F(image_cli, bad_command_lines_exit_2) {
    EXPECT_EQ(run(image_main, {}, false), 2);
    EXPECT_NE(err_.find("berth: image: needs a subcommand\nusage:"), std::string::npos) << err_;
    EXPECT_EQ(run(image_main, {"import"}), 2);
    EXPECT_NE(err_.find("berth: image import: needs exactly one PATH"), std::string::npos);
    EXPECT_EQ(run(image_main, {"import", "x", "--bogus"}), 2);
    EXPECT_NE(err_.find("unknown option '--bogus'"), std::string::npos);
    EXPECT_EQ(run(image_main, {"frobnicate"}), 2);
    EXPECT_EQ(run(volume_main, {"rm"}), 2);
    EXPECT_NE(err_.find("berth: volume rm: needs the NAME of a volume"), std::string::npos);
}

TEST_F(image_cli, volumes_are_listed_and_removed) {
    ASSERT_EQ(run(volume_main, {"ls"}), 0) << err_;
    EXPECT_EQ(out_, "NAME  SIZE  IN USE  PATH\n");
    put(fs::path(root_) / "volumes/data/file", "12345");
    ASSERT_EQ(run(volume_main, {"ls"}), 0) << err_;
    EXPECT_EQ(out_, "NAME  SIZE  IN USE  PATH\n"
                    "data  5 B   no      " +
                        root_ + "/volumes/data\n");
    ASSERT_EQ(run(volume_main, {"rm", "data"}), 0) << err_;
    EXPECT_FALSE(fs::exists(fs::path(root_) / "volumes/data"));
    EXPECT_EQ(run(volume_main, {"rm", "data"}), 1);
    EXPECT_EQ(err_, "berth: volume rm: volume 'data': no such volume in '" + root_ +
                        "/volumes': No such file or directory\n");
}

TEST(image_cli_glue, config_volumes_commands_and_environments_map_over) {
    config::volume named{config::volume::kind::named, "db-0", "/var/lib/db", false};
    config::volume bind{config::volume::kind::bind, "/srv/www", "/www", true};
    config::volume anonymous{config::volume::kind::anonymous, "", "/cache", false};
    auto r = volume_requests({named, bind, anonymous});
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].type, volume_request::kind::named);
    EXPECT_EQ(r[0].source, "db-0");
    EXPECT_EQ(r[0].target, "/var/lib/db");
    EXPECT_EQ(r[1].type, volume_request::kind::bind);
    EXPECT_TRUE(r[1].read_only);
    EXPECT_EQ(r[2].type, volume_request::kind::anonymous);

    image_config image;
    image.entrypoint = {"/docker-entrypoint.sh"};
    image.cmd = {"nginx", "-g", "daemon off;"};
    image.env = {"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25", "broken"};
    EXPECT_EQ(command_for({}, image),
              (std::vector<std::string>{"/docker-entrypoint.sh", "nginx", "-g", "daemon off;"}));
    EXPECT_EQ(command_for({"/bin/sh"}, image), (std::vector<std::string>{"/bin/sh"}));
    auto env = environment_for({{"PATH", "/bin"}, {"A", "1"}}, image);
    EXPECT_EQ(env, (std::map<std::string, std::string>{
                       {"A", "1"}, {"NGINX_VERSION", "1.25"}, {"PATH", "/bin"}}));
}

} // namespace
} // namespace berth
