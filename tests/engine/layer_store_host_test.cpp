// Host tests of the layer store on the real kernel (root, overlayfs): the shared read-only
// image mount, container overlays on top of it, long stacks (up to overlayfs' 500 layers, by
// descriptor through mount(2)), and leftover cleanup.
#include "engine/layer_store.hpp"
#include "engine/mountinfo.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace berth {
namespace {

namespace fs = std::filesystem;

std::vector<mount_entry> mounts_below(const std::string& dir) {
    auto mounts = read_mountinfo();
    EXPECT_TRUE(mounts.has_value());
    return mounts ? mounts_under(mounts.value(), dir) : std::vector<mount_entry>{};
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void put(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
}

bool mounted_at(const std::string& path) {
    auto r = is_mount_point(path);
    return r.has_value() && r.value();
}

bool has_overlayfs() {
    std::ifstream in("/proc/filesystems");
    std::string line;
    while (std::getline(in, line)) {
        if (line.find("\toverlay") != std::string::npos) {
            return true;
        }
    }
    return false;
}

class layer_store_host : public ::testing::TestWithParam<layer_store::mount_api> {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
        if (!has_overlayfs()) {
            GTEST_SKIP() << "needs overlayfs (modprobe overlay)";
        }
        char tmpl[] = "/tmp/berth-layers-host-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        state_ = base_ + "/state";
        fs::create_directories(state_);
    }

    void TearDown() override {
        if (base_.empty()) {
            return;
        }
        // Only mounts below this test's own directory count: other tests running in
        // parallel mount and unmount elsewhere on the same host.
        auto left = mounts_below(base_);
        EXPECT_TRUE(left.empty()) << "every mount the test made is gone; first left: "
                                  << (left.empty() ? "" : left.front().mount_point);
        for (const auto& m : left) {
            ::umount2(m.mount_point.c_str(), MNT_DETACH);
        }
        std::error_code ec;
        fs::remove_all(base_, ec);
    }

    // A layer directory with the given files.
    std::string make_layer(const std::string& name,
                           const std::vector<std::pair<std::string, std::string>>& files) {
        std::string dir = base_ + "/layers/" + name;
        fs::create_directories(dir);
        for (const auto& [file, text] : files) {
            put(dir + "/" + file, text);
        }
        return dir;
    }

    // What the shim will do for each container: tmpfs for upper and work, an overlay with the
    // image as its single lowerdir. Returns the container's root.
    std::string mount_container(const std::string& name, const std::string& lower) {
        std::string scratch = base_ + "/" + name + "-tmpfs";
        std::string root = base_ + "/" + name + "-root";
        fs::create_directories(scratch);
        fs::create_directories(root);
        EXPECT_EQ(::mount("tmpfs", scratch.c_str(), "tmpfs", 0, "size=16m,mode=0755"), 0)
            << std::strerror(errno);
        fs::create_directories(scratch + "/upper");
        fs::create_directories(scratch + "/work");
        std::string options =
            "lowerdir=" + lower + ",upperdir=" + scratch + "/upper,workdir=" + scratch + "/work";
        EXPECT_EQ(::mount("overlay", root.c_str(), "overlay", 0, options.c_str()), 0)
            << "container overlay: " << std::strerror(errno);
        return root;
    }

    void unmount_container(const std::string& name) {
        EXPECT_EQ(::umount2((base_ + "/" + name + "-root").c_str(), 0), 0) << std::strerror(errno);
        EXPECT_EQ(::umount2((base_ + "/" + name + "-tmpfs").c_str(), 0), 0) << std::strerror(errno);
    }

    // `count` layers at store-like paths (<base>/layers/sha256/<64 characters>), bottom first.
    // Layer i holds only-<i> and common, both "<i>", and pair-<i/2>: each pair file is in two
    // adjacent layers, and the merged view must show the upper one's.
    std::vector<std::string> make_stack(std::size_t count) {
        std::vector<std::string> layers;
        for (std::size_t i = 0; i < count; ++i) {
            std::string n = std::to_string(i);
            std::string digest = std::string(64 - n.size(), 'a') + n;
            layers.push_back(make_layer(
                "sha256/" + digest,
                {{"only-" + n, n}, {"common", n}, {"pair-" + std::to_string(i / 2), n}}));
        }
        return layers;
    }

    // The merged view of make_stack(count): every layer's own file, the upper layer's copy of
    // every shared one.
    void expect_stack(const std::string& merged, std::size_t count) {
        EXPECT_EQ(slurp(merged + "/common"), std::to_string(count - 1)) << "the top layer wins";
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < count; ++i) {
            std::string n = std::to_string(i);
            std::string upper_of_pair = std::to_string(std::min(i / 2 * 2 + 1, count - 1));
            if (slurp(merged + "/only-" + n) != n ||
                (i % 2 == 0 && slurp(merged + "/pair-" + std::to_string(i / 2)) != upper_of_pair)) {
                ADD_FAILURE() << "layer " << i << " is not seen as it should be";
                if (++wrong == 5) {
                    return;
                }
            }
        }
        std::size_t entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(merged)) {
            ++entries;
        }
        EXPECT_EQ(entries, count + 1 + (count + 1) / 2) << "only-*, common, pair-*";
    }

    std::string base_;
    std::string state_;
};

// The descriptors the test process has open.
std::size_t open_fds() {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) {
        ++count;
    }
    return count;
}

// The lower layers a mountinfo super options field lists: "lowerdir=a:b:c" after mount(2),
// "lowerdir+=a,lowerdir+=b,lowerdir+=c" after fsconfig "lowerdir+" (Linux 6.18 shows that).
// No escapes: the test's paths have no ',', ':' or '\'.
std::vector<std::string> lowerdir_entries(const std::string& super_options) {
    std::vector<std::string> entries;
    std::istringstream options(super_options);
    for (std::string option; std::getline(options, option, ',');) {
        if (option.starts_with("lowerdir+=")) {
            entries.push_back(option.substr(10));
        } else if (option.starts_with("lowerdir=")) {
            std::istringstream list(option.substr(9));
            for (std::string entry; std::getline(list, entry, ':');) {
                entries.push_back(entry);
            }
        }
    }
    return entries;
}

TEST_P(layer_store_host, containers_share_the_image_but_never_each_others_writes) {
    std::string bottom = make_layer(
        "bottom",
        {{"shared.txt", "bottom"}, {"only-bottom.txt", "b"}, {"removed.txt", "gone above"}});
    std::string middle = make_layer("middle", {{"middle.txt", "m"}});
    std::string top = make_layer("top", {{"shared.txt", "top"}});
    // An overlay whiteout (a 0:0 character device) in the top layer hides removed.txt.
    ASSERT_EQ(::mknod((top + "/removed.txt").c_str(), S_IFCHR | 0000, ::makedev(0, 0)), 0);
    std::vector<std::string> layers{bottom, middle, top};

    {
        layer_store store(state_, GetParam());
        auto image = store.mount_image("base", layers);
        ASSERT_TRUE(image.has_value()) << image.error().message();
        EXPECT_EQ(image.value(), state_ + "/images/base");
        ASSERT_TRUE(mounted_at(image.value()));

        auto below = mounts_below(state_ + "/images");
        ASSERT_EQ(below.size(), 1u);
        EXPECT_EQ(below[0].fstype, "overlay");
        EXPECT_EQ(below[0].source, "berth-image");
        EXPECT_EQ(below[0].mount_options.substr(0, 3), "ro,");

        // The merged view: the top layer shadows the bottom one, the whiteout hides a file.
        EXPECT_EQ(slurp(image.value() + "/shared.txt"), "top");
        EXPECT_EQ(slurp(image.value() + "/middle.txt"), "m");
        EXPECT_EQ(slurp(image.value() + "/only-bottom.txt"), "b");
        EXPECT_FALSE(fs::exists(image.value() + "/removed.txt"));
        int fd = ::open((image.value() + "/new.txt").c_str(), O_WRONLY | O_CREAT, 0644);
        EXPECT_EQ(fd, -1);
        EXPECT_EQ(errno, EROFS) << "the shared image mount is read-only";

        std::string a = mount_container("a", image.value());
        std::string b = mount_container("b", image.value());
        put(a + "/new.txt", "written in a");
        put(a + "/shared.txt", "changed in a");
        fs::remove(a + "/only-bottom.txt");

        EXPECT_EQ(slurp(a + "/new.txt"), "written in a");
        EXPECT_EQ(slurp(a + "/shared.txt"), "changed in a");
        EXPECT_FALSE(fs::exists(a + "/only-bottom.txt"));

        EXPECT_FALSE(fs::exists(b + "/new.txt")) << "invisible to the other container";
        EXPECT_EQ(slurp(b + "/shared.txt"), "top");
        EXPECT_TRUE(fs::exists(b + "/only-bottom.txt"));

        EXPECT_FALSE(fs::exists(image.value() + "/new.txt")) << "absent from the shared mount";
        EXPECT_EQ(slurp(image.value() + "/shared.txt"), "top");
        EXPECT_TRUE(fs::exists(image.value() + "/only-bottom.txt"));
        for (const auto& layer : layers) {
            EXPECT_FALSE(fs::exists(layer + "/new.txt")) << "absent from " << layer;
        }
        EXPECT_EQ(slurp(top + "/shared.txt"), "top");
        EXPECT_EQ(slurp(bottom + "/shared.txt"), "bottom");
        EXPECT_TRUE(fs::exists(bottom + "/only-bottom.txt"));
        EXPECT_EQ(slurp(base_ + "/a-tmpfs/upper/new.txt"), "written in a")
            << "the write went to a's private upper";

        unmount_container("a");
        unmount_container("b");
        ASSERT_TRUE(store.release_image("base").has_value());
        EXPECT_FALSE(fs::exists(image.value())) << "the last release removes the mount point";
    }
    EXPECT_TRUE(mounts_below(base_).empty());
}

TEST_P(layer_store_host, an_image_is_mounted_once_and_unmounted_by_its_last_release) {
    std::string lower = make_layer("lower", {{"f", "1"}});
    std::string upper = make_layer("upper", {{"g", "2"}});
    layer_store store(state_, GetParam());

    auto first = store.mount_image("img", {lower, upper});
    ASSERT_TRUE(first.has_value()) << first.error().message();
    auto second = store.mount_image("img", {lower, upper});
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(first.value(), second.value());
    EXPECT_EQ(store.references("img"), 2u);
    EXPECT_EQ(mounts_below(state_).size(), 1u) << "one mount for any number of references";

    auto other = store.mount_image("img", {upper, lower});
    ASSERT_FALSE(other.has_value());
    EXPECT_EQ(other.error().code(), EEXIST);

    ASSERT_TRUE(store.release_image("img").has_value());
    EXPECT_TRUE(mounted_at(first.value()));
    ASSERT_TRUE(store.release_image("img").has_value());
    EXPECT_TRUE(mounts_below(state_).empty());
    EXPECT_FALSE(fs::exists(first.value()));
    EXPECT_FALSE(store.release_image("img").has_value());
}

TEST_P(layer_store_host, the_destructor_unmounts_what_is_still_mounted) {
    std::string lower = make_layer("lower", {{"f", "1"}});
    std::string upper = make_layer("upper", {{"g", "2"}});
    std::string path;
    {
        layer_store store(state_, GetParam());
        auto image = store.mount_image("img", {lower, upper});
        ASSERT_TRUE(image.has_value()) << image.error().message();
        path = image.value();
        ASSERT_TRUE(mounted_at(path));
    }
    EXPECT_TRUE(mounts_below(state_).empty());
    EXPECT_FALSE(fs::exists(path));
}

TEST_P(layer_store_host, a_layer_path_over_255_bytes_still_mounts) {
    // fsconfig takes at most 255 bytes per string: such a layer goes by descriptor (Linux
    // 6.13) or, on older kernels, through the legacy option string when it fits.
    std::string deep = "deep";
    while (deep.size() < 280) {
        deep += "/0123456789abcdef0123456789abcdef";
    }
    std::string lower = make_layer(deep, {{"low.txt", "low"}});
    std::string upper = make_layer("upper", {{"up.txt", "up"}});
    ASSERT_GT(lower.size(), fsconfig_string_max);

    layer_store store(state_, GetParam());
    auto image = store.mount_image("long", {lower, upper});
    ASSERT_TRUE(image.has_value()) << image.error().message();
    EXPECT_EQ(slurp(image.value() + "/low.txt"), "low");
    EXPECT_EQ(slurp(image.value() + "/up.txt"), "up");
    ASSERT_TRUE(store.release_image("long").has_value());
}

TEST_P(layer_store_host, a_120_layer_stack_mounts_with_upper_layers_winning) {
    // Store-like paths of about 110 bytes: some 13 KB of lowerdir option, three times what a
    // mount(2) option page holds, so legacy_only has to mount by descriptor.
    std::vector<std::string> layers = make_stack(120);
    ASSERT_FALSE(layer_store::legacy_options(layers).has_value());
    std::string cwd = fs::current_path();
    std::size_t fds = open_fds();

    layer_store store(state_, GetParam());
    auto image = store.mount_image("tall", layers);
    ASSERT_TRUE(image.has_value()) << image.error().message();
    EXPECT_EQ(fs::current_path(), cwd) << "the working directory is restored";
    EXPECT_EQ(open_fds(), fds) << "no descriptor is left open";
    expect_stack(image.value(), layers.size());

    // mountinfo lists one lower layer per layer: paths after "lowerdir+", descriptor numbers
    // (meaningless once the mount is made) after the mount by descriptor.
    auto below = mounts_below(state_ + "/images");
    ASSERT_EQ(below.size(), 1u);
    std::vector<std::string> entries = lowerdir_entries(below[0].super_options);
    EXPECT_EQ(entries.size(), layers.size()) << below[0].super_options;
    if (GetParam() == layer_store::mount_api::legacy_only) {
        for (const auto& entry : entries) {
            EXPECT_EQ(entry.find_first_not_of("0123456789"), std::string::npos) << entry;
        }
    }
    ASSERT_TRUE(store.release_image("tall").has_value());
    EXPECT_TRUE(mounts_below(state_).empty());
}

TEST_P(layer_store_host, a_500_layer_stack_the_overlay_maximum_mounts) {
    std::vector<std::string> layers = make_stack(overlay_max_layers);
    std::size_t fds = open_fds();

    layer_store store(state_, GetParam());
    auto image = store.mount_image("deepest", layers);
    ASSERT_TRUE(image.has_value()) << image.error().message();
    EXPECT_EQ(open_fds(), fds) << "no descriptor is left open";
    expect_stack(image.value(), layers.size());
    ASSERT_TRUE(store.release_image("deepest").has_value());
}

TEST_P(layer_store_host, a_501_layer_stack_is_refused_naming_the_limit) {
    std::vector<std::string> layers = make_stack(overlay_max_layers + 1);

    layer_store store(state_, GetParam());
    auto image = store.mount_image("too-deep", layers);
    ASSERT_FALSE(image.has_value());
    EXPECT_EQ(image.error().code(), EINVAL);
    EXPECT_EQ(image.error().message(),
              "image 'too-deep': 501 layers, over overlayfs' limit of 500: Invalid argument");
    EXPECT_FALSE(fs::exists(store.image_path("too-deep"))) << "a refused image leaves no dir";
    EXPECT_TRUE(mounts_below(state_).empty());
}

TEST_P(layer_store_host, a_long_stack_the_kernel_refuses_restores_the_working_directory) {
    // overlayfs refuses a layer listed twice ("conflicting lowerdir path", ELOOP): a failure
    // of the mount call itself, after the mount by descriptor changed the working directory.
    std::vector<std::string> layers = make_stack(60);
    layers.push_back(layers.front());
    std::string cwd = fs::current_path();
    std::size_t fds = open_fds();

    layer_store store(state_, GetParam());
    auto image = store.mount_image("twice", layers);
    ASSERT_FALSE(image.has_value());
    EXPECT_EQ(image.error().code(), ELOOP) << image.error().message();
    if (GetParam() == layer_store::mount_api::legacy_only) {
        EXPECT_EQ(image.error().context(), "image 'twice': mount overlay of 61 layers by "
                                           "descriptor on '" +
                                               store.image_path("twice") + "'");
    }
    EXPECT_EQ(fs::current_path(), cwd) << "the working directory is restored";
    EXPECT_EQ(open_fds(), fds) << "no descriptor is left open";
    EXPECT_FALSE(fs::exists(store.image_path("twice"))) << "a failed mount leaves no dir";
}

TEST_P(layer_store_host, a_long_stack_mounts_under_a_relative_state_dir) {
    // The mount by descriptor works in /proc/self/fd: the target must not be resolved there.
    std::vector<std::string> layers = make_stack(60);
    ASSERT_FALSE(layer_store::legacy_options(layers).has_value());
    struct back_to {
        fs::path dir;
        ~back_to() { fs::current_path(dir); }
    } restore{fs::current_path()};
    fs::current_path(base_);

    layer_store store("state", GetParam());
    auto image = store.mount_image("relative", layers);
    ASSERT_TRUE(image.has_value()) << image.error().message();
    EXPECT_EQ(image.value(), "state/images/relative");
    EXPECT_EQ(fs::current_path(), base_);
    EXPECT_TRUE(mounted_at(state_ + "/images/relative"));
    expect_stack(state_ + "/images/relative", layers.size());
    ASSERT_TRUE(store.release_image("relative").has_value());
    EXPECT_TRUE(mounts_below(state_).empty());
}

TEST_P(layer_store_host, cleanup_removes_what_an_earlier_run_left_mounted) {
    std::string lower = make_layer("lower", {{"keep.txt", "keep"}});
    std::string upper = make_layer("upper", {{"up.txt", "up"}});
    std::string images = state_ + "/images";
    // An earlier run's image mount, and a nested pair of mounts, as a crash would leave them.
    fs::create_directories(images + "/old");
    std::string options = "lowerdir=" + upper + ":" + lower;
    ASSERT_EQ(
        ::mount("berth-image", (images + "/old").c_str(), "overlay", MS_RDONLY, options.c_str()), 0)
        << std::strerror(errno);
    fs::create_directories(images + "/nested");
    ASSERT_EQ(::mount("tmpfs", (images + "/nested").c_str(), "tmpfs", 0, "size=1m"), 0);
    fs::create_directories(images + "/nested/inner");
    ASSERT_EQ(::mount("tmpfs", (images + "/nested/inner").c_str(), "tmpfs", 0, "size=1m"), 0);
    fs::create_directories(images + "/plain");
    ASSERT_EQ(mounts_below(images).size(), 3u);

    {
        layer_store store(state_, GetParam());
        auto clash = store.mount_image("old", {lower, upper});
        ASSERT_FALSE(clash.has_value());
        EXPECT_EQ(clash.error().code(), EBUSY);
        EXPECT_NE(clash.error().context().find("is already a mount point"), std::string::npos);
    }

    auto s = layer_store::cleanup_leftovers(state_);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_TRUE(mounts_below(images).empty());
    EXPECT_TRUE(fs::is_empty(images)) << "every image directory is removed";
    EXPECT_EQ(slurp(lower + "/keep.txt"), "keep") << "layers are never touched";

    layer_store store(state_, GetParam());
    auto fresh = store.mount_image("old", {lower, upper});
    ASSERT_TRUE(fresh.has_value()) << fresh.error().message();
    EXPECT_EQ(slurp(fresh.value() + "/up.txt"), "up");
    ASSERT_TRUE(store.release_image("old").has_value());
}

// The shared /dev tree: mounted once, the nodes and links a container's /dev needs with exact
// modes whatever the umask, read-only in its superblock; gone with the store, and after a
// crash gone through cleanup_leftovers.
TEST_P(layer_store_host, the_dev_template_is_mounted_once_read_only_with_every_node) {
    const mode_t saved = ::umask(077);
    std::string path;
    {
        layer_store store(state_, GetParam());
        auto dev = store.dev_template();
        ::umask(saved);
        ASSERT_TRUE(dev) << dev.error().message();
        path = *dev;
        EXPECT_EQ(path, state_ + "/images/.dev");
        auto again = store.dev_template();
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, path);
        EXPECT_EQ(mounts_below(state_).size(), 1u) << "mounted once";
        const std::pair<const char*, dev_t> nodes[] = {
            {"null", makedev(1, 3)},   {"zero", makedev(1, 5)},    {"full", makedev(1, 7)},
            {"random", makedev(1, 8)}, {"urandom", makedev(1, 9)}, {"tty", makedev(5, 0)}};
        for (const auto& [name, number] : nodes) {
            struct stat st {};
            ASSERT_EQ(::lstat((path + "/" + name).c_str(), &st), 0) << name;
            EXPECT_TRUE(S_ISCHR(st.st_mode)) << name;
            EXPECT_EQ(st.st_mode & 07777, 0666u) << name;
            EXPECT_EQ(st.st_rdev, number) << name;
        }
        for (const char* name : {"pts", "shm"}) {
            struct stat st {};
            ASSERT_EQ(::lstat((path + "/" + name).c_str(), &st), 0) << name;
            EXPECT_TRUE(S_ISDIR(st.st_mode)) << name;
            EXPECT_EQ(st.st_mode & 07777, 0755u) << name;
        }
        EXPECT_EQ(fs::read_symlink(path + "/ptmx"), "pts/ptmx");
        EXPECT_EQ(fs::read_symlink(path + "/fd"), "/proc/self/fd");
        EXPECT_EQ(fs::read_symlink(path + "/stderr"), "/proc/self/fd/2");
        EXPECT_EQ(::mkdir((path + "/x").c_str(), 0755), -1);
        EXPECT_EQ(errno, EROFS);
    }
    EXPECT_FALSE(fs::exists(path)) << "the destructor unmounts and removes it";

    // A crash leaves it mounted (a child that mounts it and _exits, so that no destructor
    // runs): the next start's cleanup takes it away.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        layer_store store(state_, GetParam());
        ::_exit(store.dev_template() ? 0 : 1);
    }
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    ASSERT_EQ(mounts_below(state_).size(), 1u);
    auto s = layer_store::cleanup_leftovers(state_);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    EXPECT_TRUE(mounts_below(state_).empty());
    EXPECT_FALSE(fs::exists(path));
}

INSTANTIATE_TEST_SUITE_P(mount_apis, layer_store_host,
                         ::testing::Values(layer_store::mount_api::automatic,
                                           layer_store::mount_api::legacy_only),
                         [](const ::testing::TestParamInfo<layer_store::mount_api>& param_info) {
                             return param_info.param == layer_store::mount_api::automatic
                                        ? std::string("automatic")
                                        : std::string("legacy_only");
                         });

} // namespace
} // namespace berth
