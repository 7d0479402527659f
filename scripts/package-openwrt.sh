#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016 # B_* come from load_board; postinst text is written verbatim
# Builds an OpenWrt .ipk for an openwrt-* board without the OpenWrt SDK.
#
#   scripts/package-openwrt.sh BOARD [--no-build] [--out DIR]
#
# Layout as OpenWrt's ipkg-build makes it: a gzip'd tar of ./debian-binary, ./data.tar.gz and
# ./control.tar.gz (opkg also reads the ar form). control.tar.gz holds control, conffiles,
# postinst (creates the user and data dir, enables the service) and prerm. Files are owned
# by 0:0 and dated SOURCE_DATE_EPOCH (default: last commit), so the package is reproducible.
# Output: target/boards/BOARD/letterbox_VERSION_ARCH.ipk (path printed on the last line).
# Note: OpenWrt snapshots after 24.10 use apk instead of opkg; this builds the opkg format.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 BOARD [--no-build] [--out DIR]" >&2; exit 2; }
board=$1; shift
build=1 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0 ;;
    --out) out=${2:?}; shift ;;
    *) die "unknown option $1" ;;
  esac
  shift
done

load_board "$board"
{ [ "$B_init" = procd ] && [ -n "$B_opkg_arch" ]; } || die "$board is not an OpenWrt board (init procd, opkg_arch)"
out=${out:-$repo/target/boards/$board}
binary=$repo/target/boards/$board/letterbox
[ "$build" = 0 ] || "$here/build.sh" "$board" >&2
[ -f "$binary" ] || die "no binary at $binary: run scripts/build.sh $board"

version=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["package"]["version"])' "$repo/Cargo.toml")
pkgver=$version-1
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/flash.sh" "$board" --render "$work/files"

bin=$B_paths_bin config=$B_paths_config data_dir=$B_paths_data_dir user=$B_paths_user
d=$work/data
install -D -m 0755 "$binary" "$d$bin"
install -D -m 0755 "$work/files/letterbox.procd" "$d/etc/init.d/letterbox"
install -D -m 0644 "$work/files/letterbox.uci" "$d/etc/config/letterbox"
install -D -m 0640 "$work/files/letterbox.toml" "$d$config"
chmod 0750 "$d$(dirname "$config")"

c=$work/control
mkdir -p "$c"
size=$(du -sb "$d" | cut -f1)
cat > "$c/control" <<CONTROL
Package: letterbox
Version: $pkgver
Source: letterbox
SourceName: letterbox
License: MIT OR Apache-2.0
Section: mail
Maintainer: letterbox developers
Architecture: $B_opkg_arch
Installed-Size: $size
Description: Single-user mail server (SMTP in, POP3 and IMAP out) with a crash-proof
 append-only mailbox. One static binary ($B_target, features: $B_features).
CONTROL
printf '%s\n' /etc/config/letterbox "$config" > "$c/conffiles"
{
  echo '#!/bin/sh'
  echo '# letterbox postinst: service user, data directory, config group, enable at boot.'
  echo '[ "${IPKG_NO_SCRIPT:-0}" = 1 ] && exit 0'
  echo 'r=${IPKG_INSTROOT:-}'
  echo "( set -- \"\${r:-/}\" $user $data_dir"
  sed -e '1d' -e 's/^/  /' "$here/init/setup.sh"
  echo ') || exit 1'
  echo "gid=\$(grep '^$user:' \"\$r/etc/passwd\" | cut -d: -f4)"
  echo "[ -z \"\$gid\" ] || chown \"0:\$gid\" \"\$r$(dirname "$config")\" \"\$r$config\""
  echo 'if [ -n "$r" ]; then'
  echo '  mkdir -p "$r/etc/rc.d" && ln -sf ../init.d/letterbox "$r/etc/rc.d/S95letterbox"'
  echo 'else'
  echo '  /etc/init.d/letterbox enable'
  echo "  echo 'letterbox: set domain and user in $config, run letterbox passwd, then /etc/init.d/letterbox start'"
  echo 'fi'
  echo 'exit 0'
} > "$c/postinst"
cat > "$c/prerm" <<'PRERM'
#!/bin/sh
# letterbox prerm: stop and disable (config, data and user are kept).
[ -n "${IPKG_INSTROOT:-}" ] && exit 0
/etc/init.d/letterbox stop 2>/dev/null
/etc/init.d/letterbox disable 2>/dev/null
exit 0
PRERM
chmod 0755 "$c/postinst" "$c/prerm"
chmod 0644 "$c/control" "$c/conffiles"

tgz() { # DIR OUT FILES...: deterministic gzip'd tar owned by root
  local dir=$1 outf=$2; shift 2
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=gnu \
    -C "$dir" -cf - "$@" | gzip -n -9 > "$outf"
}
echo "2.0" > "$work/debian-binary"
tgz "$d" "$work/data.tar.gz" .
tgz "$c" "$work/control.tar.gz" .
touch -d "@$epoch" "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"
mkdir -p "$out"
ipk=$out/letterbox_${pkgver}_$B_opkg_arch.ipk
tar --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=gnu -C "$work" \
  -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -n -9 > "$ipk"
log "$ipk: $(stat -c %s "$ipk") bytes"
echo "$ipk"
