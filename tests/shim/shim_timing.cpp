// shim_timing: the wall time of one container start through berth-shim (clone3 to workload
// exit), against plain /bin/busybox true started the same way, in the same run.
//
// usage: shim_timing [RUNS]   (root; default 200 runs of each variant, interleaved run by run
//                              so that load from elsewhere hits every variant alike; prints
//                              the median and mean wall time and the median CPU time)
#include "engine/layer_store.hpp"
#include "engine/root_template.hpp"
#include "tests/shim/shim_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using berth::test::launch;

namespace {

struct variant {
    const char* name;
    launch what;
    std::vector<double> wall_us;
    std::vector<double> cpu_us;
};

struct sample {
    double wall_us;
    double cpu_us;
};

launch plain(bool new_pid_namespace) {
    launch what;
    what.program = "/bin/busybox";
    what.argv = {"busybox", "true"};
    what.capture = false;
    what.new_pid_namespace = new_pid_namespace;
    return what;
}

launch through_shim(std::vector<std::string> spec, std::vector<std::string> workload) {
    launch what;
    what.program = BERTH_SHIM_PATH;
    what.argv = berth::test::shim_argv(spec, workload);
    what.capture = false;
    return what;
}

sample run_once(const launch& what) {
    auto start = std::chrono::steady_clock::now();
    auto result = berth::test::run(what);
    std::chrono::duration<double, std::micro> spent = std::chrono::steady_clock::now() - start;
    if (result.exit_code() != 0) {
        std::fprintf(stderr, "shim_timing: %s failed: exit %d, step \"%s\"\n", what.argv[0].c_str(),
                     result.exit_code(), result.step().c_str());
        std::exit(1);
    }
    return {spent.count(), result.cpu_us};
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

double mean(const std::vector<double>& values) {
    double sum = 0;
    for (double v : values) {
        sum += v;
    }
    return sum / static_cast<double>(values.size());
}

} // namespace

int main(int argc, char** argv) {
    int runs = argc > 1 ? std::atoi(argv[1]) : 200;
    if (::geteuid() != 0 || runs <= 0) {
        std::fprintf(stderr, "usage: shim_timing [RUNS]  (as root)\n");
        return 2;
    }
    char dir[] = "/tmp/berth-shim-timing-XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
        std::perror("shim_timing: mkdtemp");
        return 1;
    }
    fs::path base = dir;
    fs::path lower = base / "lower";
    fs::path scratch = base / "scratch";
    for (const char* sub : {"bin", "proc", "dev", "sys", "tmp"}) {
        fs::create_directories(lower / sub);
    }
    fs::create_directory(scratch);
    fs::copy_file("/bin/busybox", lower / "bin/busybox");
    fs::create_symlink("busybox", lower / "bin/true");

    const std::vector<std::string> image{"ns=mount,uts,ipc", "lower=" + lower.string(),
                                         "scratch=" + scratch.string(), "hostname=timing"};
    auto with = [&](std::string word) {
        auto spec = image;
        spec.push_back(std::move(word));
        return spec;
    };
    // The supervisor's shared /dev tree, which the shim binds instead of building one.
    std::optional<berth::layer_store> store(std::in_place, (base / "state").string());
    auto dev = store->dev_template();
    if (!dev) {
        std::fprintf(stderr, "shim_timing: %s\n", dev.error().message().c_str());
        return 1;
    }
    auto with_dev = [&](std::vector<std::string> words) {
        auto spec = image;
        spec.push_back("dev=" + *dev);
        spec.insert(spec.end(), words.begin(), words.end());
        return spec;
    };
    // The image's root template (root_switch=template, berth's default), built once.
    auto root_ns = berth::build_root_template({lower.string(), *dev, scratch.string()});
    if (!root_ns) {
        std::fprintf(stderr, "shim_timing: %s\n", root_ns.error().message().c_str());
        return 1;
    }
    auto on_template = through_shim(with_dev({"root_switch=template"}), {"/bin/true"});
    on_template.root_ns_fd = root_ns->get();
    std::vector<variant> variants{
        {"busybox true, no pid ns (no shim)", plain(false), {}, {}},
        {"busybox true, pid ns (no shim)", plain(true), {}, {}},
        {"shim, no ns, no image", through_shim({}, {"/bin/busybox", "true"}), {}, {}},
        {"shim, mount+uts+ipc, host root",
         through_shim({"ns=mount,uts,ipc"}, {"/bin/busybox", "true"}),
         {},
         {}},
        {"shim, image, pivot_root", through_shim(image, {"/bin/true"}), {}, {}},
        {"shim, image, pivot_root, dev=", through_shim(with_dev({}), {"/bin/true"}), {}, {}},
        {"shim, image, move", through_shim(with("root_switch=move"), {"/bin/true"}), {}, {}},
        {"shim, image, move, dev=",
         through_shim(with_dev({"root_switch=move"}), {"/bin/true"}),
         {},
         {}},
        {"shim, image, template, dev=", on_template, {}, {}},
        {"shim, image, pivot_root, init=1", through_shim(with("init=1"), {"/bin/true"}), {}, {}},
    };

    for (auto& v : variants) {
        for (int i = 0; i < 10; ++i) {
            run_once(v.what); // warm the page cache and dentries
        }
    }
    for (int i = 0; i < runs; ++i) {
        for (auto& v : variants) {
            auto s = run_once(v.what);
            v.wall_us.push_back(s.wall_us);
            v.cpu_us.push_back(s.cpu_us);
        }
    }

    std::printf("%d runs of each variant, interleaved. wall: clone3 to reaped exit; cpu: user +\n"
                "system time of the child (shim, workload, namespace teardown at exit)\n",
                runs);
    std::printf("  %-38s %12s %12s %12s\n", "", "wall median", "wall mean", "cpu median");
    for (const auto& v : variants) {
        std::printf("  %-38s %9.1f us %9.1f us %9.1f us\n", v.name, median(v.wall_us),
                    mean(v.wall_us), median(v.cpu_us));
    }
    root_ns->reset();
    store.reset(); // unmounts the /dev tree
    fs::remove_all(base);
    return 0;
}
