//! Crash-model test (issue 8, BAD-INPUTS 51): a seeded random mix of SMTP deliveries,
//! `letterbox deliver`, POP3 DELE+QUIT and compaction runs against the real server, which
//! is SIGKILLed at random moments. After every restart the store is checked against a model
//! of what was acknowledged: every acknowledged message present and byte-identical, every
//! acknowledged deletion gone, nothing torn, UIDs ascending and never reused, `check` clean.
//! CI runs ≥ 100 kills; `LETTERBOX_CRASH_KILLS=2000` runs the long form. A failure prints
//! the seed and the operations of the failing round.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// What the clients were told.
#[derive(Default)]
struct Model {
    /// Body (as sent, after the trace headers) of every acknowledged message, by its tag.
    acked: BTreeMap<String, Vec<u8>>,
    /// Tags whose deletion was acknowledged (+OK to QUIT).
    deleted: HashSet<String>,
    /// Tags marked with DELE in a session whose QUIT was not acknowledged: the deletion may
    /// or may not have been committed before the kill.
    maybe_deleted: HashSet<String>,
    /// Operations of the current round, for the failure report.
    history: Vec<String>,
}

fn line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut l = String::new();
    if r.read_line(&mut l)? == 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
    }
    Ok(l)
}

/// One SMTP delivery over a raw socket; Ok(true) only on the final 250.
fn smtp_send(port: u16, body: &[u8]) -> std::io::Result<bool> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    line(&mut r)?;
    w.write_all(b"EHLO crash.test\r\n")?;
    while !line(&mut r)?.starts_with("250 ") {}
    w.write_all(b"MAIL FROM:<model@example.net>\r\n")?;
    line(&mut r)?;
    w.write_all(b"RCPT TO:<alice@example.org>\r\n")?;
    line(&mut r)?;
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
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
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

/// Checks the store against the model. `seen` maps every UID seen so far to its message:
/// a UID never names another message later, and new UIDs are above all earlier ones.
fn verify(srv: &Server, model: &Model, seen: &mut BTreeMap<u32, String>, seed: u64, round: usize) {
    let fail = |why: String| -> ! {
        panic!("crash model violated in round {round} (seed {seed}, LETTERBOX_SEED={seed} to replay): {why}\nhistory of the round:\n  {}", model.history.join("\n  "))
    };
    let got = contents(&srv.home.store(), "INBOX");
    if !got.windows(2).all(|w| w[0].0 < w[1].0) {
        fail("UIDs not ascending".into());
    }
    let by_tag: BTreeMap<String, &Vec<u8>> = got.iter().map(|(_, _, b)| (subject(b), b)).collect();
    for (tag, want) in &model.acked {
        match (by_tag.get(tag), model.deleted.contains(tag)) {
            (Some(_), true) => fail(format!("{tag}: deletion was acknowledged but it is still there")),
            (None, false) if !model.maybe_deleted.contains(tag) => fail(format!("{tag}: acknowledged but missing")),
            (Some(b), false) if strip_trace(b) != want.as_slice() => fail(format!("{tag}: bytes differ")),
            _ => {}
        }
    }
    let max_before = seen.keys().next_back().copied().unwrap_or(0);
    for (uid, _, b) in &got {
        let tag = subject(b);
        match seen.get(uid) {
            Some(t) if *t != tag => fail(format!("UID {uid} reused: was {t}, now {tag}")),
            None if *uid <= max_before => fail(format!("new message {tag} got an old UID {uid}")),
            _ => {}
        }
        if !b.ends_with(b"\r\n") {
            fail(format!("{tag}: torn"));
        }
    }
    for (uid, _, b) in &got {
        seen.insert(*uid, subject(b));
    }
}

#[test]
fn random_operations_with_sigkill() {
    let kills: usize = std::env::var("LETTERBOX_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut rng = Rng::from_env(0xC0FFEE);
    let seed = rng.0;
    let mut srv = Server::start("crashmodel", "", "");
    let model = Arc::new(Mutex::new(Model::default()));
    let mut seen = BTreeMap::new();
    for round in 0..kills {
        model.lock().unwrap().history.clear();
        let kill_after = Duration::from_micros(rng.below(150_000));
        let plan: Vec<(u64, usize, usize)> =
            (0..4).map(|_| (rng.below(10), rng.below(40_000) as usize + 100, 0)).collect();
        let port_smtp = srv.smtp;
        let port_pop3 = srv.pop3;
        let home_cfg = srv.home.config();
        let workers: Vec<_> = plan
            .into_iter()
            .enumerate()
            .map(|(w, (kind, size, _))| {
                let model = model.clone();
                let tag = format!("r{round}w{w}");
                let cfg = home_cfg.clone();
                std::thread::spawn(move || match kind {
                    0..=5 => {
                        let b = body(&tag, size);
                        model.lock().unwrap().history.push(format!("smtp {tag} {size} bytes"));
                        if let Ok(true) = smtp_send(port_smtp, &b) {
                            let mut m = model.lock().unwrap();
                            m.acked.insert(tag.clone(), b);
                            m.history.push(format!("smtp {tag} acknowledged"));
                        }
                    }
                    6..=7 => {
                        let b = body(&tag, size);
                        model.lock().unwrap().history.push(format!("deliver {tag}"));
                        let out = letterbox()
                            .args(["deliver", "--config"])
                            .arg(&cfg)
                            .stdin(std::process::Stdio::piped())
                            .stdout(std::process::Stdio::null())
                            .stderr(std::process::Stdio::null())
                            .spawn()
                            .and_then(|mut c| {
                                c.stdin.take().map(|mut i| i.write_all(&b));
                                c.wait()
                            });
                        if out.is_ok_and(|s| s.success()) {
                            let mut m = model.lock().unwrap();
                            m.acked.insert(tag.clone(), b);
                            m.history.push(format!("deliver {tag} acknowledged"));
                        }
                    }
                    8 => {
                        model.lock().unwrap().history.push("pop3 delete 2".into());
                        let mut marked = Vec::new();
                        let acked = matches!(pop3_delete(port_pop3, 2, &mut marked), Ok(true));
                        let mut m = model.lock().unwrap();
                        if acked {
                            m.history.push(format!("pop3 deleted {marked:?} acknowledged"));
                            m.deleted.extend(marked);
                        } else {
                            m.history.push(format!("pop3 marked {marked:?}, QUIT not acknowledged"));
                            m.maybe_deleted.extend(marked);
                        }
                    }
                    _ => {
                        model.lock().unwrap().history.push("compact".into());
                        let _ = letterbox().args(["compact", "--config"]).arg(&cfg).output();
                    }
                })
            })
            .collect();
        std::thread::sleep(kill_after);
        srv.kill9();
        for w in workers {
            let _ = w.join();
        }
        srv.spawn();
        let m = model.lock().unwrap();
        verify(&srv, &m, &mut seen, seed, round);
    }
    srv.kill9();
    check_clean(&srv.home);
    let m = model.lock().unwrap();
    eprintln!("{kills} kills, {} acknowledged deliveries, {} acknowledged deletions", m.acked.len(), m.deleted.len());
    assert!(m.acked.len() > kills / 4, "the model must see real acknowledgements");
}
