#!/usr/bin/env bash
# The boards part of CI: installs the cross toolchains and tools, then runs
# scripts/test-boards.sh (arguments are passed on). Call it from .ci/run:
#
#   bash scripts/ci-boards.sh            # ~9 min on 2 cores from a fresh clone (see boards/README.md)
#   bash scripts/ci-boards.sh --install-only
#
# Its last line is test-boards.sh's "N passed, M failed"; exit status non-zero on a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

start=$(date +%s)
apt_install qemu-user-static file gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross musl-tools openssh-server openssh-client \
  shellcheck netcat-openbsd
command -v systemd-analyze >/dev/null || apt_install systemd
ensure_toolchain aarch64-unknown-linux-musl stable 0
ensure_toolchain x86_64-unknown-linux-musl stable 0
ensure_toolchain armv7-unknown-linux-musleabihf nightly 1
log "toolchains ready in $(( $(date +%s) - start ))s"

if [ "${1:-}" = --install-only ]; then exit 0; fi
export LETTERBOX_NO_INSTALL=1
export LETTERBOX_TEST_START=$start
exec "$here/test-boards.sh" "$@"
