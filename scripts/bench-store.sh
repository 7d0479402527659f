#!/usr/bin/env bash
# Store benchmark (issue 2): durable deliveries/s with 1 writer, 8 independent writers and 8
# senders through the group-commit writer; bytes written per 4 KiB message; open time and
# RAM per message for large folders. Not a test: prints figures.
#   BENCH_N=2000 BENCH_SCALE=100000,1000000 scripts/bench-store.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores; disk: $(findmnt -no FSTYPE -T "${BENCH_DIR:-/tmp}")"
cargo bench --bench store 2>/dev/null
