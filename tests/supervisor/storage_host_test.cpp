// `berth run` with storage on the host: a service on an imported image takes its command,
// environment and working directory from the image config; named volumes keep their data
// across restarts of the replica and of berth; anonymous volumes last as long as the replica;
// host binds are mounted as asked; `berth image rm` and `berth volume rm` refuse what runs.
// Also the replica restarted after cgroup.kill, which must get a fresh leaf (docs/cgroups.md).
#include "tests/supervisor/fleet_process.hpp"

namespace {

namespace fs = std::filesystem;
using berth::test::slurp;

class storage_host_test : public berth::test::fleet_process_test {
protected:
    storage_host_test() { prefix_ = "storage"; }

    // Imports the busybox rootfs as a docker archive whose config says `config_json` (the
    // members of "config": Entrypoint, Cmd, Env, ...), under `name`.
    void import_image(const std::string& name, const std::string& config_json) {
        auto layer = busybox_layer();
        std::string pack =
            "tar -C " + layer.string() + " -cf " + (base_ / "layer.tar").string() + " .";
        ASSERT_EQ(std::system(pack.c_str()), 0);
        berth::test::write_docker_archive(base_ / "archive", {slurp(base_ / "layer.tar")},
                                          name + ":1", "\"config\":{" + config_json + "},");
        ASSERT_EQ(berth_cli({"image", "import", (base_ / "archive").string(), "--name", name}), 0)
            << slurp(base_ / "cli.err");
    }
};

TEST_F(storage_host_test, a_ref_image_supplies_command_env_and_working_dir) {
    import_image("app", R"("Entrypoint":["/bin/sh","-c"],)"
                        R"("Cmd":["echo $GREETING $MODE from $(pwd); exec sleep 1000"],)"
                        R"("Env":["GREETING=hello","MODE=image","PATH=/bin"],"WorkingDir":"/tmp")");
    start_berth(write_fleet(R"(
[image.app]
ref = "app"

[service.app]
image = "app"
env = { MODE = "service" }
)"));
    ASSERT_TRUE(wait_for(base_ / "berth.err", "service app/0: ready"))
        << slurp(base_ / "berth.err");
    ASSERT_TRUE(wait_for(replica_log("app", 0), "from"));
    EXPECT_EQ(slurp(replica_log("app", 0)), "hello service from /tmp\n")
        << "Entrypoint + Cmd ran, the image's Env under the service's, in WorkingDir";

    EXPECT_EQ(berth_cli({"image", "rm", "app"}), 1) << "the running fleet holds the image";
    EXPECT_NE(slurp(base_ / "cli.err").find("app"), std::string::npos) << slurp(base_ / "cli.err");
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
    EXPECT_EQ(berth_cli({"image", "rm", "app"}), 0) << slurp(base_ / "cli.err");
}

TEST_F(storage_host_test, an_image_user_name_is_looked_up_in_the_image_and_labels_are_shown) {
    // Two layers: busybox, then one with the image's own passwd and group files.
    auto layer = busybox_layer();
    std::string pack = "tar -C " + layer.string() + " -cf " + (base_ / "layer.tar").string() + " .";
    ASSERT_EQ(std::system(pack.c_str()), 0);
    fs::create_directories(base_ / "accounts/etc");
    berth::test::put(base_ / "accounts/etc/passwd",
                     "root:x:0:0::/root:/bin/sh\nsvc:x:4321:4000::/:/bin/sh\n");
    berth::test::put(base_ / "accounts/etc/group", "root:x:0:\nsvc:x:4000:\nextra:x:4500:\n");
    pack = "tar -C " + (base_ / "accounts").string() + " -cf " + (base_ / "accounts.tar").string() +
           " etc/passwd etc/group";
    ASSERT_EQ(std::system(pack.c_str()), 0);
    berth::test::write_docker_archive(
        base_ / "archive", {slurp(base_ / "layer.tar"), slurp(base_ / "accounts.tar")}, "svc:1",
        R"("config":{"User":"svc","Env":["PATH=/bin"],"Labels":{"org.test.tier":"backend"},)"
        R"("Cmd":["/bin/sh","-c","echo uid=$(id -u) gid=$(id -g); exec sleep 1000"]},)");
    ASSERT_EQ(berth_cli({"image", "import", (base_ / "archive").string(), "--name", "svc"}), 0)
        << slurp(base_ / "cli.err");
    berth::test::write_docker_archive(base_ / "ghost", {slurp(base_ / "layer.tar")}, "ghost:1",
                                      R"("config":{"User":"ghost:extra","Cmd":["/bin/true"]},)");
    ASSERT_EQ(berth_cli({"image", "import", (base_ / "ghost").string(), "--name", "ghost"}), 0)
        << slurp(base_ / "cli.err");

    start_berth(write_fleet(R"(
[image.svc]
ref = "svc"

[image.ghost]
ref = "ghost"

[service.svc]
image = "svc"

[service.ghost]
image = "ghost"
)"));
    ASSERT_TRUE(wait_for(base_ / "berth.err", "service svc/0: ready"))
        << slurp(base_ / "berth.err");
    ASSERT_TRUE(wait_for(replica_log("svc", 0), "gid="));
    EXPECT_EQ(slurp(replica_log("svc", 0)), "uid=4321 gid=4000\n")
        << "User 'svc' from the image's own /etc/passwd";
    ASSERT_TRUE(wait_for(base_ / "berth.err",
                         "service ghost: image 'ghost': User 'ghost:extra': no user 'ghost' in "
                         "the image's /etc/passwd"))
        << slurp(base_ / "berth.err");

    std::string ctl = std::string(BERTH_BINARY_DIR) + "/bin/berthctl --socket " +
                      (base_ / "state" / "control.sock").string() + " --json status svc > " +
                      (base_ / "status.json").string() + " 2>&1";
    ASSERT_EQ(std::system(ctl.c_str()), 0) << slurp(base_ / "status.json");
    auto status = slurp(base_ / "status.json");
    std::erase_if(status, [](char c) { return c == ' ' || c == '\n'; }); // berthctl indents
    EXPECT_NE(status.find(R"("image":"svc")"), std::string::npos) << status;
    EXPECT_NE(status.find(R"("labels":{"org.test.tier":"backend"})"), std::string::npos) << status;
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
}

TEST_F(storage_host_test, a_missing_ref_image_fails_the_service_and_not_the_fleet) {
    start_berth(write_fleet(R"(
[image.gone]
ref = "gone"

[service.orphan]
image = "gone"

[service.host]
command = ["/bin/busybox", "sh", "-c", "echo alive; exec /bin/busybox sleep 1000"]
)"));
    ASSERT_TRUE(wait_for(base_ / "berth.err", "service host/0: ready"))
        << slurp(base_ / "berth.err");
    ASSERT_TRUE(wait_for(base_ / "berth.err", "image 'gone'")) << slurp(base_ / "berth.err");
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
}

TEST_F(storage_host_test, named_volumes_outlive_restarts_and_anonymous_ones_the_replica) {
    import_image("base", R"("Env":["PATH=/bin"])");
    fs::create_directories(base_ / "host");
    berth::test::put(base_ / "host" / "greeting", "from the host\n");
    auto fleet = write_fleet(R"(
[image.base]
ref = "base"

[service.db]
image = "base"
restart = "always"
restart_delay = "10ms"
volumes = ["data-{replica}:/data", ")" +
                             (base_ / "host").string() + R"(:/host:ro", "/scratch"]
command = ["/bin/sh", "-c", """
n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n
test -f /scratch/mark && echo "run $n anon kept" || echo "run $n anon new"
touch /scratch/mark
cat /host/greeting
touch /host/x 2>/dev/null || echo host read-only
exec sleep 1000
"""]
)");
    start_berth(fleet);
    auto log = replica_log("db", 0);
    ASSERT_TRUE(wait_for(log, "host read-only")) << slurp(log) << slurp(base_ / "berth.err");
    EXPECT_EQ(slurp(log), "run 1 anon new\nfrom the host\nhost read-only\n");
    EXPECT_FALSE(fs::exists(base_ / "host" / "x"));

    // Kill the container: restart = "always" runs it again with the same volumes.
    for (std::istringstream procs(slurp(cgroot_ + "/db/0/cgroup.procs")); procs;) {
        pid_t p = 0;
        if (procs >> p) {
            ::kill(p, SIGKILL);
        }
    }
    ASSERT_TRUE(wait_for(log, "host read-only", 2)) << slurp(log) << slurp(base_ / "berth.err");
    EXPECT_NE(slurp(log).find("run 2 anon kept\n"), std::string::npos) << slurp(log);

    EXPECT_EQ(berth_cli({"volume", "rm", "data-0"}), 1) << "the running replica holds it";
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
    EXPECT_FALSE(fs::exists(base_ / "state" / "volumes" / "db" / "0"))
        << "anonymous volumes go with the replica";

    // berth again: the named volume still counts, the anonymous one is new.
    start_berth(fleet);
    ASSERT_TRUE(wait_for(log, "run 3")) << slurp(log) << slurp(base_ / "berth.err");
    EXPECT_NE(slurp(log).find("run 3 anon new\n"), std::string::npos) << slurp(log);
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
    EXPECT_EQ(slurp(storage_ / "volumes" / "data-0" / "n"), "3\n");
    EXPECT_EQ(berth_cli({"volume", "rm", "data-0"}), 0) << slurp(base_ / "cli.err");
    EXPECT_FALSE(fs::exists(storage_ / "volumes" / "data-0"));
}

TEST_F(storage_host_test, a_bind_source_inside_berths_storage_is_refused_at_start) {
    fs::create_directories(storage_ / "volumes" / "x");
    start_berth(write_fleet(R"(
[service.sneaky]
restart = "never"
volumes = [")" + (storage_ / "volumes" / "x").string() +
                            R"(:/mnt"]
command = ["/bin/busybox", "true"]
)"));
    ASSERT_TRUE(wait_for(base_ / "berth.err", "service sneaky/0: failed"))
        << slurp(base_ / "berth.err");
    EXPECT_NE(slurp(base_ / "berth.err").find("is inside berth's own"), std::string::npos)
        << slurp(base_ / "berth.err");
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
}

TEST_F(storage_host_test, a_replica_killed_at_stop_timeout_starts_again_in_a_fresh_leaf) {
    start_berth(write_fleet(R"(
[service.stubborn]
stop_timeout = "200ms"
restart = "always"
command = ["/bin/busybox", "sh", "-c",
           "trap '' TERM; echo up; while :; do /bin/busybox sleep 1; done"]
)"));
    auto log = replica_log("stubborn", 0);
    ASSERT_TRUE(wait_for(log, "up")) << slurp(base_ / "berth.err");
    // berthctl restart: SIGTERM is ignored, so stop_timeout ends in cgroup.kill.
    std::string ctl = std::string(BERTH_BINARY_DIR) + "/bin/berthctl --socket " +
                      (base_ / "state" / "control.sock").string() +
                      " restart stubborn/0 >/dev/null 2>&1";
    ASSERT_EQ(std::system(ctl.c_str()), 0) << slurp(base_ / "berth.err");
    ASSERT_TRUE(wait_for(log, "up", 2)) << slurp(log) << slurp(base_ / "berth.err");
    ASSERT_TRUE(wait_for(base_ / "berth.err", "service stubborn/0: ready", 2))
        << slurp(base_ / "berth.err");
    EXPECT_FALSE(slurp(cgroot_ + "/stubborn/0/cgroup.procs").empty())
        << "the second run lives in the fresh leaf";
    EXPECT_EQ(stop_berth(), 0) << slurp(base_ / "berth.err");
}

} // namespace
