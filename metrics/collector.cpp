// The collector: batched refresh cycles of the containers' cgroup statistics on the loop.
#include "metrics/collector.hpp"

#include "engine/log.hpp"

#include <time.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>

namespace berth::metrics {
namespace {

std::shared_ptr<spdlog::logger> logger() {
    return log::get("metrics");
}

} // namespace

collector::collector(boost::asio::io_context& io, registry& reg, collector_options opts)
    : io_(io), reg_(reg), opts_(opts), timer_(io), last_scrape_(clock::now()) {
    opts_.batch_size = std::max<std::size_t>(opts_.batch_size, 1);
}

collector::~collector() {
    stop();
}

void collector::start() noexcept {
    periodic_ = true;
    paused_ = false;
    last_scrape_ = clock::now();
    if (!running_) {
        begin_cycle();
    }
}

void collector::stop() noexcept {
    periodic_ = false;
    paused_ = false;
    running_ = false;
    ++cycle_;
    waiting_.clear();
    timer_.cancel();
    fds_.cancel();
}

void collector::refresh(std::function<void()> done) noexcept {
    try {
        if (done) {
            waiting_.push_back(std::move(done));
        }
    } catch (const std::exception& e) {
        logger()->warn("refresh: {}; its callback is dropped", e.what());
    }
    if (!running_) {
        begin_cycle();
    }
}

void collector::scraped() noexcept {
    last_scrape_ = clock::now();
    if (periodic_ && paused_) {
        paused_ = false;
        logger()->debug("scraped again; cgroup statistics collection resumes");
        if (!running_) {
            timer_.cancel();
            begin_cycle();
        }
    }
}

void collector::begin_cycle() noexcept {
    running_ = true;
    ++cycle_;
    cursor_.reset();
    containers_done_ = false;
    current_ = {};
    cycle_start_ = clock::now();
    post_batch();
}

void collector::post_batch() noexcept {
    try {
        boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_), cycle = cycle_] {
            if (!alive.expired() && running_ && cycle == cycle_) {
                run_batch();
            }
        });
    } catch (const std::exception& e) {
        running_ = false;
        logger()->error("cannot post a refresh batch: {}; collection stops", e.what());
    }
}

namespace {

std::chrono::nanoseconds thread_cpu_time() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

} // namespace

void collector::run_batch() noexcept {
    auto begin = clock::now();
    auto cpu_begin = thread_cpu_time();
    bool at_end = false;
    if (!containers_done_) {
        containers_done_ = read_containers(begin);
        if (containers_done_) {
            if (auto st = fds_.begin(); !st) {
                if (!fd_error_logged_) {
                    fd_error_logged_ = true;
                    logger()->warn("{}; berth_process_open_fds is not updated",
                                   st.error().message());
                }
                at_end = true;
            }
        }
    }
    if (containers_done_ && !at_end && clock::now() - begin < opts_.batch_budget) {
        at_end = count_fds(begin);
    }
    auto took = clock::now() - begin;
    current_.batches += 1;
    current_.busy += took;
    current_.longest_batch = std::max<duration>(current_.longest_batch, took);
    current_.longest_batch_cpu =
        std::max<duration>(current_.longest_batch_cpu, thread_cpu_time() - cpu_begin);
    if (at_end) {
        finish_cycle();
    } else {
        post_batch();
    }
}

bool collector::read_containers(clock::time_point begin) noexcept {
    container_table& table = reg_.containers();
    std::size_t read = 0;
    bool at_end = false;
    try {
        while (true) {
            container_table::entry* e = table.next_after(cursor_);
            if (e == nullptr) {
                at_end = true;
                break;
            }
            cursor_.emplace(e->service, e->replica);
            stats_reading reading = read_container_stats(e->cgroup_path);
            if (reading.first_error && !e->error_logged) {
                e->error_logged = true;
                logger()->warn("container {}/{}: {} (further errors of this container "
                               "are counted in berth_metrics_read_errors_total, not logged)",
                               e->service, e->replica, reading.first_error->message());
            }
            current_.errors += reading.errors;
            container_table::update(*e, std::move(reading.stats));
            ++read;
            if (read >= opts_.batch_size || clock::now() - begin >= opts_.batch_budget) {
                at_end = table.next_after(cursor_) == nullptr;
                break;
            }
        }
    } catch (const std::exception& e) {
        logger()->warn("refresh batch: {}; the cycle goes on", e.what());
    }
    current_.containers += read;
    return at_end;
}

bool collector::count_fds(clock::time_point begin) noexcept {
    do {
        auto done = fds_.step();
        if (!done) {
            if (!fd_error_logged_) {
                fd_error_logged_ = true;
                logger()->warn("{}; berth_process_open_fds is not updated", done.error().message());
            }
            return true;
        }
        if (*done) {
            current_.open_fds = fds_.count();
            return true;
        }
    } while (clock::now() - begin < opts_.batch_budget);
    return false;
}

void collector::finish_cycle() noexcept {
    running_ = false;
    current_.elapsed = clock::now() - cycle_start_;
    last_ = current_;
    reg_.refresh_finished(last_);
    auto done = std::move(waiting_);
    waiting_.clear();
    for (auto& f : done) {
        try {
            f();
        } catch (const std::exception& e) {
            logger()->warn("refresh callback: {}", e.what());
        }
    }
    if (!running_) { // a callback may have started the next cycle itself
        schedule_next();
    }
}

void collector::schedule_next() noexcept {
    if (!periodic_) {
        return;
    }
    if (opts_.idle_after.count() > 0 && clock::now() - last_scrape_ >= opts_.idle_after) {
        paused_ = true;
        logger()->debug("no scrape for {} s; cgroup statistics collection pauses",
                        std::chrono::duration_cast<std::chrono::seconds>(opts_.idle_after).count());
        return;
    }
    timer_.expires_after(opts_.interval);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_),
                       cycle = cycle_](const boost::system::error_code& ec) {
        if (!ec && !alive.expired() && periodic_ && !running_ && cycle == cycle_) {
            begin_cycle();
        }
    });
}

} // namespace berth::metrics
