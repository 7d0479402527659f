//! `letterbox deliver`: one message from stdin (an MDA for procmail/fetchmail-style setups),
//! checked to look like an RFC 5322 message (§2.1, §3.6), exit codes from sysexits.h.

use std::io::{self, Read};

use crate::config::Config;
use crate::net::deliver::{Arrival, Ctx, Delivered};
use crate::store::{self, ErrorKind, Folder, NewMessage, Store};
use crate::util::{exit, Spool};

use super::DeliverArgs;

/// Longest header section `deliver` accepts before it must see the blank line.
pub const MAX_HEADER: usize = 256 * 1024;

/// Why stdin is not a message (sysexits 65).
#[derive(Debug, PartialEq, Eq)]
pub enum NotMessage {
    Empty,
    Nul,
    NoHeader,
    HeaderTooLong,
    /// Larger than the configured limit (sysexits 73).
    TooBig,
}

/// Streams stdin into a spool as CRLF, checking it looks like an RFC 5322 message.
pub fn read_message(
    input: &mut impl Read,
    spool: &mut Spool,
    mime: &mut crate::mime::MimeParser,
    limit: u64,
    return_path: Option<&str>,
) -> io::Result<Result<(), NotMessage>> {
    if let Some(rp) = return_path {
        let h = format!("Return-Path: <{rp}>\r\n");
        mime.push(h.as_bytes());
        spool.write(h.as_bytes())?;
    }
    let mut checker = HeaderCheck::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len() * 2);
    let mut prev_cr = false;
    let mut first_line = true;
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or(&[]);
        if memchr::memchr(0, chunk).is_some() {
            return Ok(Err(NotMessage::Nul));
        }
        out.clear();
        for &b in chunk {
            if b == b'\n' && !prev_cr {
                out.push(b'\r');
            }
            out.push(b);
            prev_cr = b == b'\r';
        }
        let mut data = &out[..];
        if first_line {
            // An mbox From_ line given by some MDAs is an envelope line, not a header.
            if data.starts_with(b"From ") {
                match memchr::memchr(b'\n', data) {
                    Some(i) => data = data.get(i + 1..).unwrap_or(&[]),
                    None => continue,
                }
            }
            first_line = false;
        }
        if let Err(e) = checker.feed(data) {
            return Ok(Err(e));
        }
        total += data.len() as u64;
        if total <= limit {
            mime.push(data);
            spool.write(data)?;
        }
    }
    if total == 0 {
        return Ok(Err(NotMessage::Empty));
    }
    if total > limit {
        return Ok(Err(NotMessage::TooBig));
    }
    Ok(checker.finish())
}

/// Checks the header section: RFC 5322 §2.2 field lines until the blank line.
#[derive(Default)]
pub(super) struct HeaderCheck {
    done: bool,
    seen: usize,
    line: Vec<u8>,
    lines: usize,
}

impl HeaderCheck {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), NotMessage> {
        while !self.done && !data.is_empty() {
            let (piece, rest, eol) = match memchr::memchr(b'\n', data) {
                Some(i) => (data.get(..=i).unwrap_or(&[]), data.get(i + 1..).unwrap_or(&[]), true),
                None => (data, &[][..], false),
            };
            data = rest;
            self.seen += piece.len();
            if self.seen > MAX_HEADER {
                return Err(NotMessage::HeaderTooLong);
            }
            self.line.extend_from_slice(piece.get(..piece.len().min(1000)).unwrap_or(&[]));
            if eol {
                self.end_line()?;
            }
        }
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), NotMessage> {
        let l = std::mem::take(&mut self.line);
        if l == b"\r\n" {
            self.done = true;
            return if self.lines == 0 { Err(NotMessage::NoHeader) } else { Ok(()) };
        }
        let cont = matches!(l.first(), Some(b' ' | b'\t'));
        let field = l
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|c| c > 0 && l.get(..c).is_some_and(|n| n.iter().all(|&b| (33..=126).contains(&b))));
        if (cont && self.lines == 0) || (!cont && !field) {
            return Err(NotMessage::NoHeader);
        }
        self.lines += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(), NotMessage> {
        if !self.done && !self.line.is_empty() {
            self.line.extend_from_slice(b"\r\n");
            self.end_line()?;
        }
        if self.lines == 0 {
            return Err(NotMessage::NoHeader);
        }
        Ok(())
    }
}

pub(super) fn valid_return_path(s: &str) -> bool {
    s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

pub(super) fn deliver(c: &Config, s: &Store, a: &DeliverArgs) -> i32 {
    if let Some(f) = a.from.as_deref().filter(|f| !valid_return_path(f)) {
        eprintln!("letterbox: invalid --from address {f:?}");
        return exit::USAGE;
    }
    let mut spool = Spool::new(&s.tmp_dir(), c.limits.spool_memory);
    let mut mime = crate::mime::MimeParser::new();
    match read_message(&mut io::stdin().lock(), &mut spool, &mut mime, c.limits.message_size, a.from.as_deref()) {
        Err(e) => {
            eprintln!("letterbox: reading the message: {e}");
            return exit::TEMPFAIL;
        }
        Ok(Err(NotMessage::TooBig)) => {
            eprintln!("letterbox: message larger than the limit of {} bytes", c.limits.message_size);
            return exit::CANTCREAT;
        }
        Ok(Err(why)) => {
            eprintln!("letterbox: not a message: {why:?}");
            return exit::DATAERR;
        }
        Ok(Ok(())) => {}
    }
    if spool.len() > c.limits.message_size {
        eprintln!("letterbox: message larger than the limit of {} bytes", c.limits.message_size);
        return exit::CANTCREAT;
    }
    if !a.folder.eq_ignore_ascii_case(store::INBOX) {
        // An explicit folder is the operator's choice: stored there, no rules.
        return deliver_to_folder(s, &a.folder, spool, mime.finish_meta());
    }
    let arrival = Arrival {
        spool,
        summary: Some(mime.finish()),
        from: a.from.clone().unwrap_or_default(),
        rcpts: vec![c.owner_address()],
        details: vec![None],
        junk: false,
        inbox: None,
    };
    match through_delivery_step(c, s, arrival) {
        Ok(Delivered::Stored { folder, uid }) => {
            eprintln!("letterbox: delivered to {folder} as UID {uid}");
            exit::OK
        }
        Ok(Delivered::Elsewhere) => {
            eprintln!("letterbox: not stored here (the Sieve script discarded or redirected it)");
            exit::OK
        }
        // dovecot-lda -e: a rejection is the caller's to bounce (sysexits NOPERM).
        Ok(Delivered::Rejected(reason)) => {
            eprintln!("letterbox: rejected: {reason}");
            exit::NOPERM
        }
        Err(e) => store_failed(&e),
    }
}

/// The delivery step (`net::deliver`: the owner's Sieve script, then the folders) from
/// the shell: the store's writer and the queue's in threads of their own, as in `serve`.
pub(super) fn through_delivery_step(c: &Config, s: &Store, a: Arrival) -> store::Result<Delivered> {
    let inbox = crate::store::writer::Writer::spawn(Store::open(&c.data_dir)?)?;
    #[cfg(feature = "outbound")]
    let queue = Some(crate::store::writer::Writer::spawn(crate::outbound::queue::open(&c.data_dir)?)?);
    #[cfg(not(feature = "outbound"))]
    let queue = None;
    let ctx = Ctx { cfg: c, store: s, inbox: &inbox, queue: queue.as_ref() };
    let mut log = |l: &str| eprintln!("letterbox: {l}");
    smol::block_on(crate::net::deliver::deliver(&ctx, a, &mut log))
}

fn deliver_to_folder(s: &Store, folder: &str, spool: Spool, meta: Vec<u8>) -> i32 {
    let msg = NewMessage { body: spool, date: crate::util::unix_now(), flags: 0, keywords: Vec::new(), meta, attrs: 0 };
    match open_or_create(s, folder, true).and_then(|mut f| f.append(&mut [msg])) {
        Ok(uids) => {
            eprintln!("letterbox: delivered to {folder} as UID {}", uids.first().copied().unwrap_or(0));
            exit::OK
        }
        Err(e) => store_failed(&e),
    }
}

fn store_failed(e: &store::Error) -> i32 {
    eprintln!("letterbox: delivery failed: {e}");
    if e.is_temporary() {
        exit::TEMPFAIL
    } else if e.kind == ErrorKind::TooBig {
        exit::CANTCREAT
    } else {
        exit::SOFTWARE
    }
}

pub(super) fn open_or_create(s: &Store, name: &str, light: bool) -> store::Result<Folder> {
    s.ensure(name)?;
    if light {
        s.open_folder_light(name)
    } else {
        s.open_folder(name)
    }
}
