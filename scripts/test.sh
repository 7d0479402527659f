#!/usr/bin/env bash
# The test command: installs the real peers the tests use, then runs every test (unit,
# RFC transcripts, end-to-end against the real binary on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --release --no-fail-fast --features fault-injection 2>&1
