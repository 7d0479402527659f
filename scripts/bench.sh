#!/usr/bin/env bash
# Side-by-side benchmark (issues 3, 4, 9). Builds the release binary, starts letterbox on
# loopback with a fresh data directory and measures:
#   - SMTP ingest: smtp-source (Debian postfix package) 2,000 x 4 KiB over 1 and 10
#     sessions; 250 is sent only after fsync, so "smtp-source finished" = all durable.
#   - POP3: RETR of all 2,000 messages in one session.
#   - RSS idle and peak, binary size.
# With --peers it installs Postfix and Dovecot on loopback ports (mbox in the home
# directory) and runs the same load against them in the same run. Output: one table
# `metric | letterbox | peers | ratio`, also written to target/bench/results.tsv.
# Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
PEERS=0
[ "${1:-}" = "--peers" ] && PEERS=1
N=${BENCH_MESSAGES:-2000}
SIZE=${BENCH_SIZE:-4096}
OUT=target/bench
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
export DEBIAN_FRONTEND=noninteractive

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need smtp-source; then
  apt-get update -qq && apt-get install -y -qq postfix >/dev/null
  # Only the smtp-source tool is wanted unless --peers: keep the daemon off.
  [ "$PEERS" = 1 ] || { postfix stop >/dev/null 2>&1 || true; }
fi
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)

cargo build --release --quiet
BIN=target/release/letterbox
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "$RESULTS"; }
ratio() { python3 -c "import sys; a,b=(float(x) if x.replace('.','',1).isdigit() else 0 for x in sys.argv[1:3]); print(f'{a/b:.2f}' if a and b else '-')" "$1" "$2"; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.3f}')" "$1" "$2"; }
kib() { awk -v f="$2" '$1==f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# --- letterbox --------------------------------------------------------------------------
HOME_LB=$(mktemp -d /tmp/lb-bench.XXXXXX)
lb_config "$HOME_LB/letterbox.toml" smtp=12525 pop3=11110 imap=11143
printf 'benchpassword\n' | "$BIN" passwd --config "$HOME_LB/letterbox.toml" >/dev/null
start_lb() {
  "$BIN" serve --config "$HOME_LB/letterbox.toml" 2>"$OUT/letterbox.log" &
  LB_PID=$!
  wait_port 12525 || true
}
stop_lb() { kill "$LB_PID" 2>/dev/null || true; wait "$LB_PID" 2>/dev/null || true; }
trap 'stop_lb; rm -rf "$HOME_LB"' EXIT

start_lb
sleep 0.5
row "rss_idle_kib" "$(kib "$LB_PID" VmRSS:)"
# A 50 MB message in over SMTP and out over IMAP: peak RSS growth over the RSS before it
# (VmHWM reset through /proc/PID/clear_refs first), on the idle server; then expunged.
echo 5 > "/proc/$LB_PID/clear_refs" 2>/dev/null || true
BIG_BASE=$(kib "$LB_PID" VmRSS:)
python3 - <<'PY'
import imaplib, smtplib
line = b"x" * 76 + b"\r\n"
body = b"From: big@example.net\r\nTo: alice@example.org\r\nSubject: 50 MB\r\n\r\n" + line * (50_000_000 // len(line))
with smtplib.SMTP("127.0.0.1", 12525) as s:
    s.sendmail("big@example.net", ["alice@example.org"], body)
m = imaplib.IMAP4("127.0.0.1", 11143)
m.login("alice", "benchpassword")
typ, data = m.select("INBOX")
n = int(data[0])
typ, data = m.fetch(str(n), "(BODY.PEEK[])")
got = data[0][1]
m.store(str(n), "+FLAGS", "\\Deleted")
m.expunge()
assert got.endswith(body) and len(got) - len(body) < 1000, (len(got), len(body))  # + trace header
m.logout()
PY
LB_BIG=$(( $(kib "$LB_PID" VmHWM:) - BIG_BASE ))
echo 5 > "/proc/$LB_PID/clear_refs" 2>/dev/null || true  # SMTP peak below: SMTP only
smtp_run() { # sessions port -> seconds
  local t0 t1
  t0=$(now)
  "$SMTP_SOURCE" -s "$1" -m "$N" -l "$SIZE" -f bench@example.net -t alice@example.org "127.0.0.1:$2" >/dev/null
  t1=$(now)
  elapsed "$t0" "$t1"
}
wbytes() { awk '$1=="write_bytes:" {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
sleep 1  # a background compaction after the expunge above settles first
LBX0=$(stat -c %s "$HOME_LB/data/INBOX.lbx")
LB1=$(smtp_run 1 12525)
# Bytes the server wrote to disk per message over the 10-session run (/proc/PID/io
# write_bytes: page-cache pages dirtied, 4 KiB each), beside the stored message size.
WB0=$(wbytes "$LB_PID")
LB10=$(smtp_run 10 12525)
LB_WB=$(( ($(wbytes "$LB_PID") - WB0) / N ))
LB_HWM=$(kib "$LB_PID" VmHWM:)
COUNT=$("$BIN" list --config "$HOME_LB/letterbox.toml" | awk '$1=="INBOX"{print $2}')
LB_STORED=$(( ($(stat -c %s "$HOME_LB/data/INBOX.lbx") - LBX0) / (2 * N) ))
[ "$COUNT" = "$((2 * N))" ] || echo "warning: letterbox stored $COUNT of $((2 * N)) messages" >&2

# POP3 RETR of every message (the first N) in one session.
pop3_time() { # port user pass -> seconds
  python3 - "$@" "$N" <<'PY'
import poplib, sys, time
port, user, pw, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
p = poplib.POP3("127.0.0.1", port)
p.user(user); p.pass_(pw)
t = time.perf_counter()
total = 0
for i in range(1, n + 1):
    total += p.retr(i)[2]
print(f"{time.perf_counter() - t:.3f}")
p.quit()
PY
}
LB_POP=$(pop3_time 11110 alice benchpassword)

# IMAP: RSS with 10 and 100 sessions logged in, INBOX (2,000 messages) selected.
imap_sessions_rss() { # port user pass n pids -> KiB (sum over the pids)
  python3 - "$@" <<'PY'
import imaplib, os, sys, time
port, user, pw, n, pids = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
conns = []
for _ in range(n):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, pw)
    m.select("INBOX")
    conns.append(m)
time.sleep(0.5)
def rss(p):
    try:
        for l in open(f"/proc/{p}/status"):
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    except OSError:
        pass
    return 0
if pids.startswith("pgrep:"):
    # Peers fork a process per session: list them now that the sessions exist.
    import subprocess
    found = subprocess.run(["pgrep", "-f", pids[6:]], capture_output=True, text=True).stdout.split()
    pids = ",".join(p for p in found if int(p) not in (os.getpid(), os.getppid()))
print(sum(rss(p) for p in pids.split(",") if p))
for m in conns:
    m.logout()
PY
}
# INBOX size for the session rows (the glibc rows; the musl rows come after imaptest).
LB_MSGS=$("$BIN" list --config "$HOME_LB/letterbox.toml" | awk '$1=="INBOX"{print $2}')
LB_IMAP10=$(imap_sessions_rss 11143 alice benchpassword 10 "$LB_PID")
LB_IMAP100=$(imap_sessions_rss 11143 alice benchpassword 100 "$LB_PID")

# imaptest stress: Dovecot's imaptest, built locally from its public repository and never
# committed (IMAPTEST=path, or imaptest on PATH; the rows read "-" without it). 10 clients,
# 30 s, seed 123, APPENDs taken from the same 200-message mbox, default command mix (LOGOUT
# and LOGIN again every ~8 commands). Both servers get the same starting state: a new,
# empty folder "stress" (the INBOXes hold different counts, 4,000 here and 2,000 at Dovecot,
# which imaptest would first delete down to ~30), created after a LOGIN that must succeed.
# A second run with logout=0 (each client logs in once) measures the IMAP commands alone,
# without the password hash that every LOGIN of the first run pays for.
IMAPTEST=${IMAPTEST:-$(command -v imaptest || true)}
IMAPTEST_SECS=30
imaptest_rate() { # port user pass [imaptest args...] -> "commands/s errors"
  if [ -z "$IMAPTEST" ]; then echo "- -"; return; fi
  local mbox="$OUT/imaptest.mbox" log="$OUT/imaptest-$1${4:+-$4}.log"
  python3 - "$mbox" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200):
        f.write(f"From bench@example.net Mon Jan  1 00:00:00 2024\nFrom: bench{i}@example.net\nTo: alice@example.org\nSubject: stress {i}\nMessage-ID: <{i}@bench>\n\n" + ("line of text for the stress mailbox\n" * 40) + "\n")
PY
  python3 - "$1" "$2" "$3" <<'PY' >&2
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])  # raises on a wrong password: never measure failures
m.delete("stress")
typ, data = m.create("stress")
assert typ == "OK", data
m.logout()
PY
  LD_LIBRARY_PATH=/usr/lib/dovecot timeout 90 "$IMAPTEST" host=127.0.0.1 port="$1" user="$2" pass="$3" \
    mbox="$mbox" box=stress clients=10 secs="$IMAPTEST_SECS" seed=123 "${@:4}" > "$log" 2>&1 || true
  python3 - "$log" "$IMAPTEST_SECS" <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
# imaptest prints a header of command names and, per interval, a row of counts; the final
# "Totals:" block is: header row, percentage row(s), then the totals row. Only as many
# numbers as there are columns count (a message may follow the row on the same line).
total = 0
for i, l in enumerate(lines):
    if l.startswith("Totals:") and i + 1 < len(lines):
        columns = len(lines[i + 1].split())
        rows = [r for r in lines[i + 2:i + 6] if r.strip() and "%" not in r]
        if rows:
            total = sum(int(x) for x in re.findall(r"\d+", rows[0])[:columns])
errors = sum(1 for l in lines if "Error:" in l or "Fatal:" in l)
print(f"{total / int(sys.argv[2]):.0f} {errors}")
PY
}
read -r LB_IMAPT LB_IMAPT_ERR <<< "$(imaptest_rate 11143 alice benchpassword)"
read -r LB_IMAPT1 LB_IMAPT1_ERR <<< "$(imaptest_rate 11143 alice benchpassword logout=0)"
stop_lb

# The boards ship static musl builds (no shared libc pages in RSS): idle RSS and 10/100 IMAP
# sessions again with that build, on the same data (when the target is installed).
MUSL_T=x86_64-unknown-linux-musl
LBM_IDLE="" LBM_IMAP10="" LBM_IMAP100=""
if rustup target list --installed 2>/dev/null | grep -qx "$MUSL_T" \
  && cargo build --release --quiet --target "$MUSL_T" 2>/dev/null; then
  BIN_GLIBC=$BIN
  BIN=target/$MUSL_T/release/letterbox
  start_lb
  sleep 0.5
  LBM_IDLE=$(kib "$LB_PID" VmRSS:)
  LBM_IMAP10=$(imap_sessions_rss 11143 alice benchpassword 10 "$LB_PID")
  LBM_IMAP100=$(imap_sessions_rss 11143 alice benchpassword 100 "$LB_PID")
  stop_lb
  BIN=$BIN_GLIBC
fi

PF1="" PF10="" PF_HWM="" DV_POP="" DV_IMAP10="" DV_IMAP100="" DV_IMAPT="" DV_IMAPT_ERR="" DV_IMAPT1="" DV_IMAPT1_ERR=""
if [ "$PEERS" = 1 ]; then
  # --- Postfix: local delivery to ~/Mailbox (mbox in the home directory), fsync on. ------
  dpkg -s postfix dovecot-pop3d dovecot-imapd >/dev/null 2>&1 \
    || apt-get install -y -qq postfix dovecot-pop3d dovecot-imapd >/dev/null
  # Installed non-interactively, Debian's postfix has no main.cf ("No configuration"): start
  # from its template, which postconf -e below then edits, and build the aliases map it
  # names (without it every RCPT gets "451 4.3.0 Temporary lookup failure").
  if [ ! -f /etc/postfix/main.cf ]; then
    cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
    newaliases
  fi
  id benchuser >/dev/null 2>&1 || useradd -m benchuser
  echo "benchuser:benchpassword" | chpasswd
  postconf -e "inet_interfaces = loopback-only" "mydestination = example.org, localhost" \
    "home_mailbox = Mailbox" "message_size_limit = 0" "mailbox_size_limit = 0" \
    "smtpd_recipient_restrictions = permit_mynetworks, reject" "default_process_limit = 100"
  postconf -M "12526/inet=12526 inet n - y - - smtpd"
  postfix stop >/dev/null 2>&1 || true
  postfix start >/dev/null 2>&1
  peer_run() { # sessions -> seconds until all N are in the mailbox
    : > /home/benchuser/Mailbox
    chown benchuser:benchuser /home/benchuser/Mailbox
    local t0 t1
    t0=$(now)
    "$SMTP_SOURCE" -s "$1" -m "$N" -l "$SIZE" -f bench@example.net -t benchuser@example.org 127.0.0.1:12526 >/dev/null
    for _ in $(seq 1200); do
      c=$(grep -c '^From ' /home/benchuser/Mailbox 2>/dev/null || true)
      [ "${c:-0}" -ge "$N" ] && break
      sleep 0.05
    done
    t1=$(now)
    elapsed "$t0" "$t1"
  }
  PF1=$(peer_run 1)
  PF10=$(peer_run 10)
  PF_HWM=$(for p in $(pgrep -f 'postfix|smtpd|cleanup|qmgr|local|trivial-rewrite' ); do kib "$p" VmHWM:; done | awk '{s+=$1} END {print s+0}')
  # --- Dovecot pop3d, then imapd, on the same mailbox content. ---------------------------
  # Its own config file and base_dir (not Debian's conf.d), so that nothing else applies.
  # Issue 13: with Debian's defaults the imaptest row read 66 commands/s, a measure of this
  # setup rather than of Dovecot:
  #  - mbox_write_locks defaults to "fcntl dotlock": with 10 sessions on one mbox each write
  #    waits for ~/mail/stress.lock, retrying O_EXCL opens after sleeps of 100-200 ms (strace),
  #    so commands took 2-4 s each. fcntl alone still excludes Postfix's local(8), which takes
  #    an fcntl lock too (mailbox_delivery_lock = fcntl, dotlock), and all Dovecot processes.
  #  - passwords went through PAM (yescrypt, ~70 ms a check here) while letterbox checks
  #    PBKDF2-HMAC-SHA256 with its hash's iteration count; imaptest logs in again every ~8
  #    commands. Dovecot now checks the same function and count: its SCRAM-SHA-256 scheme
  #    stores RFC 5802's SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, i).
  DV_CONF=$PWD/$OUT/dovecot.conf
  # shellcheck disable=SC2016 # a literal $ in the pattern
  DV_ITER=$(grep -o 'pbkdf2-sha256\$i=[0-9]*' "$HOME_LB/letterbox.toml" | cut -d= -f2)
  python3 - "$OUT/dovecot.passwd" "${DV_ITER:-20000}" <<'PY'
import base64, hashlib, hmac, os, sys
salt, it = os.urandom(16), int(sys.argv[2])
salted = hashlib.pbkdf2_hmac("sha256", b"benchpassword", salt, it)
key = lambda name: hmac.new(salted, name, "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
stored, server = hashlib.sha256(key(b"Client Key")).digest(), key(b"Server Key")
with open(sys.argv[1], "w") as f:
    f.write(f"benchuser:{{SCRAM-SHA-256}}{it},{b64(salt)},{b64(stored)},{b64(server)}\n")
PY
  cat > "$DV_CONF" <<CONF
base_dir = /run/dovecot-bench
listen = 127.0.0.1
protocols = pop3 imap
mail_location = mbox:~/mail:INBOX=~/Mailbox
mbox_write_locks = fcntl
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = $PWD/$OUT/dovecot.log
mail_max_userip_connections = 200
passdb {
  driver = passwd-file
  args = $PWD/$OUT/dovecot.passwd
}
userdb {
  driver = passwd
}
service pop3-login {
  inet_listener pop3 {
    port = 11111
  }
}
service imap-login {
  inet_listener imap {
    port = 11144
  }
}
CONF
  : > "$OUT/dovecot.log"
  chown benchuser /home/benchuser/Mailbox
  dovecot -c "$DV_CONF" stop >/dev/null 2>&1 || true
  sleep 0.5
  dovecot -c "$DV_CONF"
  wait_port 11144 || true
  DV_POP=$(pop3_time 11111 benchuser benchpassword)
  # Dovecot's processes only: "dovecot|imap" also matched any rustc building this crate's
  # "imap" feature while the bench ran (1.3 GB of "Dovecot" RSS in one run).
  DV_PROCS="pgrep:^(/usr/sbin/dovecot|dovecot/)"
  DV_IMAP10=$(imap_sessions_rss 11144 benchuser benchpassword 10 "$DV_PROCS")
  DV_IMAP100=$(imap_sessions_rss 11144 benchuser benchpassword 100 "$DV_PROCS")
  read -r DV_IMAPT DV_IMAPT_ERR <<< "$(imaptest_rate 11144 benchuser benchpassword)"
  read -r DV_IMAPT1 DV_IMAPT1_ERR <<< "$(imaptest_rate 11144 benchuser benchpassword logout=0)"
  dovecot -c "$DV_CONF" stop >/dev/null 2>&1 || true
  postfix stop >/dev/null 2>&1 || true
fi

msgs_s() { python3 -c "import sys; print(f'{int(sys.argv[1])/float(sys.argv[2]):.0f}')" "$N" "$1"; }
row "metric" "letterbox" "peers" "ratio"
row "smtp_ingest_1_session_msg_per_s" "$(msgs_s "$LB1")" "${PF1:+$(msgs_s "$PF1")}" "${PF1:+$(ratio "$PF1" "$LB1")}"
row "smtp_ingest_10_sessions_msg_per_s" "$(msgs_s "$LB10")" "${PF10:+$(msgs_s "$PF10")}" "${PF10:+$(ratio "$PF10" "$LB10")}"
row "smtp_bytes_written_per_msg" "$LB_WB"
row "smtp_stored_msg_bytes" "$LB_STORED"
row "smtp_peak_rss_kib" "$LB_HWM" "${PF_HWM}" "${PF_HWM:+$(ratio "$PF_HWM" "$LB_HWM")}"
row "pop3_retr_${N}_s" "$LB_POP" "${DV_POP}" "${DV_POP:+$(ratio "$DV_POP" "$LB_POP")}"
row "imap_10_sessions_rss_kib" "$LB_IMAP10" "${DV_IMAP10}" "${DV_IMAP10:+$(ratio "$DV_IMAP10" "$LB_IMAP10")}"
row "imap_100_sessions_rss_kib" "$LB_IMAP100" "${DV_IMAP100}" "${DV_IMAP100:+$(ratio "$DV_IMAP100" "$LB_IMAP100")}"
row "rss_idle_kib_musl_static" "${LBM_IDLE:--}"
row "imap_10_sessions_rss_kib_musl_static" "${LBM_IMAP10:--}" "${DV_IMAP10}" "${DV_IMAP10:+${LBM_IMAP10:+$(ratio "$DV_IMAP10" "$LBM_IMAP10")}}"
row "imap_100_sessions_rss_kib_musl_static" "${LBM_IMAP100:--}" "${DV_IMAP100}" "${DV_IMAP100:+${LBM_IMAP100:+$(ratio "$DV_IMAP100" "$LBM_IMAP100")}}"
row "imap_sessions_inbox_messages" "$LB_MSGS"
row "imaptest_10_clients_cmds_per_s" "$LB_IMAPT" "${DV_IMAPT}" "${DV_IMAPT:+$(ratio "$LB_IMAPT" "$DV_IMAPT")}"
row "imaptest_errors" "$LB_IMAPT_ERR" "${DV_IMAPT_ERR}"
row "imaptest_10_clients_one_login_cmds_per_s" "$LB_IMAPT1" "${DV_IMAPT1}" "${DV_IMAPT1:+$(ratio "$LB_IMAPT1" "$DV_IMAPT1")}"
row "imaptest_one_login_errors" "$LB_IMAPT1_ERR" "${DV_IMAPT1_ERR}"
row "rss_growth_50mb_in_and_out_kib" "$LB_BIG"
row "binary_size_bytes" "$(stat -c %s "$BIN")"
# Per board: the binaries scripts/build.sh BOARD left (CI builds them in scripts/ci-boards.sh).
for f in target/boards/*/letterbox; do
  if [ -f "$f" ]; then row "binary_size_bytes_$(basename "$(dirname "$f")")" "$(stat -c %s "$f")"; fi
done
# First sync (issue 13): its own script and letterbox instance (BENCH_SYNC_* to run smaller).
RESULTS="$RESULTS" BIN="$BIN" scripts/bench-first-sync.sh "${1:-}"
# SORT (DATE) and THREAD REFERENCES on 10,000 messages (issue 19; BENCH_SORT_MESSAGES to run smaller).
RESULTS="$RESULTS" BIN="$BIN" scripts/bench-sort-thread.sh "${1:-}"
# The inbound checks (issue 15): SPF + DKIM + DMARC on and off, same run.
RESULTS="$RESULTS" BIN="$BIN" scripts/bench-checks.sh
# Sieve at delivery (issue 16): no script and a 50-rule script, same run.
RESULTS="$RESULTS" BIN="$BIN" scripts/bench-sieve.sh
# The chart (README): scripts/chart.py draws it from the table of a --peers run.
[ "$PEERS" = 1 ] && python3 scripts/chart.py "$RESULTS" "$OUT/bench-results.svg"
true
