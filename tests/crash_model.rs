//! Crash-model test (issue 8, BAD-INPUTS 51): a seeded random mix of SMTP deliveries,
//! `letterbox deliver`, IMAP APPEND / UID STORE / UID EXPUNGE / UID MOVE, POP3 DELE+QUIT and
//! `letterbox compact` runs against the real server, which is SIGKILLed at random moments
//! together with any `deliver` or `compact` process still running.
//! After every kill `letterbox check` must be clean (a torn, uncommitted tail is allowed: it
//! is what a crash leaves), and after every restart the store is checked against a model of
//! what the clients were told: every acknowledged message present (INBOX, or Archive once a
//! MOVE was acknowledged) and byte-identical; every acknowledged deletion, expunge and move
//! gone from INBOX; every acknowledged flag change present (moves keep flags); nothing torn
//! or half-written visible (every stored message is, byte for byte, one a client sent);
//! UIDs ascending per folder, never reused, new ones above all earlier ones.
//!
//! CI runs 100 kills; `LETTERBOX_CRASH_KILLS=2000` runs the long form. A failure prints
//! the seed (`LETTERBOX_SEED` replays the same plan; the kill timing is real time), the
//! failing check, the shortest history that explains it (every logged operation that
//! touched the message in question, across all rounds) and the whole failing round.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use letterbox::proto::imap::flag;

/// The flags IMAP workers set and clear (POP3 TOP sets none; \Seen is left alone).
const FLAGS: [(&str, u32); 2] = [("\\Flagged", flag::FLAGGED), ("\\Answered", flag::ANSWERED)];
const DELETED_BIT: u32 = flag::DELETED;

/// What the clients were told.
#[derive(Default)]
struct Model {
    /// Every body a client tried to store, by tag (Subject): whatever is stored must be one.
    sent: BTreeMap<String, Vec<u8>>,
    /// Tags whose storing was acknowledged (250, deliver exit 0, APPEND OK).
    acked: BTreeSet<String>,
    /// Tags certainly gone from INBOX (POP3 QUIT +OK, UID EXPUNGE OK, UID MOVE with COPYUID).
    gone_inbox: HashSet<String>,
    /// Tags a POP3 DELE or an IMAP expunge was tried on (acknowledged or not): only these
    /// may vanish from both folders.
    delete_tried: HashSet<String>,
    /// Tags whose MOVE to Archive was acknowledged (nothing removes from Archive).
    moved: HashSet<String>,
    /// Last acknowledged state of each (folder, UID, flag bit): a STORE changes one message,
    /// and an acknowledged MOVE carries it to the new UID (COPYUID). A MOVE cut by the kill
    /// may leave a copy in both folders (RFC 6851 §3.3 allows it): that copy is a message of
    /// its own, with the flags it had when copied.
    flags: BTreeMap<(String, u32, u32), bool>,
    /// (folder, UID, flag bit) touched by a STORE whose answer was lost.
    flags_unsure: HashSet<(String, u32, u32)>,
    /// Operation log of the whole run, "round: text".
    log: Vec<String>,
    round: usize,
}

impl Model {
    fn note(&mut self, s: String) {
        let line = format!("r{}: {s}", self.round);
        self.log.push(line);
    }
}

type Shared = Arc<Mutex<Model>>;

fn note(m: &Shared, s: String) {
    m.lock().unwrap_or_else(|e| e.into_inner()).note(s);
}

fn line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut l = String::new();
    if r.read_line(&mut l)? == 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
    }
    Ok(l)
}

fn connect(port: u16) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok((s.try_clone()?, BufReader::new(s)))
}

/// One SMTP delivery over a raw socket; Ok(true) only on the final 250.
fn smtp_send(port: u16, body: &[u8]) -> std::io::Result<bool> {
    smtp_send_from(port, "model@example.net", body)
}

/// The same from another reverse-path; Ok(false) when a reply refused it.
fn smtp_send_from(port: u16, from: &str, body: &[u8]) -> std::io::Result<bool> {
    let (mut w, mut r) = connect(port)?;
    line(&mut r)?;
    w.write_all(b"EHLO crash.test\r\n")?;
    while !line(&mut r)?.starts_with("250 ") {}
    w.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())?;
    line(&mut r)?;
    w.write_all(b"RCPT TO:<alice@example.org>\r\n")?;
    if !line(&mut r)?.starts_with("250") {
        return Ok(false);
    }
    w.write_all(b"DATA\r\n")?;
    if !line(&mut r)?.starts_with("354") {
        return Ok(false);
    }
    w.write_all(body)?;
    w.write_all(b".\r\n")?;
    Ok(line(&mut r)?.starts_with("250"))
}

/// POP3: marks the first `want` messages with DELE and QUITs. Records the tags it marked in
/// `marked` as it goes; Ok(true) only on +OK to QUIT.
fn pop3_delete(port: u16, want: usize, marked: &mut Vec<String>) -> std::io::Result<bool> {
    let (mut w, mut r) = connect(port)?;
    line(&mut r)?;
    w.write_all(format!("USER alice\r\nPASS {PASSWORD}\r\n").as_bytes())?;
    line(&mut r)?;
    if !line(&mut r)?.starts_with("+OK") {
        return Ok(false);
    }
    for n in 1..=want {
        w.write_all(format!("TOP {n} 0\r\n").as_bytes())?;
        if !line(&mut r)?.starts_with("+OK") {
            break;
        }
        let mut tag = None;
        loop {
            let l = line(&mut r)?;
            if l == ".\r\n" {
                break;
            }
            if let Some(t) = l.strip_prefix("Subject: ") {
                tag = Some(t.trim().to_string());
            }
        }
        marked.extend(tag);
        w.write_all(format!("DELE {n}\r\n").as_bytes())?;
        line(&mut r)?;
    }
    w.write_all(b"QUIT\r\n")?;
    Ok(line(&mut r)?.starts_with("+OK"))
}

/// A minimal IMAP client: one command, its untagged lines (literals read and dropped) and
/// the tagged line.
struct Imap {
    w: TcpStream,
    r: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    fn login(port: u16) -> std::io::Result<Imap> {
        let (w, mut r) = connect(port)?;
        line(&mut r)?;
        let mut c = Imap { w, r, n: 0 };
        let (ok, _) = c.cmd(&format!("LOGIN alice \"{PASSWORD}\""), None)?;
        let (sel, _) = c.cmd("SELECT INBOX", None)?;
        if !ok.contains(" OK") || !sel.contains(" OK") {
            return Err(std::io::Error::other(format!("login/select: {ok} {sel}")));
        }
        Ok(c)
    }

    /// Sends `cmd` (and, after a continuation, `literal`); returns (tagged line, untagged).
    fn cmd(&mut self, cmd: &str, literal: Option<&[u8]>) -> std::io::Result<(String, Vec<String>)> {
        self.n += 1;
        let tag = format!("c{}", self.n);
        self.w.write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        let mut untagged = Vec::new();
        loop {
            let l = line(&mut self.r)?;
            if l.starts_with(&format!("{tag} ")) {
                return Ok((l, untagged));
            }
            if l.starts_with('+') {
                if let Some(lit) = literal {
                    self.w.write_all(lit)?;
                    self.w.write_all(b"\r\n")?;
                }
                continue;
            }
            // A literal in an untagged response: skip its bytes.
            if let Some(n) =
                l.trim_end().strip_suffix('}').and_then(|x| x.rsplit_once('{')).and_then(|x| x.1.parse().ok())
            {
                let mut buf = vec![0u8; n];
                self.r.read_exact(&mut buf)?;
            }
            untagged.push(l);
        }
    }
}

/// Whether an untagged FETCH in `lines` reports `uid` with flag `name` set (`want`) or not.
fn fetch_reports(lines: &[String], uid: u32, name: &str, want: bool) -> bool {
    lines.iter().any(|l| {
        let has_uid = l.contains(&format!("UID {uid} ")) || l.contains(&format!("UID {uid})"));
        let flags = l.split("FLAGS (").nth(1).and_then(|x| x.split(')').next()).unwrap_or("");
        l.starts_with("* ") && l.contains("FETCH") && has_uid && flags.split(' ').any(|f| f == name) == want
    })
}

/// One IMAP worker: 1-3 operations on INBOX messages known from the last verification.
fn imap_worker(
    port: u16,
    tag: &str,
    inbox: &[(u32, String)],
    rng: &mut Rng,
    m: &Shared,
    size: usize,
) -> std::io::Result<()> {
    let mut c = Imap::login(port)?;
    for i in 0..=rng.below(3) {
        let target = inbox.get(rng.below(inbox.len() as u64) as usize).cloned();
        match (rng.below(4), target) {
            (0, _) | (_, None) => {
                let t = format!("{tag}a{i}");
                let b = body(&t, size);
                m.lock().unwrap_or_else(|e| e.into_inner()).sent.insert(t.clone(), b.clone());
                note(m, format!("imap append {t}"));
                let (ok, _) = c.cmd(&format!("APPEND INBOX {{{}}}", b.len()), Some(&b))?;
                if ok.contains(" OK") && ok.contains("APPENDUID") {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.acked.insert(t.clone());
                    g.note(format!("imap append {t} acknowledged"));
                }
            }
            (1, Some((uid, t))) => {
                let (name, bit) = FLAGS[rng.below(2) as usize];
                let on = rng.below(2) == 0;
                let sign = if on { '+' } else { '-' };
                {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.flags_unsure.insert(("INBOX".into(), uid, bit));
                    g.note(format!("imap store {t} uid {uid} {sign}{name}"));
                }
                let (ok, lines) = c.cmd(&format!("UID STORE {uid} {sign}FLAGS ({name})"), None)?;
                if ok.contains(" OK") && fetch_reports(&lines, uid, name, on) {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.flags_unsure.remove(&("INBOX".into(), uid, bit));
                    g.flags.insert(("INBOX".into(), uid, bit), on);
                    g.note(format!("imap store {t} {sign}{name} acknowledged"));
                }
            }
            (2, Some((uid, t))) => {
                {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.delete_tried.insert(t.clone());
                    g.note(format!("imap expunge {t} uid {uid}"));
                }
                let (ok, lines) = c.cmd(&format!("UID STORE {uid} +FLAGS (\\Deleted)"), None)?;
                if !ok.contains(" OK") || !fetch_reports(&lines, uid, "\\Deleted", true) {
                    continue;
                }
                let (ok, _) = c.cmd(&format!("UID EXPUNGE {uid}"), None)?;
                if ok.contains(" OK") {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.gone_inbox.insert(t.clone());
                    g.note(format!("imap expunge {t} acknowledged"));
                }
            }
            (_, Some((uid, t))) => {
                {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.note(format!("imap move {t} uid {uid}"));
                }
                let (ok, lines) = c.cmd(&format!("UID MOVE {uid} Archive"), None)?;
                // "[COPYUID uidvalidity source target]", in an untagged OK or the tagged one.
                let copyuid = std::iter::once(&ok).chain(lines.iter()).find_map(|l| {
                    let rest = l.split("[COPYUID ").nth(1)?;
                    rest.split(']').next()?.split(' ').nth(2)?.parse::<u32>().ok()
                });
                if let (true, Some(new_uid)) = (ok.contains(" OK"), copyuid) {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    g.gone_inbox.insert(t.clone());
                    g.moved.insert(t.clone());
                    for (_, bit) in FLAGS {
                        if let Some(v) = g.flags.remove(&("INBOX".into(), uid, bit)) {
                            g.flags.insert(("Archive".into(), new_uid, bit), v);
                        }
                        if g.flags_unsure.remove(&("INBOX".into(), uid, bit)) {
                            g.flags_unsure.insert(("Archive".into(), new_uid, bit));
                        }
                    }
                    g.note(format!("imap move {t} acknowledged: Archive UID {new_uid}"));
                }
            }
        }
    }
    let _ = c.cmd("LOGOUT", None);
    Ok(())
}

fn body(tag: &str, size: usize) -> Vec<u8> {
    let mut b = format!("Subject: {tag}\r\nFrom: model@example.net\r\n\r\n").into_bytes();
    while b.len() < size {
        b.extend_from_slice(format!("{tag} 0123456789abcdefghijklmnopqrstuvwxyz\r\n").as_bytes());
    }
    b
}

fn subject(stored: &[u8]) -> String {
    let b = strip_trace(stored);
    let l = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
    String::from_utf8_lossy(l).trim_start_matches("Subject: ").trim().to_string()
}

/// `letterbox deliver` / `compact` processes still running, SIGKILLed with the server.
type Children = Arc<Mutex<Vec<Arc<Mutex<std::process::Child>>>>>;

/// Runs a subcommand with `input` on stdin; `None` if it could not run or was killed.
fn run_killable(
    args: &[&str],
    cfg: &std::path::Path,
    input: &[u8],
    children: &Children,
) -> Option<std::process::ExitStatus> {
    let mut c = letterbox()
        .args(args)
        .arg("--config")
        .arg(cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let stdin = c.stdin.take();
    let c = Arc::new(Mutex::new(c));
    children.lock().unwrap().push(c.clone());
    if let Some(mut i) = stdin {
        let _ = i.write_all(input);
    }
    loop {
        // try_wait under the lock: the killer never signals a reaped (reusable) pid.
        if let Ok(Some(st)) = c.lock().unwrap().try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// UIDs seen so far per folder, with the tag each named.
type Seen = BTreeMap<(String, u32), String>;

/// Checks the store against the model; returns INBOX as (uid, tag) for the next round.
fn verify(srv: &Server, model: &Model, seen: &mut Seen, seed: u64) -> Vec<(u32, String)> {
    let fail = |tag: &str, why: String| -> ! {
        let round = model.round;
        let mine: Vec<&String> = model.log.iter().filter(|l| !tag.is_empty() && l.contains(tag)).collect();
        let this: Vec<&String> = model.log.iter().filter(|l| l.starts_with(&format!("r{round}:"))).collect();
        panic!(
            "crash model violated after kill {round} (seed {seed}; replay the plan with LETTERBOX_SEED={seed} \
             LETTERBOX_CRASH_KILLS={}): {why}\nshortest history (operations on {tag}):\n  {}\nwhole failing round:\n  {}",
            round + 1,
            mine.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
            this.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
        )
    };
    let store = srv.home.store();
    let mut present: BTreeMap<String, Vec<(&str, u32)>> = BTreeMap::new();
    let mut inbox = Vec::new();
    let mut folders = Vec::new();
    for folder in ["INBOX", "Archive"] {
        folders.push((folder, contents(&store, folder)));
    }
    for (folder, got) in &folders {
        if !got.windows(2).all(|w| w[0].0 < w[1].0) {
            fail("", format!("{folder}: UIDs not ascending"));
        }
        let max_before =
            seen.range((folder.to_string(), 0)..=(folder.to_string(), u32::MAX)).next_back().map_or(0, |(k, _)| k.1);
        for (uid, flags, b) in got {
            let tag = subject(b);
            match model.sent.get(&tag) {
                Some(sent) if strip_trace(b) == sent.as_slice() => {}
                Some(_) => fail(&tag, format!("{folder} UID {uid}: stored bytes differ from the bytes sent (torn?)")),
                None => fail(&tag, format!("{folder} UID {uid}: a message nobody sent ({} bytes)", b.len())),
            }
            match seen.get(&(folder.to_string(), *uid)) {
                Some(t) if *t != tag => fail(&tag, format!("{folder} UID {uid} reused: was {t}, now {tag}")),
                None if *uid <= max_before => fail(&tag, format!("{folder}: new message {tag} got an old UID {uid}")),
                _ => {}
            }
            for (name, bit) in FLAGS {
                let key = (folder.to_string(), *uid, bit);
                if let (Some(&want), false) = (model.flags.get(&key), model.flags_unsure.contains(&key)) {
                    if (flags & bit != 0) != want {
                        fail(&tag, format!("{folder} UID {uid}: acknowledged {name} = {want} lost (flags {flags:#x})"));
                    }
                }
            }
            present.entry(tag.clone()).or_default().push((folder, *uid));
            if *folder == "INBOX" && flags & DELETED_BIT == 0 {
                inbox.push((*uid, tag));
            }
        }
    }
    for tag in &model.acked {
        let at = present.get(tag).map(|v| v.iter().map(|x| x.0).collect::<Vec<_>>()).unwrap_or_default();
        let in_inbox = at.contains(&"INBOX");
        let in_archive = at.contains(&"Archive");
        if in_inbox && model.gone_inbox.contains(tag) {
            fail(tag, "removal from INBOX was acknowledged but it is still there".into());
        }
        if model.moved.contains(tag) && !in_archive {
            fail(tag, "MOVE to Archive acknowledged but it is not in Archive".into());
        }
        if !in_inbox && !in_archive && !model.delete_tried.contains(tag) {
            fail(tag, "acknowledged but missing from INBOX and Archive".into());
        }
    }
    for (folder, got) in &folders {
        for (uid, _, b) in got {
            seen.insert((folder.to_string(), *uid), subject(b));
        }
    }
    inbox
}

#[test]
fn random_operations_with_sigkill() {
    let kills: usize = std::env::var("LETTERBOX_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut rng = Rng::from_env(0xC0FFEE);
    let seed = rng.0;
    let started = Instant::now();
    let mut srv = Server::start("crashmodel", "", "");
    srv.python(
        "import imaplib,os\nc=imaplib.IMAP4('127.0.0.1',int(os.environ['LB_IMAP']))\nc.login(os.environ['LB_USER'],os.environ['LB_PASS'])\nr=c.create('Archive')\nassert r[0]=='OK' or b'ALREADYEXISTS' in r[1][0], r\nc.logout()",
    );
    let model: Shared = Arc::new(Mutex::new(Model::default()));
    let mut seen = Seen::new();
    let mut inbox: Vec<(u32, String)> = Vec::new();
    let mut kinds = [0usize; 6];
    let children: Children = Arc::default();
    // Every kind of acknowledged change must have been exercised: on a slow machine (qemu)
    // 100 short rounds may not get a MOVE through, so rounds go on (up to 3x) until they have.
    let covered = |m: &Model| {
        ["imap store", "imap move", "imap expunge"]
            .iter()
            .all(|op| m.log.iter().any(|l| l.contains(op) && l.contains("acknowledged")))
    };
    for round in 0..kills * 3 {
        if round >= kills && covered(&model.lock().unwrap()) {
            break;
        }
        model.lock().unwrap().round = round;
        let kill_after = Duration::from_micros(rng.below(150_000));
        let mut imap_used = false;
        let plan: Vec<(u64, usize, u64)> = (0..4)
            .map(|_| {
                let mut kind = rng.below(12);
                if (9..=10).contains(&kind) {
                    // One IMAP worker per round: its flag changes are ordered.
                    kind = if imap_used { 0 } else { 9 };
                    imap_used = true;
                }
                (kind, rng.below(40_000) as usize + 100, rng.next())
            })
            .collect();
        let (port_smtp, port_pop3, port_imap) = (srv.smtp, srv.pop3, srv.imap);
        let home_cfg = srv.home.config();
        let workers: Vec<_> = plan
            .into_iter()
            .enumerate()
            .map(|(w, (kind, size, wseed))| {
                let m = model.clone();
                let tag = format!("r{round}w{w}");
                let cfg = home_cfg.clone();
                let inbox = inbox.clone();
                let children = children.clone();
                kinds[match kind {
                    0..=4 => 0,
                    5..=6 => 1,
                    7 => 2,
                    8 => 3,
                    9..=10 => 4,
                    _ => 5,
                }] += 1;
                std::thread::spawn(move || match kind {
                    0..=4 => {
                        let b = body(&tag, size);
                        m.lock().unwrap().sent.insert(tag.clone(), b.clone());
                        note(&m, format!("smtp {tag} {size} bytes"));
                        if let Ok(true) = smtp_send(port_smtp, &b) {
                            let mut g = m.lock().unwrap();
                            g.acked.insert(tag.clone());
                            g.note(format!("smtp {tag} acknowledged"));
                        }
                    }
                    5..=6 => {
                        let b = body(&tag, size);
                        m.lock().unwrap().sent.insert(tag.clone(), b.clone());
                        note(&m, format!("deliver {tag}"));
                        let out = run_killable(&["deliver"], &cfg, &b, &children);
                        if out.is_some_and(|s| s.success()) {
                            let mut g = m.lock().unwrap();
                            g.acked.insert(tag.clone());
                            g.note(format!("deliver {tag} acknowledged"));
                        }
                    }
                    7 | 11 => {
                        note(&m, "compact".into());
                        let out = run_killable(&["compact"], &cfg, b"", &children);
                        note(&m, format!("compact exit {:?}", out.map(|o| o.code())));
                    }
                    8 => {
                        note(&m, "pop3 delete 2".into());
                        let mut marked = Vec::new();
                        let acked = matches!(pop3_delete(port_pop3, 2, &mut marked), Ok(true));
                        let mut g = m.lock().unwrap();
                        for t in &marked {
                            g.note(format!("pop3 DELE {t}, QUIT acknowledged: {acked}"));
                        }
                        g.delete_tried.extend(marked.iter().cloned());
                        if acked {
                            g.gone_inbox.extend(marked);
                        }
                    }
                    _ => {
                        let mut r = Rng(wseed.max(1));
                        if let Err(e) = imap_worker(port_imap, &tag, &inbox, &mut r, &m, size) {
                            note(&m, format!("imap {tag} ended: {e}"));
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(kill_after);
        srv.kill9();
        // `letterbox deliver` and `compact` processes die at the same moment as the server.
        for c in children.lock().unwrap().drain(..) {
            let _ = c.lock().unwrap().kill();
        }
        for w in workers {
            let _ = w.join();
        }
        let check = srv.home.run(&["check"], b"");
        if !check.status.success() {
            let m = model.lock().unwrap();
            panic!(
                "letterbox check not clean after kill {round} (seed {seed}): {}{}\nround:\n  {}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr),
                m.log.iter().filter(|l| l.starts_with(&format!("r{round}:"))).cloned().collect::<Vec<_>>().join("\n  ")
            );
        }
        srv.spawn();
        let m = model.lock().unwrap();
        inbox = verify(&srv, &m, &mut seen, seed);
    }
    srv.kill9();
    check_clean(&srv.home);
    let m = model.lock().unwrap();
    let acked = |op: &str| m.log.iter().filter(|l| l.contains(op) && l.ends_with("acknowledged")).count();
    eprintln!(
        "{kills} kills in {:.0?}; workers smtp/deliver/compact/pop3/imap: {}/{}/{}/{}/{}; acknowledged: {} stored \
         ({} imap appends), {} pop3 deletions, {} expunges, {} moves, {} flag changes",
        started.elapsed(),
        kinds[0],
        kinds[1],
        kinds[2] + kinds[5],
        kinds[3],
        kinds[4],
        m.acked.len(),
        acked("imap append"),
        m.log.iter().filter(|l| l.contains("pop3 DELE") && l.ends_with("true")).count(),
        acked("imap expunge"),
        m.log.iter().filter(|l| l.contains("imap move") && l.contains("acknowledged")).count(),
        acked("imap store"),
    );
    assert!(m.acked.len() > kills / 4, "the model must see real acknowledgements");
    // Workload coverage, not safety: under qemu-user few IMAP logins finish between kills
    // (the PBKDF2 check is emulated), so there it is reported, not required.
    let acked_op = |key: &str, exact_end: bool| {
        m.log.iter().any(|l| {
            l.contains(key) && if exact_end { l.ends_with("acknowledged") } else { l.contains("acknowledged") }
        })
    };
    let covered = [
        ("STORE", acked_op("imap store", true)),
        ("MOVE", acked_op("imap move", false)),
        ("EXPUNGE", acked_op("imap expunge", true)),
    ];
    for (name, seen) in covered {
        if !seen && under_emulator() {
            eprintln!("crash model: no {name} was acknowledged under the emulator (coverage only)");
            continue;
        }
        assert!(seen, "no {name} was acknowledged");
    }
}

/// Outbound (issue 14): messages queued with `letterbox sendmail` while the server delivers
/// them to a relay (tests/common/fake_mx.py) and is SIGKILLed at random moments. After the
/// last restart has drained the queue: every acknowledged submission (sendmail exit 0) was
/// delivered, and a recipient is delivered twice only when a kill fell between the relay's
/// 250 and the done-mark (RFC 5321 §6.1): at most one per transaction in flight
/// (`MAX_PER_DESTINATION`) per kill. The duplicate count is printed.
#[test]
fn outbound_deliveries_with_sigkill() {
    if common::under_emulator() {
        // Under qemu-user every `sendmail` and the server run emulated: the kills land in
        // other phases than on the device, and the 120 s delivery deadline is the emulator's
        // (CI failed here under qemu-aarch64); the case runs natively in `scripts/test.sh`.
        eprintln!("outbound crash model: skipped under an emulator (runs natively)");
        return;
    }
    let kills: usize = std::env::var("LETTERBOX_OUTBOUND_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let mut rng = Rng::from_env(0x0b0e);
    let tmp = std::env::temp_dir().join(format!("letterbox-test-crash-outbound-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let mut srv = Server::start("crash-outbound", "", &relay_to(mx.port));
    let mut acked = BTreeSet::new();
    let mut n = 0;
    for _ in 0..kills {
        // Up to 15 submissions, then the kill lands 0-400 ms later (deliveries in flight).
        for _ in 0..15 {
            let tag = format!("t{n}");
            n += 1;
            let msg = format!("Subject: {tag}\n\nbody of {tag}\n");
            let out = srv.home.run(&["sendmail", "-i", &format!("{tag}@remote.example")], msg.as_bytes());
            if out.status.code() == Some(0) {
                acked.insert(tag);
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        srv.kill9();
        srv.spawn();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered = |mx: &FakeMx| mx.received().iter().flat_map(|r| r.1.clone()).collect::<Vec<String>>();
    while !acked.iter().all(|t| delivered(&mx).contains(&format!("{t}@remote.example"))) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let got = delivered(&mx);
    let lost: Vec<&String> = acked.iter().filter(|t| !got.contains(&format!("{t}@remote.example"))).collect();
    assert!(lost.is_empty(), "acknowledged submissions never delivered: {lost:?}");
    let unique: HashSet<&String> = got.iter().collect();
    let dups = got.len() - unique.len();
    eprintln!(
        "outbound crash model: {} submissions acknowledged, {} kills, {} deliveries, {dups} duplicates",
        acked.len(),
        kills,
        got.len()
    );
    assert!(dups <= 2 * kills, "{dups} duplicates for {kills} kills: more than the §6.1 window explains");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Issue 15: the inbound checks on (SPF, DKIM, DMARC through dnsmasq, greylisting) while
/// the server is SIGKILLed. Every acknowledged message is stored whole below its
/// `Authentication-Results:` field (in INBOX, or Junk for a DMARC quarantine); nothing
/// refused (DMARC reject) or greylisted is stored; the greylist file, rewritten after each
/// restart, always loads.
#[test]
fn checked_deliveries_with_sigkill() {
    let kills: usize = std::env::var("LETTERBOX_CHECKS_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut rng = Rng::from_env(0xC4EC);
    let records = [
        "good.test,v=spf1 ip4:127.0.0.1 -all",
        "_dmarc.good.test,v=DMARC1; p=reject",
        "junk.test,v=spf1 ?all",
        "_dmarc.junk.test,v=DMARC1; p=quarantine",
        "bad.test,v=spf1 -all",
        "_dmarc.bad.test,v=DMARC1; p=reject",
    ];
    let dns = dnsmasq(&records.iter().map(|r| format!("--txt-record={r}")).collect::<Vec<_>>());
    let cfg = format!(
        "[checks]\nspf = true\ndkim = true\ndmarc = true\ngreylist = true\n[outbound]\nresolver = \"127.0.0.1:{}\"\n",
        dns.port
    );
    let mut srv = Server::start("crash-checks", &cfg, "");
    let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut refused = Vec::new();
    for round in 0..kills {
        let port = srv.smtp;
        // good: SPF pass skips greylisting, DMARC passes; grey: SPF neutral, so greylisted
        // (its 451s change the table, saved after each start); bad: DMARC reject.
        let senders = [("good", "a@good.test"), ("grey", "x@junk.test"), ("bad", "x@bad.test")];
        let workers: Vec<_> = senders
            .iter()
            .map(|(kind, from)| {
                let tag = format!("c{round}{kind}");
                let domain = from.rsplit('@').next().unwrap_or_default();
                let mut body = format!("From: <{kind}@{domain}>\r\nSubject: {tag}\r\n\r\n");
                while body.len() < 2000 {
                    body.push_str(&format!("{tag} 0123456789abcdefghijklmnopqrstuvwxyz\r\n"));
                }
                let from = from.to_string();
                std::thread::spawn(move || {
                    (tag, body.clone().into_bytes(), smtp_send_from(port, &from, body.as_bytes()))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(300_000)));
        srv.kill9();
        for w in workers {
            let (tag, body, r) = w.join().unwrap();
            match r {
                Ok(true) => drop(acked.insert(tag, body)),
                _ => refused.push(tag),
            }
        }
        check_clean(&srv.home);
        srv.spawn();
    }
    let store = srv.home.store();
    let mut stored: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for folder in ["INBOX", "Junk"] {
        for (_, _, msg) in contents(&store, folder) {
            let text = String::from_utf8_lossy(&msg).into_owned();
            assert!(text.starts_with("Authentication-Results: example.org;"), "{text}");
            let start = text.find("\r\nFrom: <").map(|i| i + 2).expect("the message follows the trace");
            let tag =
                text.split("Subject: ").nth(1).and_then(|t| t.split("\r\n").next()).unwrap_or_default().to_owned();
            assert!(stored.insert(tag.clone(), msg[start..].to_vec()).is_none(), "{tag} stored twice");
        }
    }
    for (tag, body) in &acked {
        assert_eq!(stored.get(tag), Some(body), "acknowledged {tag} missing or changed");
    }
    for tag in stored.keys() {
        assert!(
            acked.contains_key(tag) || tag.ends_with("good"),
            "{tag} stored without a 250 (only a kill between commit and reply may do that)"
        );
        assert!(!tag.ends_with("bad") && !tag.ends_with("grey"), "{tag}: refused or greylisted, yet stored");
    }
    assert!(!srv.log_text().contains("not a valid greylist file"), "a torn greylist file: {}", srv.log_text());
    assert!(srv.home.data().join("greylist").is_file(), "greylisting saved its table");
    eprintln!("checks crash model: {kills} kills, {} acknowledged, {} refused or cut", acked.len(), refused.len());
    assert!(acked.keys().any(|t| t.ends_with("good")), "no delivery was acknowledged in {kills} rounds");
}

/// Issue 16: kill -9 while the owner's Sieve script sorts mail into folders (one with
/// `:create` on first use, one `:copy` into two folders) and redirects a copy through the
/// queue. Every acknowledged message is in each folder its rule names, whole; nothing is
/// stored twice in one folder; a message the script discards is nowhere.
#[test]
fn sieve_deliveries_with_sigkill() {
    let kills: usize = std::env::var("LETTERBOX_SIEVE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut rng = Rng::from_env(0x51E7E);
    let tmp = std::env::temp_dir().join(format!("letterbox-crash-sieve-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let mut srv = Server::start("crash-sieve", "", &relay_to(mx.port));
    let scripts = letterbox::store::scripts::Scripts::open(&srv.home.data()).unwrap();
    let rules = r#"require ["fileinto", "mailbox", "copy", "imap4flags"];
if header :contains "subject" "list" { fileinto :create :flags "\\Seen" "lists"; stop; }
if header :contains "subject" "both" { fileinto :copy :create "archive"; keep; stop; }
if header :contains "subject" "drop" { discard; stop; }
if header :contains "subject" "fwd" { redirect :copy "fwd@remote.example"; }
"#;
    scripts.put("rules", rules.as_bytes()).unwrap();
    scripts.activate(Some("rules")).unwrap();
    let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let kinds = ["list", "both", "drop", "fwd", "plain"];
    for round in 0..kills {
        let port = srv.smtp;
        let workers: Vec<_> = kinds
            .iter()
            .map(|kind| {
                let tag = format!("s{round}{kind}");
                let mut body = format!("From: <a@example.net>\r\nSubject: {tag}\r\n\r\n");
                while body.len() < 3000 {
                    body.push_str(&format!("{tag} 0123456789abcdefghijklmnopqrstuvwxyz\r\n"));
                }
                std::thread::spawn(move || (tag, body.clone().into_bytes(), smtp_send(port, body.as_bytes())))
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(250_000)));
        srv.kill9();
        for w in workers {
            let (tag, body, r) = w.join().unwrap();
            if let Ok(true) = r {
                acked.insert(tag, body);
            }
        }
        check_clean(&srv.home);
        srv.spawn();
    }
    let store = srv.home.store();
    let folders = store.list().unwrap();
    let mut stored: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for folder in &folders {
        for (_, _, msg) in contents(&store, folder) {
            let text = String::from_utf8_lossy(&msg).into_owned();
            let start = text.find("\r\nFrom: <").map(|i| i + 2).expect("the message follows the trace");
            let tag =
                text.split("Subject: ").nth(1).and_then(|t| t.split("\r\n").next()).unwrap_or_default().to_owned();
            let key = (folder.clone(), tag.clone());
            assert!(stored.insert(key, msg[start..].to_vec()).is_none(), "{tag} stored twice in {folder}");
        }
    }
    for (tag, body) in &acked {
        let want: &[&str] = match tag.trim_start_matches(|c: char| c == 's' || c.is_ascii_digit()) {
            "list" => &["lists"],
            "both" => &["archive", "INBOX"],
            "drop" => &[],
            _ => &["INBOX"],
        };
        for f in want {
            assert_eq!(stored.get(&(f.to_string(), tag.clone())), Some(body), "acknowledged {tag} missing in {f}");
        }
    }
    assert!(!stored.keys().any(|(_, t)| t.ends_with("drop")), "a discarded message was stored");
    let forwarded = mx.received().len();
    eprintln!(
        "sieve crash model: {kills} kills, {} acknowledged, {} stored copies, {forwarded} redirected",
        acked.len(),
        stored.len()
    );
    assert!(acked.len() >= kills, "too few deliveries acknowledged: {}", acked.len());
    let _ = std::fs::remove_dir_all(&tmp);
}
