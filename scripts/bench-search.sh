#!/usr/bin/env bash
# Decoded search benchmark (issue 19): what a person's search on the phone costs, and whether
# it stalls the other sessions. BENCH_SEARCH_MESSAGES (10,000) messages of BENCH_SEARCH_SIZE
# (100 KB) are imported into a fresh letterbox: a third base64 UTF-8 text, a third
# quoted-printable ISO-8859-1 text, a third HTML (base64, windows-1252), each with a 40 KB
# base64 attachment; the word searched for ("Zauberwürfel") is in one message, only in its
# encoded text. On a fresh server process (nothing in RAM):
#   session A:  SEARCH TEXT "zauberwürfel" (CHARSET UTF-8; decoded bodies, Unicode case
#               folding) — seconds;
#   session B:  NOOP every 10 ms while A searches — the worst and the 99th percentile
#               latency (goal: <= 50 ms, the executor yields between search steps).
# With --peers, Debian's Dovecot (its own config, mbox, port 11146, no FTS: it decodes while
# searching too) runs the same session after a warm-up and the rows carry both.
#   scripts/bench-search.sh [--peers]    (scripts/bench.sh runs it at its end)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
PEERS=0
[ "${1:-}" = "--peers" ] && PEERS=1
N=${BENCH_SEARCH_MESSAGES:-10000}
SIZE=${BENCH_SEARCH_SIZE:-100000}
OUT=target/bench
mkdir -p "$OUT"
BIN=${BIN:-target/release/letterbox}
[ -x "$BIN" ] || cargo build --release --quiet
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "${RESULTS:-/dev/null}"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }

WORK=$(mktemp -d /tmp/lb-bench-search.XXXXXX)
chmod 755 "$WORK"
LB_PID=""
DV_DIR=""
cleanup() {
  [ -z "$LB_PID" ] || kill "$LB_PID" 2>/dev/null || true
  if [ -n "$DV_DIR" ]; then
    dovecot_stop "$DV_DIR"
    rm -rf /home/benchsearch/mail /home/benchsearch/Mailbox "$DV_DIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "search bench: writing $N x $SIZE bytes as mbox"
python3 - "$N" "$SIZE" "$WORK/mail.mbox" <<'PY'
import base64, quopri, sys
n, size, dest = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
needle_at = min(7777, n - 1)
att = base64.encodebytes(bytes(range(256)) * 160)[: 40000]
words = "report meeting budget travel invoice garden weather football kitchen holiday ".split()
def text(i, k):
    t = " ".join(words[(i * 7 + j) % len(words)] for j in range(k))
    return t + (" Der Zauberwürfel liegt im Schrank." if i == needle_at else "")
def msg(i):
    kind = i % 3
    want = max(size - 41000, 2000)
    head = ("From: Bob <bob@example.net>\nTo: Alice <alice@example.org>\nSubject: search message %d\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <search%d@example.net>\nMIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"=_b\"\n\n--=_b\n" % (i, i))
    if kind == 0:
        body = base64.encodebytes(text(i, want // 9).encode("utf-8")).decode()
        part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + body
    elif kind == 1:
        body = quopri.encodestring(text(i, want // 9).encode("iso-8859-1")).decode()
        part = "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + body
    else:
        html = "<html><body><p>" + text(i, want // 12).replace(" ", "</b> <b>") + "</p></body></html>"
        body = base64.encodebytes(html.encode("windows-1252")).decode()
        part = "Content-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: base64\n\n" + body
    tail = ("--=_b\nContent-Type: application/octet-stream; name=\"a%d.bin\"\nContent-Transfer-Encoding: base64\n\n" % i
            + att.decode() + "--=_b--\n")
    return head + part + tail
with open(dest, "w", encoding="ascii") as f:
    for i in range(n):
        m = msg(i).replace("\nFrom ", "\n>From ")
        f.write("From bob@example.net Mon Mar  2 10:00:00 2026\n" + m + "\n")
PY

# One measured session pair: "search_s hits noop_max_ms noop_p99_ms noops"
search_session() { # port user pass
  python3 - "$@" "$N" <<'PY'
import imaplib, sys, threading, time
port, user, pw, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def login():
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, pw)
    typ, data = m.select("INBOX")
    assert int(data[0]) == n, data
    return m
a, b = login(), login()
lat, done = [], threading.Event()
def noops():
    while not done.is_set():
        t = time.perf_counter()
        b.noop()
        lat.append((time.perf_counter() - t) * 1000)
        time.sleep(0.01)
th = threading.Thread(target=noops)
th.start()
time.sleep(0.2)
t0 = time.perf_counter()
typ, d = a.search("UTF-8", "TEXT", '"zauberw\u00fcrfel"'.encode("utf-8"))
t1 = time.perf_counter()
done.set()
th.join()
assert typ == "OK", (typ, d)
hits = len(d[0].split())
lat.sort()
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
print(f"{t1 - t0:.3f} {hits} {max(lat) if lat else 0:.1f} {p99:.1f} {len(lat)}")
a.logout()
b.logout()
PY
}

mkdir -p "$WORK/home"
lb_config "$WORK/home/letterbox.toml" imap=11244
printf 'benchpassword\n' | "$BIN" passwd --config "$WORK/home/letterbox.toml" >/dev/null
log "search bench: importing into letterbox"
"$BIN" import --config "$WORK/home/letterbox.toml" "$WORK/mail.mbox" >/dev/null
"$BIN" serve --config "$WORK/home/letterbox.toml" 2>"$OUT/letterbox-search.log" &
LB_PID=$!
wait_port 11244 20 || die "letterbox (search bench) did not start"
read -r LB_S LB_HITS LB_MAX LB_P99 LB_NOOPS <<< "$(search_session 11244 alice benchpassword)"
kill "$LB_PID" 2>/dev/null || true
wait "$LB_PID" 2>/dev/null || true
LB_PID=""
[ "$LB_HITS" = 1 ] || echo "warning: letterbox found $LB_HITS messages, not 1" >&2

DV_S="" DV_HITS="" DV_MAX="" DV_P99=""
if [ "$PEERS" = 1 ]; then
  DV_DIR=$(mktemp -d /tmp/dv-search.XXXXXX)
  id benchsearch >/dev/null 2>&1 || useradd -m benchsearch
  rm -rf /home/benchsearch/mail /home/benchsearch/Mailbox
  cp "$WORK/mail.mbox" /home/benchsearch/Mailbox
  chown benchsearch:benchsearch /home/benchsearch/Mailbox
  dovecot_peer benchsearch 11146 "$DV_DIR"
  search_session 11146 benchsearch benchpassword >/dev/null # warm-up: its index is built
  read -r DV_S DV_HITS DV_MAX DV_P99 _ <<< "$(search_session 11146 benchsearch benchpassword)"
  [ "$DV_HITS" = 1 ] || echo "warning: Dovecot found $DV_HITS messages, not 1" >&2
fi

row "search_text_decoded_${N}x${SIZE}_s" "$LB_S" "$DV_S" "${DV_S:+$(ratio "$DV_S" "$LB_S")}"
row "search_text_decoded_hits" "$LB_HITS" "$DV_HITS"
row "search_other_session_noop_max_ms" "$LB_MAX" "$DV_MAX"
row "search_other_session_noop_p99_ms" "$LB_P99" "$DV_P99"
row "search_other_session_noops" "$LB_NOOPS"
