// Host tests of the image store (root, overlayfs): images made by umoci and skopeo, and
// `docker save` archives made here with GNU tar, imported, mounted through the layer store
// and compared with the tree they were made from; faults that must leave the store unchanged.
#include "engine/image_store.hpp"
#include "engine/layer_store.hpp"
#include "engine/mountinfo.hpp"
#include "tests/engine/image_test_util.hpp"

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <set>

namespace berth {
namespace {

namespace fs = std::filesystem;
using namespace berth::test;

bool has_overlayfs() {
    return slurp("/proc/filesystems").find("\toverlay\n") != std::string::npos;
}

// umoci builds an OCI layout from a busybox rootfs in two layers; skopeo copies it into an
// OCI archive (tar) and a docker-archive. The second layer deletes a file, replaces a
// directory's content, turns a directory into a file and a file into a directory.
const char* const build_script = R"sh(
set -euo pipefail
cd "$1"
umoci init --layout oci
umoci new --image oci:img
umoci unpack --image oci:img bundle >/dev/null
bash "$2/scripts/make-busybox-layer.sh" bundle/rootfs
r=bundle/rootfs
mkdir -p $r/opt/tree/sub $r/opt/was-file-dir
echo a > $r/opt/tree/a; echo b > $r/opt/tree/sub/b
echo linked > $r/opt/hard1; ln $r/opt/hard1 $r/opt/hard2
echo owned > $r/opt/owned; chown 1234:5678 $r/opt/owned
echo setuid > $r/opt/setuid; chmod 4755 $r/opt/setuid
echo f > $r/opt/file-then-dir
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.berth", b"kept")' $r/opt/owned
umoci repack --refresh-bundle --image oci:img bundle >/dev/null
rm $r/etc/group
rm -rf $r/opt/tree; mkdir $r/opt/tree; echo new > $r/opt/tree/new
rm -rf $r/opt/was-file-dir; echo now-a-file > $r/opt/was-file-dir
rm $r/opt/file-then-dir; mkdir $r/opt/file-then-dir; echo inner > $r/opt/file-then-dir/inner
umoci repack --image oci:img bundle >/dev/null
umoci config --image oci:img --config.entrypoint /bin/sh --config.cmd -c \
    --config.cmd 'echo hi' --config.env FOO=bar --config.workingdir /opt \
    --config.label org.test=yes
umoci gc --layout oci
skopeo --insecure-policy copy -q oci:oci:img oci-archive:oci.tar
gzip -k oci.tar
skopeo --insecure-policy copy -q oci:oci:img docker-archive:docker.tar:example/busybox:test
)sh";

class image_host : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (::geteuid() != 0) {
            skip_ = "needs root (ownership, device nodes, trusted xattrs, mounts)";
            return;
        }
        if (!has_overlayfs()) {
            skip_ = "needs overlayfs (modprobe overlay)";
            return;
        }
        char tmpl[] = "/tmp/berth-image-host-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        if (!has_program("umoci") || !has_program("skopeo") || !has_program("python3")) {
            tools_missing_ = "needs umoci, skopeo and python3 (scripts/setup.sh installs them)";
            return;
        }
        put(base_ / "build.sh", build_script);
        std::string cmd = "bash " + (base_ / "build.sh").string() + " " + base_.string() + " " +
                          BERTH_SOURCE_DIR + " >" + (base_ / "build.log").string() + " 2>&1";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(base_ / "build.log");
    }

    static void TearDownTestSuite() {
        if (!base_.empty()) {
            fs::remove_all(base_);
        }
    }

    void SetUp() override {
        if (!skip_.empty()) {
            GTEST_SKIP() << skip_;
        }
        store_root_ = base_ / ("store-" + std::to_string(++counter_));
        state_ = base_ / ("state-" + std::to_string(counter_));
        fs::create_directories(state_);
    }

    void TearDown() override {
        if (!skip_.empty()) {
            return;
        }
        layers_.reset();
        for (const auto& extra : extra_mounts_) {
            ::umount2(extra.c_str(), MNT_DETACH);
        }
        std::error_code ec;
        fs::remove_all(store_root_, ec);
        fs::remove_all(state_, ec);
        // Only mounts below this suite's directory count: tests in other processes mount
        // and unmount elsewhere on the same host at the same time.
        EXPECT_TRUE(mounts_below(base_).empty()) << "every mount the test made is gone";
    }

    static std::vector<mount_entry> mounts_below(const fs::path& dir) {
        auto mounts = read_mountinfo();
        return mounts ? mounts_under(mounts.value(), dir.string()) : std::vector<mount_entry>{};
    }

    void need_tools() {
        if (!tools_missing_.empty()) {
            GTEST_SKIP() << tools_missing_;
        }
    }

    image_store store() const { return image_store(store_root_.string()); }

    // The image's merged tree, as containers will see it below their upper layer.
    fs::path mount(const imported_image& image) {
        if (!layers_) {
            layers_.emplace(state_.string());
        }
        auto path =
            layers_->mount_image(image.name == "" ? "x" : mount_key(image.name), image.layers);
        EXPECT_TRUE(path) << path.error().message();
        return path ? fs::path(*path) : fs::path();
    }

    static std::string mount_key(std::string name) {
        for (char& c : name) {
            c = std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
        }
        return name;
    }

    // A one-layer image in the store under "base", to tell "unchanged" from "empty".
    void import_small(image_store& s) {
        fs::path dir = base_ / ("small-" + std::to_string(counter_));
        write_docker_archive(dir, {ustar({file_entry("hello", "hi\n")})}, "small:1");
        auto image = s.import(dir.string(), {});
        ASSERT_TRUE(image) << image.error().message();
    }

    // Imports what a layer list makes (as a docker-save directory) and expects failure.
    std::string import_error(const std::vector<std::string>& layers, import_options opts = {}) {
        fs::path dir = base_ / ("bad-" + std::to_string(counter_) + "-" + std::to_string(++bad_));
        write_docker_archive(dir, layers, "bad:1");
        auto s = store();
        auto image = s.import(dir.string(), opts);
        EXPECT_FALSE(image) << "imported what should have been refused";
        return image ? "" : image.error().message();
    }

    static inline std::string skip_;
    static inline std::string tools_missing_;
    static inline fs::path base_;
    static inline int counter_ = 0;
    int bad_ = 0;
    fs::path store_root_;
    fs::path state_;
    std::optional<layer_store> layers_;
    std::vector<std::string> extra_mounts_;
};

TEST_F(image_host, an_oci_layout_from_umoci_merges_to_the_tree_it_was_made_from) {
    need_tools();
    auto s = store();
    auto image = s.import((base_ / "oci").string(), {});
    ASSERT_TRUE(image) << image.error().message();
    EXPECT_EQ(image->name, "img");
    EXPECT_EQ(image->format, "oci");
    ASSERT_EQ(image->layers.size(), 2u);
    EXPECT_EQ(image->layers[0], s.layer_path(image->layer_digests[0].digest));
    EXPECT_EQ(image->config.command(), (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
    EXPECT_EQ(image->config.working_dir, "/opt");
    EXPECT_NE(std::find(image->config.env.begin(), image->config.env.end(), "FOO=bar"),
              image->config.env.end());
    EXPECT_EQ(image->config.labels.at("org.test"), "yes");
    EXPECT_GT(image->size, 1'000'000u); // busybox itself

    auto merged = mount(*image);
    ASSERT_FALSE(merged.empty());
    auto want = listing(base_ / "bundle/rootfs");
    auto got = listing(merged);
    EXPECT_EQ(listing_diff(got, want), "");
    EXPECT_FALSE(fs::exists(merged / "etc/group"));
    EXPECT_TRUE(fs::exists(merged / "opt/tree/new"));
    EXPECT_FALSE(fs::exists(merged / "opt/tree/a"));
    EXPECT_TRUE(fs::is_regular_file(merged / "opt/was-file-dir"));
    EXPECT_EQ(slurp(merged / "opt/file-then-dir/inner"), "inner\n");
    struct stat h1 {
    }, h2{};
    ASSERT_EQ(::stat((merged / "opt/hard1").c_str(), &h1), 0);
    ASSERT_EQ(::stat((merged / "opt/hard2").c_str(), &h2), 0);
    EXPECT_EQ(h1.st_ino, h2.st_ino) << "hard links stay one file";
    EXPECT_EQ(got["opt/owned"].substr(0, 13), "644 1234:5678");
    EXPECT_NE(got["opt/owned"].find("user.berth=kept"), std::string::npos);
    EXPECT_EQ(got["opt/setuid"].substr(0, 4), "4755");
    EXPECT_EQ(got["bin/sh"], "777 0:0 link /bin/busybox");

    // The second layer holds the deletions as overlayfs whiteouts.
    struct stat wh {};
    ASSERT_EQ(::lstat((image->layers[1] + "/etc/group").c_str(), &wh), 0);
    EXPECT_TRUE(S_ISCHR(wh.st_mode) && wh.st_rdev == ::makedev(0, 0));
}

TEST_F(image_host, skopeo_archives_import_and_share_layers_with_the_layout) {
    need_tools();
    auto s = store();
    auto layout = s.import((base_ / "oci").string(), {});
    ASSERT_TRUE(layout) << layout.error().message();
    import_options named;
    named.name = "from-gzip-tar";
    auto gz = s.import((base_ / "oci.tar.gz").string(), named);
    ASSERT_TRUE(gz) << gz.error().message();
    auto docker = s.import((base_ / "docker.tar").string(), {});
    ASSERT_TRUE(docker) << docker.error().message();
    EXPECT_EQ(docker->name, "example/busybox:test");
    EXPECT_EQ(docker->format, "docker");
    EXPECT_EQ(docker->config.command(), layout->config.command());

    // One copy of each layer, whatever the archive compressed.
    EXPECT_EQ(gz->layers, layout->layers);
    EXPECT_EQ(docker->layers, layout->layers);
    EXPECT_EQ(snapshot(store_root_ / "layers/sha256").size() > 0, true);
    std::size_t layer_dirs = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(store_root_ / "layers/sha256")) {
        ++layer_dirs;
    }
    EXPECT_EQ(layer_dirs, 2u);
    EXPECT_TRUE(fs::is_empty(store_root_ / "tmp")) << "the staged archive is gone";

    auto merged = mount(*docker);
    EXPECT_EQ(listing_diff(listing(merged), listing(base_ / "bundle/rootfs")), "");

    auto all = s.list();
    ASSERT_TRUE(all);
    std::vector<std::string> names;
    for (const auto& i : *all) {
        names.push_back(i.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"example/busybox:test", "from-gzip-tar", "img"}));
    auto found = s.find("example/busybox:test");
    ASSERT_TRUE(found) << found.error().message();
    EXPECT_EQ(found->layers, layout->layers);
}

// A docker-save archive made with GNU tar: a base layer, then one with an opaque directory,
// a whiteout, a directory replaced by a file, xattrs, a FIFO and links.
TEST_F(image_host, a_gnu_tar_docker_archive_keeps_whiteouts_opaque_dirs_owners_links_xattrs) {
    fs::path src = base_ / ("hand-src-" + std::to_string(counter_));
    fs::path out = base_ / ("hand-" + std::to_string(counter_));
    put(src / "l0/a/x", "x\n");
    put(src / "l0/a/y", "y\n");
    put(src / "l0/keep", "k\n");
    put(src / "l0/d/old", "old\n");
    put(src / "l0/owned", "o\n");
    put(src / "l0/h1", "hard\n");
    put(src / "l1/a/new", "new\n");
    put(src / "l1/a/.wh..wh..opq", "");
    put(src / "l1/.wh.keep", "");
    put(src / "l1/d", "now a file\n");
    std::string script = "set -e; cd " + src.string() +
                         "/l0; ln h1 h2; ln -s /etc/passwd abs; "
                         "mkfifo fifo; chown 1234:5678 owned; chmod 4711 owned; "
                         "python3 -c 'import os; os.setxattr(\"owned\", \"user.k\", b\"v\")'; "
                         "mkdir -p " +
                         out.string() + "/l0 " + out.string() +
                         "/l1; "
                         "tar --xattrs --xattrs-include=user.* -cf " +
                         out.string() + "/l0/layer.tar .; cd ../l1; tar -cf " + out.string() +
                         "/l1/layer.tar .";
    ASSERT_EQ(std::system(("bash -c '" +
                           [&] {
                               std::string q;
                               for (char c : script) {
                                   q += c == '\'' ? std::string("'\\''") : std::string(1, c);
                               }
                               return q;
                           }() +
                           "'")
                              .c_str()),
              0);
    std::vector<std::string> layers = {slurp(out / "l0/layer.tar"), slurp(out / "l1/layer.tar")};
    write_docker_archive(out, layers, "hand:1",
                         R"("config":{"Entrypoint":["/bin/x"],"Cmd":["-v"],"User":"1:2"},)");
    ASSERT_EQ(
        std::system(("tar -C " + out.string() + " -czf " + out.string() + ".tar.gz .").c_str()), 0);

    auto s = store();
    auto image = s.import(out.string() + ".tar.gz", {});
    ASSERT_TRUE(image) << image.error().message();
    EXPECT_EQ(image->name, "hand:1");
    EXPECT_EQ(image->config.command(), (std::vector<std::string>{"/bin/x", "-v"}));
    EXPECT_EQ(image->config.user, "1:2");
    auto merged = mount(*image);
    auto got = listing(merged);
    std::vector<std::string> names;
    for (const auto& [path, what] : got) {
        names.push_back(path);
    }
    EXPECT_EQ(names,
              (std::vector<std::string>{"a", "a/new", "abs", "d", "fifo", "h1", "h2", "owned"}));
    EXPECT_EQ(got["abs"], "777 0:0 link /etc/passwd");
    EXPECT_EQ(got["owned"].substr(0, 14), "4711 1234:5678");
    EXPECT_NE(got["owned"].find("user.k=v"), std::string::npos) << got["owned"];
    EXPECT_EQ(got["fifo"].substr(got["fifo"].size() - 4), "fifo");
    EXPECT_EQ(slurp(merged / "d"), "now a file\n");
    struct stat h1 {
    }, h2{};
    ASSERT_EQ(::stat((merged / "h1").c_str(), &h1), 0);
    ASSERT_EQ(::stat((merged / "h2").c_str(), &h2), 0);
    EXPECT_EQ(h1.st_ino, h2.st_ino);

    char value[8] = {};
    ASSERT_EQ(::getxattr((image->layers[1] + "/a").c_str(), "trusted.overlay.opaque", value,
                         sizeof value),
              1)
        << std::strerror(errno);
    EXPECT_EQ(value[0], 'y');
    struct stat wh {};
    ASSERT_EQ(::lstat((image->layers[1] + "/keep").c_str(), &wh), 0);
    EXPECT_TRUE(S_ISCHR(wh.st_mode) && wh.st_rdev == 0);
    EXPECT_FALSE(fs::exists(image->layers[1] + "/.wh.keep"));
}

TEST_F(image_host, removal_collects_unshared_layers_and_refuses_images_in_use) {
    need_tools();
    auto s = store();
    auto big = s.import((base_ / "oci").string(), {});
    ASSERT_TRUE(big) << big.error().message();
    import_small(s);
    auto small = s.find("small:1");
    ASSERT_TRUE(small);

    auto busy = s.remove("img", {"img"});
    ASSERT_FALSE(busy);
    EXPECT_EQ(busy.error().message(), "image 'img': in use by the fleet: Device or resource busy");
    {
        auto lease = s.acquire("img");
        ASSERT_TRUE(lease) << lease.error().message();
        EXPECT_EQ(lease->image().layers, big->layers);
        auto leased = s.remove("img");
        ASSERT_FALSE(leased);
        EXPECT_EQ(leased.error().code(), EBUSY);
        EXPECT_EQ(leased.error().message(), "image 'img': in use by a running container (a lease "
                                            "is held): Device or resource busy");
    }

    ASSERT_TRUE(s.remove("img"));
    EXPECT_FALSE(s.find("img"));
    for (const auto& dir : big->layers) {
        EXPECT_FALSE(fs::exists(dir)) << dir;
    }
    EXPECT_TRUE(fs::exists(small->layers[0]));
    auto again = s.remove("img");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ENOENT);
    ASSERT_TRUE(s.remove("small:1"));
    EXPECT_TRUE(fs::is_empty(store_root_ / "layers/sha256"));
    EXPECT_TRUE(fs::is_empty(store_root_ / "images"));
}

TEST_F(image_host, an_existing_name_is_refused_and_a_repeated_layer_is_mounted_once) {
    auto s = store();
    import_small(s);
    fs::path dir = base_ / ("dup-" + std::to_string(counter_));
    std::string layer = ustar({file_entry("hello", "hi\n")});
    std::string other = ustar({file_entry("other", "o\n")});
    write_docker_archive(dir, {layer, other, layer}, "small:1");
    auto exists = s.import(dir.string(), {});
    ASSERT_FALSE(exists);
    EXPECT_NE(exists.error().message().find("image 'small:1': already in the store"),
              std::string::npos);
    import_options opts;
    opts.name = "dup";
    auto dup = s.import(dir.string(), opts);
    ASSERT_TRUE(dup) << dup.error().message();
    EXPECT_EQ(dup->layer_digests.size(), 3u);
    ASSERT_EQ(dup->layers.size(), 2u);
    EXPECT_EQ(dup->layers[1], s.layer_path("sha256:" + sha256::of(layer)));
}

// A fault: the import fails with `expect` in its message, and the store is as it was.
class image_fault : public image_host {
protected:
    void SetUp() override {
        image_host::SetUp();
        if (IsSkipped()) {
            return;
        }
        auto s = store();
        import_small(s);
        before_ = snapshot(store_root_);
    }
    void expect_unchanged() {
        EXPECT_EQ(listing_diff(snapshot(store_root_), before_), "") << "the store is unchanged";
    }
    std::map<std::string, std::string> before_;
};

TEST_F(image_fault, a_corrupted_blob_is_a_digest_mismatch) {
    need_tools();
    fs::path copy = base_ / ("corrupt-" + std::to_string(counter_));
    fs::copy(base_ / "oci", copy, fs::copy_options::recursive);
    auto s = store();
    // The biggest blob is the busybox layer; one flipped byte in the middle of it.
    fs::path biggest;
    for (const auto& e : fs::directory_iterator(copy / "blobs/sha256")) {
        if (biggest.empty() || fs::file_size(e) > fs::file_size(biggest)) {
            biggest = e.path();
        }
    }
    std::string data = slurp(biggest);
    data[data.size() / 2] ^= 0x55;
    put(biggest, data);
    auto image = s.import(copy.string(), {});
    ASSERT_FALSE(image);
    auto text = image.error().message();
    std::string blob = "blobs/sha256/" + biggest.filename().string();
    EXPECT_NE(text.find("image archive '" + copy.string() + "': layer 1 of 2 ('" + blob + "')"),
              std::string::npos)
        << text;
    // A flipped byte inside deflate data breaks the stream or the digest, whichever first.
    EXPECT_TRUE(text.find("digest mismatch") != std::string::npos ||
                text.find("decompress") != std::string::npos)
        << text;
    expect_unchanged();
}

// The top layer's blob gzip'd again at another level: the same tar inside, so the same
// diff_id, but other compressed bytes. A gzip FNAME field pads it to the size the manifest
// gives, so that only the blob's sha256 can tell, and the error must say just that.
TEST_F(image_fault, a_layer_gzipped_again_at_another_level_fails_the_blob_digest) {
    need_tools();
    fs::path copy = base_ / ("regzip-" + std::to_string(counter_));
    fs::copy(base_ / "oci", copy, fs::copy_options::recursive);
    // The gzip'd blobs are the two layers; the smaller one is layer 2 (busybox is layer 1).
    fs::path blob;
    for (const auto& e : fs::directory_iterator(copy / "blobs/sha256")) {
        bool gzip = slurp(e.path()).starts_with("\x1f\x8b");
        if (gzip && (blob.empty() || fs::file_size(e) < fs::file_size(blob))) {
            blob = e.path();
        }
    }
    ASSERT_FALSE(blob.empty());
    std::string original = slurp(blob);
    fs::path again = copy.string() + "-9.gz";
    ASSERT_EQ(sh("zcat " + blob.string() + " | gzip -9 -n >" + again.string()), 0);
    std::string regzipped = slurp(again);
    ASSERT_EQ(regzipped[3], '\0') << "gzip -n writes no optional header fields";
    ASSERT_LT(regzipped.size(), original.size()) << "zlib -9 packs tighter than umoci's level";
    regzipped[3] = 0x08; // FLG.FNAME: a NUL-terminated name follows the 10-byte header
    regzipped.insert(10, std::string(original.size() - regzipped.size() - 1, 'n') + '\0');
    ASSERT_EQ(regzipped.size(), original.size());
    put(again, regzipped);
    ASSERT_EQ(sh("cmp -s <(zcat " + blob.string() + ") <(zcat " + again.string() + ")"), 0)
        << "the same tar, so the same diff_id";
    ASSERT_NE(sha256::of(regzipped), sha256::of(original));
    fs::rename(again, blob);

    auto s = store();
    auto image = s.import(copy.string(), {});
    ASSERT_FALSE(image);
    std::string hex = blob.filename().string();
    EXPECT_EQ(image.error().message(),
              "image archive '" + copy.string() + "': layer 2 of 2 ('blobs/sha256/" + hex +
                  "'): digest mismatch: the blob's sha256 is " + sha256::of(regzipped) +
                  ", the manifest says sha256:" + hex + ": Invalid argument");
    expect_unchanged();
}

// One character of the manifest changed and its size kept, so that the descriptor's size
// check passes: the manifest's sha256 must catch it.
TEST_F(image_fault, a_manifest_changed_at_the_same_size_fails_its_digest) {
    need_tools();
    fs::path copy = base_ / ("manifest-" + std::to_string(counter_));
    fs::copy(base_ / "oci", copy, fs::copy_options::recursive);
    std::string index = slurp(copy / "index.json");
    auto at = index.find("\"digest\":\"sha256:");
    ASSERT_NE(at, std::string::npos) << index;
    std::string hex = index.substr(at + 17, 64);
    fs::path manifest = copy / "blobs/sha256" / hex;
    std::string text = slurp(manifest);
    // A hex digit of the config's digest, inside its string.
    auto config = text.find("\"config\":{");
    ASSERT_NE(config, std::string::npos) << text;
    auto digit = text.find("sha256:", config) + 7;
    text[digit] = text[digit] == '0' ? '1' : '0';
    ASSERT_EQ(text.size(), fs::file_size(manifest));
    put(manifest, text);

    auto s = store();
    auto image = s.import(copy.string(), {});
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().message(),
              "image archive '" + copy.string() + "': 'blobs/sha256/" + hex +
                  "': digest mismatch: the file's sha256 is " + sha256::of(text) +
                  ", the archive names it sha256:" + hex + ": Invalid argument");
    expect_unchanged();
}

TEST_F(image_fault, a_layer_that_does_not_match_its_diff_id_is_refused) {
    fs::path dir = base_ / ("mismatch-" + std::to_string(counter_));
    write_docker_archive(dir, {ustar({file_entry("a", "1")})}, "bad:1");
    put(dir / "l0/layer.tar", ustar({file_entry("a", "2")}));
    auto s = store();
    auto image = s.import(dir.string(), {});
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message().find(
                  "layer 1 of 1 ('l0/layer.tar'): digest mismatch: the uncompressed layer's "
                  "sha256 is " +
                  sha256::of(ustar({file_entry("a", "2")}))),
              std::string::npos)
        << image.error().message();
    expect_unchanged();
}

TEST_F(image_fault, a_truncated_tar_is_refused) {
    std::string full = ustar({file_entry("big", std::string(10000, 'z')), file_entry("b", "b")});
    fs::path dir = base_ / ("truncated-" + std::to_string(counter_));
    write_docker_archive(dir, {full}, "bad:1");
    put(dir / "l0/layer.tar", full.substr(0, 3000));
    auto s = store();
    auto image = s.import(dir.string(), {});
    ASSERT_FALSE(image);
    auto text = image.error().message();
    EXPECT_NE(text.find("layer 1 of 1 ('l0/layer.tar'): digest mismatch: the uncompressed "
                        "layer's sha256 is " +
                        sha256::of(full.substr(0, 3000))),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("(unpacking had stopped at: 'big': read: "), std::string::npos) << text;
    EXPECT_NE(text.find("runcated"), std::string::npos) << text;
    expect_unchanged();
}

TEST_F(image_fault, a_path_with_dotdot_is_refused) {
    auto text = import_error({ustar({file_entry("ok", "1"), file_entry("../../escaped", "x")})});
    EXPECT_NE(text.find("'../../escaped': path escapes the layer ('..')"), std::string::npos)
        << text;
    EXPECT_FALSE(fs::exists(store_root_ / "escaped"));
    EXPECT_FALSE(fs::exists(store_root_ / "layers/escaped"));
    expect_unchanged();
}

TEST_F(image_fault, writing_through_a_symlink_is_refused) {
    fs::path victim = base_ / ("victim-" + std::to_string(counter_));
    fs::create_directories(victim);
    auto text = import_error(
        {ustar({symlink_entry("etc", victim.string()), file_entry("etc/passwd", "owned\n")})});
    EXPECT_NE(text.find("'etc/passwd': its parent 'etc' is a symlink in this layer; refusing to "
                        "write through it"),
              std::string::npos)
        << text;
    EXPECT_TRUE(fs::is_empty(victim));
    auto relative = import_error(
        {ustar({dir_entry("x"), symlink_entry("x/up", "../.."), file_entry("x/up/escaped", "x")})});
    EXPECT_NE(relative.find("its parent 'x/up' is a symlink"), std::string::npos) << relative;
    auto hard = import_error({ustar({hardlink_entry("stolen", "../../../etc/shadow")})});
    EXPECT_NE(hard.find("'stolen': hard link to '../../../etc/shadow', which escapes the layer"),
              std::string::npos)
        << hard;
    expect_unchanged();
}

TEST_F(image_fault, device_nodes_are_refused_unless_allowed) {
    auto text = import_error({ustar({node_entry("dev/sda", '4', 8, 0)})});
    EXPECT_NE(text.find("'dev/sda': a block device node (8:0) refused; import with "
                        "--allow-devices to keep device nodes"),
              std::string::npos)
        << text;
    auto whiteout = import_error({ustar({node_entry("sneaky", '3', 0, 0)})});
    EXPECT_NE(whiteout.find("'sneaky': a character device 0/0 is overlayfs' whiteout"),
              std::string::npos)
        << whiteout;
    expect_unchanged();

    fs::path dir = base_ / ("devices-" + std::to_string(counter_));
    write_docker_archive(dir, {ustar({node_entry("dev/null", '3', 1, 3)})}, "devices:1");
    import_options allow;
    allow.allow_devices = true;
    auto s = store();
    auto image = s.import(dir.string(), allow);
    ASSERT_TRUE(image) << image.error().message();
    struct stat st {};
    ASSERT_EQ(::lstat((image->layers[0] + "/dev/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(1, 3));
}

TEST_F(image_fault, overlayfs_xattrs_in_a_layer_are_refused) {
    fs::path src = base_ / ("xattr-src-" + std::to_string(counter_));
    put(src / "f", "f\n");
    ASSERT_EQ(::setxattr((src / "f").c_str(), "trusted.overlay.redirect", "/etc", 4, 0), 0)
        << std::strerror(errno);
    fs::path tar = base_ / ("xattr-" + std::to_string(counter_) + ".tar");
    ASSERT_EQ(std::system(("tar --xattrs --xattrs-include=trusted.* -C " + src.string() + " -cf " +
                           tar.string() + " f")
                              .c_str()),
              0);
    auto text = import_error({slurp(tar)});
    EXPECT_NE(text.find("'f': xattr 'trusted.overlay.redirect' is overlayfs' own; a layer may not "
                        "set it"),
              std::string::npos)
        << text;
    expect_unchanged();
}

TEST_F(image_fault, a_full_disk_leaves_nothing_behind) {
    need_tools();
    // The store on a 1 MiB tmpfs: the small image fits, busybox (2 MB) does not.
    fs::path root = base_ / ("tiny-" + std::to_string(counter_));
    fs::create_directories(root);
    ASSERT_EQ(::mount("tmpfs", root.c_str(), "tmpfs", 0, "size=1m,mode=0700"), 0)
        << std::strerror(errno);
    extra_mounts_.push_back(root.string());
    image_store s(root.string());
    import_small(s);
    auto before = snapshot(root);
    auto image = s.import((base_ / "oci").string(), {});
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), ENOSPC) << image.error().message();
    EXPECT_NE(image.error().message().find("write: No space left on device"), std::string::npos)
        << image.error().message();
    EXPECT_EQ(listing_diff(snapshot(root), before), "") << "the store is unchanged";
    EXPECT_TRUE(s.find("small:1"));
}

// 120 layers: more than mount(2)'s option string of layer paths can carry, mounted through the
// layer store's fsconfig path on kernels that have "lowerdir+" (6.8), by descriptor otherwise.
TEST_F(image_host, a_120_layer_image_mounts_through_the_layer_store) {
    constexpr int count = 120;
    fs::path dir = base_ / ("tall-" + std::to_string(counter_));
    std::vector<std::string> layers;
    for (int i = 0; i < count; ++i) {
        std::vector<tar_entry> entries = {file_entry("f" + std::to_string(i), std::to_string(i)),
                                          file_entry("common", std::to_string(i))};
        if (i > 0) {
            entries.push_back(file_entry(".wh.f" + std::to_string(i - 1)));
        }
        if (i % 2 == 0) {
            entries.push_back(file_entry("even" + std::to_string(i), "e"));
        }
        layers.push_back(ustar(entries));
    }
    write_docker_archive(dir, layers, "tall:1");
    auto s = store();
    auto image = s.import(dir.string(), {});
    ASSERT_TRUE(image) << image.error().message();
    ASSERT_EQ(image->layers.size(), static_cast<std::size_t>(count));
    auto legacy = layer_store::legacy_options(image->layers);
    ASSERT_FALSE(legacy) << "the stack should not fit mount(2)'s options";
    EXPECT_EQ(legacy.error().code(), E2BIG);

    auto merged = mount(*image);
    ASSERT_FALSE(merged.empty());
    EXPECT_EQ(slurp(merged / "common"), std::to_string(count - 1));
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(merged)) {
        ++entries;
    }
    EXPECT_EQ(entries, 2u + count / 2) << "common, the last f, and every even file";
    EXPECT_TRUE(fs::exists(merged / ("f" + std::to_string(count - 1))));
    EXPECT_FALSE(fs::exists(merged / "f0"));
    EXPECT_TRUE(fs::exists(merged / "even0"));
}

} // namespace
} // namespace berth
