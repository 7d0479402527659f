#!/usr/bin/env bash
# shellcheck disable=SC2154 # B_* variables come from load_board (eval of scripts/board.py)
# Builds a stripped static release binary for one board of boards/*.toml and checks its size.
#
#   scripts/build.sh BOARD [--no-install] [--features LIST] [--out DIR] [--budget BYTES]
#
# Output: target/boards/BOARD/letterbox (and .size). Exits 1 when the binary exceeds the
# board's size_budget. Installs what is missing (idempotent): rustup target or nightly
# rust-src, ziglang + cargo-zigbuild (PyPI), Debian cross gcc, qemu-user-static.
# LETTERBOX_NO_INSTALL=1 is the same as --no-install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

usage() { echo "usage: $0 BOARD [--no-install] [--features LIST] [--out DIR] [--budget BYTES]" >&2; exit 2; }
[ $# -ge 1 ] || usage
board=$1; shift
no_install=${LETTERBOX_NO_INSTALL:-0}
features_override=""
out=""
budget=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-install) no_install=1 ;;
    --features) features_override=$2; shift ;;
    --out) out=$2; shift ;;
    --budget) budget=$2; shift ;;
    *) usage ;;
  esac
  shift
done

load_board "$board"
out=${out:-$root/target/boards/$board}
features=${features_override:-$B_features}
budget=${budget:-$B_size_budget}

[ "$no_install" = 1 ] || ensure_toolchain "$B_target" "$B_toolchain" "$B_build_std"

# The per-board CPU goes into RUSTFLAGS, which replaces [target.X].rustflags of
# .cargo/config.toml: repeat what that file says for zig-linked targets.
rustflags="-C target-cpu=$B_target_cpu"
# Panics abort (profile.release panic = "abort"): nothing unwinds, so unwind tables are dead
# weight. This takes effect with a rebuilt std only: under LTO a prebuilt std's module-wide
# uwtable flag puts the tables back on every function.
rustflags="$rustflags -C force-unwind-tables=no"
if [ "$B_build_std" = 1 ]; then
  # Rebuilding std lets panics abort at once (no unwinding tables, no backtrace printer,
  # no panic location strings): about a third off the binary (DESIGN.md §4). Nothing
  # unwinds then, so no unwind tables are emitted either (.eh_frame was 350 KB of 2.1 MB).
  rustflags="$rustflags -C link-self-contained=no -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
  rustflags="$rustflags -C link-arg=-Wl,--no-eh-frame-hdr"
fi

cd "$root"
args=(--release --locked --target "$B_target" --no-default-features --bin letterbox)
[ -z "$features" ] || args+=(--features "${features// /,}")
log "building $board: $B_target (cpu $B_target_cpu, features: ${features:-none})"
if [ "$B_build_std" = 1 ]; then
  RUSTFLAGS="$rustflags" cargo +nightly zigbuild -Zbuild-std=std,panic_abort "${args[@]}"
else
  RUSTFLAGS="$rustflags" cargo "+$B_toolchain" build "${args[@]}"
fi

built=${CARGO_TARGET_DIR:-$root/target}/$B_target/release/letterbox
mkdir -p "$out"
# The release profile strips (strip = true); `file` below verifies it.
cp -f "$built" "$out/letterbox.tmp"
mv -f "$out/letterbox.tmp" "$out/letterbox"
size=$(stat -c %s "$out/letterbox")
echo "$size" > "$out/size"
desc=$(file -b "$out/letterbox" 2>/dev/null || echo "?")
printf '%s: %s bytes (%s KiB), budget %s bytes\n  %s\n' \
  "$out/letterbox" "$size" "$((size / 1024))" "$budget" "$desc"
case $desc in
  *"statically linked"*|*"static-pie linked"*|"?") ;;
  *) die "$board: binary is not statically linked" ;;
esac
case $desc in *"not stripped"*) die "$board: binary is not stripped" ;; esac
if [ "$size" -gt "$budget" ]; then
  die "$board: $size bytes exceeds the size budget of $budget bytes"
fi
