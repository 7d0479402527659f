//! End-to-end RFC 5465 NOTIFY (issue 19) against the real `letterbox serve` binary with two
//! Python imaplib sessions: one sets NOTIFY, the other creates a folder and APPENDs to it
//! and to the first one's selected INBOX; the first, idle between commands, receives
//! `* LIST`, `* STATUS` and `* EXISTS` unsolicited within the driver's tick.

mod common;

use common::*;

const SCRIPT: &str = r#"
imaplib.Commands["NOTIFY"] = ("AUTH", "SELECTED")
M = imap(); ok(M.select("INBOX"))
typ, data = M._simple_command("NOTIFY", "SET", "(SELECTED (MessageNew MessageExpunge FlagChange))",
    "(PERSONAL (MessageNew MessageExpunge MailboxName SubscriptionChange))")
assert typ == "OK", (typ, data)
M.sock.settimeout(10)

def expect(prefix):
    # Unsolicited lines arrive while no command runs; the first one matching is returned.
    t = time.time()
    while True:
        line = M.readline()
        assert line, "connection closed"
        if line.startswith(prefix):
            return line.decode().strip(), time.time() - t

N = imap()
ok(N.create("Other"))
line, dt = expect(b"* LIST ")
assert line == '* LIST () "/" "Other"', line
print("CREATE by another session -> %s after %.0f ms" % (line, dt * 1000))
ok(N.append("Other", None, None, b"From: bob@example.net\r\nSubject: hi\r\n\r\nhello\r\n"))
line, dt = expect(b"* STATUS ")
assert line.startswith('* STATUS "Other" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY '), line
print("APPEND to another folder -> %s after %.0f ms" % (line, dt * 1000))
assert dt < 3, dt
ok(N.append("INBOX", None, None, b"From: bob@example.net\r\nSubject: two\r\n\r\nhello\r\n"))
line, dt = expect(b"* ")
assert line == "* 1 EXISTS", line
print("APPEND to the selected folder -> %s after %.0f ms" % (line, dt * 1000))
ok(N.subscribe("Other"))
line, dt = expect(b"* LIST ")
assert line == '* LIST (\\Subscribed) "/" "Other"', line
typ, data = M._simple_command("NOTIFY", "NONE"); assert typ == "OK", (typ, data)
ok(N.append("Other", None, None, b"From: bob@example.net\r\nSubject: three\r\n\r\nhello\r\n"))
M.sock.settimeout(1.5)
try:
    extra = M.readline()
except socket.timeout:
    extra = b""
assert extra == b"", extra
print("after NOTIFY NONE: nothing")
N.logout()
"#;

#[test]
fn imaplib_notify_status_for_another_folder() {
    let srv = Server::start("imap-notify", "", "");
    let out = srv.py("import socket", SCRIPT);
    eprint!("{out}");
}

/// The cost of watching: 40 folders, one NOTIFY session idle for 5 s, against the same 5 s
/// with no NOTIFY (server CPU from /proc/PID/stat).
const COST: &str = r#"
imaplib.Commands["NOTIFY"] = ("AUTH", "SELECTED")
def cpu():
    f = open("/proc/PID/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
M = imap()
for i in range(40):
    ok(M.create("F%d" % i)); ok(M.append("F%d" % i, None, None, b"Subject: x\r\n\r\nhi\r\n"))
c0 = cpu(); time.sleep(5); base = cpu() - c0
typ, data = M._simple_command("NOTIFY", "SET",
    "(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")
assert typ == "OK", (typ, data)
c0 = cpu(); time.sleep(5); watching = cpu() - c0
print("RESULT %.3f %.3f" % (base, watching))
M.logout()
"#;

#[test]
fn notify_watching_40_folders_costs_little_cpu() {
    let srv = Server::start("imap-notify-cost", "", "");
    let out = srv.py("", &COST.replace("PID", &srv.pid().to_string()));
    let nums: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_default()
        .split(' ')
        .filter_map(|v| v.parse().ok())
        .collect();
    let (base, watching) = (nums.first().copied().unwrap_or(-1.0), nums.get(1).copied().unwrap_or(-1.0));
    // About ten checks in 5 s (NOTIFY_CHECK_MS), each over 40 folders.
    eprintln!("server CPU over 5 s: {base:.3} s idle, {watching:.3} s with NOTIFY on 40 folders");
    assert!(base >= 0.0 && watching >= 0.0, "{out}");
    if !under_emulator() {
        assert!(watching < 0.5, "NOTIFY on 40 folders took {watching:.3} s of CPU in 5 s");
    }
}
