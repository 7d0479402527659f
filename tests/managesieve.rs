//! ManageSieve (RFC 5804) against the real server binary with the reference client
//! `sieve-connect` (Debian package; STARTTLS, then AUTHENTICATE PLAIN): upload, list,
//! activate, download, delete, a script with a syntax error refused with its line number;
//! and `letterbox sieve check|put|list|activate` end to end on the same store.
#![cfg(feature = "sieve")]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{Home, Server, PASSWORD};

const GOOD: &str = "require [\"fileinto\", \"imap4flags\"];\r\nif header :contains \"List-Id\" \"rust\" {\r\n  fileinto \"Lists/rust\";\r\n} elsif address :is \"from\" \"boss@example.org\" {\r\n  addflag \"\\\\Flagged\";\r\n}\r\n";
const BAD: &str = "require \"fileinto\";\r\nkeep;\r\nfrobnicate \"x\";\r\n";

fn have_sieve_connect() -> bool {
    Command::new("sieve-connect").arg("--help").output().is_ok()
}

/// Runs sieve-connect against `srv` with `args`; the password goes in on fd 0.
fn sieve_connect(srv: &Server, args: &[&str]) -> Output {
    let port = srv.managesieve.to_string();
    let mut c = Command::new("sieve-connect")
        .args(["--server", "127.0.0.1", "--port", &port, "--user", "alice", "--notlsverify", "--passwordfd", "0"])
        .args(["--authmech", "PLAIN"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sieve-connect");
    c.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(srv: &Server, args: &[&str]) -> String {
    let o = sieve_connect(srv, args);
    assert!(o.status.success(), "sieve-connect {args:?}: {}\nserver log:\n{}", text(&o), srv.log_text());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The active script's name and bytes as the delivery step sees them.
fn active(srv: &Server) -> Option<(String, Vec<u8>)> {
    letterbox::store::scripts::Scripts::open(&srv.home.data()).unwrap().active().unwrap()
}

#[test]
fn sieve_connect_upload_list_activate_download_delete() {
    if !have_sieve_connect() {
        panic!("sieve-connect missing: apt-get install -y sieve-connect (scripts/deps.sh)");
    }
    let srv = Server::start("managesieve-e2e", "", "");
    let dir = srv.home.dir.clone();
    std::fs::write(dir.join("good.sieve"), GOOD).unwrap();
    std::fs::write(dir.join("bad.sieve"), BAD).unwrap();
    let good = dir.join("good.sieve").display().to_string();
    let bad = dir.join("bad.sieve").display().to_string();

    ok(&srv, &["--upload", "--localsieve", &good, "--remotesieve", "rules"]);
    let list = ok(&srv, &["--list"]);
    assert!(list.contains("rules"), "{list}");
    assert_eq!(active(&srv), None);

    ok(&srv, &["--activate", "--remotesieve", "rules"]);
    let list = ok(&srv, &["--list"]);
    assert!(list.lines().any(|l| l.contains("rules") && l.to_lowercase().contains("active")), "{list}");
    assert_eq!(active(&srv), Some(("rules".into(), GOOD.as_bytes().to_vec())), "byte-exact, and active");

    let out = dir.join("down.sieve");
    ok(&srv, &["--download", "--remotesieve", "rules", "--localsieve", &out.display().to_string()]);
    assert_eq!(std::fs::read(&out).unwrap(), GOOD.as_bytes(), "download returns the upload");

    let o = sieve_connect(&srv, &["--upload", "--localsieve", &bad, "--remotesieve", "broken"]);
    let t = text(&o);
    assert!(!o.status.success() && t.contains("line 3") && t.contains("frobnicate"), "{t}");
    assert!(!ok(&srv, &["--list"]).contains("broken"), "a refused script is not stored");

    let o = sieve_connect(&srv, &["--delete", "--remotesieve", "rules"]);
    assert!(!o.status.success(), "the active script cannot be deleted: {}", text(&o));
    ok(&srv, &["--deactivate"]);
    assert_eq!(active(&srv), None);
    ok(&srv, &["--delete", "--remotesieve", "rules"]);
    assert!(!ok(&srv, &["--list"]).contains("rules"));
    assert!(srv.log_text().contains("managesieve") && srv.log_text().contains("STARTTLS"), "went over STARTTLS");
}

fn sieve_cli(home: &Home, args: &[&str]) -> Output {
    let cfg = home.config().display().to_string();
    let mut all = vec!["sieve", "--config", &cfg];
    all.extend_from_slice(args);
    common::letterbox().args(all).output().unwrap()
}

#[test]
fn sieve_cli_check_put_list_activate() {
    let home = Home::with_config("sieve-cli", "");
    std::fs::write(home.dir.join("good.sieve"), GOOD).unwrap();
    std::fs::write(home.dir.join("bad.sieve"), BAD).unwrap();
    let good = home.dir.join("good.sieve").display().to_string();
    let bad = home.dir.join("bad.sieve").display().to_string();

    let o = common::letterbox().args(["sieve", "check", &bad]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(65), "{err}");
    assert!(err.contains("line 3: ") && err.contains("frobnicate"), "{err}");
    let o = common::letterbox().args(["sieve", "check", &good]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let o = sieve_cli(&home, &["put", "broken", &bad]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(sieve_cli(&home, &["put", "my rules", &good]).status.success());
    assert!(sieve_cli(&home, &["put", "spare", &good]).status.success());
    let o = sieve_cli(&home, &["activate", "nope"]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(sieve_cli(&home, &["activate", "my rules"]).status.success());
    let list = String::from_utf8_lossy(&sieve_cli(&home, &["list"]).stdout).into_owned();
    assert_eq!(list, "* my rules\n  spare\n");
    let scripts = letterbox::store::scripts::Scripts::open(&home.data()).unwrap();
    assert_eq!(scripts.active().unwrap(), Some(("my rules".into(), GOOD.as_bytes().to_vec())));
    assert!(sieve_cli(&home, &["activate", "--none"]).status.success());
    assert_eq!(scripts.active().unwrap(), None);
    assert_eq!(String::from_utf8_lossy(&sieve_cli(&home, &["list"]).stdout), "  my rules\n  spare\n");
    assert_eq!(sieve_cli(&home, &["frob"]).status.code(), Some(64));
}

/// A plain loopback ManageSieve client (loopback may authenticate without TLS).
struct Raw {
    r: std::io::BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Raw {
    fn connect(srv: &Server) -> Raw {
        let w = std::net::TcpStream::connect(("127.0.0.1", srv.managesieve)).unwrap();
        w.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let mut raw = Raw { r: std::io::BufReader::new(w.try_clone().unwrap()), w };
        assert!(raw.response().ends_with("OK\r\n"), "greeting");
        raw
    }

    /// Reads lines up to the one starting OK, NO or BYE; returns them all.
    fn response(&mut self) -> String {
        use std::io::BufRead;
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "closed after: {all}");
            all.push_str(&line);
            if ["OK", "NO", "BYE"].iter().any(|p| line.starts_with(p)) {
                return all;
            }
        }
    }

    fn cmd(&mut self, bytes: &[u8]) -> String {
        self.w.write_all(bytes).unwrap();
        self.response()
    }

    fn login(srv: &Server) -> Raw {
        let mut c = Raw::connect(srv);
        let blob = base64(format!("\0alice\0{PASSWORD}").as_bytes());
        let r = c.cmd(format!("AUTHENTICATE \"PLAIN\" \"{blob}\"\r\n").as_bytes());
        assert!(r.starts_with("OK"), "{r}");
        c
    }

    fn put(&mut self, name: &str, script: &[u8]) -> String {
        let mut b = format!("PUTSCRIPT \"{name}\" {{{}+}}\r\n", script.len()).into_bytes();
        b.extend_from_slice(script);
        b.extend_from_slice(b"\r\n");
        self.cmd(&b)
    }
}

fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            s.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    s
}

/// A valid script of exactly `len` bytes: comment lines, then `keep;`.
fn script_of(len: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(len);
    while s.len() + 80 < len {
        s.extend_from_slice(&[b'#'; 78]);
        s.extend_from_slice(b"\r\n");
    }
    s.extend(std::iter::repeat_n(b'#', len - s.len() - 7));
    s.extend_from_slice(b"\r\nkeep;");
    assert_eq!(s.len(), len);
    s
}

/// BAD-INPUTS 100: PUTSCRIPT beyond the space quota (script bytes, total bytes) through the
/// real server: NO with a QUOTA code, nothing stored, the session goes on.
#[test]
fn managesieve_putscript_beyond_quota() {
    use letterbox::store::scripts::{SCRIPT_BYTES_MAX, TOTAL_BYTES_MAX};
    let srv = Server::start("managesieve-quota", "", "");
    let mut c = Raw::login(&srv);
    let r = c.put("huge", &vec![b'#'; SCRIPT_BYTES_MAX + 1]);
    assert!(r.starts_with("NO (QUOTA/MAXSIZE)"), "{r}");
    let size = 60_000;
    let fit = (TOTAL_BYTES_MAX / size as u64) as usize;
    for i in 0..fit {
        let r = c.put(&format!("s{i}"), &script_of(size));
        assert!(r.starts_with("OK"), "script {i}: {r}");
    }
    let r = c.cmd(format!("HAVESPACE \"more\" {size}\r\n").as_bytes());
    assert!(r.starts_with("NO (QUOTA)"), "{r}");
    let r = c.put("more", &script_of(size));
    assert!(r.starts_with("NO (QUOTA)"), "{r}");
    let r = c.cmd(b"LISTSCRIPTS\r\n");
    assert_eq!(r.lines().count(), fit + 1, "{r}");
    assert!(!r.contains("more") && !r.contains("huge"));
    assert!(c.cmd(b"HAVESPACE \"s0\" 100\r\n").starts_with("OK"), "replacing fits");
    assert!(c.cmd(b"LOGOUT\r\n").starts_with("OK"));
}

/// The store's state after a crash: every script whole (one of the versions written), and
/// the active one (if any) one that exists.
fn assert_consistent(home: &Home, versions: &[&[u8]]) -> Vec<(String, bool)> {
    let scripts = letterbox::store::scripts::Scripts::open(&home.data()).unwrap();
    let list = scripts.list().unwrap();
    for (name, _) in &list {
        let body = scripts.get(name).unwrap().unwrap();
        assert!(versions.contains(&body.as_slice()), "{name}: torn script {:?}", String::from_utf8_lossy(&body));
    }
    if let Some((name, _)) = scripts.active().unwrap() {
        assert!(list.iter().any(|(n, a)| *n == name && *a));
    }
    list
}

/// Crash safety (issue 16): `letterbox sieve put` and `activate` SIGKILLed at random
/// instants, 40 times; each time the store holds the old or the new script, whole, and an
/// activation that names a stored script.
#[test]
fn sieve_put_and_activate_killed_at_random_instants() {
    let home = Home::with_config("sieve-kill", "");
    let v1 = script_of(30_000);
    let mut v2 = script_of(30_000);
    v2[0] = b' ';
    std::fs::write(home.dir.join("v1.sieve"), &v1).unwrap();
    std::fs::write(home.dir.join("v2.sieve"), &v2).unwrap();
    assert!(sieve_cli(&home, &["put", "a", &home.dir.join("v1.sieve").display().to_string()]).status.success());
    let mut rng = common::Rng::from_env(16);
    let mut killed = 0;
    for round in 0..40 {
        let file = if round % 2 == 0 { "v2.sieve" } else { "v1.sieve" };
        let file = home.dir.join(file).display().to_string();
        let cfg = home.config().display().to_string();
        let args: Vec<&str> = match round % 4 {
            3 => vec!["sieve", "--config", &cfg, "activate", "a"],
            _ => vec!["sieve", "--config", &cfg, "put", "a", &file],
        };
        let mut child = common::letterbox().args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.below(80_000)));
        let _ = child.kill();
        if child.wait().map(|s| s.code().is_none()).unwrap_or(false) {
            killed += 1;
        }
        let list = assert_consistent(&home, &[&v1, &v2]);
        assert_eq!(list.len(), 1, "round {round}: {list:?}");
    }
    eprintln!("{killed} of 40 runs killed before they finished");
}

/// Fault injection at each durable step of put, activate and rename (a crash between the
/// temporary file's sync and its rename; between the new name's link and the activation
/// switch; between the switch and the old name's unlink): old or new state, never none.
#[cfg(feature = "fault-injection")]
#[test]
fn sieve_store_crash_points_leave_old_or_new() {
    let home = Home::with_config("sieve-crash", "");
    let cfg = home.config().display().to_string();
    let v1 = b"keep;\r\n".to_vec();
    let v2 = b"discard;\r\n".to_vec();
    std::fs::write(home.dir.join("v1.sieve"), &v1).unwrap();
    std::fs::write(home.dir.join("v2.sieve"), &v2).unwrap();
    let (f1, f2) = (home.dir.join("v1.sieve").display().to_string(), home.dir.join("v2.sieve").display().to_string());
    let crash = |point: &str, args: &[&str]| {
        let mut all = vec!["sieve", "--config", &cfg];
        all.extend_from_slice(args);
        let o = common::letterbox().args(&all).env("LETTERBOX_FAULT", format!("crash@{point}")).output().unwrap();
        assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(point), "{point}: {}", text(&o));
    };
    assert!(sieve_cli(&home, &["put", "a", &f1]).status.success());
    crash("sieve.put.synced", &["put", "a", &f2]);
    assert_eq!(assert_consistent(&home, &[&v1]), [("a".to_owned(), false)], "the old script, whole");
    crash("sieve.activate.synced", &["activate", "a"]);
    assert_eq!(assert_consistent(&home, &[&v1]), [("a".to_owned(), false)], "still inactive");
    assert!(sieve_cli(&home, &["activate", "a"]).status.success());
    assert_eq!(assert_consistent(&home, &[&v1]), [("a".to_owned(), true)]);
}

/// RENAMESCRIPT of the active script killed between its steps (through the real server):
/// the script stays stored and active under the old or the new name.
#[cfg(feature = "fault-injection")]
#[test]
fn renamescript_crash_points_keep_an_active_script() {
    for (point, now_active) in
        [("sieve.rename.linked", "a"), ("sieve.rename.activating", "a"), ("sieve.rename.switched", "b")]
    {
        let mut srv =
            Server::start_env("sieve-rename-crash", "", "", &[("LETTERBOX_FAULT", &format!("crash@{point}"))]);
        let mut c = Raw::login(&srv);
        assert!(c.put("a", b"keep;").starts_with("OK"));
        assert!(c.cmd(b"SETACTIVE \"a\"\r\n").starts_with("OK"));
        c.w.write_all(b"RENAMESCRIPT \"a\" \"b\"\r\n").unwrap();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut c.r, &mut rest);
        assert!(!rest.contains("OK"), "{point}: answered before the crash: {rest}");
        srv.kill9();
        assert!(srv.log_text().contains(&format!("crash at {point}")), "{point}: {}", srv.log_text());
        let list = assert_consistent(&srv.home, &[b"keep;"]);
        assert!(list.contains(&(now_active.to_owned(), true)), "{point}: {list:?}");
        assert_eq!(active(&srv), Some((now_active.to_owned(), b"keep;".to_vec())));
    }
}
