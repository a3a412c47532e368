#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds berth three ways and runs
# every test tier: unit and host tests (plain and under ASan+UBSan), the config fuzzer for a
# bounded time, and the VM tests (berth as PID 1 under QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n==== %s\n' "$*"; }

step "build (RelWithDebInfo)"
bash scripts/build.sh build
step "unit and host tests"
ctest --test-dir build --output-on-failure -j2 -L 'unit|host'

step "build (ASan+UBSan)"
bash scripts/build.sh build-asan -DBERTH_SANITIZE=ON -DBERTH_BUILD_BENCH=OFF
step "unit and host tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j2 -L 'unit|host'

step "fuzz (clang, libFuzzer)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DBERTH_FUZZ=ON \
    -DBERTH_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target fuzz_loader
ctest --test-dir build-fuzz --output-on-failure -L fuzz

step "VM tests (berth as PID 1 under QEMU, TCG)"
ctest --test-dir build --output-on-failure -L vm
# The boot figure for the record (issue 5): kernel start to every service ready, berth as PID 1.
ready=$(sed -n 's/^boot_to_ready_seconds=//p' build/tests/vm/logs/berth-boot.values)
echo "vm: kernel start to all services ready: ${ready} s (build/tests/vm/logs/berth-boot.values)"
