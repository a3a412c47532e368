// The running fleet (`berth run`): start-up, dependency propagation, signals, the ordered
// shutdown and teardown, and the fleet_control the control API uses.
#pragma once

#include "config/fleet.hpp"
#include "engine/exit_clock.hpp"
#include "engine/http_server.hpp"
#include "engine/layer_store.hpp"
#include "engine/root_template.hpp"
#include "engine/signals.hpp"
#include "metrics/collector.hpp"
#include "metrics/endpoint.hpp"
#include "metrics/registry.hpp"
#include "supervisor/control.hpp"
#include "supervisor/pid1.hpp"
#include "supervisor/service.hpp"
#include "supervisor/supervisor.hpp"

#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace berth {

// The running fleet: its services, the loop, the signals, the ordered shutdown; and what the
// control API may see and steer (fleet_control).
class fleet_runner final : public fleet_control {
public:
    fleet_runner(config::fleet fleet, std::filesystem::path config_path, const run_options& options,
                 spawner& spawn)
        : fleet_(std::move(fleet)), config_path_(std::move(config_path)), options_(options),
          spawn_(spawn), reaper_(io_), shutdown_timer_(io_), priority_timer_(io_) {}

    int run();

    // How the machine should end when berth is PID 1: SIGINT (ctrl-alt-del) reboots.
    pid1::ending ending() const noexcept { return ending_; }

    // fleet_control
    std::vector<service_view> services(std::optional<std::string_view> service) override;
    berth::status start(std::string_view service, std::optional<std::uint32_t> replica) override;
    berth::status stop(std::string_view service, std::optional<std::uint32_t> replica) override;
    berth::status restart(std::string_view service, std::optional<std::uint32_t> replica) override;
    reload_outcome reload(bool dry_run) override;
    void shutdown(bool reboot) override;

private:
    result<service_runtime*> find(std::string_view name, std::optional<std::uint32_t> replica);
    std::unique_ptr<service_runtime> make_service(const config::service& s);
    void release_image(service_runtime& svc);
    void rebuild_dependents();
    bool dependencies_up(const service_runtime& svc) const;
    void launch(service_runtime& svc);
    void apply(const config::fleet& next, const std::vector<reload_change>& plan);
    void retire(const std::string& name, std::optional<config::service> replacement);
    void schedule_reconcile();
    void reconcile();
    void open_control_socket();
    void open_metrics();
    void close_metrics() noexcept;
    void report_service(const service_runtime& svc) noexcept;
    void run_loop();
    void drop_priority_when_idle();
    berth::status setup();
    berth::status lock_state_dir();
    berth::status setup_cgroups();
    berth::status setup_services();
    void start_fleet();
    void on_signal(const signalfd_siginfo& info);
    void on_change(service_runtime& svc);
    void evaluate_dependencies(service_runtime& svc);
    void begin_shutdown();
    void continue_shutdown();
    void force_stop();
    void teardown();

    config::fleet fleet_;
    std::filesystem::path config_path_; // re-read by reload
    const run_options& options_;
    spawner& spawn_;
    boost::asio::io_context io_;
    reaper reaper_;
    std::optional<signal_stream> signals_;
    std::unique_ptr<http::server> control_;
    // The metrics (metrics_listen): all four exist or none does. Declared after io_ and before
    // ctx_, so they go after the services and before the loop; close_metrics() stops the
    // collector and closes the server before the registry goes.
    std::unique_ptr<metrics::registry> metrics_;
    std::unique_ptr<metrics::collector> collector_;
    std::unique_ptr<metrics::endpoint> endpoint_;
    std::unique_ptr<http::server> metrics_server_;
    // With the metrics, when the kernel allows: exit times for the reap-latency histogram.
    std::unique_ptr<exit_clock> exit_clock_;
    std::optional<cgroup::tree> tree_;
    std::optional<layer_store> layers_;
    root_templates templates_;            // one per image lower, for root_switch = "template"
    std::optional<image_store> images_;   // <storage_dir>: imported (ref) images
    std::optional<volume_store> volumes_; // <storage_dir>/volumes and <state_dir>/volumes
    std::unique_ptr<runtime_context> ctx_;
    std::vector<std::unique_ptr<service_runtime>> services_; // in start order
    std::map<std::string, service_runtime*, std::less<>> by_name_;
    std::map<std::string, std::vector<service_runtime*>, std::less<>> dependents_;
    // Services stopping for a reload, and what replaces each once it has stopped.
    std::vector<std::unique_ptr<service_runtime>> retiring_;
    std::map<std::string, config::service, std::less<>> replacements_;
    bool reconcile_posted_ = false;
    std::string original_cgroup_;
    unique_fd lock_fd_;
    boost::asio::steady_timer shutdown_timer_;
    boost::asio::steady_timer priority_timer_; // spawner priority hand-off: when to drop it
    pid1::ending ending_ = pid1::ending::power_off;
    bool shutting_down_ = false;
    bool forced_ = false;
    bool in_shutdown_step_ = false;
    bool shutdown_again_ = false;
    std::set<std::string> stop_sent_;
};

} // namespace berth
