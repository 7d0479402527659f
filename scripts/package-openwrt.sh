#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2016 # B_* come from load_board; postinst text is written verbatim
# Builds the OpenWrt packages for an openwrt-* board without the OpenWrt SDK: an .ipk for opkg
# (OpenWrt up to 24.10) and an .apk for apk-tools 3 (OpenWrt 25 and later).
#
#   scripts/package-openwrt.sh BOARD [--no-build] [--out DIR]
#
# .ipk, as OpenWrt's ipkg-build makes it: a gzip'd tar of ./debian-binary, ./data.tar.gz and
# ./control.tar.gz (opkg also reads the ar form). control.tar.gz holds control, conffiles,
# postinst (creates the user and data dir, enables the service) and prerm.
# .apk: the apk v3 (ADB) format that `apk mkpkg` writes, made by scripts/apkv3.py, with the
# fields and files OpenWrt's include/package-pack.mk gives it: version VERSION-r1, the same
# postinst as post-install and post-upgrade, prerm as pre-deinstall, and
# /lib/apk/packages/letterbox.{list,conffiles,conffiles_static}. It is unsigned (OpenWrt's
# feeds sign theirs): install it with `apk add --allow-untrusted`.
# Files are owned by root and dated SOURCE_DATE_EPOCH (default: last commit), so both packages
# are reproducible. Output: target/boards/BOARD/letterbox_VERSION-1_ARCH.ipk and
# letterbox-VERSION-r1.apk, their paths printed on the last two lines (.ipk, then .apk).
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
desc1="Single-user mail server (SMTP in, POP3 and IMAP out) with a crash-proof"
desc2="append-only mailbox. One static binary ($B_target, features: $B_features)."
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
Description: $desc1
 $desc2
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

# apk: the same tree plus OpenWrt's package database files (package-pack.mk: the file list
# before these are added, the conffiles, and the conffiles with their sha256).
apkver=$version-r1
p=$d/lib/apk/packages
mkdir -p "$p"
(cd "$d" && find . -type f -printf '/%P\n' | LC_ALL=C sort) > "$work/list"
install -m 0644 "$work/list" "$p/letterbox.list"
install -m 0644 "$c/conffiles" "$p/letterbox.conffiles"
while read -r f; do echo "$f $(sha256sum < "$d$f" | cut -d' ' -f1)"; done < "$c/conffiles" \
  > "$work/conffiles_static"
install -m 0644 "$work/conffiles_static" "$p/letterbox.conffiles_static"
apk=$out/letterbox-$apkver.apk
python3 "$here/apkv3.py" --files "$d" --output "$apk" --mtime "$epoch" \
  --info name:letterbox --info "version:$apkver" --info "arch:$B_opkg_arch" \
  --info "description:$desc1 $desc2" \
  --info "license:MIT OR Apache-2.0" --info origin:letterbox --info "maintainer:letterbox developers" \
  --script "post-install:$c/postinst" --script "post-upgrade:$c/postinst" \
  --script "pre-deinstall:$c/prerm"
log "$apk: $(stat -c %s "$apk") bytes"
echo "$ipk"
echo "$apk"
