#!/usr/bin/env bash
# Tests for the boards work: cross builds and size budgets, the binaries and the crate's test
# suite under qemu, flash.sh against a real OpenSSH server on loopback, the systemd unit, the
# OpenWrt package. Ends with the line "N passed, M failed[, K skipped]"; exits 1 on a failure.
#
#   scripts/test-boards.sh [TEST...]       default: all; names are printed as they run
#
# LETTERBOX_TEST_ARMV6=1 also builds and runs the ARMv6 (raspberry-pi-zero) binary (+3-4 min).
# Needs what scripts/ci-boards.sh --install-only installs; build.sh installs toolchains itself.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export LETTERBOX_NO_INSTALL=${LETTERBOX_NO_INSTALL:-0}

work=$(mktemp -d /tmp/letterbox-boards.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0 skipped=0
failures=()
test_start=$(date +%s)

fail() { echo "assertion failed: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
# expect_stat PATH "MODE UID:GID"
expect_stat() {
  local got
  got=$(stat -c '%a %u:%g' "$1") || fail "$1 missing"
  [ "$got" = "$2" ] || fail "$1: mode/owner $got, want $2"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
bin_of() { echo "$repo/target/boards/$1/letterbox"; }

run_test() { # NAME: runs t_NAME in a subshell, output to a log shown on failure
  local name=$1 log=$work/$1.log rc start
  start=$(date +%s)
  set +e
  ( set -e; "t_${name//-/_}" ) > "$log" 2>&1
  rc=$?
  set -e
  local secs=$(( $(date +%s) - start ))
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); printf 'PASS %-22s %4ss\n' "$name" "$secs"
  elif [ $rc = 77 ]; then
    skipped=$((skipped + 1)); printf 'SKIP %-22s %4ss  %s\n' "$name" "$secs" "$(grep '^SKIP:' "$log" | head -n 1)"
  else
    failed=$((failed + 1)); failures+=("$name"); printf 'FAIL %-22s %4ss\n' "$name" "$secs"
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
}

# ------------------------------------------------------------------ static checks

t_shellcheck() {
  command -v shellcheck >/dev/null || skip "shellcheck not installed"
  shellcheck -x scripts/*.sh
  shellcheck -s sh scripts/qemu-runner scripts/init/setup.sh scripts/init/letterbox.sysv scripts/init/letterbox.procd
}

t_board_files() {
  local b n=0
  for b in $(python3 scripts/board.py --list); do
    python3 scripts/board.py "$b" > "$work/$b.vars"
    grep -q '^B_size_budget=[0-9]' "$work/$b.vars" || fail "$b: size_budget"
    # Every shipped board serves the open internet: TLS is never left out of a board file.
    grep -q "^B_features='.*\btls\b" "$work/$b.vars" || fail "$b: features without tls"
    n=$((n + 1))
  done
  [ "$n" -ge 6 ] || fail "only $n boards"
}

# ------------------------------------------------------------------ builds

build_and_check() { # BOARD "file(1) words"
  scripts/build.sh "$1"
  local f; f=$(file -b "$(bin_of "$1")")
  echo "$f"
  case $f in *"$2"*) ;; *) fail "$1: not a $2 binary: $f" ;; esac
  case $f in *"statically linked"*|*"static-pie linked"*) ;; *) fail "$1: not static" ;; esac
}
t_build_aarch64() {
  build_and_check raspberry-pi-64 "ARM aarch64"
  build_and_check openwrt-aarch64 "ARM aarch64"
  # The budget is enforced (cached build: takes a second).
  if scripts/build.sh raspberry-pi-64 --no-install --budget 1000 --out "$work/over"; then
    fail "build.sh accepted a binary over its size budget"
  fi
}
t_build_armv7() { build_and_check openwrt-armv7 "ARM, EABI5"; }
# The core set (SMTP in, IMAP, POP3, TLS) within the ARM boards' core_budget (1.5 MiB), beside
# the every-feature build above within size_budget (2 MiB).
t_build_core_sets() {
  local b budget
  for b in raspberry-pi-64 openwrt-armv7; do
    budget=$(python3 scripts/board.py "$b" | sed -n "s/^B_core_budget='\{0,1\}\([0-9]*\)'\{0,1\}$/\1/p")
    [ -n "$budget" ] || fail "$b: no core_budget"
    scripts/build.sh "$b" --no-install --features "tls imap pop3" --budget "$budget" --out "target/boards/$b-core"
    echo "$b core set: $(cat "target/boards/$b-core/size") bytes (core_budget $budget)"
  done
}
t_build_armv6() {
  [ "${LETTERBOX_TEST_ARMV6:-0}" = 1 ] || skip "set LETTERBOX_TEST_ARMV6=1 (nightly build-std, +3-4 min)"
  build_and_check raspberry-pi-zero "ARM, EABI5"
}
t_build_x86_64() { build_and_check x86_64 "x86-64"; }

# Each binary must start and exit by itself on its emulated CPU (no SIGILL/SIGSEGV).
t_qemu_run() {
  local board runner rc n=0
  for board in raspberry-pi-64:"qemu-aarch64-static -cpu cortex-a53" \
               openwrt-armv7:"qemu-arm-static -cpu cortex-a7" \
               raspberry-pi-zero:"qemu-arm-static -cpu arm1176" x86_64:""; do
    runner=${board#*:}; board=${board%%:*}
    [ -f "$(bin_of "$board")" ] || { echo "not built: $board"; continue; }
    set +e
    # shellcheck disable=SC2086 # runner is a command with arguments
    timeout 60 $runner "$(bin_of "$board")" --help > "$work/run.out" 2>&1
    rc=$?
    set -e
    echo "$board: exit $rc: $(head -c 200 "$work/run.out")"
    [ "$rc" -lt 124 ] || fail "$board crashed or hung under '${runner:-native}' (exit $rc)"
    n=$((n + 1))
  done
  [ "$n" -ge 3 ] || fail "only $n binaries ran"
}

# The crate's whole test suite, built for aarch64-musl and run under qemu-aarch64-static
# (runner scripts/qemu-runner from .cargo/config.toml, which also exports
# LETTERBOX_TEST_RUNNER for tests that spawn the binary).
t_cargo_test_aarch64() {
  # Integration tests run the board build (the binary that ships), not cargo's own build.
  LETTERBOX_BIN="$(bin_of raspberry-pi-64)" \
    timeout 1800 cargo test --release --no-fail-fast --locked --target aarch64-unknown-linux-musl 2>&1 | tee "$work/cargo-test.out"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || fail "cargo test under qemu exited $rc"
  grep -q '^test result: ok' "$work/cargo-test.out" || fail "no test ran"
}

# ------------------------------------------------------------------ systemd unit

t_systemd_unit() {
  local d=$work/unit
  scripts/flash.sh x86_64 --render "$d/rendered"
  mkdir -p "$d/verify"
  # verify needs ExecStart to exist: point it at the built binary.
  sed "s#/usr/local/bin/letterbox#$(bin_of x86_64)#g" "$d/rendered/letterbox.service" > "$d/verify/letterbox.service"
  grep -q '@[A-Z_]*@' "$d/verify/letterbox.service" && fail "unrendered @...@ left"
  for k in NoNewPrivileges=yes ProtectSystem=strict "ReadWritePaths=/var/lib/letterbox" \
           AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE \
           PrivateTmp=yes ProtectHome=yes User=letterbox; do
    grep -qx "$k" "$d/verify/letterbox.service" || fail "unit lacks $k"
  done
  if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --man=no "$d/verify/letterbox.service"
    systemd-analyze security --offline=yes "$d/verify/letterbox.service" > "$d/security.out" 2>&1 || true
    local level
    level=$(sed -n 's/.*Overall exposure level for letterbox.service: \([0-9.]*\).*/\1/p' "$d/security.out")
    echo "systemd-analyze security exposure: ${level:-?}"
    if [ -z "$level" ] || ! awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }'; then
      fail "exposure ${level:-?} > 2.5"
    fi
  else
    echo "systemd-analyze missing: lint only"
  fi
  sh -n "$d/rendered/letterbox.sysv"
  sh -n "$d/rendered/letterbox.procd"
}

# ------------------------------------------------------------------ flash over real ssh

t_flash_ssh() {
  local T=$work/ssh port bin R
  [ "$(id -u)" = 0 ] || skip "needs root (sshd with its own config on loopback)"
  [ -x /usr/sbin/sshd ] || fail "openssh-server not installed"
  bin=$(bin_of x86_64)
  [ -f "$bin" ] || fail "x86_64 binary not built"
  mkdir -p "$T" /run/sshd
  chmod 700 "$T"
  ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$T/id"
  cp "$T/id.pub" "$T/authorized_keys"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$T/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
  /usr/sbin/sshd -D -e -f "$T/sshd_config" 2> "$T/sshd.log" &
  local sshd_pid=$!
  # shellcheck disable=SC2064 # the pid is meant to be expanded now
  trap "kill $sshd_pid 2>/dev/null || true" EXIT
  local ssh_args=(-p "$port" -i "$T/id" -o "UserKnownHostsFile=$T/known_hosts" -o StrictHostKeyChecking=accept-new)
  local i
  for i in $(seq 50); do
    ssh "${ssh_args[@]}" -o BatchMode=yes root@127.0.0.1 true 2>/dev/null && break
    [ "$i" -lt 50 ] || { cat "$T/sshd.log"; fail "sshd did not come up"; }
    sleep 0.2
  done
  echo "sshd on 127.0.0.1:$port (pid $sshd_pid)"

  local extra=()
  if ! "$bin" check --help >/dev/null 2>&1; then
    echo "NOTE: this letterbox has no 'check' subcommand yet: flashing with --no-check"
    extra+=(--no-check)
  fi
  flash() { scripts/flash.sh "$1" root@127.0.0.1 "${ssh_args[@]}" "${@:2}"; }
  listing() { # everything that matters: type+mode, owner, mtime, size, path, link, checksum
    (cd "$1" && find . -printf '%M %U:%G %T@ %s %p -> %l\n' | sort -k6 && find . -type f -exec sha256sum {} + | sort -k2)
  }

  # A staging tree like an image: has etc/passwd and etc/group.
  R=$T/tree
  mkdir -p "$R/etc"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
  printf 'root:x:0:\n' > "$R/etc/group"

  echo "--- dry run changes nothing"
  listing "$R" > "$T/l0"
  flash x86_64 --root "$R" --dry-run "${extra[@]}" > "$T/dry.out"
  grep -q '^\[dry-run\]' "$T/dry.out" || fail "dry run printed no steps"
  listing "$R" > "$T/l0b"
  diff "$T/l0" "$T/l0b" || fail "dry run changed the tree"

  echo "--- install"
  flash x86_64 --root "$R" --domain test.example "${extra[@]}"
  expect_stat "$R/usr/local/bin/letterbox" "755 0:0"
  [ "$(sha "$R/usr/local/bin/letterbox")" = "$(sha "$bin")" ] || fail "binary content"
  expect_stat "$R/etc/systemd/system/letterbox.service" "644 0:0"
  [ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/letterbox.service")" = /etc/systemd/system/letterbox.service ] \
    || fail "service not enabled"
  grep -qx 'letterbox:x:200:200:letterbox mail server:/var/lib/letterbox:/bin/false' "$R/etc/passwd" || fail "user entry"
  grep -qx 'letterbox:x:200:' "$R/etc/group" || fail "group entry"
  expect_stat "$R/etc/letterbox" "750 0:200"
  expect_stat "$R/etc/letterbox/letterbox.toml" "640 0:200"
  grep -qx 'domain = "test.example"' "$R/etc/letterbox/letterbox.toml" || fail "domain not set"
  expect_stat "$R/var/lib/letterbox" "750 200:200"
  [ ! -e "$R/usr/local/bin/letterbox.prev" ] || fail ".prev on first install"
  [ -z "$(find "$R" -name '*.new')" ] || fail "leftover .new files"

  echo "--- second run changes nothing"
  listing "$R" > "$T/l1"
  flash x86_64 --root "$R" --domain other.example "${extra[@]}"
  listing "$R" > "$T/l2"
  diff "$T/l1" "$T/l2" || fail "second run changed the tree"

  echo "--- upgrade keeps config and data, keeps the previous binary"
  cp "$bin" "$T/letterbox.v2"; printf 'v2' >> "$T/letterbox.v2"
  echo "# edited by the owner" >> "$R/etc/letterbox/letterbox.toml"
  echo mail > "$R/var/lib/letterbox/INBOX"
  flash x86_64 --root "$R" --binary "$T/letterbox.v2" "${extra[@]}"
  [ "$(sha "$R/usr/local/bin/letterbox")" = "$(sha "$T/letterbox.v2")" ] || fail "not upgraded"
  [ "$(sha "$R/usr/local/bin/letterbox.prev")" = "$(sha "$bin")" ] || fail "no .prev"
  expect_stat "$R/usr/local/bin/letterbox" "755 0:0"
  grep -q '^# edited by the owner' "$R/etc/letterbox/letterbox.toml" || fail "config overwritten"
  [ "$(cat "$R/var/lib/letterbox/INBOX")" = mail ] || fail "data lost"
  expect_stat "$R/var/lib/letterbox" "750 200:200"
  listing "$R" > "$T/l3"
  flash x86_64 --root "$R" --binary "$T/letterbox.v2" "${extra[@]}"
  listing "$R" > "$T/l4"
  diff "$T/l3" "$T/l4" || fail "re-running the upgrade changed the tree"

  echo "--- rollback puts the previous binary back"
  flash x86_64 --root "$R" --rollback
  [ "$(sha "$R/usr/local/bin/letterbox")" = "$(sha "$bin")" ] || fail "not rolled back"
  [ ! -e "$R/usr/local/bin/letterbox.prev" ] || fail ".prev left after rollback"
  if flash x86_64 --root "$R" --rollback 2>/dev/null; then fail "second rollback without .prev succeeded"; fi
  flash x86_64 --root "$R" --binary "$T/letterbox.v2" "${extra[@]}"
  [ "$(sha "$R/usr/local/bin/letterbox.prev")" = "$(sha "$bin")" ] || fail "no .prev after re-upgrade"

  echo "--- wrong architecture is refused before anything changes"
  [ -f "$(bin_of raspberry-pi-64)" ] || fail "aarch64 binary not built"
  if flash raspberry-pi-64 --root "$T/r-refuse" --strict-arch > "$T/refuse.out" 2>&1; then
    fail "aarch64 board flashed onto an x86_64 host"
  fi
  cat "$T/refuse.out"
  grep -q 'refusing: root@127.0.0.1 is x86_64' "$T/refuse.out" || fail "no refusal message"
  [ ! -e "$T/r-refuse" ] || fail "refused flash created files"
  if flash x86_64 --root "$T/r-refuse" --binary "$(bin_of raspberry-pi-64)" > "$T/refuse2.out" 2>&1; then
    fail "aarch64 binary accepted for the x86_64 board"
  fi
  grep -q 'is not a x86_64-unknown-linux-musl binary' "$T/refuse2.out" || fail "no ELF refusal message"
  [ ! -e "$T/r-refuse" ] || fail "refused flash created files"

  echo "--- OpenWrt staging tree (aarch64 binary on this x86_64 host: check skipped)"
  local W=$T/openwrt
  mkdir -p "$W/etc"; printf 'root:x:0:\n' > "$W/etc/group"; printf 'root:x:0:0:root:/root:/bin/ash\n' > "$W/etc/passwd"
  flash openwrt-aarch64 --root "$W" > "$T/owrt.out" 2>&1 || { cat "$T/owrt.out"; fail "openwrt staging"; }
  expect_stat "$W/usr/bin/letterbox" "755 0:0"
  expect_stat "$W/etc/init.d/letterbox" "755 0:0"
  head -n 1 "$W/etc/init.d/letterbox" | grep -qx '#!/bin/sh /etc/rc.common' || fail "not a procd script"
  expect_stat "$W/etc/config/letterbox" "644 0:0"
  expect_stat "$W/etc/letterbox/letterbox.toml" "640 0:200"
  grep -qx 'run_as = "letterbox"' "$W/etc/letterbox/letterbox.toml" || fail "procd config lacks run_as"
  expect_stat "$W/srv/letterbox" "750 200:200"
  [ "$(readlink "$W/etc/rc.d/S95letterbox")" = ../init.d/letterbox ] || fail "procd not enabled"

  echo "--- uninstall keeps config, data and user"
  flash x86_64 --root "$R" --uninstall
  for f in usr/local/bin/letterbox usr/local/bin/letterbox.prev etc/systemd/system/letterbox.service \
           etc/systemd/system/multi-user.target.wants/letterbox.service; do
    if [ -e "$R/$f" ] || [ -L "$R/$f" ]; then fail "uninstall left $f"; fi
  done
  [ -f "$R/etc/letterbox/letterbox.toml" ] || fail "uninstall removed the config"
  [ -f "$R/var/lib/letterbox/INBOX" ] || fail "uninstall removed data"

  echo "--- local mode (no ssh), sysv fallback"
  local S=$T/sysv
  scripts/flash.sh x86_64 --root "$S" --init sysv "${extra[@]}"
  expect_stat "$S/etc/init.d/letterbox" "755 0:0"
  [ "$(readlink "$S/etc/init.d/S95letterbox")" = letterbox ] || fail "sysv not enabled"
  grep -qx 'run_as = "letterbox"' "$S/etc/letterbox/letterbox.toml" || fail "sysv config lacks run_as"
}

# ------------------------------------------------------------------ OpenWrt package

t_ipk() {
  local d=$work/ipk ipk ver
  mkdir -p "$d/x" "$d/c" "$d/root/etc"
  ipk=$(scripts/package-openwrt.sh openwrt-aarch64 --no-build --out "$d/out" | grep '\.ipk$')
  echo "$ipk"
  [ -f "$ipk" ] || fail "no ipk"
  [ "$(tar tzf "$ipk" | tr '\n' ' ')" = "./debian-binary ./data.tar.gz ./control.tar.gz " ] \
    || fail "outer layout: $(tar tzf "$ipk" | tr '\n' ' ')"
  tar xzf "$ipk" -C "$d/x"
  [ "$(cat "$d/x/debian-binary")" = 2.0 ] || fail "debian-binary"
  tar xzf "$d/x/control.tar.gz" -C "$d/c"
  ver=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml","rb"))["package"]["version"])')
  cat "$d/c/control"
  grep -qx 'Package: letterbox' "$d/c/control" || fail "Package"
  grep -qx "Version: $ver-1" "$d/c/control" || fail "Version"
  grep -qx 'Architecture: aarch64_cortex-a53' "$d/c/control" || fail "Architecture"
  grep -qE '^Installed-Size: [0-9]+$' "$d/c/control" || fail "Installed-Size"
  grep -q '^Description: ' "$d/c/control" || fail "Description"
  grep -qx /etc/config/letterbox "$d/c/conffiles" || fail "conffiles: uci"
  grep -qx /etc/letterbox/letterbox.toml "$d/c/conffiles" || fail "conffiles: toml"
  tar tzvf "$d/x/control.tar.gz" | grep -E '^-rwxr-xr-x 0/0 .* \./postinst$' || fail "postinst not executable"
  tar tzvf "$d/x/control.tar.gz" | grep -E '^-rwxr-xr-x 0/0 .* \./prerm$' || fail "prerm not executable"
  sh -n "$d/c/postinst"; sh -n "$d/c/prerm"
  tar tzvf "$d/x/data.tar.gz" | awk '$2 != "0/0" { bad = 1; print } END { exit bad }' || fail "data not owned by 0/0"
  for f in ./usr/bin/letterbox ./etc/init.d/letterbox ./etc/config/letterbox ./etc/letterbox/letterbox.toml; do
    tar tzf "$d/x/data.tar.gz" | grep -qx "$f" || fail "data lacks $f"
  done
  tar xzf "$d/x/data.tar.gz" -C "$d/root"
  file -b "$d/root/usr/bin/letterbox" | grep -q 'ARM aarch64.*statically linked' || fail "binary arch: $(file -b "$d/root/usr/bin/letterbox")"
  # postinst as opkg runs it while building an image (IPKG_INSTROOT), twice.
  printf 'root:x:0:0:root:/root:/bin/ash\n' > "$d/root/etc/passwd"; printf 'root:x:0:\n' > "$d/root/etc/group"
  IPKG_INSTROOT=$d/root sh "$d/c/postinst"
  IPKG_INSTROOT=$d/root sh "$d/c/postinst"
  [ "$(grep -c '^letterbox:' "$d/root/etc/passwd")" = 1 ] || fail "user not created exactly once"
  expect_stat "$d/root/srv/letterbox" "750 200:200"
  expect_stat "$d/root/etc/letterbox/letterbox.toml" "640 0:200"
  [ "$(readlink "$d/root/etc/rc.d/S95letterbox")" = ../init.d/letterbox ] || fail "not enabled"
  # Reproducible.
  local again
  again=$(scripts/package-openwrt.sh openwrt-aarch64 --no-build --out "$d/out2" | grep '\.ipk$')
  [ "$(sha "$ipk")" = "$(sha "$again")" ] || fail "package not reproducible"
}

# The apk v3 package, read back by tests/common/apk_v3.py (written apart from the writer,
# scripts/apkv3.py) and, where apk-tools 3 is on PATH, by the real apk too.
t_apk() {
  local d=$work/apk pkg ver rd=tests/common/apk_v3.py
  mkdir -p "$d/x" "$d/root/etc"
  ver=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml","rb"))["package"]["version"])')
  pkg=$(scripts/package-openwrt.sh openwrt-aarch64 --no-build --out "$d/out" | tail -n 1)
  echo "$pkg"
  [ "$(basename "$pkg")" = "letterbox-$ver-r1.apk" ] || fail "file name $(basename "$pkg")"
  [ "$(head -c 4 "$pkg")" = ADBd ] || fail "not a deflated ADB container"
  python3 "$rd" info "$pkg" > "$d/meta.json" || fail "apk_v3.py cannot read the package"
  python3 - "$d/meta.json" "$ver" <<'PY' || fail "metadata"
import json, sys
m, ver = json.load(open(sys.argv[1])), sys.argv[2]
i = m["info"]
want = {"name": "letterbox", "version": ver + "-r1", "arch": "aarch64_cortex-a53",
        "license": "MIT OR Apache-2.0", "origin": "letterbox", "maintainer": "letterbox developers"}
for k, v in want.items():
    assert i.get(k) == v, (k, i.get(k))
assert i["description"].startswith("Single-user mail server"), i["description"]
assert len(i["hashes"]) == 40, i["hashes"]
files = {"/".join(x for x in (d.get("name", ""), f["name"]) if x): f
         for d in m["paths"] for f in d.get("files", [])}
dirs = {d.get("name", ""): d["acl"] for d in m["paths"]}
assert i["installed-size"] == sum(f["size"] for f in files.values()), i["installed-size"]
modes = {"usr/bin/letterbox": "0755", "etc/init.d/letterbox": "0755",
         "etc/config/letterbox": "0644", "etc/letterbox/letterbox.toml": "0640",
         "lib/apk/packages/letterbox.list": "0644", "lib/apk/packages/letterbox.conffiles": "0644",
         "lib/apk/packages/letterbox.conffiles_static": "0644"}
assert sorted(files) == sorted(modes), sorted(files)
for name, mode in modes.items():
    assert files[name]["acl"] == {"mode": mode, "user": "root", "group": "root"}, (name, files[name])
assert dirs["etc/letterbox"]["mode"] == "0750", dirs["etc/letterbox"]
assert all(a["user"] == a["group"] == "root" for a in dirs.values()), dirs
assert sorted(m["scripts"]) == ["post-install", "post-upgrade", "pre-deinstall"], m["scripts"]
for k, v in m["scripts"].items():
    open(sys.argv[1] + "." + k, "w").write(v)
PY
  for s in post-install post-upgrade pre-deinstall; do sh -n "$d/meta.json.$s" || fail "$s syntax"; done
  grep -q '/etc/init.d/letterbox enable' "$d/meta.json.post-install" || fail "post-install does not enable"
  grep -q '/etc/init.d/letterbox stop' "$d/meta.json.pre-deinstall" || fail "pre-deinstall does not stop"
  python3 "$rd" extract "$pkg" "$d/x" > "$d/extracted"
  cmp "$d/x/usr/bin/letterbox" "$(bin_of openwrt-aarch64)" || fail "binary differs from the build"
  file -b "$d/x/usr/bin/letterbox" | grep -q 'ARM aarch64.*statically linked' || fail "binary arch"
  for f in usr/bin/letterbox:755 etc/init.d/letterbox:755 etc/config/letterbox:644 \
           etc/letterbox/letterbox.toml:640 etc/letterbox:750; do
    [ "$(stat -c %a "$d/x/${f%:*}")" = "${f#*:}" ] || fail "${f%:*}: mode $(stat -c %a "$d/x/${f%:*}")"
  done
  grep -qx 'run_as = "letterbox"' "$d/x/etc/letterbox/letterbox.toml" || fail "config lacks run_as"
  # OpenWrt's package database files (include/package-pack.mk).
  local p=$d/x/lib/apk/packages
  printf '%s\n' /etc/config/letterbox /etc/init.d/letterbox /etc/letterbox/letterbox.toml \
    /usr/bin/letterbox | cmp - "$p/letterbox.list" || fail "letterbox.list: $(cat "$p/letterbox.list")"
  printf '%s\n' /etc/config/letterbox /etc/letterbox/letterbox.toml | cmp - "$p/letterbox.conffiles" \
    || fail "letterbox.conffiles"
  [ "$(cat "$p/letterbox.conffiles_static")" = "/etc/config/letterbox $(sha "$d/x/etc/config/letterbox")
/etc/letterbox/letterbox.toml $(sha "$d/x/etc/letterbox/letterbox.toml")" ] || fail "conffiles_static"
  # post-install as apk runs it while building an image (IPKG_INSTROOT), twice.
  printf 'root:x:0:0:root:/root:/bin/ash\n' > "$d/root/etc/passwd"; printf 'root:x:0:\n' > "$d/root/etc/group"
  cp -a "$d/x/etc/letterbox" "$d/root/etc/"
  IPKG_INSTROOT=$d/root sh "$d/meta.json.post-install"
  IPKG_INSTROOT=$d/root sh "$d/meta.json.post-upgrade"
  [ "$(grep -c '^letterbox:' "$d/root/etc/passwd")" = 1 ] || fail "user not created exactly once"
  expect_stat "$d/root/srv/letterbox" "750 200:200"
  [ "$(readlink "$d/root/etc/rc.d/S95letterbox")" = ../init.d/letterbox ] || fail "not enabled"
  # A flipped byte in the binary's data block must be caught (by its sha256).
  python3 - "$pkg" "$d/bad.apk" <<'PY'
import sys, zlib
raw = bytearray(zlib.decompressobj(-15).decompress(open(sys.argv[1], "rb").read()[4:]))
raw[len(raw) // 2] ^= 1
z = zlib.compressobj(9, zlib.DEFLATED, -15)
open(sys.argv[2], "wb").write(b"ADBd" + z.compress(bytes(raw)) + z.flush())
PY
  if python3 "$rd" info "$d/bad.apk" > /dev/null 2>&1; then fail "corrupt package accepted"; fi
  # The real apk-tools 3, where installed (not in CI: Debian ships apk-tools 2).
  if apk --version 2>/dev/null | grep -q '^apk-tools 3'; then
    echo "checking with $(apk --version)"
    apk adbdump "$pkg" | grep -qx '  name: letterbox' || fail "apk adbdump"
    local v
    v=$(apk verify "$pkg" 2>&1 || true)
    echo "$v" | grep -q 'UNTRUSTED signature' || fail "apk verify without --allow-untrusted: $v"
    apk verify --allow-untrusted "$pkg" | grep -q ': OK' || fail "apk verify --allow-untrusted"
    if apk verify --allow-untrusted "$d/bad.apk" > /dev/null 2>&1; then fail "apk accepted the corrupt package"; fi
    mkdir -p "$d/y"
    apk extract --allow-untrusted --destination "$d/y" "$pkg"
    diff -r "$d/x" "$d/y" || fail "apk extract differs from apk_v3.py"
  else
    echo "apk-tools 3 not on PATH: checked with tests/common/apk_v3.py only"
  fi
  local again
  again=$(scripts/package-openwrt.sh openwrt-aarch64 --no-build --out "$d/out2" | tail -n 1)
  [ "$(sha "$pkg")" = "$(sha "$again")" ] || fail "apk not reproducible"
}

all=(shellcheck board-files build-aarch64 build-armv7 build-armv6 build-x86_64 build-core-sets qemu-run
     cargo-test-aarch64 systemd-unit flash-ssh ipk apk)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("${all[@]}")
for t in "${tests[@]}"; do
  declare -F "t_${t//-/_}" >/dev/null || { echo "unknown test $t (known: ${all[*]})" >&2; exit 2; }
  run_test "$t"
done

echo "sizes (bytes):"
for b in $(python3 scripts/board.py --list); do
  for d in "$b" "$b-core"; do
    [ ! -f "target/boards/$d/size" ] || printf '  %-22s %s\n' "$d" "$(cat "target/boards/$d/size")"
  done
done
[ ${#failures[@]} = 0 ] || echo "failed: ${failures[*]}"
elapsed=$(( $(date +%s) - ${LETTERBOX_TEST_START:-$test_start} ))
echo "time: $((elapsed / 60))m $((elapsed % 60))s"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
