// Fleet load benchmark: a generated 10,000-service fleet file, loaded and validated by berth
// (load_fleet) against toml++ merely parsing the same file, in the same run. Prints the ratio
// of the two (berth's cost over the bare parse) after the table.
#include "config/loader.hpp"

#include <benchmark/benchmark.h>
#include <toml++/toml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;

constexpr int fleet_services = 10'000;

// One service in the style of the example: every common key, a dependency on an
// earlier service, limits and volumes.
std::string service_text(int i) {
    const std::string name = "svc" + std::to_string(i);
    std::string s = "[service." + name + "]\n";
    s += "image = \"base" + std::to_string(i % 4) + "\"\n";
    s +=
        "command = [\"/bin/httpd\", \"-f\", \"-p\", \"" + std::to_string(8000 + i % 1000) + "\"]\n";
    s += "replicas = " + std::to_string(1 + i % 3) + "\n";
    s += "restart = \"on-failure\"\nrestart_delay = \"100ms\"\nrestart_delay_max = \"30s\"\n";
    s += "start_timeout = \"5s\"\nstop_timeout = \"5s\"\nstop_signal = \"SIGTERM\"\n";
    if (i > 0) {
        s += "after = [\"svc" + std::to_string(i / 2) + "\"]\n";
    }
    s += "env = { MODE = \"prod\", INDEX = \"" + std::to_string(i) + "\" }\n";
    s += "user = \"1000:1000\"\nhostname = \"" + name + "-{replica}\"\n";
    s += "namespaces = [\"mount\", \"pid\", \"uts\", \"ipc\", \"cgroup\"]\n";
    s += "readiness = \"notify\"\n";
    s += "volumes = [\"data-{replica}:/var/lib/app\", \"/srv/www:/www:ro\"]\n";
    s += "[service." + name + ".limits]\n";
    s += "memory_max = \"64M\"\nmemory_high = \"48M\"\nmemory_swap_max = \"0\"\npids_max = 64\n";
    s += "cpu_max = \"50%\"\ncpu_weight = 100\nio_weight = 100\ncpuset_cpus = \"0-1\"\n";
    return s;
}

// The generated fleet file in a temporary directory, removed at exit.
class fleet_file {
public:
    fleet_file() {
        std::string pattern = (fs::temp_directory_path() / "berth-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::perror("bench_config_load: mkdtemp");
            std::exit(1);
        }
        dir_ = pattern;
        path_ = dir_ / "fleet.toml";
        std::ofstream out(path_);
        out << "[supervisor]\nstate_dir = \"/run/berth\"\n";
        for (int i = 0; i < 4; ++i) {
            out << "[image.base" << i << "]\nlayers = [\"/var/lib/berth/layers/l" << i << "\"]\n";
        }
        for (int i = 0; i < fleet_services; ++i) {
            out << service_text(i);
        }
    }
    ~fleet_file() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    const fs::path& path() const { return path_; }
    std::int64_t size() const { return static_cast<std::int64_t>(fs::file_size(path_)); }

private:
    fs::path dir_;
    fs::path path_;
};

const fleet_file& shared_file() {
    static const fleet_file file;
    return file;
}

void BM_berth_load_fleet(benchmark::State& state) {
    const fleet_file& file = shared_file();
    for (auto _ : state) {
        auto result = berth::config::load_fleet(file.path());
        if (!result.ok() || result.fleet->services.size() != fleet_services) {
            state.SkipWithError("the generated fleet does not load");
            std::fputs(berth::config::format_diagnostics(result.diagnostics).c_str(), stderr);
            break;
        }
        benchmark::DoNotOptimize(result);
    }
    state.SetBytesProcessed(state.iterations() * file.size());
    state.counters["services"] = fleet_services;
}

void BM_tomlpp_parse_only(benchmark::State& state) {
    const fleet_file& file = shared_file();
    for (auto _ : state) {
        auto table = toml::parse_file(file.path().string());
        benchmark::DoNotOptimize(table);
    }
    state.SetBytesProcessed(state.iterations() * file.size());
    state.counters["services"] = fleet_services;
}

BENCHMARK(BM_berth_load_fleet)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_tomlpp_parse_only)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Console output as usual, plus each benchmark's real time kept for the ratio.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
                times_[run.benchmark_name()] = {run.GetAdjustedRealTime(),
                                                run.GetAdjustedCPUTime()};
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }

    void print_ratio() const {
        const auto load = times_.find("BM_berth_load_fleet/min_time:2.000");
        const auto parse = times_.find("BM_tomlpp_parse_only/min_time:2.000");
        if (load == times_.end() || parse == times_.end() || parse->second.real <= 0 ||
            parse->second.cpu <= 0) {
            return;
        }
        std::printf("\n%d services, %.1f MB: full load + validation / toml++ parse only = "
                    "%.2f real (%.1f ms / %.1f ms), %.2f CPU (%.1f ms / %.1f ms)\n",
                    fleet_services, static_cast<double>(shared_file().size()) / 1e6,
                    load->second.real / parse->second.real, load->second.real, parse->second.real,
                    load->second.cpu / parse->second.cpu, load->second.cpu, parse->second.cpu);
    }

private:
    struct times {
        double real;
        double cpu;
    };
    std::map<std::string, times> times_;
};

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratio();
    benchmark::Shutdown();
    return 0;
}
