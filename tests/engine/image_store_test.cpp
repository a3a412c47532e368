// Unit tests of the image store's pure parts: digests, entry paths, names, image configs, and
// the structure of docker-save and OCI archives laid out in temp directories (no root needed).
#include "engine/image_archive.hpp"
#include "engine/image_store.hpp"
#include "engine/layer_unpack.hpp"
#include "tests/engine/image_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

namespace berth {
namespace {

namespace fs = std::filesystem;
using test::file_entry;
using test::put;
using test::ustar;
using test::write_docker_archive;

class temp_dir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-image-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    result<archive_image> read(const fs::path& root, std::string_view ref = "") {
        unique_fd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        EXPECT_TRUE(fd.valid());
        return read_image_archive(fd.get(), ref);
    }

    fs::path dir_;
};

TEST(sha256_test, matches_the_fips_vectors) {
    EXPECT_EQ(sha256::of("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256::of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256 h;
    h.update("a", 1);
    h.update("bc", 2);
    EXPECT_EQ(h.hex(), sha256::of("abc"));
    EXPECT_TRUE(is_sha256_hex(sha256::of("x")));
    EXPECT_FALSE(is_sha256_hex("ABC"));
}

TEST(entry_path_test, leading_slashes_and_dots_go_and_dotdot_is_refused) {
    EXPECT_EQ(clean_entry_path("./etc/passwd"), "etc/passwd");
    EXPECT_EQ(clean_entry_path("/etc//x/./y/"), "etc/x/y");
    EXPECT_EQ(clean_entry_path("./"), "");
    EXPECT_EQ(clean_entry_path("."), "");
    EXPECT_EQ(clean_entry_path("a/.wh..wh..opq"), "a/.wh..wh..opq");
    EXPECT_EQ(clean_entry_path("../x"), std::nullopt);
    EXPECT_EQ(clean_entry_path("a/../../x"), std::nullopt);
    EXPECT_EQ(clean_entry_path("a/.."), std::nullopt);
    EXPECT_EQ(clean_entry_path("a/..b"), "a/..b");
}

TEST(image_name_test, names_are_checked) {
    EXPECT_EQ(image_store::check_name("busybox:1.36"), std::nullopt);
    EXPECT_EQ(image_store::check_name("registry.example/team/app@sha256:ab"), std::nullopt);
    EXPECT_NE(image_store::check_name(""), std::nullopt);
    EXPECT_NE(image_store::check_name(".hidden"), std::nullopt);
    EXPECT_NE(image_store::check_name("a/../b"), std::nullopt);
    EXPECT_NE(image_store::check_name("a//b"), std::nullopt);
    EXPECT_NE(image_store::check_name("a/"), std::nullopt);
    EXPECT_NE(image_store::check_name("with space"), std::nullopt);
    EXPECT_NE(image_store::check_name("plus+sign"), std::nullopt);
    EXPECT_NE(image_store::check_name(std::string(129, 'a')), std::nullopt);
}

TEST(image_name_test, docker_hub_prefixes_are_shortened) {
    EXPECT_EQ(short_ref("docker.io/library/busybox:1.36"), "busybox:1.36");
    EXPECT_EQ(short_ref("docker.io/team/app:2"), "team/app:2");
    EXPECT_EQ(short_ref("quay.io/x/y:1"), "quay.io/x/y:1");
    EXPECT_EQ(short_ref("latest"), "latest");
}

TEST(image_config_test, defaults_and_diff_ids_are_read) {
    std::string hex(64, 'a');
    auto c =
        parse_image_config(R"({"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",
        "config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"Env":["A=1","PATH=/bin"],
        "WorkingDir":"/srv","User":"1000:1000","Labels":{"k":"v"}},
        "rootfs":{"type":"layers","diff_ids":["sha256:)" +
                           hex + R"("]}})");
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->config.command(), (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
    EXPECT_EQ(c->config.env, (std::vector<std::string>{"A=1", "PATH=/bin"}));
    EXPECT_EQ(c->config.working_dir, "/srv");
    EXPECT_EQ(c->config.user, "1000:1000");
    EXPECT_EQ(c->config.labels.at("k"), "v");
    EXPECT_EQ(c->created, "2024-01-02T03:04:05Z");
    EXPECT_EQ(c->architecture, "amd64");
    EXPECT_EQ(c->diff_ids, (std::vector<std::string>{"sha256:" + hex}));
}

TEST(image_config_test, null_fields_are_empty_and_broken_configs_are_errors) {
    std::string hex(64, 'b');
    auto c = parse_image_config(R"({"config":{"Entrypoint":null,"Cmd":null},
        "rootfs":{"diff_ids":["sha256:)" +
                                hex + R"("]}})");
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_TRUE(c->config.command().empty());

    auto no_rootfs = parse_image_config(R"({"config":{}})");
    ASSERT_FALSE(no_rootfs);
    EXPECT_EQ(no_rootfs.error().message(), "no 'rootfs': Invalid argument");

    auto bad_id = parse_image_config(R"({"rootfs":{"diff_ids":["md5:abc"]}})");
    ASSERT_FALSE(bad_id);
    EXPECT_NE(bad_id.error().message().find("digest algorithm 'md5' is not supported"),
              std::string::npos);

    auto bad_cmd = parse_image_config(R"({"config":{"Cmd":"echo"},"rootfs":{"diff_ids":[]}})");
    ASSERT_FALSE(bad_cmd);
    EXPECT_NE(bad_cmd.error().message().find("'Cmd' is not an array"), std::string::npos);

    EXPECT_FALSE(parse_image_config("{not json"));
}

TEST_F(temp_dir, a_docker_archive_is_read_and_its_config_checked) {
    std::string layer = ustar({file_entry("f", "x")});
    write_docker_archive(dir_, {layer}, "docker.io/library/hand:1",
                         R"("config":{"Cmd":["/bin/true"]},)");
    auto image = read(dir_);
    ASSERT_TRUE(image) << image.error().message();
    EXPECT_EQ(image->format, "docker");
    EXPECT_EQ(image->ref, "hand:1");
    ASSERT_EQ(image->layers.size(), 1u);
    EXPECT_EQ(image->layers[0].path, "l0/layer.tar");
    EXPECT_EQ(image->layers[0].digest, ""); // checked against the diff_id when unpacked
    EXPECT_EQ(image->config.diff_ids[0], "sha256:" + sha256::of(layer));
    EXPECT_EQ(image->config.config.cmd, (std::vector<std::string>{"/bin/true"}));

    EXPECT_TRUE(read(dir_, "hand:1"));
    auto other = read(dir_, "other:2");
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().message(),
              "'manifest.json': no image named 'other:2': No such file or directory");
}

TEST_F(temp_dir, a_docker_archive_with_two_images_needs_a_ref) {
    std::string hex = write_docker_archive(dir_, {ustar({file_entry("f")})}, "one:1");
    std::string entry = R"({"Config":")" + hex + R"(.json","Layers":["l0/layer.tar"],"RepoTags":)";
    put(dir_ / "manifest.json",
        "[" + entry + R"(["one:1"]},)" + entry + R"(["docker.io/library/two:2"]}])");
    auto both = read(dir_);
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().message(), "'manifest.json': holds 2 images (one:1, two:2): choose one "
                                      "with --ref: Invalid argument");
    auto two = read(dir_, "two:2");
    ASSERT_TRUE(two) << two.error().message();
    EXPECT_EQ(two->ref, "two:2");
}

TEST_F(temp_dir, a_docker_config_that_does_not_match_its_name_is_refused) {
    std::string hex = write_docker_archive(dir_, {ustar({file_entry("f")})}, "hand:1");
    auto config = dir_ / (hex + ".json");
    auto text = test::slurp(config);
    put(config, text.replace(text.find("amd64"), 5, "AMD64"));
    auto image = read(dir_);
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message().find("'" + hex +
                                           ".json': digest mismatch: the file's "
                                           "sha256 is "),
              std::string::npos)
        << image.error().message();
}

TEST_F(temp_dir, a_docker_archive_with_too_few_diff_ids_is_refused) {
    write_docker_archive(dir_, {ustar({file_entry("f")})}, "hand:1");
    auto manifest = test::slurp(dir_ / "manifest.json");
    put(dir_ / "manifest.json", manifest.replace(manifest.find("\"l0/layer.tar\""), 14,
                                                 "\"l0/layer.tar\",\"l0/layer.tar\""));
    auto image = read(dir_);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().message(),
              "'manifest.json': 2 layers, but the config lists 1 diff_ids: Invalid argument");
}

// An OCI layout written by hand: blobs named by digest, an index with the given entries.
struct oci_builder {
    fs::path root;

    std::string blob(const std::string& data) {
        std::string hex = sha256::of(data);
        put(root / "blobs/sha256" / hex, data);
        return hex;
    }
    std::string descriptor(const std::string& type, const std::string& data,
                           const std::string& extra = "") {
        std::string hex = blob(data);
        return R"({"mediaType":")" + type + R"(","digest":"sha256:)" + hex + R"(","size":)" +
               std::to_string(data.size()) + extra + "}";
    }
    std::string manifest(const std::string& arch) {
        std::string layer = ustar({file_entry(arch, arch)});
        std::string config = R"({"architecture":")" + arch +
                             R"(","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:)" +
                             sha256::of(layer) + R"("]}})";
        return R"({"schemaVersion":2,"config":)" +
               descriptor("application/vnd.oci.image.config.v1+json", config) + R"(,"layers":[)" +
               descriptor("application/vnd.oci.image.layer.v1.tar", layer) + "]}";
    }
    void index(const std::string& manifests) {
        put(root / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
        put(root / "index.json", R"({"schemaVersion":2,"manifests":[)" + manifests + "]}");
    }
};

std::string ref_annotation(const std::string& name) {
    return R"(,"annotations":{"org.opencontainers.image.ref.name":")" + name + R"("})";
}

TEST_F(temp_dir, an_oci_layout_is_read_by_ref) {
    oci_builder b{dir_};
    std::string type = "application/vnd.oci.image.manifest.v1+json";
    b.index(b.descriptor(type, b.manifest("amd64"), ref_annotation("one")) + "," +
            b.descriptor(type, b.manifest(machine_architecture()), ref_annotation("two")));
    auto both = read(dir_);
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().message(),
              "'index.json': holds 2 images (one, two): choose one with --ref: Invalid argument");
    auto two = read(dir_, "two");
    ASSERT_TRUE(two) << two.error().message();
    EXPECT_EQ(two->format, "oci");
    EXPECT_EQ(two->ref, "two");
    ASSERT_EQ(two->layers.size(), 1u);
    EXPECT_EQ(two->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
    EXPECT_EQ(two->layers[0].digest.substr(0, 7), "sha256:");
    EXPECT_EQ(two->layers[0].path, "blobs/sha256/" + two->layers[0].digest.substr(7));
}

TEST_F(temp_dir, a_multi_platform_index_resolves_to_this_machine) {
    oci_builder b{dir_};
    std::string type = "application/vnd.oci.image.manifest.v1+json";
    std::string list = R"({"schemaVersion":2,"manifests":[)" +
                       b.descriptor(type, b.manifest("s390x"),
                                    R"(,"platform":{"os":"linux","architecture":"s390x"})") +
                       "," +
                       b.descriptor(type, b.manifest(machine_architecture()),
                                    R"(,"platform":{"os":"linux","architecture":")" +
                                        machine_architecture() + R"("})") +
                       "]}";
    b.index(b.descriptor("application/vnd.oci.image.index.v1+json", list, ref_annotation("multi")));
    auto image = read(dir_);
    ASSERT_TRUE(image) << image.error().message();
    EXPECT_EQ(image->ref, "multi");
    EXPECT_EQ(image->config.architecture, machine_architecture());
}

TEST_F(temp_dir, a_manifest_blob_that_does_not_match_its_digest_is_refused) {
    oci_builder b{dir_};
    std::string manifest = b.manifest(machine_architecture());
    std::string hex = sha256::of(manifest);
    b.index(b.descriptor("application/vnd.oci.image.manifest.v1+json", manifest));
    put(dir_ / "blobs/sha256" / hex, manifest + " ");
    auto image = read(dir_);
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message().find(
                  "'blobs/sha256/" + hex + "': " + std::to_string(manifest.size() + 1) +
                  " bytes, but its descriptor says " + std::to_string(manifest.size())),
              std::string::npos)
        << image.error().message();
}

TEST_F(temp_dir, a_blob_path_cannot_leave_the_archive) {
    // The manifest blob is an absolute symlink to a good copy outside the archive: resolved
    // inside the archive's root, where that path does not exist.
    oci_builder b{dir_ / "archive"};
    std::string manifest = b.manifest(machine_architecture());
    b.index(b.descriptor("application/vnd.oci.image.manifest.v1+json", manifest));
    std::string hex = sha256::of(manifest);
    put(dir_ / "outside" / hex, manifest);
    fs::remove(dir_ / "archive/blobs/sha256" / hex);
    fs::create_symlink(dir_ / "outside" / hex, dir_ / "archive/blobs/sha256" / hex);
    auto image = read(dir_ / "archive");
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().message(),
              "open 'blobs/sha256/" + hex + "': No such file or directory");
}

TEST_F(temp_dir, something_else_is_not_an_image_archive) {
    put(dir_ / "README", "hello");
    auto image = read(dir_);
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message().find("neither an OCI image layout"), std::string::npos);
}

} // namespace
} // namespace berth
