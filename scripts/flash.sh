#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2029,SC2016,SC2001 # B_* come from load_board; remote snippets are built here on purpose
# Installs (or upgrades, or removes) letterbox on a device over ssh, or into a directory tree.
#
#   scripts/flash.sh BOARD [USER@]HOST [options]      install on a live device over ssh
#   scripts/flash.sh BOARD --root DIR [options]       install into a local tree (image staging)
#   scripts/flash.sh BOARD [USER@]HOST --root DIR     install into a tree on HOST
#
# Options:
#   --dry-run            print every step, connect to nothing, change nothing
#   --uninstall          stop, disable and remove binary and init files (keeps config, data, user)
#   --rollback           put BIN.prev (the binary before the last upgrade) back and restart
#   --root DIR           install under DIR; does not start the service
#   --binary PATH        binary to install (default target/boards/BOARD/letterbox)
#   --domain NAME        mail domain for a new config (default example.org)
#   --mail-user NAME     mailbox login for a new config (default: the local part "me")
#   --data-dir PATH      data directory (default from the board file)
#   --init KIND          systemd | procd | sysv (default: the board's, sysv if the device lacks it)
#   --no-start           install and enable, but do not start or probe ports
#                        (same: LETTERBOX_FLASH_SKIP_START=1)
#   --no-check           do not run `letterbox check` (same: LETTERBOX_FLASH_SKIP_CHECK=1)
#   --force-arch         install even if the device's uname -m does not match the board
#   --strict-arch        with --root, refuse a mismatch too (default there: stage, skip check)
#   -p PORT, -i KEYFILE, -o SSH_OPTION   passed to ssh
#   --render DIR         only write the board's init files and default config to DIR
#   --print-config       only print the default config for BOARD
#
# Idempotent: files are replaced only when their checksum differs; a new binary keeps the
# previous one as BIN.prev (roll back: mv BIN.prev BIN, then restart). An existing config is
# never overwritten. A binary whose ELF machine or the device's uname -m does not match the
# board's target triple is refused before anything is changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

usage() { sed -n '3,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
case $1 in -h|--help) usage ;; esac
board=$1; shift
host="" root="" dry_run=0 uninstall=0 rollback=0 binary="" domain=example.org mail_user=me data_dir=""
init_override="" force_arch=0 strict_arch=0 render_dir="" print_config=0
no_start=${LETTERBOX_FLASH_SKIP_START:-0}
no_check=${LETTERBOX_FLASH_SKIP_CHECK:-0}
ssh_opts=()
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry_run=1 ;;
    --uninstall) uninstall=1 ;;
    --rollback) rollback=1 ;;
    --root) root=${2:?--root DIR}; shift ;;
    --binary) binary=${2:?}; shift ;;
    --domain) domain=${2:?}; shift ;;
    --mail-user) mail_user=${2:?}; shift ;;
    --data-dir) data_dir=${2:?}; shift ;;
    --init) init_override=${2:?}; shift ;;
    --no-start) no_start=1 ;;
    --no-check) no_check=1 ;;
    --force-arch) force_arch=1 ;;
    --strict-arch) strict_arch=1 ;;
    -p) ssh_opts+=(-p "${2:?}"); shift ;;
    -i) ssh_opts+=(-i "${2:?}"); shift ;;
    -o) ssh_opts+=(-o "${2:?}"); shift ;;
    --render) render_dir=${2:?}; shift ;;
    --print-config) print_config=1 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$host" ] || die "two hosts: $host and $1"; host=$1 ;;
  esac
  shift
done

load_board "$board"
binary=${binary:-$repo/target/boards/$board/letterbox}
data_dir=${data_dir:-$B_paths_data_dir}
bin=$B_paths_bin config=$B_paths_config user=$B_paths_user
init=${init_override:-$B_init}

# Paths and names go into remote shell snippets unquoted: allow only plain characters.
for v in "$bin" "$config" "$data_dir" "$user" "$root" "$domain" "$mail_user"; do
  [[ $v =~ ^[A-Za-z0-9_./@:+-]*$ ]] || die "unsupported character in '$v'"
done
case $init in systemd|procd|sysv) ;; *) die "--init must be systemd, procd or sysv" ;; esac
root=${root%/}
# A local tree is used from other working directories (the check step): make it absolute.
if [ -n "$root" ] && [ -z "$host" ]; then root=$(realpath -m "$root"); fi

# ---------------------------------------------------------------- rendering

render() { # TEMPLATE: substitutes @...@ for this board, to stdout
  sed -e "s#@BIN@#$bin#g" -e "s#@CONFIG@#$config#g" -e "s#@DATA_DIR@#$data_dir#g" \
      -e "s#@USER@#$user#g" -e "s#@BOARD@#$board#g" "$1"
}

render_config() { # INIT
  local run_as="" imap="# imap: not built into this binary (feature imap off)"
  local pop3="# pop3: not built into this binary (feature pop3 off)" limits="" k v
  # systemd starts serve as the service user; procd and sysv start it as root and it drops.
  [ "$1" = systemd ] || run_as="run_as = \"$user\""
  case " $B_features " in *" imap "*) imap='imap = ["0.0.0.0:143"]' ;; esac
  case " $B_features " in *" pop3 "*) pop3='pop3 = ["0.0.0.0:110"]' ;; esac
  for k in $B_limit_keys; do
    v=B_limits_$k
    limits+="$k = ${!v}"$'\n'
  done
  render "$here/init/letterbox.toml.in" | sed -e "s#@DOMAIN@#$domain#" -e "s#@MAIL_USER@#$mail_user#" \
    | awk -v run_as="$run_as" -v imap="$imap" -v pop3="$pop3" -v limits="${limits%$'\n'}" '
        $0 == "@RUN_AS@" { if (run_as != "") print run_as; next }
        $0 == "@IMAP@" { print imap; next }
        $0 == "@POP3@" { print pop3; next }
        $0 == "@LIMITS@" { print limits; next }
        { print }'
}

render_all() { # DIR INIT
  mkdir -p "$1"
  render "$here/init/letterbox.service" > "$1/letterbox.service"
  render "$here/init/letterbox.procd" > "$1/letterbox.procd"
  render "$here/init/letterbox.sysv" > "$1/letterbox.sysv"
  render "$here/init/letterbox.uci" > "$1/letterbox.uci"
  render_config "$2" > "$1/letterbox.toml"
  cp "$here/init/setup.sh" "$1/setup.sh"
  chmod 755 "$1/letterbox.procd" "$1/letterbox.sysv" "$1/setup.sh"
}

if [ "$print_config" = 1 ]; then render_config "$init"; exit 0; fi
if [ -n "$render_dir" ]; then render_all "$render_dir" "$init"; exit 0; fi

# ---------------------------------------------------------------- architecture

# uname -m values that run the board's target triple.
uname_ok() {
  case $B_target in
    aarch64-*) echo "aarch64 arm64" ;;
    armv7-*) echo "armv7l armv7 armv8l" ;;
    arm-*) echo "armv6l armv7l armv7 armv8l" ;;
    x86_64-*) echo "x86_64 amd64" ;;
    mipsel-*) echo "mips" ;;   # uname -m does not tell the endianness
    *) die "no uname -m known for $B_target" ;;
  esac
}

# ELF e_machine the triple needs (all our targets are little-endian).
elf_machine_expected() {
  case $B_target in
    aarch64-*) echo 183 ;;
    arm*-*) echo 40 ;;
    x86_64-*) echo 62 ;;
    mipsel-*) echo 8 ;;
  esac
}

elf_machine() {
  local magic m
  magic=$(od -An -c -N4 "$1" | tr -d ' ')
  [ "$magic" = '177ELF' ] || { echo none; return; }
  m=$(od -An -tu2 -j18 -N2 "$1" | tr -d ' ')
  echo "$m"
}

# ---------------------------------------------------------------- transport

tmp=$(mktemp -d)
cleanup() {
  if [ -n "$host" ] && [ -S "$tmp/cm" ]; then
    ssh "${ssh_opts[@]}" -o ControlPath="$tmp/cm" -O exit "$host" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
ssh_opts+=(-o BatchMode=yes -o ControlMaster=auto -o ControlPath="$tmp/cm" -o ControlPersist=120)
sudo=""

dev() { # SNIPPET: runs sh on the device (or locally), stdout passed through
  if [ -n "$host" ]; then
    ssh "${ssh_opts[@]}" "$host" "$sudo sh -s" <<<"$1"
  else
    sh -s <<<"$1"
  fi
}

dev_put() { # DEST: copies stdin to DEST on the device
  if [ -n "$host" ]; then
    ssh "${ssh_opts[@]}" "$host" "$sudo sh -c 'cat > $1'"
  else
    cat > "$1"
  fi
}

step() { # DESCRIPTION SNIPPET
  if [ "$dry_run" = 1 ]; then
    printf '[dry-run] %s\n' "$1"
    sed 's/^/    $ /' <<<"$2"
  else
    log "$1"
    dev "$2"
  fi
}

R=$root   # prefix for every installed path

# install_file LOCAL DEST MODE OWNER [keep-prev]: copies LOCAL when its md5 differs.
# Notes in $tmp/changed when it replaced the file.
install_file() {
  local src=$1 dest=$R$2 mode=$3 owner=$4 keep=${5:-} sum remote
  sum=$(md5sum < "$src" | cut -d' ' -f1)
  if [ "$dry_run" = 1 ]; then
    printf '[dry-run] copy %s -> %s%s (mode %s, owner %s) unless its md5 is %s\n' \
      "$src" "${host:+$host:}" "$dest" "$mode" "$owner" "$sum"
    [ -z "$keep" ] || printf '    then keep the replaced binary as %s.prev\n' "$dest"
    return 0
  fi
  remote=$(dev "[ -f $dest ] && md5sum < $dest | cut -d' ' -f1 || true")
  if [ "$remote" != "$sum" ]; then
    log "copy $src -> ${host:+$host:}$dest"
    dev_put "$dest.new" < "$src"
    local prev=""
    [ -z "$keep" ] || prev="if [ -f $dest ]; then ln -f $dest $dest.prev 2>/dev/null || cp -p $dest $dest.prev; fi"
    dev "chmod $mode $dest.new && chown $owner $dest.new
$prev
mv -f $dest.new $dest"
    echo "$dest" >> "$tmp/changed"
  else
    log "unchanged: $dest"
    dev "chmod $mode $dest && chown $owner $dest"
  fi
}

# link TARGET LINK: a symlink, only touched when it points elsewhere.
link() {
  step "link $R$2 -> $1" "mkdir -p \$(dirname $R$2)
[ \"\$(readlink $R$2)\" = $1 ] || ln -sfn $1 $R$2"
}

# ---------------------------------------------------------------- probe

[ -n "$host" ] || [ -n "$root" ] || [ "$dry_run" = 1 ] || die "give a HOST or --root DIR"
[ "$uninstall" = 1 ] || [ "$rollback" = 1 ] || [ -f "$binary" ] || die "no binary at $binary: run scripts/build.sh $board first"

machine="" device_init=$init uid=0
if [ "$dry_run" = 1 ]; then
  printf '[dry-run] check that uname -m on %s is one of: %s\n' "${host:-this machine}" "$(uname_ok)"
else
  probe=$(dev 'echo "machine=$(uname -m)"; echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo init=systemd
elif [ -f /etc/rc.common ] && [ -x /sbin/procd ]; then echo init=procd
else echo init=sysv; fi') || die "cannot reach ${host:-the local shell}"
  machine=$(sed -n 's/^machine=//p' <<<"$probe")
  uid=$(sed -n 's/^uid=//p' <<<"$probe")
  device_init=$(sed -n 's/^init=//p' <<<"$probe")
  [ "$uid" = 0 ] || sudo="sudo -n"
fi

if [ "$uninstall" = 0 ] && [ "$rollback" = 0 ]; then
  want=$(elf_machine_expected)
  have=$(elf_machine "$binary")
  [ "$have" = "$want" ] || die "$binary is not a $B_target binary (ELF machine $have, want $want)"
fi

arch_match=1
if [ "$dry_run" = 0 ] && ! grep -qw -- "$machine" <<<"$(uname_ok)"; then
  arch_match=0
  if [ -n "$root" ] && [ "$strict_arch" = 0 ]; then
    log "note: $B_target does not run on this ${machine} host: staging only, letterbox check is skipped"
  elif [ "$force_arch" = 1 ]; then
    log "warning: device is $machine, board $board wants $(uname_ok): --force-arch given"
  else
    die "refusing: ${host:-this machine} is $machine but board $board ($B_target) runs on: $(uname_ok)"
  fi
fi

# Without --init, a systemd board falls back to the sysv script on a device without systemd.
if [ -z "$init_override" ] && [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$device_init" != "$init" ]; then
  log "board says $init, device runs $device_init: using $device_init"
  init=$device_init
fi
[ -z "$root" ] || no_start=1

case $init in
  systemd) unit_dest=/etc/systemd/system/letterbox.service ;;
  *) unit_dest=/etc/init.d/letterbox ;;
esac

# ---------------------------------------------------------------- uninstall

if [ "$uninstall" = 1 ]; then
  if [ -z "$root" ]; then
    case $init in
      systemd) step "stop and disable the service" "systemctl disable --now letterbox 2>/dev/null || true" ;;
      *) step "stop and disable the service" "if [ -x /etc/init.d/letterbox ]; then /etc/init.d/letterbox stop || true; /etc/init.d/letterbox disable 2>/dev/null || true; fi
command -v update-rc.d >/dev/null 2>&1 && update-rc.d -f letterbox remove >/dev/null 2>&1 || true" ;;
    esac
  fi
  step "remove binary and init files (config $config, data $data_dir and user $user are kept)" \
    "rm -f $R$bin $R$bin.prev $R$bin.new $R/etc/systemd/system/letterbox.service \
$R/etc/systemd/system/multi-user.target.wants/letterbox.service $R/etc/init.d/letterbox \
$R/etc/rc.d/S95letterbox $R/etc/rc.d/K10letterbox $R/etc/init.d/S95letterbox"
  [ -n "$root" ] || [ "$init" != systemd ] || step "reload systemd" "systemctl daemon-reload"
  [ "$dry_run" = 0 ] || { log "dry run: nothing changed"; exit 0; }
  log "uninstalled letterbox from ${host:-}${root:-/}; remove $config and $data_dir by hand to purge"
  exit 0
fi

# ---------------------------------------------------------------- rollback

restart_service() {
  case $init in
    systemd) step "restart the service" "systemctl restart letterbox" ;;
    *) step "restart the service" "/etc/init.d/letterbox restart" ;;
  esac
}

if [ "$rollback" = 1 ]; then
  step "roll back $R$bin to $R$bin.prev" "[ -f $R$bin.prev ] || { echo 'no $R$bin.prev to roll back to' >&2; exit 1; }
mv -f $R$bin.prev $R$bin"
  [ "$no_start" = 1 ] || restart_service
  [ "$dry_run" = 0 ] || { log "dry run: nothing changed"; exit 0; }
  log "rolled back letterbox on ${host:-this machine}${root:+ under $root}"
  exit 0
fi

# ---------------------------------------------------------------- install

render_all "$tmp/files" "$init"

step "create user $user and data directory $R$data_dir" \
  "$(printf 'set -- %s %s %s\n' "${root:-/}" "$user" "$data_dir"; cat "$here/init/setup.sh")"

ids="0:<gid of $user>"   # shown by --dry-run; the real ids are read after setup
if [ "$dry_run" = 0 ]; then
  ids=$(dev "grep '^$user:' $R/etc/passwd 2>/dev/null | cut -d: -f3,4 | head -n 1")
  [ -n "$ids" ] || ids=$(dev "echo \$(id -u):\$(id -g)")
fi
gid=${ids#*:}

step "create directories" "mkdir -p $R$(dirname "$bin") $R$(dirname "$unit_dest")
mkdir -p $R$(dirname "$config") && chmod 0750 $R$(dirname "$config") && chown 0:$gid $R$(dirname "$config")"

install_file "$binary" "$bin" 0755 0:0 keep-prev
case $init in
  systemd) install_file "$tmp/files/letterbox.service" "$unit_dest" 0644 0:0 ;;
  procd) install_file "$tmp/files/letterbox.procd" "$unit_dest" 0755 0:0 ;;
  sysv) install_file "$tmp/files/letterbox.sysv" "$unit_dest" 0755 0:0 ;;
esac

# Configs: written once, never overwritten.
new_file_once() { # LOCAL DEST MODE OWNER
  if [ "$dry_run" = 1 ]; then
    printf '[dry-run] write %s%s (mode %s, owner %s) unless it exists\n' "${host:+$host:}" "$R$2" "$3" "$4"
    return 0
  fi
  if [ "$(dev "[ -e $R$2 ] && echo yes || true")" = yes ]; then
    log "kept existing $R$2"
  else
    log "write default $R$2"
    dev_put "$R$2.new" < "$1"
    dev "chmod $3 $R$2.new && chown $4 $R$2.new && mv $R$2.new $R$2"
  fi
}
new_file_once "$tmp/files/letterbox.toml" "$config" 0640 "0:$gid"
if [ "$init" = procd ]; then
  step "create /etc/config" "mkdir -p $R/etc/config"
  new_file_once "$tmp/files/letterbox.uci" /etc/config/letterbox 0644 0:0
fi

# letterbox check: on a live device as is; in a tree with the absolute paths moved under it.
if [ "$no_check" = 1 ]; then
  log "skipping letterbox check (--no-check / LETTERBOX_FLASH_SKIP_CHECK=1)"
elif [ -z "$root" ]; then
  step "letterbox check" "$bin check --config $config"
elif [ "$arch_match" = 1 ]; then
  step "letterbox check (paths moved under $root)" "t=\$(mktemp -d) || exit 1
sed -e 's#^data_dir *= *\"/#data_dir = \"$root/#' -e 's#^cert *= *\"/#cert = \"$root/#' \\
    -e 's#^key *= *\"/#key = \"$root/#' $R$config > \$t/letterbox.toml
$R$bin check --config \$t/letterbox.toml; rc=\$?
rm -rf \$t; exit \$rc"
fi

# Enable at boot.
if [ -n "$root" ]; then
  case $init in
    systemd) link /etc/systemd/system/letterbox.service /etc/systemd/system/multi-user.target.wants/letterbox.service ;;
    procd) link ../init.d/letterbox /etc/rc.d/S95letterbox; link ../init.d/letterbox /etc/rc.d/K10letterbox ;;
    sysv) link letterbox /etc/init.d/S95letterbox ;;
  esac
else
  case $init in
    systemd) step "enable the service" "systemctl daemon-reload && systemctl enable letterbox" ;;
    procd) step "enable the service" "/etc/init.d/letterbox enable" ;;
    sysv) step "enable the service" "if command -v update-rc.d >/dev/null 2>&1; then update-rc.d letterbox defaults
elif command -v chkconfig >/dev/null 2>&1; then chkconfig --add letterbox
else [ -e /etc/init.d/S95letterbox ] || ln -s letterbox /etc/init.d/S95letterbox; fi" ;;
  esac
fi

if [ "$no_start" = 1 ]; then
  log "not starting the service (${root:+--root }${root:---no-start})"
  [ "$dry_run" = 0 ] || { log "dry run: nothing changed"; exit 0; }
  log "done: letterbox on ${host:-this machine}${root:+ under $root}"
  exit 0
fi

verb=start
[ ! -s "$tmp/changed" ] || verb=restart
case $init in
  systemd) step "$verb the service" "systemctl $verb letterbox" ;;
  *) step "$verb the service" "/etc/init.d/letterbox $verb" ;;
esac

# Ports from the [listen] table of the config on the device; each must send a greeting.
step "check that the listening ports answer on the device's loopback" "ports=\$(sed -n '/^\[listen\]/,/^\[/p' $config | grep -v '^ *#' | grep -o ':[0-9][0-9]*\"' | tr -dc '0-9\n' | sort -u)
[ -n \"\$ports\" ] || { echo 'no ports in [listen]'; exit 1; }
for p in \$ports; do
  i=0 g=''
  while [ \$i -lt 15 ]; do
    if command -v bash >/dev/null 2>&1; then
      g=\$(bash -c \"exec 3<>/dev/tcp/127.0.0.1/\$p && read -r -t 3 l <&3 && echo \\\"\\\$l\\\"\" 2>/dev/null || true)
    else
      g=\$(echo | nc -w 3 127.0.0.1 \$p 2>/dev/null | head -n 1 || true)
    fi
    [ -n \"\$g\" ] && break
    i=\$((i + 1)); sleep 1
  done
  [ -n \"\$g\" ] || { echo \"port \$p: no answer\"; exit 1; }
  echo \"port \$p: \$g\"
done"
[ "$dry_run" = 0 ] || { log "dry run: nothing changed"; exit 0; }
log "done: letterbox is running on ${host:-this machine}"
