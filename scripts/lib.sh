# shellcheck shell=bash
# Shared helpers for scripts/*.sh (sourced, not run).

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# load_board NAME: sets B_* variables from boards/NAME.toml (see scripts/board.py).
load_board() {
  local assignments
  assignments=$(python3 "$(dirname "${BASH_SOURCE[0]}")/board.py" "$1") || exit 2
  eval "$assignments"
}

_apt_updated=0
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if [ "$_apt_updated" = 0 ]; then
    log "apt-get update"
    $sudo apt-get update -qq
    _apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# qemu_for TRIPLE: the qemu-user binary that runs it.
qemu_for() {
  case $1 in
    aarch64-*) echo qemu-aarch64-static ;;
    arm*-*) echo qemu-arm-static ;;
    mipsel-*) echo qemu-mipsel-static ;;
    x86_64-*) echo "" ;;
    *) die "no qemu known for $1" ;;
  esac
}

# ensure_toolchain TRIPLE TOOLCHAIN BUILD_STD: installs what building TRIPLE needs.
ensure_toolchain() {
  local triple=$1 toolchain=$2 build_std=$3
  command -v rustup >/dev/null || die "rustup is required"
  apt_install qemu-user-static file
  case $triple in
    aarch64-*) apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;;
    arm*-*) apt_install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross ;;
    x86_64-*-musl) apt_install musl-tools ;;
  esac
  if [ "$build_std" = 1 ]; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    rustup component list --toolchain nightly --installed | grep -q '^rust-src' \
      || rustup component add rust-src --toolchain nightly
    if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
      log "pip install ziglang cargo-zigbuild"
      python3 -m pip install -q ziglang cargo-zigbuild
      hash -r
    fi
  else
    rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
    rustup target list --toolchain "$toolchain" --installed | grep -qx "$triple" \
      || rustup target add --toolchain "$toolchain" "$triple"
  fi
}

# lb_config FILE [PROTO=PORT ...] [tls=DIR]: a loopback letterbox config for benchmarks and
# soak runs (user alice, data in FILE's folder/data). Listeners not named are off; tls=DIR
# adds DIR/cert.pem and DIR/key.pem (as `letterbox init --dir DIR` writes them).
lb_config() {
  local file=$1 arg proto tls="" listen=""
  shift
  declare -A port=()
  for arg in "$@"; do
    case $arg in
      tls=*) tls=${arg#tls=} ;;
      *=*) port[${arg%%=*}]=${arg#*=} ;;
      *) die "lb_config: $arg is not PROTO=PORT" ;;
    esac
  done
  for proto in smtp pop3 imap imaps pop3s; do
    if [ -n "${port[$proto]:-}" ]; then
      listen+="$proto = [\"127.0.0.1:${port[$proto]}\"]"$'\n'
    else
      listen+="$proto = []"$'\n'
    fi
  done
  {
    printf 'domain = "example.org"\nuser = "alice"\ndata_dir = "data"\n[listen]\n%s' "$listen"
    printf '[limits]\nconnections_per_ip = 200\nconnections = 400\n'
    [ -z "$tls" ] || printf '[tls]\ncert = "%s/cert.pem"\nkey = "%s/key.pem"\n' "$tls" "$tls"
  } > "$file"
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT (default at most 5 s).
wait_port() {
  local _
  for _ in $(seq $((${2:-5} * 20))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
