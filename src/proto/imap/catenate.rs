//! RFC 4469 CATENATE without URLAUTH: `append-data =/ "CATENATE" SP "(" cat-part *(SP
//! cat-part) ")"`, `cat-part = text-literal / url`, `text-literal = "TEXT" SP literal`
//! (§5), also as the messages of an RFC 3502 MULTIAPPEND. URLs are the RFC 5092 §6
//! relative form `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]` naming a
//! message of this (single) user's folders; anything else is `NO [BADURL "url"]` (§5).
//!
//! A CATENATE command is framed whole (its TEXT literals are ordinary literals, so
//! `imap_literal`, [`LITERALS_MAX`](super::LITERALS_MAX) and
//! [`COMMAND_LITERAL_TOTAL_MAX`](super::COMMAND_LITERAL_TOTAL_MAX) bound them). Every
//! URL is resolved before anything is written (§5: the append is all or nothing), through
//! FETCH's section resolver; then the messages go out as the usual `AppendStarted` /
//! `AppendData` / `AppendEnded` events, the referenced bytes read through
//! [`Mailstore::read`] one [`CATENATE_CHUNK`] per `poll`, never whole in RAM.
//!
//! Limits of this design: in a MULTIAPPEND that contains CATENATE, plain literal messages
//! are framed like TEXT parts (up to `imap_literal`), and CATENATE must come first (after a
//! streamed plain literal the next message must be a literal too, else BAD).

use std::collections::VecDeque;

use super::api::{Event, Mailstore, StoreError};
use super::commands::split_flags;
use super::fetch::{apply_partial, body_section, resolve, Source};
use super::parser::tag;
use super::reader::{date_time, Bad, Flag, P, R};
use super::session::{store_error, Pending, Session, State};
use super::types::{Mailbox, Tag};

/// Parts in one CATENATE list (each TEXT part is a literal, bounded by the framer too).
pub const CATENATE_PARTS_MAX: usize = 64;
/// Longest URL accepted: folder names and numbers fit easily; longer is refused unparsed.
pub const URL_MAX: usize = 1024;
/// Referenced bytes read from the store and handed to the spool per `poll`.
pub const CATENATE_CHUNK: usize = 16 * 1024;

/// One `cat-part`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    Url(Vec<u8>),
}

/// One message of the command: a plain literal (RFC 3502) or a CATENATE list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatMessage {
    pub flags: Vec<Flag>,
    pub date: Option<i64>,
    pub parts: Vec<CatPart>,
}

/// A whole `APPEND` with at least one CATENATE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatenateCommand {
    pub tag: Tag,
    pub mailbox: Vec<u8>,
    pub messages: Vec<CatMessage>,
}

/// RFC 5092 §6 relative IMAP URL (`/` absolute path form), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub mailbox: Vec<u8>,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    pub section: Option<String>,
    pub partial: Option<(u32, u32)>,
}

/// Is this framed command an APPEND with CATENATE (session hook, before the grammar)?
/// A plain APPEND never gets here: the framer streams its literal.
pub fn is_catenate(line: &[u8]) -> bool {
    let mut p = P::new(line);
    let append = tag(&mut p).is_ok() && p.sp().is_ok() && p.keyword("APPEND");
    append && line.windows(10).any(|w| w.eq_ignore_ascii_case(b"CATENATE ("))
}

/// RFC 3502 §6 `append = "APPEND" SP mailbox 1*append-message` with RFC 4469 §5 data.
pub fn parse(line: &[u8]) -> R<CatenateCommand> {
    let mut p = P::new(line);
    let tag = tag(&mut p)?;
    p.sp()?;
    if !p.keyword("APPEND") {
        return Err(Bad("APPEND expected"));
    }
    p.sp()?;
    let mailbox = p.mailbox()?;
    let mut messages = Vec::new();
    let mut catenate = false;
    while p.eat(b' ') {
        let (m, cat) = message(&mut p)?;
        catenate |= cat;
        messages.push(m);
        if messages.len() > super::APPEND_MESSAGES_MAX {
            return Err(Bad("Too many messages in one APPEND"));
        }
    }
    p.end()?;
    match catenate {
        true => Ok(CatenateCommand { tag, mailbox, messages }),
        false => Err(Bad("CATENATE expected")),
    }
}

/// `append-opts SP append-data`; `true` for the CATENATE form.
fn message(p: &mut P) -> R<(CatMessage, bool)> {
    let mut flags = Vec::new();
    if p.peek() == Some(b'(') {
        flags = p.flag_list()?;
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        date = Some(date_time(p)?);
        p.sp()?;
    }
    if !p.keyword("CATENATE") {
        p.eat(b'~');
        let parts = vec![CatPart::Text(p.literal()?)];
        return Ok((CatMessage { flags, date, parts }, false));
    }
    p.sp()?;
    p.expect(b'(')?;
    let mut parts = vec![cat_part(p)?];
    while p.eat(b' ') {
        parts.push(cat_part(p)?);
        if parts.len() > CATENATE_PARTS_MAX {
            return Err(Bad("Too many CATENATE parts"));
        }
    }
    p.expect(b')')?;
    Ok((CatMessage { flags, date, parts }, true))
}

/// RFC 4469 §5 `cat-part = text-literal / url`; RFC 3516 literal8 allowed for TEXT.
fn cat_part(p: &mut P) -> R<CatPart> {
    if p.keyword("TEXT") {
        p.sp()?;
        p.eat(b'~');
        return Ok(CatPart::Text(p.literal()?));
    }
    if p.keyword("URL") {
        p.sp()?;
        return Ok(CatPart::Url(p.astring()?));
    }
    Err(Bad("TEXT or URL expected"))
}

/// RFC 5092 §6 `imap-url-rel` of the `/enc-mailbox[uidvalidity]iuid[isection][ipartial]`
/// shape; `None` for any other form (absolute `imap://`, URLAUTH, a search, too long).
pub fn parse_url(url: &[u8]) -> Option<ImapUrl> {
    if url.len() > URL_MAX {
        return None;
    }
    let rest = url.strip_prefix(b"/")?;
    let at = find_ci(rest, b"/;UID=")?;
    let (head, tail) = (rest.get(..at)?, rest.get(at + 6..)?);
    let (mailbox, uidvalidity) = match find_ci(head, b";UIDVALIDITY=") {
        Some(v) => (head.get(..v)?, Some(nz_number(head.get(v + 13..)?)?)),
        None => (head, None),
    };
    let mut pieces = tail.split(|&c| c == b'/');
    let uid = nz_number(pieces.next()?)?;
    let (mut section, mut partial) = (None, None);
    for piece in pieces {
        if let Some(s) = strip_ci(piece, b";SECTION=").filter(|_| section.is_none() && partial.is_none()) {
            section = Some(String::from_utf8(percent_decode(s)?).ok()?);
        } else if let Some(s) = strip_ci(piece, b";PARTIAL=").filter(|_| partial.is_none()) {
            partial = Some(parse_partial(s)?);
        } else {
            return None;
        }
    }
    Some(ImapUrl { mailbox: percent_decode(mailbox)?, uidvalidity, uid, section, partial })
}

/// RFC 5092 §6 `partial-range = number ["." nz-number]`; no length means to the end.
fn parse_partial(s: &[u8]) -> Option<(u32, u32)> {
    let mut it = s.splitn(2, |&c| c == b'.');
    let offset = number(it.next()?)?;
    let len = match it.next() {
        Some(l) => nz_number(l)?,
        None => u32::MAX,
    };
    Some((offset, len))
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn strip_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| s.get(prefix.len()..)).flatten()
}

fn number(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn nz_number(s: &[u8]) -> Option<u32> {
    number(s).filter(|&n| n > 0 && s.first() != Some(&b'0'))
}

/// RFC 3986 §2.1 percent-decoding (RFC 5092 `bchar`); a bad escape is `None`.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&c) = it.next() {
        if c != b'%' {
            out.push(c);
            continue;
        }
        let hex = [*it.next()?, *it.next()?];
        out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
    }
    Some(out)
}

/// Where one piece of a new message comes from.
#[derive(Debug)]
enum Piece {
    Bytes(Vec<u8>),
    Range { folder: String, uid: u32, offset: u64, len: u64 },
}

/// One message ready to stream: its options, size and pieces.
#[derive(Debug)]
struct Ready {
    flags: u32,
    keywords: Vec<String>,
    date: Option<i64>,
    size: u64,
    pieces: VecDeque<Piece>,
}

/// The CATENATE APPEND being streamed to the driver, one event per `poll`.
#[derive(Debug)]
pub struct CatenateJob {
    folder: String,
    messages: VecDeque<Ready>,
    /// The message whose pieces are being sent (`AppendStarted` already out).
    current: Option<Ready>,
}

/// What one step of the job produced.
enum Step {
    Event(Event),
    Done,
    /// A referenced message could not be read: its URL, rebuilt for `BADURL`.
    Failed(String),
}

impl CatenateJob {
    fn step(&mut self, store: &mut dyn Mailstore) -> Step {
        let Some(cur) = self.current.as_mut() else {
            let Some(next) = self.messages.pop_front() else {
                return Step::Done;
            };
            let Ready { flags, ref keywords, date, size, .. } = next;
            let event =
                Event::AppendStarted { folder: self.folder.clone(), flags, keywords: keywords.clone(), date, size };
            self.current = Some(next);
            return Step::Event(event);
        };
        match cur.pieces.front_mut() {
            None => {
                self.current = None;
                self.step(store)
            }
            Some(Piece::Bytes(b)) => {
                let bytes = std::mem::take(b);
                cur.pieces.pop_front();
                Step::Event(Event::AppendData(bytes))
            }
            Some(Piece::Range { len: 0, .. }) => {
                cur.pieces.pop_front();
                self.step(store)
            }
            Some(Piece::Range { folder, uid, offset, len }) => {
                let mut buf = vec![0; usize::try_from(*len).unwrap_or(usize::MAX).min(CATENATE_CHUNK)];
                match store.read(folder, *uid, *offset, &mut buf) {
                    Ok(n) if n > 0 => {
                        buf.truncate(n);
                        *offset += n as u64;
                        *len -= (n as u64).min(*len);
                        Step::Event(Event::AppendData(buf))
                    }
                    // Expunged (or shrunk) between the check and the copy.
                    _ => Step::Failed(format!("/{folder}/;UID={uid}")),
                }
            }
        }
    }
}

impl Session {
    /// A framed APPEND with CATENATE (RFC 4469 §3): check everything, then stream.
    pub(super) fn catenate_command(&mut self, line: &[u8], store: &mut dyn Mailstore) {
        let cmd = match parse(line) {
            Ok(cmd) => cmd,
            Err(Bad(text)) => {
                let mut p = P::new(line);
                let tag = tag(&mut p).map_or_else(|_| "*".to_owned(), |t| t.to_string());
                return self.raw(format!("{tag} BAD {text}\r\n").into_bytes());
            }
        };
        let tag = cmd.tag.clone();
        match self.catenate_check(cmd, store) {
            Ok(job) => self.catenate_start(tag, job),
            Err(text) => self.tagged(&tag, &text),
        }
    }

    fn catenate_start(&mut self, tag: Tag, job: CatenateJob) {
        let bytes = job.messages.iter().map(|m| m.size).sum();
        self.multi = super::multiappend::MultiAppend { folder: job.folder.clone(), count: job.messages.len(), bytes };
        self.pending = Pending::Catenate { tag, job };
    }

    /// State, folder, every URL, sizes and quota: all before the first byte is spooled.
    fn catenate_check(&self, cmd: CatenateCommand, store: &mut dyn Mailstore) -> Result<CatenateJob, String> {
        if !matches!(self.state, State::Authenticated | State::Selected) {
            return Err("BAD Command not valid in this state".into());
        }
        let name = self.mailbox(&cmd.mailbox).map_err(|e| self.name_error(e).to_owned())?;
        let folders = store.folders().map_err(|e| store_error(e, true).to_owned())?;
        if !folders.iter().any(|f| f.name == name.as_str()) {
            return Err(store_error(StoreError::NotFound, true).into());
        }
        let mut messages = VecDeque::new();
        for m in cmd.messages {
            messages.push_back(self.ready(m, store)?);
        }
        let bytes = messages.iter().map(|m| m.size).sum();
        if let Some(text) = self.over_quota(bytes, messages.len() as u64, store) {
            return Err(text);
        }
        Ok(CatenateJob { folder: name.as_str().to_owned(), messages, current: None })
    }

    /// One message: its parts resolved, its size within `message_size` (§5 TOOBIG).
    fn ready(&self, m: CatMessage, store: &mut dyn Mailstore) -> Result<Ready, String> {
        let (flags, keywords) = split_flags(&m.flags).ok_or("BAD Invalid keyword")?;
        let mut pieces = VecDeque::new();
        let mut size = 0u64;
        for part in m.parts {
            let piece = match part {
                CatPart::Text(b) => Piece::Bytes(b),
                CatPart::Url(url) => self.url_piece(&url, store).ok_or_else(|| bad_url(&url))?,
            };
            size = size.saturating_add(match &piece {
                Piece::Bytes(b) => b.len() as u64,
                Piece::Range { len, .. } => *len,
            });
            if size > self.policy.message_max {
                return Err("NO [TOOBIG] Message too large".into());
            }
            pieces.push_back(piece);
        }
        Ok(Ready { flags, keywords, date: m.date, size, pieces })
    }

    /// RFC 4469 §5: the URL's bytes, if it names an existing message section of ours.
    fn url_piece(&self, url: &[u8], store: &mut dyn Mailstore) -> Option<Piece> {
        let u = parse_url(url)?;
        // RFC 5092 §5: URL mailbox names are UTF-8 (not modified UTF-7), %-escaped.
        let folder = Mailbox::from_utf8(String::from_utf8(u.mailbox).ok()?).ok()?.as_str().to_owned();
        let snap = store.peek(&folder).ok()?;
        if u.uidvalidity.is_some_and(|v| v != snap.uidvalidity) || snap.uids.binary_search(&u.uid).is_err() {
            return None;
        }
        let mut metas = Vec::new();
        store.metas(&folder, &[u.uid], &mut metas);
        let meta = metas.pop().flatten()?;
        let spec = format!("[{}]", u.section.as_deref().unwrap_or(""));
        let mut p = P::new(spec.as_bytes());
        let super::fetch::FetchAtt::Section(mut sec) = body_section(&mut p, true).ok()? else {
            return None;
        };
        p.end().ok()?;
        sec.partial = u.partial;
        let mime = match u.section {
            Some(_) => store.mime(&folder, u.uid).ok()?,
            None => Default::default(),
        };
        let source = match u.section {
            Some(_) => resolve(&sec, &mime, meta, &folder, store),
            None => Source::Range(0, meta.size),
        };
        match apply_partial(source, u.partial) {
            Source::Range(offset, len) => Some(Piece::Range { folder, uid: u.uid, offset, len }),
            Source::Bytes(b) => Some(Piece::Bytes(b)),
            Source::Nil => None,
        }
    }

    /// One step of a CATENATE in progress (from `run_pending`).
    pub(super) fn catenate_step(&mut self, tag: Tag, mut job: CatenateJob, store: &mut dyn Mailstore) {
        match job.step(store) {
            Step::Event(event) => {
                self.out.push_back(event);
                self.pending = Pending::Catenate { tag, job };
            }
            Step::Done => {
                self.out.push_back(Event::AppendEnded);
                self.pending = Pending::AppendCommit(tag);
            }
            Step::Failed(url) => {
                self.out.push_back(Event::AppendAborted);
                self.tagged(&tag, &bad_url(url.as_bytes()));
            }
        }
    }
}

/// `NO [BADURL "url"]` (RFC 4469 §6), the URL quoted safely (it came from a string).
fn bad_url(url: &[u8]) -> String {
    let shown: String = url
        .iter()
        .take(URL_MAX)
        .filter(|c| c.is_ascii_graphic() && !matches!(c, b'"' | b'\\'))
        .map(|&c| c as char)
        .collect();
    format!("NO [BADURL \"{shown}\"] Invalid URL")
}
