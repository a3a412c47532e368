// Host tests of berth-shim: real containers started the way the supervisor starts them
// (clone3 with CLONE_NEWPID, fd 3 = status pipe), a busybox image as the overlay's lower dir.
#include "engine/layer_store.hpp"
#include "engine/root_template.hpp"
#include "tests/shim/shim_runner.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using berth::test::launch;
using berth::test::outcome;
using berth::test::running;

namespace {

const char* const default_caps = "00000000a80425fb";

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// "key=value" lines of a workload's output; other lines are ignored.
std::map<std::string, std::string> facts_of(const std::string& out) {
    std::map<std::string, std::string> facts;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        auto equals = line.find('=');
        if (equals != std::string::npos) {
            facts[line.substr(0, equals)] = line.substr(equals + 1);
        }
    }
    return facts;
}

// One field of /proc/self/status, e.g. "CapBnd".
std::string own_status(const std::string& field) {
    auto text = read_file("/proc/self/status");
    auto at = text.find(field + ":\t");
    if (at == std::string::npos) {
        return "";
    }
    at += field.size() + 2;
    return text.substr(at, text.find('\n', at) - at);
}

bool kernel_has_overlay() {
    return read_file("/proc/filesystems").find("\toverlay\n") != std::string::npos;
}

// Prints one "key=value" fact per line about the container it runs in.
const char* const facts_script = R"sh(
echo "pid=$$"
echo "hostname=$(hostname)"
echo "cmdline=$(tr '\0' ' ' </proc/1/cmdline | cut -d' ' -f1,2)"
echo "root=$(ls / | tr '\n' ' ')"
printf 'chardevs='
for d in null zero full random urandom tty; do [ -c /dev/$d ] && printf '%s ' $d; done
echo
echo "null_write=$(echo x >/dev/null && echo ok)"
echo "zero_read=$(head -c 4 /dev/zero | wc -c)"
echo "urandom_read=$(head -c 16 /dev/urandom | wc -c)"
echo "full_write=$( (echo x >/dev/full) 2>/dev/null && echo ok || echo refused)"
echo "ptmx=$(readlink /dev/ptmx) $([ -c /dev/pts/ptmx ] && echo present)"
links=""; for l in fd stdin stdout stderr; do links="$links $(readlink /dev/$l)"; done
echo "links=${links# }"
echo "shm_write=$(touch /dev/shm/x && echo ok)"
echo "dev_write=$(touch /dev/x 2>/dev/null && echo ok || echo refused)"
sys_write=$(touch /sys/x 2>/dev/null && echo writable || echo read-only)
echo "sys=$([ -d /sys/kernel ] && echo present) $sys_write"
v=$(cat /proc/sys/vm/stat_interval)
echo "proc_sys=$( (echo $v >/proc/sys/vm/stat_interval) 2>/dev/null && echo writable ||
    echo read-only)"
echo "upper_write=$(echo data >/written-by-container && cat /written-by-container)"
echo "mounts=$(cut -d' ' -f5 /proc/self/mountinfo | tr '\n' ' ')"
fields='CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|SigBlk|SigIgn|Uid|Gid|Groups'
grep -E "^($fields):" /proc/self/status | sed -e 's/:\s*/=/' -e 's/\s\+/ /g' -e 's/ $//'
echo "cwd=$(pwd)"
echo "limits=$(ulimit -n) $(ulimit -Hn)"
)sh";

class shim_host : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (::geteuid() != 0) {
            skip_reason_ = "needs root (namespaces, mounts)";
            return;
        }
        if (!kernel_has_overlay()) {
            skip_reason_ = "needs overlayfs in the kernel";
            return;
        }
        if (!fs::exists("/bin/busybox")) {
            skip_reason_ = "needs /bin/busybox (busybox-static) for the test image";
            return;
        }
        char dir[] = "/tmp/berth-shim-test-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        base_ = dir;
        lower_ = base_ / "lower";
        marker_ = base_ / "host-only-marker";
        std::ofstream(marker_) << "host\n";
        make_image();
    }

    // bin/ with busybox, its applets and the probe; etc proc dev tmp; no sys (the shim must
    // create it); an image-marker file; a non-executable bin/noexec.
    static void make_image() {
        for (const char* dir : {"bin", "etc", "proc", "dev", "tmp"}) {
            fs::create_directories(lower_ / dir);
        }
        fs::permissions(lower_ / "tmp", fs::perms::all | fs::perms::sticky_bit);
        std::ofstream(lower_ / "image-marker") << "image\n";
        fs::copy_file("/bin/busybox", lower_ / "bin/busybox");
        fs::copy_file(BERTH_SHIM_ESCAPE_PATH, lower_ / "bin/escape");
        std::ofstream(lower_ / "bin/noexec") << "#!/bin/sh\n";
        fs::permissions(lower_ / "bin/noexec", fs::perms::owner_read | fs::perms::owner_write);
        FILE* list = ::popen("/bin/busybox --list", "r");
        ASSERT_NE(list, nullptr);
        char name[256];
        while (std::fgets(name, sizeof name, list) != nullptr) {
            std::string applet(name);
            applet.erase(applet.find_last_not_of('\n') + 1);
            if (!applet.empty() && !fs::exists(fs::symlink_status(lower_ / "bin" / applet))) {
                fs::create_symlink("busybox", lower_ / "bin" / applet);
            }
        }
        ASSERT_EQ(::pclose(list), 0);
    }

    static void TearDownTestSuite() {
        if (base_.empty()) {
            return;
        }
        // Never remove_all through a mount left behind: that would delete what it shows.
        if (mounts_under(base_).empty()) {
            fs::remove_all(base_);
        }
        base_.clear();
    }

    // Host mount points at or below dir.
    static std::vector<std::string> mounts_under(const fs::path& dir) {
        std::vector<std::string> found;
        std::istringstream lines(read_file("/proc/self/mountinfo"));
        std::string line;
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::string id, parent, devno, root, point;
            fields >> id >> parent >> devno >> root >> point;
            if (point.rfind(dir.string(), 0) == 0) {
                found.push_back(point);
            }
        }
        return found;
    }

    void SetUp() override {
        if (!skip_reason_.empty()) {
            GTEST_SKIP() << skip_reason_;
        }
        static int counter = 0;
        scratch_ = base_ / ("scratch-" + std::to_string(++counter));
        fs::create_directory(scratch_);
    }

    void TearDown() override {
        if (base_.empty()) {
            return;
        }
        // Every mount lived in the container's mount namespace and went with it.
        EXPECT_EQ(mounts_under(base_), std::vector<std::string>{});
        std::error_code ignored;
        fs::remove(scratch_, ignored); // empty: the tmpfs was never visible here
        EXPECT_FALSE(fs::exists(scratch_)) << "the scratch dir is not empty on the host";
    }

    // The spec of a container on the test image, plus extra words.
    std::vector<std::string> image_spec(std::vector<std::string> extra = {}) const {
        std::vector<std::string> spec{"name=test/1", "ns=mount,uts,ipc", "lower=" + lower_.string(),
                                      "scratch=" + scratch_.string()};
        spec.insert(spec.end(), extra.begin(), extra.end());
        return spec;
    }

    launch shim(const std::vector<std::string>& spec,
                const std::vector<std::string>& workload) const {
        launch what;
        what.program = BERTH_SHIM_PATH;
        what.argv = berth::test::shim_argv(spec, workload);
        what.root_ns_fd = root_ns_.get();
        return what;
    }

    // root_switch=template from here on: a root template of the test image for this test's
    // scratch dir (and the dev tree, when given), handed to every shim as fd 4.
    std::vector<std::string> use_template(const std::string& dev = "") {
        auto ns = berth::build_root_template({lower_.string(), dev, scratch_.string()});
        EXPECT_TRUE(ns) << ns.error().message();
        if (ns) {
            root_ns_ = std::move(*ns);
        }
        return {"root_switch=template"};
    }

    outcome run_facts(std::vector<std::string> extra) {
        auto result =
            berth::test::run(shim(image_spec(std::move(extra)), {"/bin/sh", "-c", facts_script}));
        EXPECT_FALSE(result.timed_out);
        EXPECT_FALSE(result.failure) << result.step() << ": " << std::strerror(result.error());
        EXPECT_EQ(result.exit_code(), 0) << result.err;
        return result;
    }

    // Runs the escape probe (all of its probes, or the named ones) in a container with the
    // extra spec words; returns "probe" -> "contained (...)" or "ESCAPED (...)".
    std::map<std::string, std::string> run_escapes(std::vector<std::string> extra,
                                                   std::vector<std::string> probes = {},
                                                   std::string extra_proc_at = "") {
        struct stat host_root {};
        EXPECT_EQ(::stat("/", &host_root), 0);
        std::vector<std::string> workload{"/bin/escape", marker_.string(),
                                          std::to_string(major(host_root.st_dev)),
                                          std::to_string(minor(host_root.st_dev))};
        workload.insert(workload.end(), probes.begin(), probes.end());
        auto what = shim(image_spec(std::move(extra)), workload);
        what.extra_proc_at = std::move(extra_proc_at);
        auto result = berth::test::run(what);
        EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
        std::map<std::string, std::string> verdicts;
        std::istringstream lines(result.out);
        std::string line;
        while (std::getline(lines, line)) {
            auto colon = line.find(": ");
            if (colon != std::string::npos) {
                verdicts[line.substr(0, colon)] = line.substr(colon + 2);
            }
        }
        EXPECT_EQ(verdicts.count("start"), 0u) << verdicts["start"];
        return verdicts;
    }

    void expect_contained(const std::map<std::string, std::string>& verdicts,
                          const std::string& name) {
        auto it = verdicts.find(name);
        ASSERT_NE(it, verdicts.end()) << "the probe did not try " << name;
        EXPECT_EQ(it->second.rfind("contained", 0), 0u) << name << ": " << it->second;
    }

    void expect_escaped(const std::map<std::string, std::string>& verdicts,
                        const std::string& name) {
        auto it = verdicts.find(name);
        ASSERT_NE(it, verdicts.end()) << "the probe did not try " << name;
        EXPECT_EQ(it->second.rfind("ESCAPED", 0), 0u) << name << ": " << it->second;
    }

    static inline std::string skip_reason_;
    static inline fs::path base_;
    static inline fs::path lower_;
    static inline fs::path marker_;
    fs::path scratch_;
    berth::unique_fd root_ns_;
};

const std::vector<std::string> all_probes{"chroot",         "umount",      "umount-lazy",
                                          "proc-root",      "mknod-disk",  "mount-disk",
                                          "open-by-handle", "userns-proc", "userns-sysfs"};

void expect_image_facts(std::map<std::string, std::string>& f) {
    EXPECT_EQ(f["pid"], "1");
    EXPECT_EQ(f["cmdline"], "/bin/sh -c");
    EXPECT_EQ(f["root"], "bin dev etc image-marker proc sys tmp ");
    EXPECT_EQ(f["chardevs"], "null zero full random urandom tty ");
    EXPECT_EQ(f["null_write"], "ok");
    EXPECT_EQ(f["zero_read"], "4");
    EXPECT_EQ(f["urandom_read"], "16");
    EXPECT_EQ(f["full_write"], "refused");
    EXPECT_EQ(f["ptmx"], "pts/ptmx present");
    EXPECT_EQ(f["links"], "/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2");
    EXPECT_EQ(f["shm_write"], "ok");
    EXPECT_EQ(f["dev_write"], "refused");
    EXPECT_EQ(f["sys"], "present read-only");
    EXPECT_EQ(f["proc_sys"], "read-only");
    EXPECT_EQ(f["upper_write"], "data");
    EXPECT_EQ(f["CapBnd"], default_caps);
    EXPECT_EQ(f["CapEff"], default_caps);
    EXPECT_EQ(f["CapPrm"], default_caps);
    EXPECT_EQ(f["CapInh"], "0000000000000000");
    EXPECT_EQ(f["CapAmb"], "0000000000000000");
    EXPECT_EQ(f["NoNewPrivs"], "1");
    EXPECT_EQ(f["SigBlk"], "0000000000000000");
    EXPECT_EQ(f["SigIgn"], "0000000000000000");
    EXPECT_EQ(f["Uid"], "0 0 0 0");
    EXPECT_EQ(f["cwd"], "/");
}

// The mount points a container's /proc/self/mountinfo may show.
void expect_only_container_mounts(const std::string& mounts) {
    std::istringstream points(mounts);
    std::string point;
    int count = 0;
    while (points >> point) {
        ++count;
        EXPECT_TRUE(point == "/" || point.rfind("/proc", 0) == 0 || point.rfind("/dev", 0) == 0 ||
                    point == "/sys")
            << point;
    }
    EXPECT_GE(count, 7) << mounts;
}

TEST_F(shim_host, pivot_container_sees_only_its_image) {
    auto result = run_facts({"hostname=box-1"});
    auto f = facts_of(result.out);
    EXPECT_EQ(f["hostname"], "box-1");
    expect_image_facts(f);
    // Only the container's own mounts: the host's tree is detached.
    expect_only_container_mounts(f["mounts"]);
    // The write went to the upper layer, not to the shared image.
    EXPECT_FALSE(fs::exists(lower_ / "written-by-container"));
    EXPECT_FALSE(fs::exists(lower_ / "sys"));
    char host_name[65] = {};
    ASSERT_EQ(::gethostname(host_name, sizeof host_name - 1), 0);
    EXPECT_NE(std::string(host_name), "box-1");
}

// dev=: the supervisor's one /dev tree (layer_store::dev_template), bound read-only, gives
// the container the /dev it would have built, in both root switches; /dev/shm stays its own
// (nothing written there reaches the shared tree), and the escapes still fail.
TEST_F(shim_host, a_shared_dev_tree_gives_the_same_dev_and_keeps_shm_private) {
    berth::layer_store store((base_ / ("state-" + scratch_.filename().string())).string());
    auto dev = store.dev_template();
    ASSERT_TRUE(dev) << dev.error().message();
    for (const char* how : {"root_switch=pivot", "root_switch=move"}) {
        SCOPED_TRACE(how);
        auto f = facts_of(run_facts({"dev=" + *dev, how}).out);
        expect_image_facts(f);
        EXPECT_TRUE(fs::is_empty(fs::path(*dev) / "shm")) << "shm was written through";
    }
    {
        SCOPED_TRACE("root_switch=template");
        auto words = use_template(*dev);
        words.push_back("dev=" + *dev);
        auto f = facts_of(run_facts(words).out);
        expect_image_facts(f);
        EXPECT_TRUE(fs::is_empty(fs::path(*dev) / "shm")) << "shm was written through";
        auto verdicts = run_escapes(words);
        for (const auto& name : all_probes) {
            expect_contained(verdicts, name);
        }
        root_ns_.reset();
    }
    auto verdicts = run_escapes({"dev=" + *dev});
    for (const auto& name : all_probes) {
        expect_contained(verdicts, name);
    }
}

TEST_F(shim_host, a_missing_dev_tree_fails_at_its_bind) {
    auto result = berth::test::run(
        shim(image_spec({"dev=" + (base_ / "no-such-dev").string()}), {"/bin/true"}));
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.step(), "bind /dev from " + (base_ / "no-such-dev").string());
    EXPECT_EQ(result.error(), ENOENT);
}

TEST_F(shim_host, move_container_sees_its_image_over_the_host_tree) {
    auto result = run_facts({"root_switch=move"});
    auto f = facts_of(result.out);
    expect_image_facts(f);
    EXPECT_FALSE(fs::exists(lower_ / "written-by-container"));
    // The host's mounts stay in the namespace under the new root, but mountinfo shows only
    // what is reachable from the process's root.
    expect_only_container_mounts(f["mounts"]);
}

// root_switch=template: the new root is moved onto the root template's "/", an empty
// read-only tmpfs; mountinfo shows only the container's mounts, as with pivot_root.
TEST_F(shim_host, template_container_sees_only_its_image) {
    auto f = facts_of(run_facts(use_template()).out);
    expect_image_facts(f);
    expect_only_container_mounts(f["mounts"]);
    EXPECT_FALSE(fs::exists(lower_ / "written-by-container"));
}

TEST_F(shim_host, template_without_its_namespace_fails_at_entering_it) {
    auto result = berth::test::run(shim(image_spec({"root_switch=template"}), {"/bin/true"}));
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.step(), "enter root template");
    EXPECT_EQ(result.error(), EBADF);
}

// sched=other (start_priority = "realtime"): spawned at SCHED_FIFO, the shim sets up at that
// priority and the workload runs at SCHED_OTHER; without the key the policy is inherited.
TEST_F(shim_host, sched_other_leaves_the_fifo_priority_it_was_spawned_with) {
    sched_param fifo{};
    fifo.sched_priority = 1;
    ASSERT_EQ(::sched_setscheduler(0, SCHED_FIFO, &fifo), 0) << std::strerror(errno);
    struct back_to_other {
        ~back_to_other() {
            sched_param none{};
            ::sched_setscheduler(0, SCHED_OTHER, &none);
        }
    } restore;
    // Field 41 of /proc/PID/stat is the policy: 0 SCHED_OTHER, 1 SCHED_FIFO.
    const std::vector<std::string> policy{"/bin/sh", "-c", "cut -d' ' -f41 /proc/self/stat"};
    auto with = berth::test::run(shim(image_spec({"sched=other"}), policy));
    auto without = berth::test::run(shim(image_spec(), policy));
    EXPECT_EQ(with.out, "0\n") << with.step() << with.err;
    EXPECT_EQ(without.out, "1\n") << without.step() << without.err;
}

TEST_F(shim_host, credentials_apply_and_drop_capabilities) {
    auto result = run_facts({"uid=1000", "gid=1001", "groups=10,20", "cwd=/tmp"});
    auto f = facts_of(result.out);
    EXPECT_EQ(f["Uid"], "1000 1000 1000 1000");
    EXPECT_EQ(f["Gid"], "1001 1001 1001 1001");
    EXPECT_EQ(f["Groups"], "10 20");
    EXPECT_EQ(f["CapEff"], "0000000000000000");
    EXPECT_EQ(f["CapPrm"], "0000000000000000");
    EXPECT_EQ(f["CapInh"], "0000000000000000");
    EXPECT_EQ(f["CapBnd"], default_caps);
    EXPECT_EQ(f["NoNewPrivs"], "1");
    EXPECT_EQ(f["cwd"], "/tmp");
}

TEST_F(shim_host, gid_alone_clears_supplementary_groups) {
    auto result = run_facts({"gid=5"});
    auto f = facts_of(result.out);
    EXPECT_EQ(f["Uid"], "0 0 0 0");
    EXPECT_EQ(f["Gid"], "5 5 5 5");
    EXPECT_EQ(f["Groups"], "");
}

TEST_F(shim_host, rlimits_apply) {
    auto result = run_facts({"rlimit=NOFILE:100:200", "rlimit=CORE:0:inf"});
    auto f = facts_of(result.out);
    EXPECT_EQ(f["limits"], "100 200");
}

TEST_F(shim_host, caps_all_keeps_the_supervisors_set) {
    auto result = run_facts({"caps=all"});
    auto f = facts_of(result.out);
    EXPECT_EQ(f["CapBnd"], own_status("CapBnd"));
    EXPECT_EQ(f["CapEff"], own_status("CapPrm"));
    EXPECT_EQ(f["CapInh"], "0000000000000000");
    EXPECT_EQ(f["NoNewPrivs"], "1");
}

TEST_F(shim_host, scratch_size_limits_the_containers_writes) {
    const char* script = "echo \"size_kb=$(df -k / | tail -1 | awk '{print $2}')\"; "
                         "head -c 9000000 /dev/zero >/big 2>/dev/null && echo big=written || "
                         "echo big=refused";
    auto result =
        berth::test::run(shim(image_spec({"scratch_size=8388608"}), {"/bin/sh", "-c", script}));
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    auto f = facts_of(result.out);
    EXPECT_EQ(f["size_kb"], "8192");
    EXPECT_EQ(f["big"], "refused");
}

TEST_F(shim_host, own_net_namespace_has_loopback_up_and_cgroup_namespace_its_cgroup) {
    const char* script = R"sh(
echo "lo_flags=$(cat /sys/class/net/lo/flags)"
echo "links=$(ls /sys/class/net | tr '\n' ' ')"
echo "ping=$(ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1 && echo ok || echo failed)"
echo "cgroup=$(grep '^0::' /proc/self/cgroup)"
cgroup_write=$(touch /sys/fs/cgroup/x 2>/dev/null && echo writable || echo read-only)
echo "cgroupfs=$([ -e /sys/fs/cgroup/cgroup.procs ] && echo present) $cgroup_write"
)sh";
    auto spec = image_spec();
    spec[1] = "ns=mount,uts,ipc,net,cgroup";
    auto result = berth::test::run(shim(spec, {"/bin/sh", "-c", script}));
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    auto f = facts_of(result.out);
    EXPECT_EQ(f["lo_flags"], "0x9"); // IFF_UP | IFF_LOOPBACK
    EXPECT_EQ(f["links"], "lo ");
    EXPECT_EQ(f["ping"], "ok");
    EXPECT_EQ(f["cgroup"], "0::/");
    EXPECT_EQ(f["cgroupfs"], "present read-only");
}

TEST_F(shim_host, leaked_fds_are_closed_and_status_fd_is_close_on_exec) {
    auto what = shim(image_spec(), {"/bin/escape", "--fds"});
    what.leaked_dir = base_.string(); // a host directory at fd 7: a way out if it survived
    auto result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), 0) << result.err;
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(facts_of(result.out)["fds"], "0 1 2");
}

TEST_F(shim_host, path_lookup_uses_the_workload_path_or_the_default) {
    auto what = shim(image_spec(), {"sh", "-c", "echo found"});
    what.env = {"HOME=/"};
    auto result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), 0) << result.step();
    EXPECT_EQ(result.out, "found\n");

    what.env = {"PATH=/nowhere:/bin"};
    result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), 0) << result.step();
    EXPECT_EQ(result.out, "found\n");

    what.env = {"PATH=/nowhere:/tmp"};
    result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "execve sh");
    EXPECT_EQ(result.error(), ENOENT);
}

TEST_F(shim_host, path_lookup_reports_a_file_it_may_not_run) {
    auto what = shim(image_spec(), {"noexec"});
    what.env = {"PATH=/tmp:/bin"};
    auto result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "execve /bin/noexec");
    EXPECT_EQ(result.error(), EACCES);
}

TEST_F(shim_host, bad_lower_fails_at_mount_overlay) {
    auto spec = image_spec();
    spec[2] = "lower=" + (base_ / "no-such-image").string();
    auto result = berth::test::run(shim(spec, {"/bin/true"}));
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "mount overlay");
    EXPECT_EQ(result.error(), ENOENT);
    EXPECT_NE(result.err.find("berth-shim test/1: mount overlay: No such file or directory"),
              std::string::npos)
        << result.err;
}

TEST_F(shim_host, missing_binary_fails_at_execve) {
    auto result = berth::test::run(shim(image_spec(), {"/bin/nginx", "-g", "daemon off;"}));
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "execve /bin/nginx");
    EXPECT_EQ(result.error(), ENOENT);
}

TEST_F(shim_host, bad_cwd_fails_at_chdir) {
    auto result = berth::test::run(shim(image_spec({"cwd=/srv"}), {"/bin/true"}));
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "chdir /srv");
    EXPECT_EQ(result.error(), ENOENT);
}

TEST_F(shim_host, bad_spec_fails_before_any_system_call) {
    auto result = berth::test::run(shim({"name=test/1", "colour=blue"}, {"/bin/true"}));
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "spec: unknown key: colour=blue");
    EXPECT_EQ(result.error(), 0);
    EXPECT_EQ(result.err, "berth-shim test/1: spec: unknown key: colour=blue\n");

    result = berth::test::run(shim({"hostname=box"}, {"/bin/true"}));
    EXPECT_EQ(result.step(), "spec: hostname= needs ns=uts");
}

TEST_F(shim_host, success_sends_no_record) {
    auto result = berth::test::run(shim(image_spec(), {"/bin/sh", "-c", "exit 3"}));
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(result.exit_code(), 3);
}

TEST_F(shim_host, without_lower_the_host_root_stays_with_a_fresh_proc) {
    std::string host_cmdline = read_file("/proc/1/cmdline");
    std::string script = "hostname; tr '\\0' ' ' </proc/1/cmdline | cut -d' ' -f1,2; "
                         "test -e " +
                         marker_.string() + " && echo marker";
    auto what = shim({"ns=mount,uts", "hostname=hostless"}, {"/bin/sh", "-c", script});
    what.env = {"PATH=/usr/bin:/bin"};
    auto result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    // The host's files, but /proc shows the container's pid namespace.
    EXPECT_EQ(result.out, "hostless\n/bin/sh -c\nmarker\n");
    EXPECT_EQ(read_file("/proc/1/cmdline"), host_cmdline);
}

TEST_F(shim_host, without_namespaces_it_only_sets_credentials) {
    auto what = shim({"uid=65534", "gid=65534"}, {"/bin/sh", "-c", "id -u; id -g"});
    what.env = {"PATH=/usr/bin:/bin"};
    what.new_pid_namespace = false;
    auto result = berth::test::run(what);
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    EXPECT_EQ(result.out, "65534\n65534\n");
}

TEST_F(shim_host, pivot_root_escapes_all_fail) {
    auto verdicts = run_escapes({});
    for (const auto& name : all_probes) {
        expect_contained(verdicts, name);
    }
}

// Beneath a template-switched root lies only the template: the escapes that climb out of the
// root (chroot, umount with CAP_SYS_ADMIN below) reach an empty read-only tmpfs, the image's
// own lower layers and this container's scratch, never the host's marker.
TEST_F(shim_host, template_root_escapes_all_fail) {
    auto verdicts = run_escapes(use_template());
    for (const auto& name : all_probes) {
        expect_contained(verdicts, name);
    }
}

// With root_switch=move the host's tree stays mounted under the container's root. The path
// escapes still fail: the new root is stacked on the host's "/", so ".." at its top leads
// back into it, and umount needs CAP_SYS_ADMIN. The user-namespace route fails only because
// the shim covers the host's /proc and /sys (see the next test).
TEST_F(shim_host, move_root_escapes_fail_with_default_caps) {
    auto verdicts = run_escapes({"root_switch=move"});
    for (const auto& name : all_probes) {
        expect_contained(verdicts, name);
    }
}

// Documented in docs/shim.md: a proc instance in the supervisor's namespace other than /proc
// stays fully visible under a moved root, so a user namespace created in the container may
// mount a fresh, unprotected proc and open host-wide sysctls for writing. Move mode is not an
// isolation boundary; pivot mode leaves nothing of the host's tree behind.
TEST_F(shim_host, move_root_leaves_other_proc_instances_to_user_namespaces) {
    fs::path extra = base_ / "extra-proc";
    fs::create_directory(extra);
    auto moved = run_escapes({"root_switch=move"}, {"userns-proc", "chroot"}, extra.string());
    expect_escaped(moved, "userns-proc");
    expect_contained(moved, "chroot");
    auto pivoted = run_escapes({}, {"userns-proc", "chroot"}, extra.string());
    expect_contained(pivoted, "userns-proc");
    expect_contained(pivoted, "chroot");
    // The template is built from the supervisor's namespace but holds none of its mounts.
    auto templated = run_escapes(use_template(), {"userns-proc", "chroot"}, extra.string());
    expect_contained(templated, "userns-proc");
    expect_contained(templated, "chroot");
    fs::remove(extra);
}

// caps=all (CAP_SYS_ADMIN) is no isolation boundary in any mode: the host's disk can be
// mounted. What still holds: unmounting "/" uncovers nothing (pivot: nothing is beneath;
// move: the process's root pins the detached new root; template: only the template is
// beneath). One probe per container, since a successful umount changes the whole mount
// namespace (the container's copy, not the template).
TEST_F(shim_host, all_caps_reach_the_host_disk_in_every_mode) {
    for (const char* mode : {"root_switch=pivot", "root_switch=move", "root_switch=template"}) {
        SCOPED_TRACE(mode);
        if (std::string(mode) == "root_switch=template") {
            use_template();
        }
        expect_escaped(run_escapes({mode, "caps=all"}, {"mount-disk"}), "mount-disk");
        expect_contained(run_escapes({mode, "caps=all"}, {"umount"}), "umount");
        expect_contained(run_escapes({mode, "caps=all"}, {"umount-lazy"}), "umount-lazy");
        expect_contained(run_escapes({mode, "caps=all"}, {"chroot"}), "chroot");
    }
}

TEST_F(shim_host, init_reaps_orphans) {
    // The subshell starts a sleep and exits: the sleep is orphaned to PID 1, the shim. Once it
    // ends, only a reaping init makes its /proc entry go away.
    const char* script = R"sh(
(sleep 1 & echo $! >/tmp/orphan)
orphan=$(cat /tmp/orphan)
echo "orphan_parent=$(cut -d' ' -f4 /proc/$orphan/stat)"
i=0
while [ -e /proc/$orphan ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
[ -e /proc/$orphan ] && echo "reaped=no" || echo "reaped=yes"
echo "init=$(tr '\0' ' ' </proc/1/cmdline | cut -d' ' -f1)"
)sh";
    auto result = berth::test::run(shim(image_spec({"init=1"}), {"/bin/sh", "-c", script}));
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    auto f = facts_of(result.out);
    EXPECT_EQ(f["orphan_parent"], "1");
    EXPECT_EQ(f["reaped"], "yes");
    EXPECT_EQ(f["init"], "berth-shim");
}

TEST_F(shim_host, init_forwards_sigterm_and_propagates_the_exit_code) {
    const char* script = R"sh(
trap 'echo "got TERM as pid $$"; exit 42' TERM
echo ready
while true; do sleep 0.05; done
)sh";
    auto child = running::start(shim(image_spec({"init=1"}), {"/bin/sh", "-c", script}));
    ASSERT_TRUE(child.wait_for_output("ready\n"));
    ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
    auto result = child.finish();
    EXPECT_FALSE(result.timed_out);
    EXPECT_NE(result.out.find("got TERM as pid 2"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code(), 42);
}

TEST_F(shim_host, init_encodes_death_by_signal_as_128_plus_signo) {
    auto child = running::start(
        shim(image_spec({"init=1"}), {"/bin/sh", "-c", "echo ready; exec sleep 30"}));
    ASSERT_TRUE(child.wait_for_output("ready\n"));
    ASSERT_EQ(::kill(child.pid(), SIGTERM), 0); // forwarded; sleep has no handler
    auto result = child.finish();
    EXPECT_EQ(result.exit_code(), 128 + SIGTERM);

    result = berth::test::run(shim(image_spec({"init=1"}), {"/bin/sh", "-c", "kill -KILL $$"}));
    EXPECT_EQ(result.exit_code(), 128 + SIGKILL);
}

TEST_F(shim_host, init_reports_the_workloads_exec_failure) {
    auto result = berth::test::run(shim(image_spec({"init=1"}), {"/bin/nginx"}));
    EXPECT_EQ(result.exit_code(), BERTH_SHIM_EXIT_FAILED);
    EXPECT_EQ(result.step(), "execve /bin/nginx");
    EXPECT_EQ(result.error(), ENOENT);
}

TEST_F(shim_host, init_without_pid_namespace_is_a_subreaper) {
    fs::path orphan_file = base_ / "orphan";
    std::string script = "(sleep 1 & echo $! >" + orphan_file.string() +
                         ")\n"
                         "orphan=$(cat " +
                         orphan_file.string() +
                         ")\n"
                         "echo \"orphan_parent=$(cut -d' ' -f4 /proc/$orphan/stat)\"\n"
                         "echo \"init=$PPID\"\n"
                         "i=0; while [ -e /proc/$orphan ] && [ $i -lt 600 ]; do sleep 0.05; "
                         "i=$((i + 1)); done\n"
                         "[ -e /proc/$orphan ] && echo reaped=no || echo reaped=yes\n";
    auto what = shim({"init=1"}, {"/bin/sh", "-c", script});
    what.env = {"PATH=/usr/bin:/bin"};
    what.new_pid_namespace = false;
    auto child = running::start(what);
    pid_t shim_pid = child.pid();
    auto result = child.finish();
    EXPECT_EQ(result.exit_code(), 0) << result.step() << result.err;
    auto f = facts_of(result.out);
    EXPECT_EQ(f["init"], std::to_string(shim_pid));
    EXPECT_EQ(f["orphan_parent"], std::to_string(shim_pid));
    EXPECT_EQ(f["reaped"], "yes");
    fs::remove(orphan_file);
}

} // namespace
