//! Fuzz target: the client-side response parsers of fetch (issue 17), the IMAP core
//! (`letterbox::fetch::imap`) and the POP3 core (`letterbox::fetch::pop3`). The first byte
//! picks the scenario (IMAP greeting, IMAP during a body fetch, POP3 greeting, POP3 during
//! RETR or UIDL) and the piece size; any server bytes give events or an error, never a
//! panic; the core never claims more than it was given, every body piece stays within the
//! announced literal, and feeding in pieces gives the same events as feeding at once.
#![no_main]
use letterbox::auth::Secret;
use letterbox::fetch::{imap, pop3};
use libfuzzer_sys::fuzz_target;

/// The body limit of the IMAP body scenario.
const LIMIT: u64 = 4096;

fn imap_client(body: bool) -> imap::Client {
    let mut c = imap::Client::new();
    if !body {
        return c;
    }
    let feed = |c: &mut imap::Client, b: &[u8]| {
        let mut pos = 0;
        while pos < b.len() {
            pos += c.feed(&b[pos..]).expect("scripted").0;
        }
    };
    feed(&mut c, b"* OK hi\r\n");
    let pw = Secret::from("pw");
    c.command(&imap::Command::Login { user: "u", password: &pw }).unwrap();
    feed(&mut c, b"F1 OK\r\n");
    c.command(&imap::Command::Select("INBOX")).unwrap();
    feed(&mut c, b"F2 OK\r\n");
    c.command(&imap::Command::Body { uid: 1, limit: LIMIT }).unwrap();
    c
}

/// IMAP events (body joined) for `data` fed in pieces of `step`.
fn imap_run(body: bool, data: &[u8], step: usize) -> (Vec<String>, Vec<u8>, bool) {
    let mut c = imap_client(body);
    let (mut evs, mut bytes, mut allowed) = (Vec::new(), Vec::new(), 0u64);
    for piece in data.chunks(step) {
        let mut pos = 0;
        loop {
            match c.feed(&piece[pos..]) {
                Err(e) => {
                    evs.push(format!("error {e}"));
                    return (evs, bytes, true);
                }
                Ok((n, ev)) => {
                    assert!(n <= piece.len() - pos);
                    pos += n;
                    match ev {
                        Some(imap::Event::Body(b)) => bytes.extend_from_slice(b),
                        Some(imap::Event::BodyStart { len }) => {
                            assert!(len <= LIMIT);
                            allowed += len;
                            evs.push("start".into());
                        }
                        Some(e) => evs.push(format!("{e:?}")),
                        None if n == 0 || pos == piece.len() => break,
                        None => {}
                    }
                }
            }
            assert!(bytes.len() as u64 <= allowed, "body bytes beyond the announced literals");
        }
    }
    (evs, bytes, false)
}

/// POP3 events for `data` in pieces of `step` (unconsumed bytes carried over, as the driver does).
fn pop3_run(cmd: u8, data: &[u8], step: usize) -> (Vec<String>, Vec<u8>, Vec<Vec<u8>>) {
    let mut c = pop3::Client::new();
    let mut carry: Vec<u8> = Vec::new();
    let mut pieces: Vec<&[u8]> = Vec::new();
    if cmd > 0 {
        pieces.push(b"+OK\r\n");
    }
    pieces.extend(data.chunks(step));
    let (mut evs, mut body, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    for (i, piece) in pieces.into_iter().enumerate() {
        carry.extend_from_slice(piece);
        assert!(carry.len() <= step.max(5) + 3, "the core holds back at most a few bytes");
        let mut pos = 0;
        loop {
            match c.feed(&carry[pos..]) {
                Err(e) => {
                    evs.push(format!("error {e}"));
                    return (evs, body, lines);
                }
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        Some(pop3::Event::Body(b)) => body.extend_from_slice(b),
                        Some(pop3::Event::Line(l)) => {
                            assert!(l.len() <= pop3::LINE_MAX);
                            lines.push(l);
                        }
                        Some(e) => evs.push(format!("{e:?}")),
                        None if n == 0 => break,
                        None => {}
                    }
                }
            }
        }
        carry.drain(..pos);
        if i == 0 && cmd > 0 && !c.busy() {
            let command = if cmd == 1 { pop3::Command::Retr(1) } else { pop3::Command::Uidl };
            c.command(&command).unwrap();
        }
    }
    (evs, body, lines)
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else { return };
    let step = usize::from(sel >> 3) + 1;
    match sel & 7 {
        0 | 1 => {
            let body = sel & 1 == 1;
            let whole = imap_run(body, data, data.len().max(1));
            let pieces = imap_run(body, data, step);
            assert_eq!(whole, pieces, "IMAP events depend on the split");
        }
        k => {
            let cmd = (k % 3) as u8;
            let whole = pop3_run(cmd, data, data.len().max(1));
            let pieces = pop3_run(cmd, data, step);
            assert_eq!(whole, pieces, "POP3 events depend on the split");
            // A listing with duplicates or bad lines is an error, never a panic.
            if let Ok(list) = pop3::uidl_listing(&whole.2) {
                assert!(list.iter().all(|(_, u)| u.len() <= pop3::UIDL_MAX));
            }
        }
    }
});
