// Unit tests of the mountinfo parser and queries, on sample texts (no privileges needed).
#include "engine/mountinfo.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace berth {
namespace {

// This machine's hybrid layout, abridged.
constexpr std::string_view hybrid_sample =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A pure cgroup2 system (systemd's layout).
constexpr std::string_view pure_v2_sample =
    "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "22 21 0:20 / /sys rw,nosuid shared:2 - sysfs sysfs rw\n"
    "26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

mount_entry parse_one(std::string_view line) {
    auto mounts = parse_mountinfo(line);
    EXPECT_TRUE(mounts.has_value()) << mounts.error().message();
    EXPECT_EQ(mounts->size(), 1u);
    return mounts->front();
}

TEST(mountinfo_parse, reads_every_field_of_the_proc5_example) {
    mount_entry m = parse_one(
        "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
    EXPECT_EQ(m.mount_id, 36);
    EXPECT_EQ(m.parent_id, 35);
    EXPECT_EQ(m.major, 98u);
    EXPECT_EQ(m.minor, 0u);
    EXPECT_EQ(m.root, "/mnt1");
    EXPECT_EQ(m.mount_point, "/mnt/parent");
    EXPECT_EQ(m.mount_options, "rw,noatime");
    ASSERT_EQ(m.optional_fields.size(), 1u);
    EXPECT_EQ(m.optional_fields[0], "master:1");
    EXPECT_EQ(m.fstype, "ext3");
    EXPECT_EQ(m.source, "/dev/root");
    EXPECT_EQ(m.super_options, "rw,errors=continue");
}

TEST(mountinfo_parse, takes_zero_or_several_optional_fields) {
    mount_entry none = parse_one("1 0 0:1 / / rw - rootfs rootfs rw");
    EXPECT_TRUE(none.optional_fields.empty());
    EXPECT_EQ(none.fstype, "rootfs");

    mount_entry several =
        parse_one("40 1 0:40 / /a rw shared:7 master:3 propagate_from:2 unbindable - tmpfs t rw");
    ASSERT_EQ(several.optional_fields.size(), 4u);
    EXPECT_EQ(several.optional_fields[0], "shared:7");
    EXPECT_EQ(several.optional_fields[3], "unbindable");
    EXPECT_EQ(several.fstype, "tmpfs");
}

TEST(mountinfo_parse, unescapes_octal_sequences_in_paths_and_strings) {
    mount_entry m = parse_one("50 27 0:50 /in\\134side /mnt/my\\040dir/tab\\011and\\012nl rw - "
                              "fuse.sshfs user@host:/a\\040b rw,user_id=0");
    EXPECT_EQ(m.root, "/in\\side");
    EXPECT_EQ(m.mount_point, "/mnt/my dir/tab\tand\nnl");
    EXPECT_EQ(m.fstype, "fuse.sshfs");
    EXPECT_EQ(m.source, "user@host:/a b");
}

TEST(mountinfo_parse, keeps_backslashes_that_are_not_escapes) {
    EXPECT_EQ(unescape_mountinfo("a\\9bc"), "a\\9bc");
    EXPECT_EQ(unescape_mountinfo("end\\04"), "end\\04");
    EXPECT_EQ(unescape_mountinfo("trailing\\"), "trailing\\");
    EXPECT_EQ(unescape_mountinfo("\\400"), "\\400"); // not a byte
    EXPECT_EQ(unescape_mountinfo("\\101\\102"), "AB");
}

TEST(mountinfo_parse, accepts_an_empty_source) {
    mount_entry m = parse_one("60 27 0:60 / /mnt/e rw,relatime - tmpfs  rw,size=4k");
    EXPECT_EQ(m.fstype, "tmpfs");
    EXPECT_EQ(m.source, "");
    EXPECT_EQ(m.super_options, "rw,size=4k");
}

TEST(mountinfo_parse, reads_an_overlay_with_its_lowerdir_list) {
    mount_entry m =
        parse_one("70 27 0:70 / /var/lib/berth/images/base ro,relatime - overlay berth-image "
                  "ro,lowerdir=/l/top:/l/mid:/l/bottom,redirect_dir=nofollow");
    EXPECT_EQ(m.fstype, "overlay");
    EXPECT_EQ(m.source, "berth-image");
    EXPECT_EQ(m.super_options, "ro,lowerdir=/l/top:/l/mid:/l/bottom,redirect_dir=nofollow");
}

TEST(mountinfo_parse, empty_text_and_blank_lines_give_an_empty_table) {
    auto empty = parse_mountinfo("");
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->empty());

    auto two = parse_mountinfo("\n1 0 0:1 / / rw - rootfs rootfs rw\n\n");
    ASSERT_TRUE(two.has_value());
    EXPECT_EQ(two->size(), 1u);
}

TEST(mountinfo_parse, reports_malformed_lines_with_their_number) {
    auto no_separator = parse_mountinfo("1 0 0:1 / / rw - rootfs rootfs rw\n"
                                        "2 1 0:2 / /x rw shared:1 tmpfs tmpfs rw extra\n");
    ASSERT_FALSE(no_separator.has_value());
    EXPECT_EQ(no_separator.error().message(),
              "mountinfo: line 2: no ' - ' separator: Invalid argument");

    auto short_line = parse_mountinfo("1 0 0:1 / /");
    ASSERT_FALSE(short_line.has_value());
    EXPECT_EQ(short_line.error().context(), "mountinfo: line 1: too few fields");

    auto bad_id = parse_mountinfo("x 0 0:1 / / rw - rootfs rootfs rw");
    ASSERT_FALSE(bad_id.has_value());
    EXPECT_EQ(bad_id.error().context(), "mountinfo: line 1: bad mount id");

    auto bad_dev = parse_mountinfo("1 0 01 / / rw - rootfs rootfs rw");
    ASSERT_FALSE(bad_dev.has_value());
    EXPECT_EQ(bad_dev.error().context(), "mountinfo: line 1: bad major:minor '01'");

    auto short_tail = parse_mountinfo("1 0 0:1 / / rw a:1 b:2 c:3 - rootfs rootfs");
    ASSERT_FALSE(short_tail.has_value());
    EXPECT_EQ(short_tail.error().context(), "mountinfo: line 1: fewer than 3 fields after ' - '");
}

TEST(mountinfo_cgroup2, finds_the_unified_mount_on_a_hybrid_host) {
    auto mounts = parse_mountinfo(hybrid_sample);
    ASSERT_TRUE(mounts.has_value());
    auto found = find_cgroup2_mount(mounts.value());
    ASSERT_TRUE(found.has_value()) << found.error().message();
    EXPECT_EQ(found.value(), "/sys/fs/cgroup/unified");
}

TEST(mountinfo_cgroup2, finds_sys_fs_cgroup_on_a_pure_v2_system) {
    auto mounts = parse_mountinfo(pure_v2_sample);
    ASSERT_TRUE(mounts.has_value());
    auto found = find_cgroup2_mount(mounts.value());
    ASSERT_TRUE(found.has_value()) << found.error().message();
    EXPECT_EQ(found.value(), "/sys/fs/cgroup");
}

TEST(mountinfo_cgroup2, no_cgroup2_mount_is_a_clear_error) {
    auto mounts = parse_mountinfo("27 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                  "32 27 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
    ASSERT_TRUE(mounts.has_value());
    auto found = find_cgroup2_mount(mounts.value());
    ASSERT_FALSE(found.has_value());
    EXPECT_EQ(found.error().code(), ENOENT);
    EXPECT_EQ(found.error().context(),
              "find cgroup2 mount: no cgroup2 filesystem is mounted (per mountinfo)");
}

TEST(mountinfo_cgroup2, ignores_a_cgroup2_mount_covered_by_another_mount) {
    // cgroup2 on /sys/fs/cgroup, then a tmpfs mounted over it, then cgroup2 again elsewhere.
    auto mounts = parse_mountinfo("27 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                  "30 27 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                                  "31 30 0:31 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                                  "32 27 0:30 / /run/cg rw - cgroup2 cgroup2 rw\n");
    ASSERT_TRUE(mounts.has_value());
    auto found = find_cgroup2_mount(mounts.value());
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found.value(), "/run/cg");
}

TEST(mountinfo_cgroup2, prefers_a_mount_of_the_whole_hierarchy_over_a_bind_mount) {
    auto mounts = parse_mountinfo("27 1 254:0 / / rw - ext4 /dev/vda rw\n"
                                  "40 27 0:30 /sub /a rw - cgroup2 cgroup2 rw\n"
                                  "41 27 0:30 / /b rw - cgroup2 cgroup2 rw\n");
    ASSERT_TRUE(mounts.has_value());
    auto found = find_cgroup2_mount(mounts.value());
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found.value(), "/b");
}

constexpr std::string_view images_sample =
    "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
    "80 27 0:80 / /var/lib/berth/images/a ro - overlay berth-image ro,lowerdir=/x:/y\n"
    "81 80 0:81 / /var/lib/berth/images/a/deep/er ro - tmpfs tmpfs rw\n"
    "82 27 0:82 / /var/lib/berth/images/b ro - overlay berth-image ro,lowerdir=/x:/y\n"
    "83 82 0:83 / /var/lib/berth/images/b ro - overlay berth-image ro,lowerdir=/x:/z\n"
    "84 27 0:84 / /var/lib/berth/imagesX ro - tmpfs tmpfs rw\n"
    "85 27 0:85 / /var/lib/berth/images rw - tmpfs tmpfs rw\n";

TEST(mountinfo_under, lists_mounts_at_or_below_a_prefix_deepest_first) {
    auto mounts = parse_mountinfo(images_sample);
    ASSERT_TRUE(mounts.has_value());
    auto found = mounts_under(mounts.value(), "/var/lib/berth/images/");
    ASSERT_EQ(found.size(), 5u);
    EXPECT_EQ(found[0].mount_id, 81); // the deepest
    // Two mounts stacked on images/b: the upper one (83) must go first.
    EXPECT_EQ(found[1].mount_id, 83);
    EXPECT_EQ(found[2].mount_id, 82);
    EXPECT_EQ(found[3].mount_id, 80);
    EXPECT_EQ(found[4].mount_id, 85); // the prefix itself, last
    for (const auto& m : found) {
        EXPECT_NE(m.mount_point, "/var/lib/berth/imagesX") << "a sibling with a longer name";
    }
}

TEST(mountinfo_under, root_prefix_takes_everything) {
    auto mounts = parse_mountinfo(images_sample);
    ASSERT_TRUE(mounts.has_value());
    auto found = mounts_under(mounts.value(), "/");
    ASSERT_EQ(found.size(), mounts->size());
    EXPECT_EQ(found.back().mount_point, "/");
}

TEST(mountinfo_under, nothing_under_an_unused_prefix) {
    auto mounts = parse_mountinfo(images_sample);
    ASSERT_TRUE(mounts.has_value());
    EXPECT_TRUE(mounts_under(mounts.value(), "/srv").empty());
}

TEST(mountinfo_mount_point, answers_from_the_table) {
    auto mounts = parse_mountinfo(images_sample);
    ASSERT_TRUE(mounts.has_value());
    EXPECT_TRUE(is_mount_point(mounts.value(), "/"));
    EXPECT_TRUE(is_mount_point(mounts.value(), "/var/lib/berth/images/a"));
    EXPECT_TRUE(is_mount_point(mounts.value(), "/var/lib/berth/images/a/"));
    EXPECT_FALSE(is_mount_point(mounts.value(), "/var/lib/berth/images/a/deep"));
    EXPECT_FALSE(is_mount_point(mounts.value(), "/var/lib"));
}

TEST(mountinfo_mount_point, asks_the_kernel_with_statx) {
    auto root = is_mount_point(std::string("/"));
    ASSERT_TRUE(root.has_value()) << root.error().message();
    EXPECT_TRUE(root.value());

    auto proc = is_mount_point(std::string("/proc"));
    ASSERT_TRUE(proc.has_value()) << proc.error().message();
    EXPECT_TRUE(proc.value());

    char tmpl[] = "/tmp/berth-mountinfo-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    auto plain = is_mount_point(dir);
    ::rmdir(dir.c_str());
    ASSERT_TRUE(plain.has_value()) << plain.error().message();
    EXPECT_FALSE(plain.value());

    auto missing = is_mount_point(std::string("/nonexistent/berth"));
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message(),
              "mount point '/nonexistent/berth': statx: No such file or directory");
}

TEST(mountinfo_read, reads_the_callers_own_table) {
    auto mounts = read_mountinfo();
    ASSERT_TRUE(mounts.has_value()) << mounts.error().message();
    EXPECT_TRUE(is_mount_point(mounts.value(), "/"));
    EXPECT_TRUE(is_mount_point(mounts.value(), "/proc"));
}

TEST(mountinfo_read, a_missing_file_is_an_error_naming_it) {
    auto mounts = read_mountinfo("/nonexistent/mountinfo");
    ASSERT_FALSE(mounts.has_value());
    EXPECT_EQ(mounts.error().message(),
              "mountinfo '/nonexistent/mountinfo': open: No such file or directory");
}

} // namespace
} // namespace berth
