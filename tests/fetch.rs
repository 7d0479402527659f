//! Fetch against a real remote (issue 17): Dovecot from Debian (`dovecot-imapd`,
//! `dovecot-pop3d`), started by each test on free loopback ports with its own configuration
//! in a temporary folder (a passwd-file user, a Maildir, its own `base_dir`, a certificate
//! from a CA made here with openssl, which letterbox trusts through `[outbound] ca_file`).
//! Messages are put on the remote as Maildir files, as Dovecot's LDA would.
#![cfg(feature = "fetch")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Home};

/// The remote user's password.
const REMOTE_PASS: &str = "remote secret";

/// A running Dovecot with IMAP (143, 993) and POP3 (110, 995) on loopback.
struct Dovecot {
    dir: PathBuf,
    child: Option<Child>,
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
    /// The uid/gid owning the Maildir (Dovecot refuses uid 0 for mail access).
    owner: (u32, u32),
    seq: std::cell::Cell<u32>,
}

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Dovecot {
    fn start(name: &str) -> Dovecot {
        let dir = std::env::temp_dir().join(format!("letterbox-dovecot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(dir.join("home/bob/Maildir")).unwrap();
        let d = dir.display();
        sh(&format!(
            "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=testca 2>/dev/null \
             && openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost 2>/dev/null \
             && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext \
             && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext 2>/dev/null"
        ));
        std::fs::write(dir.join("passwd"), format!("bob:{{PLAIN}}{REMOTE_PASS}::::::\n")).unwrap();
        // SAFETY: plain getters without arguments.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let owner = if uid == 0 { (65534, 65534) } else { (uid, gid) };
        let (imap, imaps, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port());
        let conf = format!(
            "base_dir = {d}/run\nlog_path = {d}/dovecot.log\nprotocols = imap pop3\nlisten = 127.0.0.1\n\
             ssl = yes\nssl_cert = <{d}/leaf.pem\nssl_key = <{d}/leaf.key\nauth_mechanisms = plain login\n\
             mail_location = maildir:~/Maildir\nmailbox_idle_check_interval = 1 secs\npop3_uidl_format = %08Xu%08Xv\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={} gid={} home={d}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            owner.0, owner.1
        );
        std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
        let mut dv = Dovecot { dir, child: None, imap, imaps, pop3, pop3s, owner, seq: std::cell::Cell::new(0) };
        dv.make_folder("INBOX");
        let child = Command::new("dovecot")
            .args(["-F", "-c"])
            .arg(dv.dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (Debian dovecot-imapd, dovecot-pop3d; scripts/deps.sh)");
        dv.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        for p in [imap, imaps, pop3, pop3s] {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(Instant::now() < until, "dovecot did not start: {}", dv.log());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        dv
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// The Maildir++ folder (`INBOX` or `.Name`).
    fn maildir(&self, folder: &str) -> PathBuf {
        let m = self.dir.join("home/bob/Maildir");
        if folder == "INBOX" {
            m
        } else {
            m.join(format!(".{folder}"))
        }
    }

    fn make_folder(&self, folder: &str) {
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(self.maildir(folder).join(sub)).unwrap();
        }
        self.chown();
    }

    fn chown(&self) {
        sh(&format!("chown -R {}:{} {}", self.owner.0, self.owner.1, self.dir.join("home").display()));
    }

    /// Puts a message in a remote folder (as an LDA would: tmp, then rename into new).
    fn put(&self, folder: &str, msg: &[u8]) {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        let name = format!("{}.M{n}P{}.test", 1_700_000_000 + n, std::process::id());
        let tmp = self.maildir(folder).join("tmp").join(&name);
        std::fs::write(&tmp, msg).unwrap();
        std::os::unix::fs::chown(&tmp, Some(self.owner.0), Some(self.owner.1)).unwrap();
        std::fs::rename(&tmp, self.maildir(folder).join("new").join(&name)).unwrap();
    }

    /// Messages in a remote folder (files in new and cur).
    fn count(&self, folder: &str) -> usize {
        ["new", "cur"].iter().map(|s| std::fs::read_dir(self.maildir(folder).join(s)).map_or(0, |d| d.count())).sum()
    }

    /// A `[[fetch]]` table for this server; the password file is written next to the CA.
    fn account(&self, name: &str, protocol: &str, tls: &str, extra: &str) -> String {
        let port = match (protocol, tls) {
            ("imap", "implicit") => self.imaps,
            ("imap", _) => self.imap,
            (_, "implicit") => self.pop3s,
            _ => self.pop3,
        };
        let secret = self.dir.join("bob.secret");
        std::fs::write(&secret, format!("{REMOTE_PASS}\n")).unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        format!(
            "[[fetch]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\nserver = \"127.0.0.1:{port}\"\ntls = \"{tls}\"\nuser = \"bob\"\npassword_file = \"{}\"\n{extra}",
            secret.display()
        )
    }

    /// `[outbound] ca_file` trusting this server's CA.
    fn trust(&self) -> String {
        format!("[outbound]\nca_file = \"{}\"\n", self.dir.join("ca.pem").display())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn msg(id: &str, body_len: usize) -> Vec<u8> {
    let mut m =
        format!("From: a@remote.example\r\nSubject: {id}\r\nMessage-ID: <{id}@remote.example>\r\n\r\n").into_bytes();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    while m.len() < body_len {
        m.extend_from_slice(line);
    }
    m
}

/// `letterbox fetch --once` (all accounts, or one); its stderr.
fn fetch_once(home: &Home, name: Option<&str>) -> String {
    let mut args = vec!["fetch", "--once"];
    args.extend(name);
    let out = home.run(&args, b"");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "fetch failed: {err}");
    err
}

/// The Subjects of the messages of a local folder, in UID order.
fn subjects(home: &Home, folder: &str) -> Vec<String> {
    let s = home.store();
    let Ok(f) = s.open_folder(folder) else { return Vec::new() };
    f.entries()
        .iter()
        .map(|e| {
            let b = f.body(e).unwrap();
            let t = String::from_utf8_lossy(&b).into_owned();
            t.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").to_owned()
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn imap_starttls_and_imaps_several_folders_keep_then_delete() {
    let dv = Dovecot::start("imap");
    dv.make_folder("Work");
    dv.put("INBOX", &msg("in1", 300));
    dv.put("INBOX", &msg("in2", 5000));
    dv.put("Work", &msg("work1", 100));
    let keep = dv.account("keep", "imap", "starttls", "folders = [\"INBOX\", \"Work\"]\n");
    let del =
        dv.account("del", "imap", "implicit", "folders = [\"INBOX\", \"Work\"]\ninto = \"Pulled\"\nkeep = false\n");
    let home = Home::with_config("fetch-imap", &format!("{}{keep}{del}", dv.trust()));
    // keep = true over STARTTLS: everything, into INBOX, with our Received: field on top.
    let log = fetch_once(&home, Some("keep"));
    assert_eq!(sorted(subjects(&home, "INBOX")), ["in1", "in2", "work1"], "{log}");
    let s = home.store();
    let f = s.open_folder("INBOX").unwrap();
    let bodies: Vec<Vec<u8>> = f.entries().iter().map(|e| f.body(e).unwrap()).collect();
    let first = bodies.iter().find(|b| b.ends_with(&msg("in1", 300))).expect("in1 stored byte for byte");
    let trace = b"Received: from 127.0.0.1 by example.org with IMAP id keep/INBOX/";
    assert!(first.starts_with(trace), "{}", String::from_utf8_lossy(first));
    assert_eq!(dv.count("INBOX") + dv.count("Work"), 3);
    // Again, and with a new remote message: only that one is pulled.
    dv.put("INBOX", &msg("in3", 10));
    fetch_once(&home, Some("keep"));
    assert_eq!(sorted(subjects(&home, "INBOX")), ["in1", "in2", "in3", "work1"]);
    // keep = false over implicit TLS: stored in Pulled, then gone from the remote.
    fetch_once(&home, Some("del"));
    assert_eq!(sorted(subjects(&home, "Pulled")), ["in1", "in2", "in3", "work1"]);
    assert_eq!(dv.count("INBOX") + dv.count("Work"), 0, "{}", dv.log());
    fetch_once(&home, None);
    assert_eq!(subjects(&home, "Pulled").len(), 4);
    assert_eq!(subjects(&home, "INBOX").len(), 4);
}

#[test]
fn pop3s_and_pop3_stls_keep_then_delete() {
    let dv = Dovecot::start("pop3");
    dv.put("INBOX", &msg("p1", 200));
    dv.put("INBOX", &msg(".dotted", 200));
    let mut dotted = msg("p3", 0);
    dotted.extend_from_slice(b".leading dot\r\n..two\r\n.\r\nend\r\n");
    dv.put("INBOX", &dotted);
    let keep = dv.account("keep", "pop3", "implicit", "");
    let del = dv.account("del", "pop3", "starttls", "into = \"Pulled\"\nkeep = false\n");
    let home = Home::with_config("fetch-pop3", &format!("{}{keep}{del}", dv.trust()));
    fetch_once(&home, Some("keep"));
    fetch_once(&home, Some("keep"));
    assert_eq!(sorted(subjects(&home, "INBOX")), [".dotted", "p1", "p3"]);
    // Byte-stuffing undone: the stored message ends with the remote's bytes.
    let s = home.store();
    let f = s.open_folder("INBOX").unwrap();
    let found = f.entries().iter().any(|e| f.body(e).unwrap().ends_with(&dotted));
    assert!(found, "dot-unstuffing");
    assert_eq!(dv.count("INBOX"), 3);
    fetch_once(&home, Some("del"));
    assert_eq!(sorted(subjects(&home, "Pulled")), [".dotted", "p1", "p3"]);
    assert_eq!(dv.count("INBOX"), 0, "{}", dv.log());
}

#[test]
fn over_the_local_limit_is_skipped_and_left_on_the_server() {
    let dv = Dovecot::start("limit");
    dv.put("INBOX", &msg("small", 100));
    dv.put("INBOX", &msg("big", 20_000));
    let acct = dv.account("lim", "imap", "implicit", "keep = false\n");
    let acct2 = dv.account("lim3", "pop3", "implicit", "keep = false\ninto = \"P\"\n");
    let home =
        Home::with_config("fetch-limit", &format!("{}{acct}{acct2}[limits]\nmessage_size = 10000\n", dv.trust()));
    let log = fetch_once(&home, Some("lim"));
    assert!(log.contains("over message_size 10000: skipped, left on the server"), "{log}");
    assert_eq!(subjects(&home, "INBOX"), ["small"]);
    assert_eq!(dv.count("INBOX"), 1, "the big one stays");
    dv.put("INBOX", &msg("small2", 100));
    let log = fetch_once(&home, Some("lim3"));
    assert!(log.contains("over message_size 10000: skipped"), "{log}");
    assert_eq!(subjects(&home, "P"), ["small2"]);
    assert_eq!(dv.count("INBOX"), 1);
}

#[test]
fn wrong_password_and_untrusted_certificate_fail_clearly() {
    let dv = Dovecot::start("fail");
    dv.put("INBOX", &msg("x", 100));
    let acct = dv.account("a", "imap", "implicit", "");
    // No ca_file: Dovecot's certificate is not trusted by the system roots.
    let home = Home::with_config("fetch-fail", &acct);
    let out = home.run(&["fetch", "--once"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("TLS handshake") && err.contains("failed"), "{err}");
    assert!(subjects(&home, "INBOX").is_empty());
    // A wrong password: "login refused".
    std::fs::write(dv.dir.join("bob.secret"), "wrong\n").unwrap();
    let home = Home::with_config("fetch-fail2", &format!("{}{}", dv.trust(), acct));
    let out = home.run(&["fetch", "--once"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("login refused"), "{err}");
    // A password file readable by others is refused.
    std::fs::set_permissions(dv.dir.join("bob.secret"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = home.run(&["fetch", "--once"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("0600"));
}

/// Messages in a local folder, read from a fresh store handle.
fn local_count(data: &Path, folder: &str) -> usize {
    letterbox::store::Store::open(data).ok().and_then(|s| s.open_folder(folder).ok()).map_or(0, |f| f.entries().len())
}

#[test]
fn idle_push_arrives_within_two_seconds() {
    let dv = Dovecot::start("idle");
    dv.put("INBOX", &msg("before", 100));
    let acct = dv.account("push", "imap", "implicit", "");
    let srv = common::Server::start("fetch-idle", &format!("{}{acct}", dv.trust()), "");
    let data = srv.home.data();
    let until = Instant::now() + Duration::from_secs(20);
    while local_count(&data, "INBOX") < 1 {
        assert!(Instant::now() < until, "first pull: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500)); // IDLE in place
    let t0 = Instant::now();
    dv.put("INBOX", &msg("pushed", 100));
    while local_count(&data, "INBOX") < 2 {
        assert!(t0.elapsed() < Duration::from_secs(2), "not pushed within 2 s: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("pushed message stored after {:?}", t0.elapsed());
    // While serve pulls the account, `letterbox fetch` refuses it (no double pulls).
    let out = srv.home.run(&["fetch", "--once"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(err.contains("busy: another letterbox process"), "{err}");
}

#[test]
fn uidvalidity_change_is_logged_and_stores_nothing_twice() {
    let dv = Dovecot::start("uidv");
    dv.put("INBOX", &msg("u1", 100));
    dv.put("INBOX", &msg("u2", 200));
    let acct = dv.account("uv", "imap", "implicit", "");
    let home = Home::with_config("fetch-uidv", &format!("{}{acct}", dv.trust()));
    fetch_once(&home, None);
    assert_eq!(sorted(subjects(&home, "INBOX")), ["u1", "u2"]);
    let conf = dv.dir.join("dovecot.conf");
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args(["mailbox", "update", "-u", "bob", "--uid-validity", "12345", "INBOX"])
        .output()
        .unwrap();
    assert!(out.status.success(), "doveadm: {}", String::from_utf8_lossy(&out.stderr));
    dv.put("INBOX", &msg("u3", 100));
    let log = fetch_once(&home, None);
    assert!(log.contains("UIDVALIDITY changed") && log.contains("-> 12345"), "{log}");
    assert!(log.contains("already stored (same Message-ID and size): skipped"), "{log}");
    assert_eq!(sorted(subjects(&home, "INBOX")), ["u1", "u2", "u3"], "{log}");
    // As if that pull had been killed after UID 1 (the state says last = 1): the rule still
    // holds for the UIDs that existed at the change, in this later session.
    let state_path = home.data().join("fetch/uv.state");
    let state = std::fs::read_to_string(&state_path).unwrap();
    let line = state.lines().find(|l| l.starts_with("imap 12345 ")).unwrap_or_else(|| panic!("{state}"));
    let f: Vec<&str> = line.splitn(5, ' ').collect();
    let rewound = format!("imap 12345 1 {} {}", f[3], f[4]);
    std::fs::write(&state_path, state.replace(line, &rewound)).unwrap();
    let log = fetch_once(&home, None);
    assert_eq!(log.matches("already stored (same Message-ID and size): skipped").count(), 2, "{log}");
    assert_eq!(sorted(subjects(&home, "INBOX")), ["u1", "u2", "u3"], "{log}");
}

#[test]
fn a_30_mb_message_is_streamed_not_held_in_ram() {
    let dv = Dovecot::start("big");
    dv.put("INBOX", &msg("small", 100));
    let acct = dv.account("big", "imap", "implicit", "keep = false\n");
    let srv = common::Server::start("fetch-big", &format!("{}{acct}", dv.trust()), "message_size = 40000000");
    let data = srv.home.data();
    let until = Instant::now() + Duration::from_secs(20);
    while local_count(&data, "INBOX") < 1 {
        assert!(Instant::now() < until, "first pull: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let hwm0 = srv.status_kib("VmHWM:");
    let big = msg("big", 30 * 1024 * 1024);
    dv.put("INBOX", &big);
    let until = Instant::now() + Duration::from_secs(120);
    while local_count(&data, "INBOX") < 2 {
        assert!(Instant::now() < until, "30 MB not pulled: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let hwm1 = srv.status_kib("VmHWM:");
    eprintln!("server VmHWM before {hwm0} KiB, after pulling 30 MB {hwm1} KiB (+{} KiB)", hwm1.saturating_sub(hwm0));
    assert!(hwm1.saturating_sub(hwm0) < 8 * 1024, "RSS grew {} KiB", hwm1 - hwm0);
    let s = home_store(&data);
    let f = s.open_folder("INBOX").unwrap();
    let stored = f.entries().iter().map(|e| f.body(e).unwrap()).find(|b| b.len() > 1_000_000).unwrap();
    assert!(stored.ends_with(&big), "stored byte for byte");
    let until = Instant::now() + Duration::from_secs(10);
    while dv.count("INBOX") > 0 {
        assert!(Instant::now() < until, "deleted remotely after the commit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn home_store(data: &Path) -> letterbox::store::Store {
    letterbox::store::Store::open(data).unwrap()
}

/// Crash model (issue 17): `serve` pulling from IMAP and POP3 accounts with `keep = false`
/// is killed with SIGKILL at random moments while new remote mail keeps arriving; in the
/// end every remote message is stored exactly once and none was deleted remotely without
/// being stored. CI runs a short form; `LETTERBOX_FETCH_CRASH_KILLS=200` the long one.
#[test]
fn crash_model_kill9_during_pulls_stores_each_message_exactly_once() {
    let kills: usize = std::env::var("LETTERBOX_FETCH_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut rng = common::Rng::from_env(17);
    let imap = Dovecot::start("crash-imap");
    let pop = Dovecot::start("crash-pop3");
    let (mut n, mut put) = (0usize, Vec::new());
    let mut add = |rng: &mut common::Rng, count: usize| {
        for _ in 0..count {
            n += 1;
            let size = 200 + rng.below(300_000) as usize;
            let id = format!("m{n}");
            let dv = if n % 2 == 0 { &imap } else { &pop };
            dv.put("INBOX", &msg(&id, size));
            put.push(id);
        }
    };
    add(&mut rng, 20);
    let a = imap.account("ci", "imap", "implicit", "keep = false\n");
    let b = pop.account("cp", "pop3", "implicit", "keep = false\ninterval = \"1m\"\n");
    let trust = format!("[outbound]\nca_file = \"{}\"\n", imap.dir.join("ca.pem").display());
    // Both Dovecots use their own CA: trust both (one bundle).
    let bundle = imap.dir.join("both.pem");
    let pems =
        [std::fs::read(imap.dir.join("ca.pem")).unwrap(), std::fs::read(pop.dir.join("ca.pem")).unwrap()].concat();
    std::fs::write(&bundle, pems).unwrap();
    let trust = trust.replace(&imap.dir.join("ca.pem").display().to_string(), &bundle.display().to_string());
    let mut srv = common::Server::start("fetch-crash", &format!("{trust}{a}{b}"), "");
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        srv.kill9();
        if k % 3 == 0 {
            add(&mut rng, 3);
        }
        srv.spawn();
    }
    // Settle: the POP3 account polls each minute, so restart until both remotes are empty.
    let until = Instant::now() + Duration::from_secs(180);
    while imap.count("INBOX") + pop.count("INBOX") > 0 {
        assert!(Instant::now() < until, "remote not emptied: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(500));
        if pop.count("INBOX") > 0 && rng.below(4) == 0 {
            srv.kill9();
            srv.spawn();
        }
    }
    srv.stop();
    let mut got = subjects(&srv.home, "INBOX");
    got.sort();
    let mut want = put.clone();
    want.sort();
    let dups: Vec<&String> = got.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
    assert!(dups.is_empty(), "stored twice: {dups:?}");
    assert_eq!(got, want, "every remote message stored exactly once");
    let settled = srv.log_text().matches("settled an interrupted pull").count();
    eprintln!(
        "crash model: {kills} kills, {} messages, each stored once; {settled} interrupted pulls settled",
        want.len()
    );
}

/// A fake remote on loopback answering each command (matched by a word after the IMAP tag,
/// or the POP3 command) with a scripted reply; `{tag}` is replaced by the command's tag.
fn fake_remote(greeting: &'static [u8], script: Vec<(&'static str, Vec<u8>)>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((s, _)) = l.accept() else { return };
        let mut w = s.try_clone().unwrap();
        let _ = w.write_all(greeting);
        let mut r = BufReader::new(s);
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 0) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let tag = words.first().copied().unwrap_or("");
            let reply = script.iter().find(|(k, _)| words.iter().any(|w| w.eq_ignore_ascii_case(k)));
            let out = match reply {
                Some((_, bytes)) => String::from_utf8_lossy(bytes).replace("{tag}", tag).into_bytes(),
                None => format!("{tag} OK\r\n").into_bytes(),
            };
            if w.write_all(&out).is_err() {
                return;
            }
            line.clear();
        }
    });
    port
}

/// `letterbox fetch --once` against the fake remote: its exit code and log.
fn fetch_from_fake(name: &str, protocol: &str, port: u16) -> (Option<i32>, String, Home) {
    let dir = std::env::temp_dir().join(format!("letterbox-fake-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("pw");
    std::fs::write(&secret, "pw\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let acct = format!(
        "[[fetch]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\nserver = \"127.0.0.1:{port}\"\ntls = \"none\"\nuser = \"u\"\npassword_file = \"{}\"\nkeep = false\n",
        secret.display()
    );
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let home = Home::with_config(&format!("fake-{name}-{run}"), &acct);
    let out = home.run(&["fetch", "--once"], b"");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), home)
}

/// The IMAP replies up to the size listing of one message of `size` bytes.
fn imap_script(size: u64, body_reply: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("SELECT", b"* 1 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n{tag} OK [READ-WRITE] done\r\n".to_vec()),
        ("RFC822.SIZE)", format!("* 1 FETCH (UID 1 RFC822.SIZE {size})\r\n{{tag}} OK\r\n").into_bytes()),
        ("BODY.PEEK[]", body_reply),
        ("STORE", b"{tag} NO must not be reached\r\n".to_vec()),
    ]
}

/// Nothing was stored and nothing deleted: no message, no state beyond what was there.
fn nothing_stored(home: &Home) {
    assert!(subjects(home, "INBOX").is_empty());
    let state = std::fs::read_to_string(home.data().join("fetch").join(format!("{}.state", "x"))).unwrap_or_default();
    assert!(!state.contains("imapdel"), "{state}");
}

#[test]
fn bad_input_94_a_literal_larger_than_announced_or_of_2_gb() {
    const G: &[u8] = b"* OK [CAPABILITY IMAP4rev1] fake\r\n";
    // More bytes than the literal announced: what follows it is not the end of the response.
    let body = b"* 1 FETCH (UID 1 BODY[] {10}\r\nSubject: 1EXTRA BYTES OF THE MESSAGE\r\n)\r\n{tag} OK\r\n".to_vec();
    let (code, log, home) = fetch_from_fake("x", "imap", fake_remote(G, imap_script(10, body)));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("malformed response") && log.contains("after the message"), "{log}");
    nothing_stored(&home);
    // A literal larger than the size the listing gave.
    let body = b"* 1 FETCH (UID 1 BODY[] {20}\r\nSubject: 12345678901\r\n)\r\n{tag} OK\r\n".to_vec();
    let (code, log, home) = fetch_from_fake("x", "imap", fake_remote(G, imap_script(10, body)));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("literal of 20 bytes, over the limit"), "{log}");
    nothing_stored(&home);
    // A 2 GB announcement (the listing says small): refused before reading a byte of it.
    let body = b"* 1 FETCH (UID 1 BODY[] {2147483648}\r\n".to_vec();
    let (code, log, home) = fetch_from_fake("x", "imap", fake_remote(G, imap_script(10, body)));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("literal of 2147483648 bytes, over the limit"), "{log}");
    nothing_stored(&home);
}

#[test]
fn bad_input_95_never_ending_lines() {
    // IMAP: a SELECT reply that never ends its line (4 MB without CRLF).
    let mut endless = b"* OK ".to_vec();
    endless.resize(4 << 20, b'x');
    let script = vec![("SELECT", endless.clone())];
    let (code, log, home) = fetch_from_fake("x", "imap", fake_remote(b"* OK fake\r\n", script));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("response line longer than 65536 bytes"), "{log}");
    nothing_stored(&home);
    // POP3: a greeting that never ends.
    let greeting: &'static [u8] = Box::leak(endless.into_boxed_slice());
    let (code, log, _home) = fetch_from_fake("y", "pop3", fake_remote(greeting, Vec::new()));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("reply line longer than 1024 bytes"), "{log}");
}

#[test]
fn bad_input_96_garbage_after_the_greeting() {
    let script = vec![("LOGIN", b"\x00\x01\xffgarbage \x1b[2J\r\n".to_vec())];
    let (code, log, home) = fetch_from_fake("x", "imap", fake_remote(b"* OK fake\r\n", script));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("malformed response"), "{log}");
    nothing_stored(&home);
    // Not an IMAP greeting at all (an HTTP server on the port).
    let (code, log, _) = fetch_from_fake("y", "imap", fake_remote(b"HTTP/1.1 400 Bad Request\r\n\r\n", Vec::new()));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("bad greeting"), "{log}");
    // POP3: garbage instead of +OK.
    let script = vec![("USER", b"garbage\r\n".to_vec()), ("CAPA", b"-ERR\r\n".to_vec())];
    let (code, log, _) = fetch_from_fake("z", "pop3", fake_remote(b"+OK fake\r\n", script));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("malformed reply"), "{log}");
}

#[test]
fn bad_input_97_a_uidl_list_with_duplicates() {
    let script = vec![
        ("CAPA", b"-ERR no\r\n".to_vec()),
        ("USER", b"+OK\r\n".to_vec()),
        ("PASS", b"+OK\r\n".to_vec()),
        ("UIDL", b"+OK\r\n1 same\r\n2 same\r\n.\r\n".to_vec()),
        ("LIST", b"+OK\r\n1 10\r\n2 10\r\n.\r\n".to_vec()),
        ("RETR", b"-ERR must not be reached\r\n".to_vec()),
        ("DELE", b"-ERR must not be reached\r\n".to_vec()),
    ];
    let (code, log, home) = fetch_from_fake("x", "pop3", fake_remote(b"+OK fake\r\n", script));
    assert_eq!(code, Some(75), "{log}");
    assert!(log.contains("UIDL \"same\" listed twice"), "{log}");
    assert!(!log.contains("must not be reached"), "{log}");
    nothing_stored(&home);
}

/// Issue 16's one delivery path: pulled mail goes through the owner's Sieve script like
/// SMTP mail (a list message filed with a flag, one discarded, the rest kept in the
/// account's `into`), and exactly once all the same.
#[test]
fn pulled_mail_goes_through_the_owners_sieve_script() {
    let dv = Dovecot::start("imap");
    dv.put("INBOX", &msg("news-1", 200));
    dv.put("INBOX", &msg("drop-me", 200));
    dv.put("INBOX", &msg("plain", 200));
    let acct = dv.account("isp", "imap", "implicit", "into = \"Pulled\"\n");
    let home = Home::with_config("fetch-sieve", &format!("{}{acct}", dv.trust()));
    let scripts = letterbox::store::scripts::Scripts::open(&home.data()).unwrap();
    let rules = "require [\"fileinto\", \"mailbox\", \"imap4flags\"];\n\
                 if header :contains \"subject\" \"news\" { fileinto :create :flags \"\\\\Seen\" \"News\"; stop; }\n\
                 if header :is \"subject\" \"drop-me\" { discard; stop; }\n";
    scripts.put("rules", rules.as_bytes()).unwrap();
    scripts.activate(Some("rules")).unwrap();
    let log = fetch_once(&home, None);
    assert_eq!(subjects(&home, "News"), ["news-1"], "{log}");
    assert_eq!(subjects(&home, "Pulled"), ["plain"], "{log}");
    assert!(subjects(&home, "INBOX").is_empty(), "keep goes to the account's into, not INBOX");
    let s = home.store();
    let news = s.open_folder("News").unwrap();
    assert!(news.entries().iter().all(|e| e.flags & 1 == 1), "\\Seen from :flags");
    // Pulled again: nothing new, nothing twice (the discarded message is done too).
    fetch_once(&home, None);
    assert_eq!((subjects(&home, "News").len(), subjects(&home, "Pulled").len()), (1, 1));
}
