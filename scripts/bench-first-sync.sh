#!/usr/bin/env bash
# "First sync" benchmark (issue 13): what a phone's first sync of a real mailbox costs.
# BENCH_SYNC_MESSAGES (1,000) multipart messages of BENCH_SYNC_SIZE (300 KB, a base64
# attachment) are delivered to letterbox over SMTP; then, on a fresh server process (nothing
# in RAM), one IMAP session runs
#   FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)   then
#   SEARCH SUBJECT "message 777"
# Measured: seconds, and bytes the server process read (/proc/PID/io rchar) per message.
# With --peers, a Dovecot instance of its own (mbox, the same messages in ~benchsync/Mailbox,
# port 11145) runs the same session twice and the second ("warm": index built) is reported.
# Goal: letterbox <= Dovecot warm on both, <= 8 KiB read per message for the FETCH.
#   scripts/bench-first-sync.sh [--peers]    (scripts/bench.sh runs it at its end)
# Rows go to stdout and, when RESULTS is set (bench.sh), are appended to that file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
PEERS=0
[ "${1:-}" = "--peers" ] && PEERS=1
SYNC_N=${BENCH_SYNC_MESSAGES:-1000}
SYNC_SIZE=${BENCH_SYNC_SIZE:-300000}
OUT=target/bench
mkdir -p "$OUT"
BIN=${BIN:-target/release/letterbox}
[ -x "$BIN" ] || cargo build --release --quiet
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:--}" | tee -a "${RESULTS:-/dev/null}"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }

# The messages: `smtp PORT` delivers them (one session), `mbox FILE` writes them as mbox.
sync_messages() {
  python3 - "$SYNC_N" "$SYNC_SIZE" "$@" <<'PY'
import base64, smtplib, sys
n, size, mode, dest = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
att = base64.encodebytes(bytes(range(256)) * (size * 3 // 4 // 256 + 1)).replace(b"\n", b"\r\n")
def msg(i):
    trace = b"".join(b"Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d]) by mx.example.org; Mon, 2 Mar 2026 10:00:%02d +0000\r\n" % (k, k, k, k) for k in range(6))
    return (trace + b"From: Bob Example <bob@example.net>\r\nTo: Alice <alice@example.org>\r\nSubject: sync message %d\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <sync%d@example.net>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Hello, the report is attached.\r\n--=_b\r\nContent-Type: application/pdf; name=\"report%d.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"report%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" % (i, i, i, i)
            + att + b"--=_b--\r\n")
if mode == "smtp":
    s = smtplib.SMTP("127.0.0.1", int(dest))
    for i in range(n):
        s.sendmail("bob@example.net", ["alice@example.org"], msg(i))
    s.quit()
else:
    with open(dest, "wb") as f:
        for i in range(n):
            f.write(b"From bob@example.net Mon Mar  2 10:00:00 2026\n" + msg(i).replace(b"\r\n", b"\n") + b"\n")
PY
}

# One first-sync session: "fetch_s search_s fetch_rchar_per_msg search_rchar_per_msg".
# PIDSPEC is the server's pid, or pgrep:USER for a peer's per-session process.
sync_session() { # port user pass pidspec
  python3 - "$@" "$SYNC_N" <<'PY'
import imaplib, subprocess, sys, time
port, user, pw, pidspec, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, pw)
typ, data = m.select("INBOX")
assert int(data[0]) == n, data
pids = [pidspec]
if pidspec.startswith("pgrep:"):
    pids = subprocess.run(["pgrep", "-u", pidspec[6:], "-x", "imap"], capture_output=True, text=True).stdout.split()
def rchar():
    total = 0
    for p in pids:
        for l in open(f"/proc/{p}/io"):
            if l.startswith("rchar:"):
                total += int(l.split()[1])
    return total
r0, t0 = rchar(), time.perf_counter()
typ, d = m.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
t1, r1 = time.perf_counter(), rchar()
assert typ == "OK" and sum(1 for x in d if isinstance(x, tuple) or (isinstance(x, bytes) and b"ENVELOPE" in x)) >= n, (typ, len(d))
typ, s = m.search(None, "SUBJECT", '"message 777"' if n > 777 else '"message 1"')
t2, r2 = time.perf_counter(), rchar()
assert typ == "OK" and len(s[0].split()) >= 1, s
m.logout()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {(r1 - r0) // n} {(r2 - r1) // n}")
PY
}

# Bytes on the wire of a phone's first sync (issue 19, RFC 4978): the FETCH above plus the
# text of the first 100 messages (BODY.PEEK[1]), read raw from the socket, without and then
# with COMPRESS=DEFLATE (real zlib on the client side). Prints "plain_bytes deflate_bytes".
wire_session() { # port user pass
  python3 - "$@" <<'PY'
import socket, sys, zlib, re
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def session(compress):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    raw = [0]
    z = [None, None]
    buf = [b""]
    def recv():
        d = s.recv(65536)
        raw[0] += len(d)
        if z[1] is not None:
            d = z[1].decompress(d)
        return d
    def send(b):
        if z[0] is not None:
            b = z[0].compress(b) + z[0].flush(zlib.Z_SYNC_FLUSH)
        s.sendall(b)
    def resp(tag):
        while True:
            while b"\r\n" not in buf[0]:
                d = recv()
                if not d:
                    raise SystemExit("closed")
                buf[0] += d
            line, buf[0] = buf[0].split(b"\r\n", 1)
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                n = int(m.group(1))
                while len(buf[0]) < n:
                    buf[0] += recv()
                buf[0] = buf[0][n:]
            if line.startswith(tag + b" "):
                assert line.split()[1] == b"OK", line
                return
    while b"\r\n" not in buf[0]:
        buf[0] += recv()
    buf[0] = buf[0].split(b"\r\n", 1)[1]
    send(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), pw.encode())); resp(b"a")
    if compress:
        send(b"z COMPRESS DEFLATE\r\n"); resp(b"z")
        z[0], z[1] = zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15)
    start = raw[0]
    send(b"b SELECT INBOX\r\n"); resp(b"b")
    send(b"c FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)\r\n"); resp(b"c")
    send(b"d FETCH 1:100 (BODY.PEEK[1])\r\n"); resp(b"d")
    used = raw[0] - start
    send(b"e LOGOUT\r\n")
    s.close()
    return used
print(session(False), session(True))
PY
}

# --- letterbox: its own instance and data directory ----------------------------------------
HOME_SYNC=$(mktemp -d /tmp/lb-sync.XXXXXX)
lb_config "$HOME_SYNC/letterbox.toml" smtp=12625 imap=11243
printf 'benchpassword\n' | "$BIN" passwd --config "$HOME_SYNC/letterbox.toml" >/dev/null
SYNC_PID=""
start_sync() {
  "$BIN" serve --config "$HOME_SYNC/letterbox.toml" 2>>"$OUT/letterbox-sync.log" &
  SYNC_PID=$!
  wait_port 12625 20 || die "letterbox (first sync) did not start"
}
stop_sync() { [ -z "$SYNC_PID" ] || { kill "$SYNC_PID" 2>/dev/null || true; wait "$SYNC_PID" 2>/dev/null || true; }; }
trap 'stop_sync; rm -rf "$HOME_SYNC"' EXIT
start_sync
log "first sync: delivering $SYNC_N x $SYNC_SIZE bytes over SMTP"
sync_messages smtp 12625
stop_sync
start_sync
read -r LB_F LB_S LB_FR LB_SR <<< "$(sync_session 11243 alice benchpassword "$SYNC_PID")"
read -r LB_WIRE LB_WIRE_Z <<< "$(wire_session 11243 alice benchpassword)"
stop_sync

DV_F="" DV_S="" DV_FR="" DV_SR="" DV_WIRE="" DV_WIRE_Z=""
if [ "$PEERS" = 1 ]; then
  # --- Dovecot: its own instance (config, base_dir, port 11145), so a Dovecot that
  # bench.sh or anyone else runs is left alone; the same messages as an mbox INBOX. --------
  DV_DIR=$(mktemp -d /tmp/dv-sync.XXXXXX)
  id benchsync >/dev/null 2>&1 || useradd -m benchsync
  rm -rf /home/benchsync/mail /home/benchsync/Mailbox
  sync_messages mbox /home/benchsync/Mailbox
  chown benchsync:benchsync /home/benchsync/Mailbox
  trap 'stop_sync; rm -rf "$HOME_SYNC"; dovecot_stop "$DV_DIR"' EXIT
  dovecot_peer benchsync 11145 "$DV_DIR" imap_zlib
  sync_session 11145 benchsync benchpassword pgrep:benchsync >/dev/null  # cold: builds its index
  sleep 0.5
  read -r DV_F DV_S DV_FR DV_SR <<< "$(sync_session 11145 benchsync benchpassword pgrep:benchsync)"
  read -r DV_WIRE DV_WIRE_Z <<< "$(wire_session 11145 benchsync benchpassword)"
  dovecot_stop "$DV_DIR"
  sleep 0.5
  rm -rf /home/benchsync/mail /home/benchsync/Mailbox "$DV_DIR"
fi

row "first_sync_${SYNC_N}x${SYNC_SIZE}_fetch_envelope_bodystructure_s" "$LB_F" "$DV_F" "${DV_F:+$(ratio "$DV_F" "$LB_F")}"
row "first_sync_search_subject_s" "$LB_S" "$DV_S" "${DV_S:+$(ratio "$DV_S" "$LB_S")}"
row "first_sync_fetch_rchar_per_msg" "$LB_FR" "$DV_FR"
row "first_sync_search_rchar_per_msg" "$LB_SR" "$DV_SR"
row "first_sync_wire_bytes_plain" "$LB_WIRE" "$DV_WIRE"
row "first_sync_wire_bytes_compress_deflate" "$LB_WIRE_Z" "$DV_WIRE_Z" "${DV_WIRE_Z:+$(ratio "$DV_WIRE_Z" "$LB_WIRE_Z")}"
