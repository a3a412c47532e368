// What berth does only as PID 1: the boot mounts, the config location, and the end of the
// machine (sync, unmount, power off or reboot). berth never exits as PID 1.
#pragma once

#include "engine/result.hpp"

#include <filesystem>
#include <string>

namespace berth::pid1 {

enum class ending { power_off, reboot };

// Mounts what an init must provide when it is missing: /proc, /sys, /dev (devtmpfs, with
// /dev/pts and /dev/shm), /run (tmpfs) and the cgroup2 hierarchy on /sys/fs/cgroup. Asks the
// kernel to send ctrl-alt-del to PID 1 as SIGINT instead of rebooting at once. Sets the
// hostname from /etc/hostname when that exists. Every failure is logged; none is fatal.
void boot() noexcept;

// The fleet file: `berth.config=PATH` on the kernel command line, else `fallback`.
std::filesystem::path config_path(const std::filesystem::path& fallback) noexcept;

// Waits for a stop signal while reaping every child: what PID 1 does when it has no fleet to
// run (a broken fleet file), so that the machine can still be shut down.
ending idle_until_signal() noexcept;

// Syncs, unmounts what can be unmounted, and powers off or reboots. Does not return; if the
// reboot call fails, PID 1 keeps reaping forever rather than exit (which would panic).
[[noreturn]] void end_machine(ending how) noexcept;

} // namespace berth::pid1
