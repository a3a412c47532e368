#!/usr/bin/env bash
# Configures and builds berth into a build directory. Usage: build.sh DIR [CMAKE OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: build.sh DIR [cmake options]}
shift
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir"
