#!/usr/bin/env bash
# Sieve at delivery benchmark (issue 16): the time the owner's script adds per message.
# One 4 KiB message is sent BENCH_SIEVE_MESSAGES (1,000) times by Postfix's smtp-source over
# 10 sessions to letterbox without a script, then with an active 50-rule script (48 header,
# address and envelope tests over list ids, senders, subjects and subaddresses that do not
# match this message, one :matches, one body test; the message falls through to keep), in
# the same run. Rows: msg/s without and with the script, the added time per message (wall
# time over the run divided by the messages), peak RSS with the script.
#   scripts/bench-sieve.sh     (scripts/bench.sh runs it at its end)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
N=${BENCH_SIEVE_MESSAGES:-1000}
OUT=target/bench
mkdir -p "$OUT"
BIN=${BIN:-target/release/letterbox}
[ -x "$BIN" ] || cargo build --release --quiet
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "${RESULTS:-/dev/null}"; }
kib() { awk -v f="$2" '$1==f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

WORK=$(mktemp -d /tmp/lb-bench-sieve.XXXXXX)
LB_PID=""
cleanup() {
  [ -z "$LB_PID" ] || kill "$LB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$WORK/msg.eml" "$WORK/rules.sieve" <<'PY'
import sys
body = "".join("line %04d of the benchmark message, some text to search and store\n" % i for i in range(60))
open(sys.argv[1], "w").write("From: Bench <a@sender.example>\nTo: alice@example.org\nSubject: sieve bench\n"
                             "Date: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <bench@sender.example>\n\n" + body)
rules = ['require ["fileinto", "mailbox", "envelope", "subaddress", "imap4flags", "body", "variables"];']
for i in range(16):
    rules.append('if header :contains "list-id" "<list%d.lists.example>" { fileinto :create "lists/%d"; stop; }' % (i, i))
for i in range(16):
    rules.append('if address :domain :is "from" "shop%d.example" { fileinto :create "shops"; addflag "$shop"; }' % i)
for i in range(8):
    rules.append('if envelope :detail "to" "tag%d" { fileinto :create "tag%d"; stop; }' % (i, i))
for i in range(8):
    rules.append('if anyof (header :is "subject" "invoice %d", header :contains "x-spam-flag" "YES%d") { fileinto :create "Junk"; stop; }' % (i, i))
rules.append('if header :matches "subject" "*urgent*report*2026*" { addflag "\\\\Flagged"; }')
rules.append('if body :text :contains "unsubscribe-me-now" { fileinto :create "news"; stop; }')
rules.append('keep;')
assert len(rules) == 52  # require, 50 rules, keep
open(sys.argv[2], "w").write("\n".join(rules) + "\n")
PY

# run SCRIPT(yes|no) -> seconds (a fresh server and data directory each time)
run() {
  rm -rf "${WORK:?}/home" && mkdir -p "$WORK/home"
  lb_config "$WORK/home/letterbox.toml" smtp=12527
  if [ "$1" = yes ]; then
    "$BIN" sieve --config "$WORK/home/letterbox.toml" put rules "$WORK/rules.sieve" >/dev/null
    "$BIN" sieve --config "$WORK/home/letterbox.toml" activate rules >/dev/null
  fi
  "$BIN" serve --config "$WORK/home/letterbox.toml" 2>"$OUT/letterbox-sieve.log" &
  LB_PID=$!
  wait_port 12527 || true
  local t0 t1
  t0=$(date +%s.%N)
  "$SMTP_SOURCE" -s 10 -m "$N" -F "$WORK/msg.eml" -f a@sender.example -t alice@example.org 127.0.0.1:12527 >/dev/null
  t1=$(date +%s.%N)
  kib "$LB_PID" VmHWM: > "$WORK/hwm"
  local stored
  stored=$("$BIN" list --config "$WORK/home/letterbox.toml" | awk '$1=="INBOX"{print $2}')
  [ "$stored" = "$N" ] || echo "warning: stored $stored of $N with script=$1" >&2
  kill "$LB_PID" 2>/dev/null || true
  wait "$LB_PID" 2>/dev/null || true
  LB_PID=""
  python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.3f}')" "$t0" "$t1"
}
per_s() { python3 -c "import sys; print(f'{int(sys.argv[1])/float(sys.argv[2]):.0f}')" "$N" "$1"; }
NO=$(run no)
YES=$(run yes)
YES_HWM=$(cat "$WORK/hwm")
row "smtp_sieve_none_10_sessions_msg_per_s" "$(per_s "$NO")"
row "smtp_sieve_50_rules_10_sessions_msg_per_s" "$(per_s "$YES")"
row "smtp_sieve_50_rules_added_ms_per_msg" "$(python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000/int(sys.argv[3]):.3f}')" "$NO" "$YES" "$N")"
row "smtp_sieve_50_rules_peak_rss_kib" "$YES_HWM"
