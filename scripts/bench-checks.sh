#!/usr/bin/env bash
# Inbound checks benchmark (issue 15): what SPF + DKIM + DMARC cost per received message.
# dnsmasq on loopback publishes good.test's SPF, DMARC and DKIM key records with a TTL of an
# hour, so after the first message every answer comes from letterbox's own DNS cache: the
# difference is the checks' CPU (DNS excluded). One 4 KiB message signed by dkimpy (RSA 2048,
# relaxed/relaxed) is sent BENCH_CHECKS_MESSAGES (1,000) times by Postfix's smtp-source, over 1
# and over 10 sessions, to letterbox with [checks] off and then on, in the same run.
# Rows: msg/s off and on, the added time per message (wall time over the run divided by the
# messages: with 1 session fsync dominates, with 10 the CPU does), peak RSS with the checks on.
#   scripts/bench-checks.sh     (scripts/bench.sh runs it at its end)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
N=${BENCH_CHECKS_MESSAGES:-1000}
OUT=target/bench
mkdir -p "$OUT"
BIN=${BIN:-target/release/letterbox}
[ -x "$BIN" ] || cargo build --release --quiet
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "${RESULTS:-/dev/null}"; }
kib() { awk -v f="$2" '$1==f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

WORK=$(mktemp -d /tmp/lb-bench-checks.XXXXXX)
DNS_PID=""
LB_PID=""
cleanup() {
  [ -z "$LB_PID" ] || kill "$LB_PID" 2>/dev/null || true
  [ -z "$DNS_PID" ] || kill "$DNS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/dkim.pem" 2>/dev/null
P=$(openssl pkey -pubout -outform DER -in "$WORK/dkim.pem" | base64 -w0)
DNS_PORT=12553
/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address=127.0.0.1 --pid-file= --local=/test/ --local-ttl=3600 --port=$DNS_PORT \
  "--txt-record=good.test,v=spf1 ip4:127.0.0.1 -all" "--txt-record=_dmarc.good.test,v=DMARC1; p=reject" \
  "--txt-record=sel._domainkey.good.test,v=DKIM1; k=rsa; p=$P" 2>/dev/null &
DNS_PID=$!
# The message: 4 KiB, signed once (the same signature verifies on every copy).
/usr/bin/python3 - "$WORK/dkim.pem" "$WORK/msg.eml" <<'PY'
import dkim, sys
key = open(sys.argv[1], "rb").read()
body = b"".join(b"line %04d of the benchmark message, some text to hash and store\r\n" % i for i in range(60))
msg = (b"From: Bench <a@good.test>\r\nTo: alice@example.org\r\nSubject: checks bench\r\n"
       b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <bench@good.test>\r\n\r\n" + body)
sig = dkim.sign(msg, b"sel", b"good.test", key, include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
open(sys.argv[2], "wb").write((sig + msg).replace(b"\r\n", b"\n"))
PY

# run CHECKS SESSIONS -> seconds (a fresh server and data directory each time)
run() {
  rm -rf "${WORK:?}/home" && mkdir -p "$WORK/home"
  lb_config "$WORK/home/letterbox.toml" smtp=12526
  if [ "$1" = on ]; then
    printf '[checks]\nspf = true\ndkim = true\ndmarc = true\n[outbound]\nresolver = "127.0.0.1:%s"\n' "$DNS_PORT" >> "$WORK/home/letterbox.toml"
  else
    printf '[checks]\nspf = false\ndkim = false\ndmarc = false\n' >> "$WORK/home/letterbox.toml"
  fi
  "$BIN" serve --config "$WORK/home/letterbox.toml" 2>"$OUT/letterbox-checks.log" &
  LB_PID=$!
  wait_port 12526 || true
  local t0 t1
  t0=$(date +%s.%N)
  "$SMTP_SOURCE" -s "$2" -m "$N" -F "$WORK/msg.eml" -f a@good.test -t alice@example.org 127.0.0.1:12526 >/dev/null
  t1=$(date +%s.%N)
  kib "$LB_PID" VmHWM: > "$WORK/hwm"
  local stored
  stored=$("$BIN" list --config "$WORK/home/letterbox.toml" | awk '$1=="INBOX"{print $2}')
  [ "$stored" = "$N" ] || echo "warning: stored $stored of $N with checks $1" >&2
  if [ "$1" = on ]; then
    grep -q "dkim=pass" "$WORK/home/data/INBOX.lbx" || echo "warning: the checks did not pass DKIM" >&2
  fi
  kill "$LB_PID" 2>/dev/null || true
  wait "$LB_PID" 2>/dev/null || true
  LB_PID=""
  python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.3f}')" "$t0" "$t1"
}
per_s() { python3 -c "import sys; print(f'{int(sys.argv[1])/float(sys.argv[2]):.0f}')" "$N" "$1"; }
OFF1=$(run off 1)
ON1=$(run on 1)
OFF10=$(run off 10)
ON10=$(run on 10)
ON10_HWM=$(cat "$WORK/hwm")
row "smtp_checks_off_1_session_msg_per_s" "$(per_s "$OFF1")"
row "smtp_checks_on_1_session_msg_per_s" "$(per_s "$ON1")"
row "smtp_checks_added_ms_per_msg_1_session" "$(python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000/int(sys.argv[3]):.2f}')" "$OFF1" "$ON1" "$N")"
row "smtp_checks_off_10_sessions_msg_per_s" "$(per_s "$OFF10")"
row "smtp_checks_on_10_sessions_msg_per_s" "$(per_s "$ON10")"
row "smtp_checks_added_ms_per_msg_10_sessions" "$(python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000/int(sys.argv[3]):.3f}')" "$OFF10" "$ON10" "$N")"
row "smtp_checks_on_10_sessions_peak_rss_kib" "$ON10_HWM"
