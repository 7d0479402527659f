#!/usr/bin/env bash
# SORT and THREAD benchmark (issue 19): BENCH_SORT_MESSAGES (10,000) small messages in
# threads (References/In-Reply-To chains, Re:/Fwd: subjects, dates in several zones) are
# imported into letterbox (`letterbox import`, an mbox); on a fresh server process one IMAP
# session runs
#   SORT (DATE) UTF-8 ALL        then        THREAD REFERENCES UTF-8 ALL
# Measured: seconds for each. With --peers, a Dovecot instance of its own (mbox, the same
# messages, port 11146) runs the same session twice and the second ("warm": its index and
# thread cache built) is reported; both servers' answers must be identical (they are
# compared, and a difference stops the benchmark).
#   scripts/bench-sort-thread.sh [--peers]    (scripts/bench.sh runs it at its end)
# Rows go to stdout and, when RESULTS is set (bench.sh), are appended to that file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
PEERS=0
[ "${1:-}" = "--peers" ] && PEERS=1
SORT_N=${BENCH_SORT_MESSAGES:-10000}
OUT=target/bench
mkdir -p "$OUT"
BIN=${BIN:-target/release/letterbox}
[ -x "$BIN" ] || cargo build --release --quiet
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "${RESULTS:-/dev/null}"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }

# The messages as an mbox FILE: about one thread in eight is new, the rest reply to a
# recent message of theirs (seeded, so every run and both servers see the same folder).
sort_mbox() { # file
  python3 - "$SORT_N" "$1" <<'PY'
import random, sys, email.utils
n, dest = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(19)
zones = ["+0000", "-0500", "+0100", "+0530", "-0800"]
threads = []
with open(dest, "wb") as f:
    for i in range(n):
        t = 1_760_000_000 + i * 60 + rnd.randrange(-3000, 3000)
        h = ["From: User %d <u%d@example.net>" % (i % 97, i % 97), "To: alice@example.org",
             "Date: " + email.utils.formatdate(t).replace("-0000", rnd.choice(zones)),
             "Message-ID: <b%d@example.net>" % i]
        if not threads or rnd.random() < 0.125:
            threads.append(["topic %d" % len(threads), []])
            th = threads[-1]
            h.append("Subject: " + th[0])
        else:
            th = threads[rnd.randrange(max(0, len(threads) - 50), len(threads))]
            h.append("Subject: " + rnd.choice(["Re: ", "RE: Re: ", "Fwd: ", "[list] Re: "]) + th[0])
            refs = th[1][-20:]
            h.append("References: " + " ".join(refs))
            h.append("In-Reply-To: " + refs[-1])
        th[1].append("<b%d@example.net>" % i)
        body = "line of text %d\n" % i * rnd.randrange(1, 40)
        f.write(("From u@example.net Mon Mar  2 10:00:00 2026\n" + "\n".join(h) + "\n\n" + body + "\n").encode())
PY
}

# One session: "sort_s thread_s sha" (sha: of both answers, to compare the servers).
sort_session() { # port user pass
  python3 - "$@" "$SORT_N" <<'PY'
import hashlib, imaplib, sys, time
port, user, pw, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, pw)
typ, data = m.select("INBOX")
assert int(data[0]) == n, data
t0 = time.perf_counter()
typ, s = m.sort("(DATE)", "UTF-8", "ALL")
t1 = time.perf_counter()
assert typ == "OK" and len(s[0].split()) == n, (typ, len(s[0].split()))
typ, t = m.thread("REFERENCES", "UTF-8", "ALL")
t2 = time.perf_counter()
assert typ == "OK" and t[0].startswith(b"("), (typ, t[0][:80])
m.logout()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {hashlib.sha256(s[0] + b'/' + t[0]).hexdigest()[:16]}")
PY
}

# --- letterbox: its own instance and data directory ----------------------------------------
HOME_SORT=$(mktemp -d /tmp/lb-sort.XXXXXX)
lb_config "$HOME_SORT/letterbox.toml" smtp=12626 imap=11244
printf 'benchpassword\n' | "$BIN" passwd --config "$HOME_SORT/letterbox.toml" >/dev/null
SORT_PID=""
stop_sort() { [ -z "$SORT_PID" ] || { kill "$SORT_PID" 2>/dev/null || true; wait "$SORT_PID" 2>/dev/null || true; }; }
trap 'stop_sort; rm -rf "$HOME_SORT"' EXIT
log "sort/thread: importing $SORT_N messages"
sort_mbox "$HOME_SORT/in.mbox"
"$BIN" import --config "$HOME_SORT/letterbox.toml" "$HOME_SORT/in.mbox" >/dev/null
"$BIN" serve --config "$HOME_SORT/letterbox.toml" 2>>"$OUT/letterbox-sort.log" &
SORT_PID=$!
wait_port 11244 20 || die "letterbox (sort/thread) did not start"
read -r LB_SORT LB_THREAD LB_SHA <<< "$(sort_session 11244 alice benchpassword)"
stop_sort

DV_SORT="" DV_THREAD=""
if [ "$PEERS" = 1 ]; then
  # --- Dovecot: its own instance (config, base_dir, port 11146), the same mbox. -----------
  DV_DIR=$(mktemp -d /tmp/dv-sort.XXXXXX)
  id benchsort >/dev/null 2>&1 || useradd -m benchsort
  rm -rf /home/benchsort/mail /home/benchsort/Mailbox
  cp "$HOME_SORT/in.mbox" /home/benchsort/Mailbox
  chown benchsort:benchsort /home/benchsort/Mailbox
  trap 'stop_sort; rm -rf "$HOME_SORT"; dovecot_stop "$DV_DIR"' EXIT
  dovecot_peer benchsort 11146 "$DV_DIR"
  sort_session 11146 benchsort benchpassword >/dev/null  # cold: builds its index
  sleep 0.5
  read -r DV_SORT DV_THREAD DV_SHA <<< "$(sort_session 11146 benchsort benchpassword)"
  dovecot_stop "$DV_DIR"
  sleep 0.5
  rm -rf /home/benchsort/mail /home/benchsort/Mailbox "$DV_DIR"
  [ "$LB_SHA" = "$DV_SHA" ] || die "SORT/THREAD answers differ from Dovecot's ($LB_SHA vs $DV_SHA)"
fi

row "sort_date_${SORT_N}_msgs_s" "$LB_SORT" "$DV_SORT" "${DV_SORT:+$(ratio "$DV_SORT" "$LB_SORT")}"
row "thread_references_${SORT_N}_msgs_s" "$LB_THREAD" "$DV_THREAD" "${DV_THREAD:+$(ratio "$DV_THREAD" "$LB_THREAD")}"
