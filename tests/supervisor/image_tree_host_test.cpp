// `berth run` on an image made by umoci: the merged tree a running container sees, dumped
// from inside it with busybox, equals entry by entry the tree `umoci unpack` makes of the
// same image, whether berth imported umoci's OCI layout or skopeo's docker-archive of it.
// The image deletes files and a directory, replaces directories (by umoci's own whiteouts and
// by an opaque directory) and holds hard links, symlinks, setuid and setgid files, non-root
// owners and a user.* xattr.
#include "tests/supervisor/fleet_process.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>

namespace {

namespace fs = std::filesystem;
using berth::test::slurp;

// Builds the image in $1 from the busybox rootfs of scripts/make-busybox-layer.sh ($2 is the
// source tree): oci/ (umoci's layout, image "tree"), docker.tar (skopeo's docker-archive of
// it) and expected/ (umoci's unpacked bundle of the final image).
const char* const build_script = R"sh(
set -euo pipefail
cd "$1"
umoci init --layout oci
umoci new --image oci:tree
umoci unpack --image oci:tree bundle >/dev/null
r=bundle/rootfs

# Layer 1: busybox.
bash "$2/scripts/make-busybox-layer.sh" $r
umoci repack --refresh-bundle --image oci:tree bundle >/dev/null

# Layer 2: what the later layers change, and every kind of entry that must survive.
mkdir -p $r/opt/tree/sub $r/opt/gone/deeper $r/opt/swap/olddir
echo a > $r/opt/tree/a; echo b > $r/opt/tree/sub/b
echo x > $r/opt/gone/x; echo y > $r/opt/gone/deeper/y
echo old1 > $r/opt/swap/old1; echo old2 > $r/opt/swap/olddir/old2
echo doomed > $r/opt/doomed
echo linked > $r/opt/hard1; ln $r/opt/hard1 $r/opt/hard2
ln -s tree/a $r/opt/relative; ln -s /bin/busybox $r/opt/absolute; ln -s /nowhere $r/opt/dangling
echo owned > $r/opt/owned; chown 1234:5678 $r/opt/owned; chmod 0640 $r/opt/owned
mkdir $r/opt/owned-dir; chown 1000:1001 $r/opt/owned-dir; chmod 0750 $r/opt/owned-dir
echo setuid > $r/opt/setuid; chmod 4755 $r/opt/setuid
echo setgid > $r/opt/setgid; chmod 2711 $r/opt/setgid
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.berth", b"kept")' $r/opt/owned
umoci repack --refresh-bundle --image oci:tree bundle >/dev/null

# Layer 3, umoci's diff: deletes a file of layer 1 and one of layer 2 and a whole directory,
# rebuilds /opt/tree with other contents (whiteouts for the old ones), chowns a file.
rm $r/etc/group $r/opt/doomed
rm -rf $r/opt/gone
rm -rf $r/opt/tree; mkdir $r/opt/tree; echo new > $r/opt/tree/new
chown 0:10 $r/etc/passwd
umoci repack --image oci:tree bundle >/dev/null

# Layer 4, a tar made here: /opt/swap replaced by an opaque directory of another owner. The
# tar does not list opt/: berth creates such a parent 0755 root:root in the layer, which then
# hides the lower /opt's mode and owner (as they are here, so that does not show).
mkdir -p l4/opt/swap/newdir
: > l4/opt/swap/.wh..wh..opq
echo fresh > l4/opt/swap/fresh; echo inner > l4/opt/swap/newdir/inner
chmod 0700 l4/opt/swap; chown 42:43 l4/opt/swap
tar --numeric-owner -C l4 -cf l4.tar opt/swap
umoci raw add-layer --image oci:tree l4.tar

umoci gc --layout oci
umoci unpack --image oci:tree expected >/dev/null
skopeo --insecure-policy copy -q oci:oci:tree docker-archive:docker.tar:example/tree:1
)sh";

// Runs inside the container (the service's command): the dump of its merged tree, in the
// format of expected_tree(), then "dump: done" (or "dump: failed") on stdout.
const char* const dump_script = R"sh(
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
set -u

entry() {
    info=$(stat -c '%F|%a|%u:%g|%s|%h' "$1") || return 1
    old_ifs=$IFS
    IFS='|'
    set -- "$1" $info
    IFS=$old_ifs
    case $2 in
    "regular file" | "regular empty file")
        sum=$(sha256sum "$1") || return 1
        what="file $3 $4 size=$5 links=$6 sha256=${sum%% *}" ;;
    directory)
        what="dir $3 $4" ;;
    "symbolic link")
        target=$(readlink "$1") || return 1
        what="link $3 $4 size=$5 -> $target" ;;
    *)
        what="$2 $3 $4" ;;
    esac
    xattrs=$(/tools/user-xattrs "$1") || return 1
    printf '%s\t%s%s\n' "${1#/}" "$what" "$xattrs"
}

dump() {
    find / -xdev -mindepth 1 \( -path /proc -o -path /dev -o -path /sys -o -path /tmp \
        -o -path /out -o -path /tools \) -prune -o -print >/out/paths || return 1
    while IFS= read -r p; do
        entry "$p" || return 1
    done </out/paths
}

if dump >/out/tree.txt.part && stat -c %i /opt/hard1 /opt/hard2 >/out/inodes; then
    mv /out/tree.txt.part /out/tree.txt
    echo "dump: done"
else
    echo "dump: failed"
fi
)sh";

// Left out of the comparison: the container's own mounts (/proc, /dev, /sys), /tmp, and the
// volume targets the dump uses (/out, /tools).
bool left_out(const fs::path& relative) {
    static const std::vector<std::string> tops = {"proc", "dev", "sys", "tmp", "out", "tools"};
    return std::find(tops.begin(), tops.end(), relative.begin()->string()) != tops.end();
}

// " user.NAME=VALUE" for each user.* xattr of `path`, sorted by name (as user_xattrs.c).
std::string user_xattrs(const fs::path& path) {
    char names[65536];
    ssize_t length = ::llistxattr(path.c_str(), names, sizeof names);
    std::vector<std::string> user;
    for (ssize_t at = 0; at < length; at += static_cast<ssize_t>(std::strlen(names + at)) + 1) {
        if (std::string_view(names + at).starts_with("user.")) {
            user.emplace_back(names + at);
        }
    }
    std::sort(user.begin(), user.end());
    std::string out;
    for (const auto& name : user) {
        char value[65536];
        ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
        out += " " + name + "=" + std::string(value, size > 0 ? size : 0);
    }
    return out;
}

// The tree below `root` as the dump inside a container shows it: "PATH -> KIND MODE UID:GID
// DETAILS" with, for regular files, their size, link count and sha256, for symlinks their
// size and target, and user.* xattrs. Directories have no size: it is the file system's
// business (overlayfs reports another than ext4).
std::map<std::string, std::string> expected_tree(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        auto relative = it->path().lexically_relative(root);
        if (left_out(relative)) {
            it.disable_recursion_pending();
            continue;
        }
        struct stat st {};
        EXPECT_EQ(::lstat(it->path().c_str(), &st), 0) << it->path();
        std::ostringstream what;
        std::ostringstream attrs;
        attrs << std::oct << (st.st_mode & 07777) << std::dec << " " << st.st_uid << ":"
              << st.st_gid;
        if (S_ISREG(st.st_mode)) {
            what << "file " << attrs.str() << " size=" << st.st_size << " links=" << st.st_nlink
                 << " sha256=" << berth::sha256::of(slurp(it->path()));
        } else if (S_ISDIR(st.st_mode)) {
            what << "dir " << attrs.str();
        } else if (S_ISLNK(st.st_mode)) {
            what << "link " << attrs.str() << " size=" << st.st_size << " -> "
                 << fs::read_symlink(it->path()).string();
        } else {
            what << "other " << attrs.str();
        }
        out[relative.string()] = what.str() + user_xattrs(it->path());
    }
    return out;
}

// A dump's "PATH<TAB>WHAT" lines as a listing.
std::map<std::string, std::string> parse_dump(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        auto tab = line.find('\t');
        EXPECT_NE(tab, std::string::npos) << "a dump line without a tab: " << line;
        if (tab != std::string::npos) {
            out[line.substr(0, tab)] = line.substr(tab + 1);
        }
    }
    return out;
}

// The paths of a listing below `dir`.
std::vector<std::string> below(const std::map<std::string, std::string>& tree,
                               const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& [path, what] : tree) {
        if (path.starts_with(dir + "/")) {
            out.push_back(path);
        }
    }
    return out;
}

class image_tree_host_test : public berth::test::fleet_process_test {
protected:
    image_tree_host_test() { prefix_ = "image-tree"; }

    void SetUp() override {
        fleet_process_test::SetUp();
        if (IsSkipped()) {
            return;
        }
        using berth::test::has_program;
        if (!has_program("umoci") || !has_program("skopeo") || !has_program("python3")) {
            GTEST_SKIP() << "needs umoci, skopeo and python3 (scripts/setup.sh installs them)";
        }
    }

    // The image of build_script, in base_/image.
    void build_image() {
        fs::create_directories(base_ / "image");
        berth::test::put(base_ / "build.sh", build_script);
        std::string build = "bash " + (base_ / "build.sh").string() + " " +
                            (base_ / "image").string() + " " + BERTH_SOURCE_DIR + " >" +
                            (base_ / "build.log").string() + " 2>&1";
        ASSERT_EQ(std::system(build.c_str()), 0) << slurp(base_ / "build.log");
    }

    // The dump script and user-xattrs, for a read-only bind at /tools.
    void write_tools() {
        berth::test::put(base_ / "tools" / "dump.sh", dump_script);
        fs::copy_file(BERTH_TEST_USER_XATTRS, base_ / "tools" / "user-xattrs");
    }

    // A service on image `image` that dumps its tree into the named volume `image`.
    std::string dump_service(const std::string& image) const {
        return "[image." + image + "]\nref = \"" + image + "\"\n\n[service." + image +
               "]\nimage = \"" + image + "\"\nrestart = \"never\"\nvolumes = [\"" + image +
               ":/out\", \"" + (base_ / "tools").string() +
               ":/tools:ro\"]\ncommand = [\"/bin/sh\", \"/tools/dump.sh\"]\n\n";
    }
};

TEST_F(image_tree_host_test, a_container_sees_exactly_the_tree_umoci_unpacks) {
    build_image();
    write_tools();
    ASSERT_EQ(berth_cli({"image", "import", (base_ / "image/oci").string(), "--name", "oci"}), 0)
        << slurp(base_ / "cli.err");
    ASSERT_EQ(
        berth_cli({"image", "import", (base_ / "image/docker.tar").string(), "--name", "docker"}),
        0)
        << slurp(base_ / "cli.err");

    start_berth(write_fleet(dump_service("oci") + dump_service("docker")));
    for (const char* service : {"oci", "docker"}) {
        ASSERT_TRUE(wait_for(replica_log(service, 0), "dump: ")) << service << ": " << berth_log();
        EXPECT_EQ(slurp(replica_log(service, 0)), "dump: done\n") << service;
    }
    EXPECT_EQ(stop_berth(), 0) << berth_log();

    auto want = expected_tree(base_ / "image/expected/rootfs");
    ASSERT_GT(want.size(), 250u) << "busybox and its applet links at least";
    ASSERT_NE(want["opt/owned"].find(" user.berth=kept"), std::string::npos)
        << "umoci keeps user.* xattrs: " << want["opt/owned"];
    for (const char* image : {"oci", "docker"}) {
        SCOPED_TRACE(std::string("image ") + image);
        auto volume = storage_ / "volumes" / image;
        auto got = parse_dump(slurp(volume / "tree.txt"));
        EXPECT_EQ(berth::test::listing_diff(got, want), "");

        for (const char* gone : {"etc/group", "opt/doomed", "opt/gone", "opt/gone/x"}) {
            EXPECT_FALSE(got.contains(gone)) << gone << " was deleted by layer 3";
        }
        EXPECT_EQ(below(got, "opt/tree"), std::vector<std::string>{"opt/tree/new"});
        EXPECT_EQ(below(got, "opt/swap"), (std::vector<std::string>{
                                              "opt/swap/fresh",
                                              "opt/swap/newdir",
                                              "opt/swap/newdir/inner",
                                          }));
        EXPECT_EQ(got["opt/swap"], "dir 700 42:43") << "the opaque directory's own attributes";
        EXPECT_EQ(got["opt/relative"], "link 777 0:0 size=6 -> tree/a");
        EXPECT_EQ(got["opt/owned-dir"], "dir 750 1000:1001");
        EXPECT_TRUE(got["opt/owned"].starts_with("file 640 1234:5678 size=6 links=1 "))
            << got["opt/owned"];
        EXPECT_TRUE(got["opt/owned"].ends_with(" user.berth=kept")) << got["opt/owned"];
        EXPECT_TRUE(got["opt/setuid"].starts_with("file 4755 0:0 ")) << got["opt/setuid"];
        EXPECT_TRUE(got["etc/passwd"].starts_with("file 644 0:10 ")) << got["etc/passwd"];

        std::istringstream inodes(slurp(volume / "inodes"));
        std::string first;
        std::string second;
        inodes >> first >> second;
        EXPECT_FALSE(first.empty());
        EXPECT_EQ(first, second) << "opt/hard1 and opt/hard2 stay one file in the container";
    }
}

} // namespace
