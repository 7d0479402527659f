#!/bin/sh
# Device-side setup, POSIX sh (busybox ash, dash, bash). Used by scripts/flash.sh (over ssh or
# locally with --root) and by the OpenWrt package postinst. Idempotent: changes nothing that
# is already right.
#   setup.sh ROOT USER DATA_DIR
# Creates the system user and group USER in ROOT/etc/passwd (useradd/adduser on a live system,
# else a direct entry with the first free id from 200 up, like OpenWrt's user_add), and
# ROOT/DATA_DIR with mode 0750 owned by USER. With a ROOT that has no etc/passwd (a bare
# staging tree) the user is left to the device and DATA_DIR stays owned by the caller.
set -eu
root=${1:?root}; user=${2:?user}; data=${3:?data_dir}
[ "$root" = / ] && root=""
passwd=$root/etc/passwd
group=$root/etc/group

have() { command -v "$1" >/dev/null 2>&1; }
entry() { grep "^$1:" "$2" 2>/dev/null | head -n 1; }

if [ -f "$passwd" ] && [ -z "$(entry "$user" "$passwd")" ]; then
	if [ -z "$root" ] && have useradd; then
		useradd --system --user-group --home-dir "$data" --no-create-home \
			--shell /usr/sbin/nologin --comment "letterbox mail server" "$user"
	elif [ -z "$root" ] && have adduser && adduser --help 2>&1 | grep -q -- '-S'; then
		addgroup -S "$user" 2>/dev/null || true
		adduser -S -D -H -h "$data" -s /bin/false -G "$user" "$user"
	else
		used() { cut -d: -f3 "$@" 2>/dev/null | grep -qx "$id"; }
		if [ -z "$(entry "$user" "$group")" ]; then
			id=200
			while used "$passwd" "$group"; do id=$((id + 1)); done
			echo "$user:x:$id:" >> "$group"
		fi
		gid=$(entry "$user" "$group" | cut -d: -f3)
		id=$gid
		if used "$passwd"; then id=200; while used "$passwd"; do id=$((id + 1)); done; fi
		echo "$user:x:$id:$gid:letterbox mail server:$data:/bin/false" >> "$passwd"
		[ ! -f "$root/etc/shadow" ] || echo "$user:*:0:0:99999:7:::" >> "$root/etc/shadow"
	fi
	echo "created user $user"
fi

dir=$root$data
[ -d "$dir" ] || { mkdir -p "$dir"; echo "created $dir"; }
chmod 0750 "$dir"   # unconditional: no stat on some busybox builds; mtime is unchanged
pw=$(entry "$user" "$passwd")
if [ -n "$pw" ]; then
	owner=$(echo "$pw" | cut -d: -f3):$(echo "$pw" | cut -d: -f4)
	chown "$owner" "$dir"
else
	echo "setup.sh: no user $user in $passwd: $dir keeps its owner" >&2
fi
