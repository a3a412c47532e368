#!/usr/bin/env bash
# Installs every Debian 12 package that berth's build, tests, VM tests and benchmarks need.
# Idempotent: one `apt-get update`, then one install of the whole list.
set -euo pipefail

packages=(
    # build
    build-essential cmake ninja-build pkg-config git
    liburing-dev libboost1.81-dev libboost-json1.81-dev
    libtomlplusplus-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
    musl-tools
    libarchive-dev libssl-dev
    # tests (unit, host, fuzz, sanitizers)
    libgtest-dev libgmock-dev googletest libbenchmark-dev
    clang libclang-rt-14-dev
    busybox-static curl util-linux procps iproute2 python3
    umoci skopeo
    # VM tests
    qemu-system-x86 cpio xz-utils zstd kmod e2fsprogs
    # benchmarks and peers
    crun runc gnuplot-nox
    # metrics checks
    prometheus
)

if [[ $(id -u) -ne 0 ]]; then
    echo "setup: must run as root (it installs Debian packages)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
