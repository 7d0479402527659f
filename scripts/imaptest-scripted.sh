#!/usr/bin/env bash
# IMAP compliance (issue 19): Dovecot's imaptest in scripted mode (`test=DIR`) against
# letterbox and, in the same run, against Debian's Dovecot (dovecot-imapd), each on loopback
# with a fresh, empty mail store. Prints, for each server, the test groups run, skipped (and
# which, with the capabilities they need), failed, and the extension commands run; then the
# groups Dovecot runs that letterbox skips. Rows also go to $RESULTS (default
# target/imaptest/results.tsv) as `name<TAB>value`.
#
# imaptest is not in Debian, and scripts/deps.sh does not install it: build it once from its
# public repository (https://github.com/dovecot/imaptest), branch release-2.3 (commit
# 0de0dbf; `main` targets Dovecot 2.4's library API), against Debian's dovecot-dev:
#   apt-get install -y dovecot-dev autoconf automake libtool pkg-config
#   git clone -b release-2.3 https://github.com/dovecot/imaptest && cd imaptest
#   sed -i 's/imap_parser_create(\(.*\), (size_t)-1);/imap_parser_create(\1, (size_t)-1, NULL);/' \
#     src/commands.c src/test-parser.c src/imap-client.c   # Dovecot 2.3.19's 4th argument
#   git cherry-pick -n 9ea2bdd   # from main: count the groups skipped for a capability
#                                # (without it release-2.3 prints "0 skipped", always)
#   ./autogen.sh && ./configure --with-dovecot=/usr/lib/dovecot && make
#   install -m 755 src/imaptest /usr/local/bin/imaptest
#   mkdir -p /usr/local/share/imaptest && cp -r src/tests /usr/local/share/imaptest/
# It links libdovecot.so from /usr/lib/dovecot (LD_LIBRARY_PATH is set below).
#
# Environment:
#   IMAPTEST        the imaptest binary (default: `command -v imaptest`); missing = exit 1
#   IMAPTEST_TESTS  its scripted tests (default /usr/local/share/imaptest/tests)
#   BIN             the letterbox binary (default: cargo build --release, target/release/...)
#   DOVECOT=0       letterbox only (Dovecot needs root: its own config, base_dir and port)
#   LB_PORT, DV_PORT  loopback ports (default 11243 and 11244)
#
# Definitions (imaptest's own counters, read from its summary lines):
#   group      one test file of IMAPTEST_TESTS (`N test groups: F failed, S skipped ...`);
#              run = N - S (a failed group was run). A group is skipped when the server's
#              post-login CAPABILITY lacks one of the names on the file's `capabilities:`
#              header line, or when it needs a second user (`user N: $user2`; none is given
#              to either server, letterbox has one user).
#   extension commands  `extensions: F/T individual commands failed`: T counts the command
#              groups (one command, or commands sent together) that imaptest completed in
#              the groups that have a `capabilities:` header, i.e. need a capability beyond
#              IMAP4rev1; the same count for the other groups is `base protocol: F/T`.
#   failed     groups with at least one failing command (F of the first line), and failed
#              commands (base + extension).
# Exit status: 0 when letterbox fails no command (whatever it skips), 1 otherwise or when a run
# cannot be made (imaptest missing, a server not starting, no summary from imaptest).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

IMAPTEST=${IMAPTEST:-$(command -v imaptest || true)}
IMAPTEST_TESTS=${IMAPTEST_TESTS:-/usr/local/share/imaptest/tests}
DOVECOT=${DOVECOT:-1}
LB_PORT=${LB_PORT:-11243}
DV_PORT=${DV_PORT:-11244}
OUT=${OUT:-target/imaptest}
RESULTS=${RESULTS:-$OUT/results.tsv}
PASS=imaptestpassword
# Upper bound for one whole scripted run (Dovecot takes ~10 s, letterbox less).
RUN_TIMEOUT_SECS=600

if [ -z "$IMAPTEST" ] || [ ! -x "$IMAPTEST" ]; then
  die "imaptest not found (IMAPTEST=${IMAPTEST:-unset}); it is not a Debian package: build it as the header of $0 says"
fi
[ -f "$IMAPTEST_TESTS/default.mbox" ] \
  || die "IMAPTEST_TESTS=$IMAPTEST_TESTS is not imaptest's tests directory (no default.mbox)"
export LD_LIBRARY_PATH=/usr/lib/dovecot${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$IMAPTEST" --help >/dev/null 2>&1 || [ $? -ne 127 ] || die "$IMAPTEST does not start (libdovecot?)"

mkdir -p "$OUT"
: > "$RESULTS"
row() { printf '%s\t%s\n' "$1" "$2" | tee -a "$RESULTS"; }

if [ -z "${BIN:-}" ]; then
  nice cargo build --release --quiet
  BIN=target/release/letterbox
fi
[ -x "$BIN" ] || die "BIN=$BIN is not an executable"

TMP=$(mktemp -d /tmp/lb-imaptest.XXXXXX)
LB_PID=""
DV_CONF=""
LB_FAILED=0
cleanup() {
  if [ -n "$LB_PID" ]; then kill "$LB_PID" 2>/dev/null || true; wait "$LB_PID" 2>/dev/null || true; fi
  if [ -n "$DV_CONF" ]; then dovecot -c "$DV_CONF" stop >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# capabilities PORT USER: the server's post-login CAPABILITY names, one a line (what
# imaptest compares the `capabilities:` headers with).
capabilities() {
  python3 - "$1" "$2" "$PASS" <<'PY'
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
typ, data = m.capability()
assert typ == "OK", data
print("\n".join(data[0].decode().split()))
m.logout()
PY
}

# skipped_groups CAPSFILE: "group<TAB>what it needs that the server lacks" for each test
# file imaptest would skip (its header: `key: value` lines up to the first empty line).
skipped_groups() {
  python3 - "$IMAPTEST_TESTS" "$1" <<'PY'
import os, re, sys
tests, have = sys.argv[1], {c.upper() for c in open(sys.argv[2]).read().split()}
for name in sorted(os.listdir(tests)):
    path = os.path.join(tests, name)
    if name.endswith(".mbox") or not os.path.isfile(path):
        continue
    need, user2 = [], False
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                break
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "capabilities":
                need = value.split()
            elif re.fullmatch(r"user [1-9][0-9]*", key) and value.strip() in ("$user2", "${user2}"):
                user2 = True
    missing = [c for c in need if c.upper() not in have]
    if user2:
        missing.append("(a second user)")
    if missing:
        print(f"{name}\t{' '.join(missing)}")
PY
}

# scripted NAME PORT USER: runs the tests against one server and emits its rows.
scripted() {
  local name=$1 port=$2 user=$3 log="$OUT/imaptest-$1.log" rc=0 summary groups skipped failed
  capabilities "$port" "$user" > "$OUT/capabilities-$name.txt"
  skipped_groups "$OUT/capabilities-$name.txt" > "$OUT/skipped-$name.tsv"
  timeout "$RUN_TIMEOUT_SECS" "$IMAPTEST" host=127.0.0.1 port="$port" user="$user" pass="$PASS" \
    test="$IMAPTEST_TESTS" > "$log" 2>&1 || rc=$?
  summary=$(grep -E '^[0-9]+ test groups: ' "$log" || true)
  [ -n "$summary" ] || { tail -20 "$log" >&2; die "$name: no imaptest summary (exit $rc), see $log"; }
  read -r groups failed skipped <<< "$(sed -E 's/^([0-9]+) test groups: ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<< "$summary")"
  local base ext
  base=$(sed -nE 's#^base protocol: ([0-9]+)/([0-9]+) .*#\1 \2#p' "$log")
  ext=$(sed -nE 's#^extensions: ([0-9]+)/([0-9]+) .*#\1 \2#p' "$log")
  if [ -z "$base" ] || [ -z "$ext" ]; then die "$name: no command counts in $log"; fi
  local base_failed=${base% *} base_total=${base#* } ext_failed=${ext% *} ext_total=${ext#* }
  local listed
  listed=$(wc -l < "$OUT/skipped-$name.tsv")
  [ "$listed" = "$skipped" ] \
    || log "warning: $name: imaptest skipped $skipped groups, the headers say $listed (see $OUT/skipped-$name.tsv)"
  log "$name: $summary"
  row "imaptest_groups_total_$name" "$groups"
  row "imaptest_groups_run_$name" "$((groups - skipped))"
  row "imaptest_groups_skipped_$name" "$skipped"
  row "imaptest_failed_$name" "$failed"
  row "imaptest_failed_commands_$name" "$((base_failed + ext_failed))"
  row "imaptest_base_commands_$name" "$base_total"
  row "imaptest_ext_commands_$name" "$ext_total"
  if [ "$name" = letterbox ] && [ "$((failed + base_failed + ext_failed))" != 0 ]; then
    LB_FAILED=1
  fi
  printf '%s skips (group, missing capability):\n' "$name"
  sed 's/^/  /' "$OUT/skipped-$name.tsv"
  if [ "$failed" != 0 ]; then
    printf '%s failures (first lines; all in %s):\n' "$name" "$log"
    grep -E '^\*\*\* Test ' "$log" | sed 's/^/  /' | head -40
  fi
}

# --- letterbox ---------------------------------------------------------------------------
lb_config "$TMP/letterbox.toml" imap="$LB_PORT"
printf '%s\n' "$PASS" | "$BIN" passwd --config "$TMP/letterbox.toml" >/dev/null
"$BIN" serve --config "$TMP/letterbox.toml" 2>"$OUT/letterbox.log" &
LB_PID=$!
wait_port "$LB_PORT" 10 || die "letterbox did not listen on $LB_PORT (see $OUT/letterbox.log)"
scripted letterbox "$LB_PORT" alice
kill "$LB_PID" 2>/dev/null || true
wait "$LB_PID" 2>/dev/null || true
LB_PID=""

# --- Dovecot -----------------------------------------------------------------------------
# Its own config file and base_dir (nothing of Debian's conf.d applies), a fresh Maildir in
# the temporary directory owned by nobody, the same user name and a passwd-file password.
if [ "$DOVECOT" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "Dovecot needs root (DOVECOT=0 runs letterbox only)"
  apt_install dovecot-imapd
  chmod 755 "$TMP"
  mkdir -p "$TMP/dv-home" "$TMP/dv-run"
  chown nobody:nogroup "$TMP/dv-home"
  printf 'alice:{PLAIN}%s\n' "$PASS" > "$TMP/dovecot.passwd"
  DV_CONF=$TMP/dovecot.conf
  cat > "$DV_CONF" <<CONF
base_dir = $TMP/dv-run
listen = 127.0.0.1
protocols = imap
mail_location = maildir:~/Maildir
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $PWD/$OUT/dovecot.log
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = $TMP/dovecot.passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$TMP/dv-home
}
service imap-login {
  inet_listener imap {
    port = $DV_PORT
  }
}
CONF
  : > "$OUT/dovecot.log"
  dovecot -c "$DV_CONF"
  wait_port "$DV_PORT" 10 || die "Dovecot did not listen on $DV_PORT (see $OUT/dovecot.log)"
  scripted dovecot "$DV_PORT" alice
  dovecot -c "$DV_CONF" stop >/dev/null 2>&1 || true
  DV_CONF=""
  # What letterbox lacks for issue 19: the groups Dovecot ran that letterbox skipped.
  printf 'run on Dovecot, skipped on letterbox (group, capability letterbox lacks):\n'
  awk -F'\t' 'NR==FNR {dv[$1]=1; next} !($1 in dv) {printf "  %s\t%s\n", $1, $2}' \
    "$OUT/skipped-dovecot.tsv" "$OUT/skipped-letterbox.tsv" | tee "$OUT/skipped-letterbox-only.tsv"
  row "imaptest_groups_skipped_letterbox_only" "$(wc -l < "$OUT/skipped-letterbox-only.tsv")"
fi
[ "$LB_FAILED" = 0 ] || die "letterbox failed imaptest commands (see $OUT/imaptest-letterbox.log)"
