// Image benchmarks: the import time of a 100-layer image (a `docker save` directory and the
// same as one .tar.gz), and the start time of N replicas on a 10-layer imported image against
// N on a 1-layer one, run interleaved round by round (lower layers are mounted once per image,
// so the two should start alike). See docs/images.md, "Cost".
#include "bench/bench_util.hpp"
#include "engine/cgroup.hpp"
#include "engine/container.hpp"
#include "engine/image_store.hpp"
#include "engine/layer_store.hpp"
#include "engine/sha256.hpp"
#include "engine/shim_spec.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

namespace {

using berth::bench::die;
using berth::bench::must;
using berth::bench::seconds_since;

void run(const std::string& command) {
    if (std::system(command.c_str()) != 0) {
        die("failed: " + command);
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// A `docker save` directory of `layers` layers made with GNU tar: layer 0 is `base` (a
// directory), each later one `files` files of 4 KiB and a whiteout of an earlier file.
// Returns the number of bytes of layer data.
std::uint64_t make_archive(const fs::path& dir, int layers, int files, const fs::path& base) {
    fs::create_directories(dir);
    std::string ids;
    std::string paths;
    std::uint64_t bytes = 0;
    for (int i = 0; i < layers; ++i) {
        fs::path src = dir / ("src" + std::to_string(i));
        if (i == 0 && !base.empty()) {
            src = base;
        } else {
            fs::create_directories(src / ("d" + std::to_string(i)));
            std::string block(4096, static_cast<char>('a' + i % 26));
            for (int f = 0; f < files; ++f) {
                std::ofstream(src / ("d" + std::to_string(i)) / ("f" + std::to_string(f))) << block;
            }
            if (i > 1) {
                std::ofstream(src / ("d" + std::to_string(i - 1)) / ".wh.f0");
            }
        }
        fs::create_directories(dir / ("l" + std::to_string(i)));
        fs::path tar = dir / ("l" + std::to_string(i)) / "layer.tar";
        run("tar -C " + src.string() + " -cf " + tar.string() + " .");
        std::string data = slurp(tar);
        bytes += data.size();
        ids += (i ? "," : "") + std::string("\"sha256:") + berth::sha256::of(data) + "\"";
        paths += (i ? "," : "") + std::string("\"l") + std::to_string(i) + "/layer.tar\"";
        if (src != base) {
            fs::remove_all(src);
        }
    }
    std::string config =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[" +
        ids + "]}}";
    std::string hex = berth::sha256::of(config);
    std::ofstream(dir / (hex + ".json")) << config;
    std::ofstream(dir / "manifest.json")
        << "[{\"Config\":\"" << hex << ".json\",\"RepoTags\":[\"bench:1\"],\"Layers\":[" << paths
        << "]}]";
    return bytes;
}

// Imports the archive `rounds` times into a store on the file system of `/tmp` and into one
// on a tmpfs (the code's own cost, without the disk's), removing it after each run.
void bench_import(const fs::path& base, int layers, int files, int rounds) {
    fs::path dir = base / "import-archive";
    auto bytes = make_archive(dir, layers, files, {});
    run("tar -C " + dir.string() + " -czf " + (base / "import.tar.gz").string() + " .");
    std::printf("import of a %d-layer image (%d files of 4 KiB per layer, %.1f MB of tar)\n",
                layers, files, static_cast<double>(bytes) / 1e6);
    fs::path tmpfs = base / "tmpfs";
    fs::create_directories(tmpfs);
    run("mount -t tmpfs -o size=1g tmpfs " + tmpfs.string());
    for (const auto& [store_label, store_dir] :
         {std::pair{"store on /tmp's disk", base / "import-store"},
          std::pair{"store on tmpfs", tmpfs / "store"}}) {
        for (const auto& [label, path] :
             {std::pair{"docker-save directory", dir},
              std::pair{"the same as .tar.gz", base / "import.tar.gz"}}) {
            std::vector<double> times;
            for (int r = 0; r < rounds; ++r) {
                berth::image_store store(store_dir.string());
                auto t0 = clk::now();
                must(store.import(path.string(), {}), "import");
                times.push_back(seconds_since(t0));
                must(store.remove("bench:1"), "remove");
            }
            std::printf("  %-20s %-22s median %.3f s over %d runs (%.2f ms per layer)\n",
                        store_label, label, median(times), rounds, median(times) / layers * 1e3);
        }
    }
    run("umount " + tmpfs.string());
    fs::remove_all(base / "import-store");
}

// Starts n containers (own cgroup leaf, mount+uts+ipc+cgroup namespaces, pid namespace,
// overlay root over `lower`, busybox sleep), returns the seconds until all run, then ends them.
double start_fleet(int n, const std::string& cgroot, const std::string& lower,
                   const fs::path& scratch, const std::string& shim) {
    boost::asio::io_context io;
    auto sp = must(berth::spawner::create(), "spawner");
    berth::reaper reap(io);
    auto tree = must(berth::cgroup::tree::open(cgroot), "cgroup tree");
    auto service = must(tree.create_service("bench"), "service cgroup");
    std::vector<std::unique_ptr<berth::container>> fleet;
    std::vector<std::string> leaves;
    int running = 0;
    int exited = 0;
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) {
        auto leaf = must(tree.create_replica("bench", std::to_string(i)), "leaf");
        leaves.push_back(leaf);
        auto fd = must(berth::cgroup::open_dir(leaf), "open leaf");
        berth::shim_spec spec;
        spec.name = "bench/" + std::to_string(i);
        spec.namespaces = {"mount", "uts", "ipc", "cgroup"};
        spec.lower = lower;
        spec.scratch = scratch.string();
        spec.hostname = "bench-" + std::to_string(i);
        spec.command = {"/bin/sleep", "100000"};
        berth::container_launch l;
        l.name = spec.name;
        l.shim_path = shim;
        l.argv = berth::shim_argv(spec);
        l.env = {"PATH=/bin"};
        l.cgroup_fd = fd.get();
        auto c = std::make_unique<berth::container>(io, sp, reap);
        berth::container::callbacks cbs;
        cbs.on_running = [&running] { ++running; };
        cbs.on_exit = [&exited](const berth::container_exit&) { ++exited; };
        must(c->start(l, std::move(cbs)), "start");
        fleet.push_back(std::move(c));
        io.poll();
    }
    while (running + exited < n) {
        io.run_one();
    }
    double up = seconds_since(t0);
    if (exited != 0) {
        die(std::to_string(exited) + " containers exited early");
    }
    must(berth::cgroup::kill_all(service), "kill");
    while (exited < n) {
        io.run_one();
    }
    for (const auto& leaf : leaves) {
        must(berth::cgroup::remove(leaf), "remove leaf");
    }
    must(berth::cgroup::remove(service), "remove service");
    return up;
}

void bench_start(const fs::path& base, int n, int rounds, const std::string& shim) {
    fs::path busybox = base / "busybox";
    run("bash " BERTH_SOURCE_DIR "/scripts/make-busybox-layer.sh " + busybox.string());
    make_archive(base / "tall-archive", 10, 20, busybox);
    berth::image_store store((base / "start-store").string());
    auto tall = must(store.import((base / "tall-archive").string(), {}), "import 10 layers");
    fs::create_directories(base / "state/scratch");
    berth::layer_store layers((base / "state").string());
    auto one = must(layers.mount_image("one", {busybox.string()}), "mount 1 layer");
    auto ten = must(layers.mount_image("ten", tall.layers), "mount 10 layers");
    auto mount = must(berth::cgroup::mount_point(), "cgroup2");
    std::string cgroot = mount + "/berth-bench-image-" + std::to_string(::getpid());

    std::printf("start of %d replicas (pid+mount+uts+ipc+cgroup namespaces, overlay root, "
                "busybox sleep), rounds interleaved\n",
                n);
    std::vector<double> t1;
    std::vector<double> t10;
    for (int r = 0; r < rounds; ++r) {
        t1.push_back(start_fleet(n, cgroot, one, base / "state/scratch", shim));
        t10.push_back(start_fleet(n, cgroot, ten, base / "state/scratch", shim));
        std::printf("  round %d: 1 layer %.3f s, 10 layers %.3f s\n", r + 1, t1.back(), t10.back());
    }
    std::printf("  median all up: 1 layer %.3f s (%.0f us/start), 10 layers %.3f s (%.0f "
                "us/start), ratio %.2f\n",
                median(t1), median(t1) / n * 1e6, median(t10), median(t10) / n * 1e6,
                median(t10) / median(t1));
    must(layers.release_image("one"), "release");
    must(layers.release_image("ten"), "release");
}

} // namespace

int main(int argc, char** argv) {
    int layers = 100;
    int files = 20;
    int replicas = 1000;
    int rounds = 3;
    std::string shim = BERTH_SHIM_PATH;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--layers" && i + 1 < argc) {
            layers = std::stoi(argv[++i]);
        } else if (a == "--files" && i + 1 < argc) {
            files = std::stoi(argv[++i]);
        } else if (a == "--replicas" && i + 1 < argc) {
            replicas = std::stoi(argv[++i]);
        } else if (a == "--rounds" && i + 1 < argc) {
            rounds = std::stoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: bench_image [--layers 100] [--files 20] "
                                 "[--replicas 1000] [--rounds 3]\n");
            return 2;
        }
    }
    if (::geteuid() != 0) {
        die("needs root");
    }
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
    fs::path base = fs::temp_directory_path() / ("berth-bench-image-" + std::to_string(::getpid()));
    fs::create_directories(base);
    bench_import(base, layers, files, rounds);
    bench_start(base, replicas, rounds, shim);
    fs::remove_all(base);
    return 0;
}
