#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds berth and runs the demo
# fleet (examples/demo.toml) in the foreground. Ctrl-C stops the fleet cleanly.
# BERTH_DEMO_SECONDS=N stops it by itself after N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DBERTH_BUILD_TESTS=OFF -DBERTH_BUILD_BENCH=OFF
layer=/var/lib/berth/layers/busybox
[[ -x $layer/bin/busybox ]] || bash scripts/make-busybox-layer.sh "$layer"

echo "demo: running the fleet; try 'curl http://127.0.0.1:8080/' and" \
     "'tail -f /run/berth-demo/logs/ticker/0.log'; Ctrl-C stops it"
if [[ -n ${BERTH_DEMO_SECONDS:-} ]]; then
    build/bin/berth run examples/demo.toml &
    pid=$!
    sleep "$BERTH_DEMO_SECONDS"
    kill -INT "$pid"
    wait "$pid"
else
    exec build/bin/berth run examples/demo.toml
fi
