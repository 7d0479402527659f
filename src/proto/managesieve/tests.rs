//! RFC 5804 transcripts replayed against the core with an in-memory script store.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::auth::Secret;
use crate::proto::{AuthOutcome, PeerInfo};

/// The core plus a fake driver: credentials `alice`/`secret`, scripts in a map.
struct Harness {
    s: Session,
    scripts: BTreeMap<String, Vec<u8>>,
    active: Option<String>,
    closed: bool,
    tls_started: bool,
}

fn peer(ip: [u8; 4], is_tls: bool) -> PeerInfo {
    PeerInfo { ip: IpAddr::V4(Ipv4Addr::from(ip)), is_tls, tls_available: true }
}

impl Harness {
    fn new(p: PeerInfo) -> Harness {
        let s = Session::new(Arc::new(Policy::new(false, true)), p, 0);
        Harness { s, scripts: BTreeMap::new(), active: None, closed: false, tls_started: false }
    }

    fn local() -> Harness {
        Harness::new(peer([127, 0, 0, 1], false))
    }

    /// Feeds `input` whole (in pieces the core takes) and returns everything it answered.
    fn send(&mut self, input: &[u8]) -> String {
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            self.drain(&mut out);
            if rest.is_empty() || self.closed {
                break;
            }
            let n = self.s.feed(rest);
            rest = rest.get(n..).unwrap_or(&[]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        while let Some(ev) = self.s.poll(0) {
            match ev {
                Event::Reply(b) => out.extend_from_slice(&b),
                Event::StartTls => {
                    self.tls_started = true;
                    self.s.tls_started();
                }
                Event::CheckCredentials { user, pass } => self.s.auth_result(check(&user, &pass)),
                Event::Script(r) => {
                    let a = self.perform(r);
                    self.s.script_done(a);
                }
                Event::Close => self.closed = true,
            }
        }
    }

    fn perform(&mut self, r: Request) -> Result<Answer, Failure> {
        match r {
            Request::List => {
                Ok(Answer::List(self.scripts.keys().map(|k| (k.clone(), self.active.as_deref() == Some(k))).collect()))
            }
            Request::Get(n) => Ok(Answer::Script(self.scripts.get(&n).cloned())),
            Request::Put { name, script } => {
                self.scripts.insert(name, script);
                Ok(Answer::Done)
            }
            Request::Activate(None) => {
                self.active = None;
                Ok(Answer::Done)
            }
            Request::Activate(Some(n)) if self.scripts.contains_key(&n) => {
                self.active = Some(n);
                Ok(Answer::Done)
            }
            Request::Activate(Some(_)) => Err(Failure::NotFound),
            Request::Delete(n) if self.active.as_ref() == Some(&n) => Err(Failure::Active),
            Request::Delete(n) => self.scripts.remove(&n).map(|_| Answer::Done).ok_or(Failure::NotFound),
            Request::Rename { to, .. } if self.scripts.contains_key(&to) => Err(Failure::Exists),
            Request::Rename { from, to } => {
                let s = self.scripts.remove(&from).ok_or(Failure::NotFound)?;
                self.scripts.insert(to, s);
                Ok(Answer::Done)
            }
            Request::HaveSpace { size, .. } => Ok(Answer::Space(size <= 1000)),
        }
    }
}

fn check(user: &str, pass: &Secret) -> AuthOutcome {
    if user == "alice" && pass.expose() == b"secret" {
        AuthOutcome::Ok
    } else {
        AuthOutcome::Bad
    }
}

/// base64("\0alice\0secret")
const PLAIN: &str = "AGFsaWNlAHNlY3JldA==";

fn logged_in() -> Harness {
    let mut h = Harness::local();
    h.send(b"");
    let r = h.send(format!("AUTHENTICATE \"PLAIN\" \"{PLAIN}\"\r\n").as_bytes());
    assert_eq!(r, "OK \"Logged in\"\r\n");
    h
}

#[test]
fn greeting_is_the_capability_list() {
    let mut h = Harness::local();
    let g = h.send(b"");
    assert!(g.starts_with("\"IMPLEMENTATION\" \"letterbox\"\r\n\"SASL\" \"PLAIN\"\r\n\"SIEVE\" \"fileinto "), "{g}");
    assert!(g.contains("\"STARTTLS\"\r\n") && g.contains("\"VERSION\" \"1.0\"\r\n") && g.ends_with("OK\r\n"), "{g}");
    assert!(g.contains(&format!("\"MAXREDIRECTS\" \"{}\"", crate::sieve::Limits::default().redirects_max)));
}

/// RFC 5804 §2.1 example: AUTHENTICATE with a continuation, then §2.2 STARTTLS re-sends
/// the capabilities without STARTTLS.
#[test]
fn authenticate_with_continuation_and_starttls() {
    let mut h = Harness::new(peer([192, 0, 2, 1], false));
    let g = h.send(b"");
    assert!(g.contains("\"SASL\" \"\"\r\n"), "no PLAIN off TLS for a remote peer: {g}");
    let r = h.send(format!("AUTHENTICATE \"PLAIN\" \"{PLAIN}\"\r\n").as_bytes());
    assert_eq!(r, "NO (ENCRYPT-NEEDED) \"Use STARTTLS first\"\r\n");
    let r = h.send(b"STARTTLS\r\nCAPABILITY\r\n");
    assert!(h.tls_started);
    assert!(r.starts_with("OK \"Begin TLS negotiation now\"\r\n\"IMPLEMENTATION\""), "{r}");
    assert!(!r.contains("STARTTLS\"\r\n\"MAX") && !r.contains("\"STARTTLS\"\r\n"), "{r}");
    assert!(!r.contains("CAPABILITY"), "plaintext after STARTTLS was dropped");
    let r = h.send(b"AUTHENTICATE \"PLAIN\"\r\n");
    assert_eq!(r, "\"\"\r\n");
    let r = h.send(format!("{{{}+}}\r\n{PLAIN}\r\n", PLAIN.len()).as_bytes());
    assert_eq!(r, "OK \"Logged in\"\r\n");
    assert_eq!(h.send(b"STARTTLS\r\n"), "NO \"Command not valid in this state\"\r\n");
}

#[test]
fn failed_logins_close_after_the_limit_and_star_cancels() {
    let mut h = Harness::local();
    h.send(b"");
    assert_eq!(h.send(b"AUTHENTICATE \"PLAIN\"\r\n\"*\"\r\n"), "\"\"\r\nNO \"Authentication cancelled\"\r\n");
    let bad = "AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHdyb25n\"\r\n"; // \0alice\0wrong
    assert_eq!(h.send(bad.as_bytes()), "NO \"Authentication failed\"\r\n");
    assert_eq!(h.send(b"LISTSCRIPTS\r\n"), "NO \"Command not valid in this state\"\r\n");
    h.send(bad.as_bytes());
    let r = h.send(bad.as_bytes());
    assert!(r.ends_with("BYE \"Too many failed logins\"\r\n") && h.closed, "{r}");
}

/// RFC 5804 §2.6-§2.11 in one session: put, list, activate, get, rename, delete.
#[test]
fn script_lifecycle_transcript() {
    let mut h = logged_in();
    let script = "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\r\n";
    let put = format!("PUTSCRIPT \"mine\" {{{}+}}\r\n{script}\r\n", script.len());
    assert_eq!(h.send(put.as_bytes()), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"PUTSCRIPT \"other\" \"keep;\"\r\n"), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"LISTSCRIPTS\r\n"), "\"mine\"\r\n\"other\"\r\nOK \"Listscripts completed\"\r\n");
    assert_eq!(h.send(b"SETACTIVE \"mine\"\r\n"), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"SETACTIVE \"nope\"\r\n"), "NO (NONEXISTENT) \"No such script\"\r\n");
    assert_eq!(h.send(b"listscripts\r\n"), "\"mine\" ACTIVE\r\n\"other\"\r\nOK \"Listscripts completed\"\r\n");
    let got = h.send(b"GETSCRIPT \"mine\"\r\n");
    assert_eq!(got, format!("{{{}}}\r\n{script}\r\nOK \"Getscript completed\"\r\n", script.len()));
    assert_eq!(h.send(b"DELETESCRIPT \"mine\"\r\n"), "NO (ACTIVE) \"The active script cannot be deleted\"\r\n");
    assert_eq!(
        h.send(b"RENAMESCRIPT \"other\" \"mine\"\r\n"),
        "NO (ALREADYEXISTS) \"A script of that name exists\"\r\n"
    );
    assert_eq!(h.send(b"RENAMESCRIPT \"other\" \"third\"\r\n"), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"SETACTIVE \"\"\r\n"), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"DELETESCRIPT \"mine\"\r\n"), "OK \"Completed\"\r\n");
    assert_eq!(h.send(b"GETSCRIPT \"mine\"\r\n"), "NO (NONEXISTENT) \"No such script\"\r\n");
    assert_eq!(
        h.send(b"HAVESPACE \"x\" 999\r\nHAVESPACE \"x\" 1001\r\n"),
        "OK \"Completed\"\r\nNO (QUOTA) \"Not enough space for that script\"\r\n"
    );
    assert_eq!(h.send(b"NOOP \"t1\"\r\n"), "OK (TAG \"t1\") \"Done\"\r\n");
    assert_eq!(
        h.send(b"UNAUTHENTICATE\r\nLISTSCRIPTS\r\n"),
        "OK \"Unauthenticated\"\r\nNO \"Command not valid in this state\"\r\n"
    );
    assert_eq!(h.send(b"LOGOUT\r\n"), "OK \"Logout completed\"\r\n");
    assert!(h.closed);
}

#[test]
fn invalid_scripts_are_refused_with_the_line() {
    let mut h = logged_in();
    let script = "require \"fileinto\";\r\nkeep;\r\nfoo;\r\n";
    let put = format!("PUTSCRIPT \"bad\" {{{}+}}\r\n{script}\r\n", script.len());
    let r = h.send(put.as_bytes());
    assert!(r.starts_with("NO \"line 3: ") && r.contains("foo"), "{r}");
    assert_eq!(h.send(b"LISTSCRIPTS\r\n"), "OK \"Listscripts completed\"\r\n", "nothing stored");
    let r = h.send(b"CHECKSCRIPT \"if true {\"\r\n");
    assert!(r.starts_with("NO \"line 1: "), "{r}");
    assert_eq!(
        h.send(b"CHECKSCRIPT {5}\r\nkeep;\r\n"),
        "OK \"Script is valid\"\r\n",
        "synchronizing literal taken too"
    );
}

/// BAD-INPUTS: script names with path characters or NUL; names are never paths here, but
/// the core refuses what RFC 5804 §1.6 refuses before the store sees it.
#[test]
fn managesieve_bad_script_names_refused() {
    let mut h = logged_in();
    let names: [&[u8]; 4] = [b"{3+}\r\na\0b", b"\"\"", b"{3+}\r\na\nb", b"{2+}\r\n\xc3\x28"];
    for name in names {
        let mut put = b"PUTSCRIPT ".to_vec();
        put.extend_from_slice(name);
        put.extend_from_slice(b" \"keep;\"\r\n");
        let r = h.send(&put);
        assert_eq!(r, "NO \"Invalid script name\"\r\n", "{name:?}");
    }
    assert_eq!(h.send(b"PUTSCRIPT \"../../etc/x\" \"keep;\"\r\n"), "OK \"Completed\"\r\n", "a key, not a path");
    assert!(h.scripts.contains_key("../../etc/x"));
}

/// BAD-INPUTS: a huge literal announcement, an over-limit one, a never-ending line, and a
/// garbage flood: NO or BYE, bounded memory, never a panic.
#[test]
fn managesieve_huge_literal_and_endless_line() {
    let mut h = logged_in();
    let big = LITERAL_MAX + 1;
    let mut put = format!("PUTSCRIPT \"big\" {{{big}+}}\r\n").into_bytes();
    put.extend(vec![b'#'; big]);
    put.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(h.send(&put), "NO (QUOTA/MAXSIZE) \"Literal too large\"\r\nOK \"Done\"\r\n");
    assert!(h.scripts.is_empty());
    let endless = vec![b'A'; LINE_MAX * 4];
    let r = h.send(&endless);
    assert_eq!(r, "NO \"Line too long\"\r\n");
    assert_eq!(h.send(&endless), "", "still discarding, nothing buffered");
    assert_eq!(h.send(b"\r\nNOOP\r\n"), "OK \"Done\"\r\n");
    let r = h.send(b"PUTSCRIPT \"x\" {99999999999+}\r\n");
    assert_eq!(r, "BYE \"Literal too large\"\r\n");
    assert!(h.closed);
    let mut h = logged_in();
    let r = h.send(&b"\x01\x02 garbage\r\n".repeat(MAX_ERRORS as usize));
    assert!(r.ends_with("BYE \"Too many errors\"\r\n") && h.closed, "{r}");
}

#[test]
fn responses_quote_or_literal() {
    let mut h = logged_in();
    h.send(b"PUTSCRIPT \"a \\\"q\\\"\" \"keep;\"\r\n");
    assert_eq!(h.send(b"LISTSCRIPTS\r\n"), "\"a \\\"q\\\"\"\r\nOK \"Listscripts completed\"\r\n");
    assert_eq!(h.send(b"GETSCRIPT \"a \\\"q\\\"\"\r\n"), "\"keep;\"\r\nOK \"Getscript completed\"\r\n");
}

#[test]
fn idle_timeout_says_bye() {
    let mut s = Session::new(Arc::new(Policy::new(false, true)), peer([127, 0, 0, 1], false), 0);
    while s.poll(0).is_some() {}
    assert_eq!(s.deadline(), Some(IDLE_TIMEOUT_MS));
    let Some(Event::Reply(r)) = s.poll(IDLE_TIMEOUT_MS) else { panic!("no bye") };
    assert_eq!(r, b"BYE \"Disconnected for inactivity\"\r\n");
    assert!(matches!(s.poll(IDLE_TIMEOUT_MS), Some(Event::Close)));
}

/// A cheap stand-in for the fuzz target in every `cargo test`: command fragments and random
/// bytes spliced at random, fed in random pieces; never a panic, output always drains.
#[test]
fn random_splices_of_commands_never_panic() {
    const PARTS: [&[u8]; 12] = [
        b"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHNlY3JldA==\"\r\n",
        b"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
        b"{99999999+}\r\n",
        b"\"\\",
        b"LISTSCRIPTS\r\n",
        b"SETACTIVE \"a\"\r\n",
        b"GETSCRIPT \"a\"\r\n",
        b"RENAMESCRIPT \"a\" \"b\"\r\n",
        b"\r",
        b"STARTTLS\r\n",
        b"AUTHENTICATE \"PLAIN\"\r\n",
        b"\x00\xff{",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _ in 0..300 {
        let mut input = Vec::new();
        for _ in 0..next(20) {
            match next(4) {
                0 => input.extend((0..next(40)).map(|_| next(256) as u8)),
                _ => input.extend_from_slice(PARTS[next(PARTS.len() as u64) as usize]),
            }
        }
        let mut h = Harness::local();
        h.send(b"");
        let mut rest = &input[..];
        while !rest.is_empty() && !h.closed {
            let cut = (next(rest.len() as u64) + 1) as usize;
            h.send(&rest[..cut]);
            rest = &rest[cut..];
        }
        let left = h.s.poll(0);
        assert!(left.is_none() || h.closed, "{left:?} after {input:?}");
    }
}
