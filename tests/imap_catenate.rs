//! End-to-end test of RFC 4469 CATENATE (issue 19) against the real `letterbox serve`
//! binary, with raw commands from Python's imaplib socket: parts copied from stored
//! messages by RFC 5092 URLs, and every refusal (a missing message, another user's or a
//! path-escaping URL, a 1 MB URL, a TEXT literal over the limit) appending nothing.

#![cfg(feature = "imap-catenate")]

mod common;

use common::*;

#[test]
fn catenate_with_imaplib() {
    let srv = Server::start("imap-catenate", "", "message_size = 4096");
    srv.py(
        "",
        r#"
c = C(); c.login()
caps = c.ok(b"CAPABILITY")[0].split()
assert b"CATENATE" in caps, caps
c.send(b"a1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(msg(1)), msg(1)))
r = c.resp(b"a1"); assert status(r) == b"OK", r
uv = re.search(rb"\[APPENDUID (\d+) 1\]", r[-1]).group(1)
c.ok(b"CREATE Cat")

# A new body under the stored header; the TEXT part as a synchronizing literal.
c.send(b'a2 APPEND Cat (\\Draft) CATENATE (URL "/INBOX;UIDVALIDITY=%s/;UID=1/;SECTION=HEADER" TEXT {9}\r\n' % uv)
assert c.line().startswith(b"+"), "continuation"
c.send(b"new body\n)\r\n")
r = c.resp(b"a2"); assert status(r) == b"OK" and b"APPENDUID" in r[-1], r
# The whole message twice, in one MULTIAPPEND with a plain literal: one commit.
c.send(b'a3 APPEND Cat CATENATE (URL "/INBOX/;UID=1") CATENATE (URL "/INBOX/;uid=1/;section=TEXT") {3+}\r\nxyz\r\n')
r = c.resp(b"a3"); assert status(r) == b"OK" and re.search(rb"APPENDUID \d+ 2:4\]", r[-1]), r

def refused(cmd, code):
    c.send(cmd)
    r = c.resp(cmd.split(b" ")[0])
    assert status(r) in (b"NO", b"BAD") and code in r[-1], (cmd[:80], r)
    r = c.ok(b"STATUS Cat (MESSAGES)")
    assert b"(MESSAGES 4)" in r[0], r

refused(b'b1 APPEND Cat CATENATE (TEXT {2+}\r\nhi URL "/INBOX/;UID=9")\r\n', b"BADURL")
refused(b'b2 APPEND Cat CATENATE (URL "imap://mallory@localhost/INBOX/;UID=1")\r\n', b"BADURL")
refused(b'b3 APPEND Cat CATENATE (URL "/..%2F..%2Fetc%2Fpasswd/;UID=1")\r\n', b"BADURL")
refused(b'b4 APPEND Cat CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=1")\r\n', b"BADURL")
# Over message_size (4096) by URLs: TOOBIG, nothing spooled.
refused(b'b5 APPEND Cat CATENATE (' + b'URL "/INBOX/;UID=1" ' * 40 + b'TEXT {1+}\r\nx)\r\n', b"TOOBIG")
# A TEXT literal and a URL literal over the literal limit: refused before they are sent.
c.send(b"b6 APPEND Cat CATENATE (TEXT {5000000}\r\n")
r = c.resp(b"b6"); assert status(r) == b"BAD" and b"TOOBIG" in r[-1], r
c.send(b"b7 APPEND Cat CATENATE (URL {1048576}\r\n")
r = c.resp(b"b7"); assert status(r) == b"BAD" and b"TOOBIG" in r[-1], r
r = c.ok(b"STATUS Cat (MESSAGES)"); assert b"(MESSAGES 4)" in r[0], r
"#,
    );
    let got: Vec<Vec<u8>> = contents(&srv.home.store(), "Cat").into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(got.len(), 4);
    let inbox = contents(&srv.home.store(), "INBOX").into_iter().map(|(_, _, b)| b).next().unwrap_or_default();
    let split = inbox.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    assert_eq!(got[0], [&inbox[..split], b"new body\n"].concat());
    assert_eq!(got[1], inbox);
    assert_eq!(got[2], inbox[split..]);
    assert_eq!(got[3], b"xyz");
}

/// The referenced bytes are copied through the spool in chunks: catenating an 8 MiB
/// message three times (24 MiB) raises the server's peak RSS by far less than the message.
#[test]
fn catenate_streams_large_parts() {
    let srv = Server::start("imap-catenate-big", "", "");
    let out = srv.py(
        "",
        r#"
c = C(); c.login()
big = msg(1, b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012345\r\n" % i for i in range(100000)))
c.send(b"a1 APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
r = c.resp(b"a1"); assert status(r) == b"OK", r
c.ok(b"CREATE Big")
print("BEFORE", open("/proc/PID/status").read().split("VmHWM:")[1].split()[0])
c.send(b'a2 APPEND Big CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1/;SECTION=TEXT" URL "/INBOX/;UID=1")\r\n')
r = c.resp(b"a2"); assert status(r) == b"OK", r
print("AFTER", open("/proc/PID/status").read().split("VmHWM:")[1].split()[0])
r = c.ok(b"STATUS Big (MESSAGES SIZE)"); print("STATUS", r[0])
print("SIZE", len(big))
"#
        .replace("PID", &srv.pid().to_string())
        .as_str(),
    );
    eprint!("{out}");
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or("0").to_owned();
    let (before, after) = (field("BEFORE ").parse::<u64>().unwrap_or(0), field("AFTER ").parse::<u64>().unwrap_or(0));
    let size: u64 = field("SIZE ").parse().unwrap_or(0);
    assert!(size > 7_000_000 && before > 0, "{out}");
    assert!(field("STATUS ").contains("(MESSAGES 1 SIZE "), "{out}");
    eprintln!("peak RSS {before} -> {after} KiB for a {} KiB catenated message", 3 * size / 1024);
    assert!(after.saturating_sub(before) < 4 * 1024, "peak RSS grew {before} -> {after} KiB");
}
