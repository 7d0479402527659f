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

# dovecot_peer USER PORT DIR [IMAP_PLUGINS]: a Dovecot of its own for the --peers benchmark
# rows (Debian's dovecot-imapd, installed when missing): config, base_dir and logs in DIR
# (made here), USER (a system user, made when missing) with password "benchpassword" from a
# passwd-file, an mbox INBOX at ~USER/Mailbox (the caller fills it first), plain IMAP on
# 127.0.0.1:PORT; IMAP_PLUGINS are added to the imap protocol's mail_plugins (imap_zlib).
# Stop it with dovecot_stop DIR.
dovecot_peer() {
  local user=$1 port=$2 dir=$3 plugins=${4:-}
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; }
  id "$user" >/dev/null 2>&1 || useradd -m "$user"
  mkdir -p "$dir"
  chmod 755 "$dir"
  printf '%s:{PLAIN}benchpassword\n' "$user" > "$dir/passwd"
  chgrp dovecot "$dir/passwd" 2>/dev/null || true
  chmod 640 "$dir/passwd"
  {
    printf 'base_dir = %s/run\nstate_dir = %s/state\nlog_path = %s/dovecot.log\n' "$dir" "$dir" "$dir"
    printf 'listen = 127.0.0.1\nprotocols = imap\nssl = no\ndisable_plaintext_auth = no\n'
    printf 'auth_mechanisms = plain\nmail_location = mbox:~/mail:INBOX=~/Mailbox\n'
    printf 'mail_max_userip_connections = 20\n'
    # shellcheck disable=SC2016 # $mail_plugins is Dovecot's variable, for Dovecot to expand
    [ -z "$plugins" ] || printf 'protocol imap {\n  mail_plugins = $mail_plugins %s\n}\n' "$plugins"
    printf 'passdb {\n  driver = passwd-file\n  args = %s/passwd\n}\n' "$dir"
    printf 'userdb {\n  driver = passwd\n}\n'
    printf 'service imap-login {\n  inet_listener imap {\n    port = %s\n  }\n}\n' "$port"
  } > "$dir/dovecot.conf"
  /usr/sbin/dovecot -c "$dir/dovecot.conf"
  wait_port "$port" 10 || die "dovecot on $port did not start: $(tail -5 "$dir/dovecot.log")"
}

# dovecot_stop DIR: stops the Dovecot that dovecot_peer started there.
dovecot_stop() {
  kill "$(cat "$1/run/master.pid" 2>/dev/null)" 2>/dev/null || true
}
