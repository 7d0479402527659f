#!/usr/bin/env bash
# Scale benchmark (issue 9): a 1,000,000-message INBOX. Builds the release binary, writes
# a generated mbox (small messages, every second one `Status: RO` = \Seen), imports it
# with `letterbox import`, starts `letterbox serve` on loopback and measures with a raw
# socket IMAP client (so the client's parsing is not timed):
#   - SELECT INBOX time, first after start (folder load) and again (warm),
#   - server RSS after SELECT (VmRSS, VmHWM from /proc),
#   - UID FETCH 1:* (FLAGS) time and bytes,
#   - SEARCH UNSEEN time and hit count,
#   - RSS with 10 sessions selecting the same INBOX.
# Each timing is given as wall time (`*_ms`) and as the server's CPU time (`*_cpu_ms`, from
# /proc/PID/stat, 10 ms resolution), which a machine busy with other work does not inflate.
# Output: `metric value` lines, also in target/bench/scale.txt. Goals (issue 9): SELECT
# <= 100 ms, RSS <= 40 MiB, SEARCH UNSEEN <= 200 ms.
# Usage: scripts/bench-scale.sh [messages] (default 1000000); SCALE_TARGET=<triple> runs
# that target's build (e.g. x86_64-unknown-linux-musl), SCALE_BIN=<path> a prebuilt binary.
# Loopback only; loops are bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
N=${1:-1000000}
OUT=target/bench
mkdir -p "$OUT"
if [ -n "${SCALE_BIN:-}" ]; then
  BIN=$SCALE_BIN # a prebuilt binary (e.g. an older commit's, for before/after figures)
elif [ -n "${SCALE_TARGET:-}" ]; then
  cargo build --release --quiet --target "$SCALE_TARGET"
  BIN=target/$SCALE_TARGET/release/letterbox
else
  cargo build --release --quiet
  BIN=target/release/letterbox
fi
HOME_LB=$(mktemp -d /tmp/lb-scale.XXXXXX)
PORT=${SCALE_PORT:-11943}
lb_config "$HOME_LB/letterbox.toml" imap="$PORT"
printf 'benchpassword\n' | "$BIN" passwd --config "$HOME_LB/letterbox.toml" >/dev/null
LB_PID=""
stop_lb() { [ -z "$LB_PID" ] || { kill "$LB_PID" 2>/dev/null || true; wait "$LB_PID" 2>/dev/null || true; }; }
trap 'stop_lb; rm -rf "$HOME_LB"' EXIT

python3 - "$HOME_LB/gen.mbox" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    chunk = []
    for i in range(n):
        status = "Status: RO\n" if i % 2 == 0 else ""
        chunk.append(f"From bench@example.net Mon Jan  1 00:00:00 2024\nFrom: b{i}@example.net\n"
                     f"To: alice@example.org\nSubject: scale {i}\nMessage-ID: <{i}@scale>\n{status}\n"
                     f"body of message {i}\n\n")
        if len(chunk) >= 10000:
            f.write("".join(chunk)); chunk = []
    f.write("".join(chunk))
PY
t0=$(date +%s.%N)
"$BIN" import --config "$HOME_LB/letterbox.toml" "$HOME_LB/gen.mbox" 2>/dev/null
t1=$(date +%s.%N)
rm -f "$HOME_LB/gen.mbox"
python3 -c "import sys; print(f'import_s {float(sys.argv[2])-float(sys.argv[1]):.1f}')" "$t0" "$t1" | tee "$OUT/scale.txt"
echo "messages $N" | tee -a "$OUT/scale.txt"

"$BIN" serve --config "$HOME_LB/letterbox.toml" 2>"$OUT/scale.log" &
LB_PID=$!
wait_port "$PORT" 10 || true
sleep 0.5

python3 - "$PORT" "$LB_PID" <<'PY' | tee -a "$OUT/scale.txt"
import os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def status(field):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(field):
            return int(l.split()[1])
    return 0
class C:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""; self.n = 0
        self.line()
    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d: raise EOFError
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def cmd(self, c):
        """Sends c; returns (seconds to the tagged reply, bytes, untagged lines, first bytes).
        Only new data (plus a short tail) is scanned, so the client stays O(bytes); the
        spaces before the tagged line are counted in self.spaces (SEARCH hits + 1)."""
        self.n += 1
        tag = b"\r\ns%d " % self.n
        t = time.perf_counter()
        self.s.sendall(tag[2:] + c + b"\r\n")
        total, lines, head, tail = 0, 0, b"", b"\r\n"
        self.spaces = 0
        data = self.buf
        self.buf = b""
        while True:
            if not data:
                data = self.s.recv(1 << 20)
                if not data: raise EOFError
            w = tail + data
            i = w.find(tag)
            if i >= 0 and w.find(b"\r\n", i + 2) >= 0:
                j = w.find(b"\r\n", i + 2)
                body = w[len(tail):i + 2] if i + 2 > len(tail) else b""
                tagged = w[i + 2:j]
                self.buf = w[j + 2:]
                total += len(body) + len(tagged) + 2
                lines += body.count(b"\r\n"); self.spaces += body.count(b" ")
                if len(head) < 200: head += body[:200]
                el = time.perf_counter() - t
                assert tagged.split(b" ")[1] == b"OK", tagged
                return el, total, lines, head
            total += len(data); lines += data.count(b"\r\n"); self.spaces += data.count(b" ")
            if len(head) < 200: head += data[:200]
            tail = w[-64:]
            data = b""
def show(k, v): print(f"{k} {v}", flush=True)
def cpu():
    """Server CPU seconds (user + system): a timing that a busy machine does not inflate."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def timed(conn, name, c):
    c0 = cpu()
    r = conn.cmd(c)
    show(name + "_ms", f"{r[0]*1000:.1f}")
    show(name + "_cpu_ms", f"{(cpu() - c0)*1000:.0f}")
    return r
show("rss_idle_kib", status("VmRSS:"))
c = C()
c.cmd(b"LOGIN alice benchpassword")
timed(c, "select_first", b"SELECT INBOX")
timed(c, "select_warm", b"SELECT INBOX")
time.sleep(0.3)
show("rss_selected_kib", status("VmRSS:"))
el, size, lines, head = timed(c, "uid_fetch_flags", b"UID FETCH 1:* (FLAGS)")
show("uid_fetch_flags_lines", lines)
show("uid_fetch_flags_bytes", size)
el, size, lines, head = timed(c, "search_unseen", b"SEARCH UNSEEN")
show("search_unseen_hits", c.spaces - 1)
timed(c, "uid_search_unseen", b"UID SEARCH UNSEEN")
timed(c, "status", b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT)")
show("rss_after_fetch_search_kib", status("VmRSS:"))
others = []
for _ in range(9):
    o = C(); o.cmd(b"LOGIN alice benchpassword"); o.cmd(b"SELECT INBOX"); others.append(o)
time.sleep(0.3)
show("rss_10_sessions_kib", status("VmRSS:"))
show("hwm_kib", status("VmHWM:"))
PY
