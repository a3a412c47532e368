// Unit tests of the layer store that need no mount: option strings, layer checks, one-layer
// images, reference counts, and leftover cleanup of plain directories.
#include "engine/layer_store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace berth {
namespace {

namespace fs = std::filesystem;

TEST(layer_store_options, lists_lowerdirs_top_most_first) {
    auto options = layer_store::legacy_options({"/l/bottom", "/l/mid", "/l/top"});
    ASSERT_TRUE(options.has_value());
    EXPECT_EQ(options.value(), "lowerdir=/l/top:/l/mid:/l/bottom");
}

TEST(layer_store_options, escapes_colons_commas_and_backslashes) {
    auto options = layer_store::legacy_options({"/a:b", "/c,d", "/e\\f"});
    ASSERT_TRUE(options.has_value());
    EXPECT_EQ(options.value(), "lowerdir=/e\\\\f:/c\\,d:/a\\:b");
}

TEST(layer_store_options, stops_at_the_one_page_limit_of_mount2) {
    // "lowerdir=" is 9 bytes; each layer adds its length plus one ':' (but the first).
    std::string layer = "/" + std::string(98, 'x'); // 99 bytes
    std::vector<std::string> layers(40, layer);     // 9 + 40 * 99 + 39 = 4008
    auto fits = layer_store::legacy_options(layers);
    ASSERT_TRUE(fits.has_value());
    EXPECT_EQ(fits->size(), 4008u);

    layers.push_back("/" + std::string(85, 'y')); // + 1 + 86 = 4095: still fits
    auto exact = layer_store::legacy_options(layers);
    ASSERT_TRUE(exact.has_value());
    EXPECT_EQ(exact->size(), legacy_mount_options_max);

    layers.back() += "z"; // 4096
    auto over = layer_store::legacy_options(layers);
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code(), E2BIG);
    EXPECT_EQ(over.error().context(),
              "the lowerdir option is 4096 bytes, over mount(2)'s limit of 4095");
}

TEST(layer_store_options, lists_descriptors_top_most_first) {
    auto options = layer_store::descriptor_options({10, 11, 12});
    ASSERT_TRUE(options.has_value());
    EXPECT_EQ(options.value(), "lowerdir=12:11:10");
}

TEST(layer_store_options, descriptors_of_500_layers_fit_in_one_page) {
    // Four-digit numbers, as a process with a thousand descriptors open would get.
    std::vector<int> fds;
    for (int i = 0; i < static_cast<int>(overlay_max_layers); ++i) {
        fds.push_back(1000 + i);
    }
    auto options = layer_store::descriptor_options(fds);
    ASSERT_TRUE(options.has_value()) << options.error().message();
    EXPECT_EQ(options->size(), 9u + 500 * 5 - 1);
    EXPECT_EQ(options->substr(0, 19), "lowerdir=1499:1498:");
    EXPECT_EQ(options->substr(options->size() - 5), ":1000");
}

TEST(layer_store_options, descriptors_stop_at_the_one_page_limit_of_mount2) {
    std::vector<int> fds(500, 10000000); // eight digits: 9 + 500 * 9 - 1 = 4508 bytes
    auto options = layer_store::descriptor_options(fds);
    ASSERT_FALSE(options.has_value());
    EXPECT_EQ(options.error().code(), E2BIG);
    EXPECT_EQ(options.error().context(),
              "the lowerdir option is 4508 bytes, over mount(2)'s limit of 4095");
}

class layer_store_unit : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/berth-layers-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        state_ = base_ + "/state";
        fs::create_directories(base_ + "/layers/a");
        fs::create_directories(base_ + "/layers/b");
        std::ofstream(base_ + "/layers/file") << "not a directory";
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(base_, ec);
    }
    std::string layer(const std::string& name) const { return base_ + "/layers/" + name; }

    std::string base_;
    std::string state_;
};

TEST_F(layer_store_unit, checks_every_layer_before_mounting) {
    layer_store store(state_);

    auto missing = store.mount_image("base", {layer("a"), layer("missing")});
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message(),
              "image 'base': layer '" + layer("missing") + "': No such file or directory");

    auto file = store.mount_image("base", {layer("file"), layer("a")});
    ASSERT_FALSE(file.has_value());
    EXPECT_EQ(file.error().message(),
              "image 'base': layer '" + layer("file") + "': Not a directory");

    auto relative = store.mount_image("base", {"layers/a", layer("a")});
    ASSERT_FALSE(relative.has_value());
    EXPECT_EQ(relative.error().message(),
              "image 'base': layer 'layers/a': not an absolute path: Invalid argument");

    auto none = store.mount_image("base", {});
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().message(), "image 'base': no layers: Invalid argument");

    std::vector<std::string> too_many(overlay_max_layers + 1, layer("a"));
    auto deep = store.mount_image("base", too_many);
    ASSERT_FALSE(deep.has_value());
    EXPECT_EQ(deep.error().context(), "image 'base': 501 layers, over overlayfs' limit of 500");

    EXPECT_EQ(store.references("base"), 0u);
    EXPECT_FALSE(fs::exists(store.image_path("base"))) << "nothing is left after a failure";
}

TEST_F(layer_store_unit, refuses_names_that_are_not_one_path_component) {
    layer_store store(state_);
    for (std::string_view bad : {"", ".", "..", "a/b"}) {
        auto r = store.mount_image(bad, {layer("a")});
        ASSERT_FALSE(r.has_value()) << "'" << bad << "'";
        EXPECT_EQ(r.error().code(), EINVAL);
    }
}

TEST_F(layer_store_unit, a_one_layer_image_is_its_layer_and_is_counted) {
    layer_store store(state_);
    auto first = store.mount_image("one", {layer("a")});
    ASSERT_TRUE(first.has_value()) << first.error().message();
    EXPECT_EQ(first.value(), layer("a"));
    auto second = store.mount_image("one", {layer("a")});
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second.value(), layer("a"));
    EXPECT_EQ(store.references("one"), 2u);
    EXPECT_FALSE(fs::exists(store.image_path("one"))) << "no mount, no mount point";

    auto other = store.mount_image("one", {layer("b")});
    ASSERT_FALSE(other.has_value());
    EXPECT_EQ(other.error().message(),
              "image 'one': already mounted with another layer stack: File exists");

    EXPECT_TRUE(store.release_image("one").has_value());
    EXPECT_EQ(store.references("one"), 1u);
    EXPECT_TRUE(store.release_image("one").has_value());
    EXPECT_EQ(store.references("one"), 0u);
    auto extra = store.release_image("one");
    ASSERT_FALSE(extra.has_value());
    EXPECT_EQ(extra.error().message(),
              "image 'one': release: not mounted: No such file or directory");
}

TEST_F(layer_store_unit, image_paths_live_under_the_state_dir) {
    layer_store store(state_);
    EXPECT_EQ(store.image_path("base"), state_ + "/images/base");
}

TEST_F(layer_store_unit, cleanup_of_a_missing_state_dir_does_nothing) {
    EXPECT_TRUE(layer_store::cleanup_leftovers(base_ + "/never").has_value());
}

TEST_F(layer_store_unit, cleanup_removes_empty_image_dirs_and_keeps_files) {
    fs::create_directories(state_ + "/images/a");
    fs::create_directories(state_ + "/images/b");
    fs::create_directories(state_ + "/images/kept");
    std::ofstream(state_ + "/images/kept/data") << "someone's file";

    auto s = layer_store::cleanup_leftovers(state_);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(),
              "layer store cleanup: rmdir '" + state_ + "/images/kept': Directory not empty");
    EXPECT_FALSE(fs::exists(state_ + "/images/a"));
    EXPECT_FALSE(fs::exists(state_ + "/images/b"));
    EXPECT_TRUE(fs::exists(state_ + "/images/kept/data")) << "cleanup never deletes files";
    EXPECT_TRUE(fs::exists(state_ + "/images"));
}

} // namespace
} // namespace berth
