#!/usr/bin/env bash
# Soak (issue 8): the release binary on loopback under steady mixed load (SMTP in; IMAP
# SELECT/FETCH/STORE/EXPUNGE; POP3 RETR/DELE) for SECONDS (default 600), then prints the
# server's RSS (idle, after warm-up, peak, end) and open fds (idle, during, after all
# clients closed). The load is scripts/soak.py; tests/soak.rs runs a short form in CI.
#   scripts/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
SECS=${1:-600}
cargo build --release --quiet
BIN=$PWD/target/release/letterbox
HOME_DIR=$(mktemp -d /tmp/letterbox-soak.XXXXXX)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$HOME_DIR"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SMTP=$(port); IMAP=$(port); IMAPS=$(port); POP3=$(port); POP3S=$(port)
lb_config "$HOME_DIR/letterbox.toml" smtp="$SMTP" imap="$IMAP" imaps="$IMAPS" pop3="$POP3" pop3s="$POP3S" tls=init
"$BIN" init --dir "$HOME_DIR/init" --domain example.org --user alice >/dev/null
PASS="soak password $$"
echo "$PASS" | "$BIN" passwd --config "$HOME_DIR/letterbox.toml" >/dev/null
"$BIN" serve --config "$HOME_DIR/letterbox.toml" 2> "$HOME_DIR/server.log" &
PID=$!
wait_port "$POP3" 10 || true
echo "soak: ${SECS}s against pid $PID (binary $(stat -c %s "$BIN") bytes)"
OUT=$(LB_SMTP=$SMTP LB_IMAP=$IMAP LB_POP3=$POP3 LB_USER=alice LB_PASS=$PASS python3 scripts/soak.py "$SECS" "$PID" | tee /dev/stderr | tail -1)
kill "$PID"; wait "$PID" || true
"$BIN" check --config "$HOME_DIR/letterbox.toml"
echo "$OUT" | python3 -c '
import sys
kv = dict(x.split("=") for x in sys.stdin.read().split()[1:])
m = lambda k: int(kv[k]) / 1024
print("RSS MiB: idle %.1f, start (after warm-up) %.1f, peak %.1f, end %.1f; growth start->end %+.2f MiB" % (
    m("rss_idle"), m("rss_start"), m("rss_peak"), m("rss_end"), m("rss_end") - m("rss_start")))
print("fds: idle %s, start %s, peak %s, after clients closed %s" % (kv["fd_idle"], kv["fd_start"], kv["fd_peak"], kv["fd_end"]))
print("operations: smtp %s, imap rounds %s, pop3 sessions %s, client errors %s" % (kv["smtp"], kv["imap"], kv["pop3"], kv["errors"]))
'
