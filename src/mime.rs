//! Streaming MIME structure parser (RFC 2045 §5-§6 Content-Type / Content-Transfer-Encoding,
//! RFC 2046 §5.1 multipart boundaries, §5.2.1 message/rfc822, RFC 2183 Content-Disposition,
//! RFC 5322 §2.2.3 header unfolding; RFC 2047 encoded words are kept as they are).
//!
//! [`MimeParser`] takes a message in chunks of any size ([`MimeParser::push`]) and never
//! holds more than one header block (capped at [`HEADER_BYTES_MAX`]) and the first
//! [`LINE_KEEP`] bytes of the current line. [`MimeParser::finish`] yields a [`MimeSummary`]:
//! a flat, pre-order list of parts with the byte offsets of each header and body, enough to
//! answer IMAP ENVELOPE, BODY, BODYSTRUCTURE and `BODY[1.2.MIME]`-style sections by reading
//! byte ranges. It is `serde`-serializable (postcard) so the store can keep it per message.
//!
//! Caps instead of recursion (BAD-INPUTS 25): nesting beyond [`DEPTH_MAX`] or parts beyond
//! [`PARTS_MAX`] are treated as opaque `application/octet-stream` leaves; header bytes beyond
//! the cap are skipped (still scanned for the blank line). Work is linear in input size.

use serde::{Deserialize, Serialize};

#[cfg(feature = "imap")]
pub mod binary;
pub mod decode;
mod meta;
pub use meta::META_EXT_FIELDS;

/// Nesting of multipart and message/rfc822 levels kept; deeper ones are opaque leaves.
pub const DEPTH_MAX: usize = 20;
/// Parts kept per message; later parts are folded into their enclosing part.
pub const PARTS_MAX: usize = 1000;
/// Header bytes kept per part (RFC 5322 has no limit; 64 KiB holds any real header block).
pub const HEADER_BYTES_MAX: usize = 64 * 1024;
/// Bytes of a body line kept for boundary matching: RFC 2046 §5.1.1 caps boundaries at 70.
pub const LINE_KEEP: usize = 128;
/// Longest kept header field value (envelope and Content-* fields).
pub const FIELD_MAX: usize = 8 * 1024;
/// Root header fields kept for SEARCH (RFC 3501 §6.4.4 FROM/TO/CC/BCC/SUBJECT and the
/// `HEADER` names clients commonly ask for), so SEARCH never reads the message for them.
pub const SEARCH_FIELDS: [&str; 11] =
    ["from", "to", "cc", "bcc", "subject", "sender", "reply-to", "message-id", "in-reply-to", "references", "list-id"];
/// Value bytes of [`SEARCH_FIELDS`] kept per message; beyond, SEARCH reads the header.
pub const SEARCH_FIELDS_BYTES: usize = 16 * 1024;

/// Raw envelope header values (RFC 3501 §7.4.2 ENVELOPE), unfolded, `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub sender: Option<String>,
    pub reply_to: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One MIME entity. Offsets are from the start of the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Index of the enclosing part; `None` for the root.
    pub parent: Option<u32>,
    pub header_offset: u64,
    /// Header bytes including the blank line that ends them.
    pub header_len: u64,
    pub body_offset: u64,
    pub body_len: u64,
    /// Lines in the body (for text/* and message/rfc822, RFC 3501 §7.4.2).
    pub body_lines: u64,
    /// Lower-case type and subtype (RFC 2045 §5.1: case-insensitive).
    pub mime_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Option<String>,
    pub location: Option<String>,
    /// Envelope of this part's header: set for the root and message/rfc822 children.
    pub envelope: Option<Envelope>,
}

/// The structure of one message; `parts[0]` is the root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MimeSummary {
    pub parts: Vec<Part>,
    pub size: u64,
    /// Every occurrence of the [`SEARCH_FIELDS`] in the root header, unfolded (values cut
    /// at [`FIELD_MAX`] like [`fields`]); `None` when unknown (more than
    /// [`SEARCH_FIELDS_BYTES`], or meta written before they were kept). Not part of the
    /// postcard struct: [`MimeSummary::to_meta`] appends it as a versioned extension.
    #[serde(skip)]
    pub header_fields: Option<Vec<(String, String)>>,
}

impl MimeSummary {
    /// Parses a whole message held in memory (tests, small messages).
    pub fn parse(message: &[u8]) -> MimeSummary {
        let mut p = MimeParser::new();
        p.push(message);
        p.finish()
    }

    /// The summary of the same message with `n` bytes of header fields put in front of it
    /// (`Spool::prepend`): the root header grows, every other offset moves by `n`.
    pub fn prepended(mut self, n: u64) -> MimeSummary {
        for (i, p) in self.parts.iter_mut().enumerate() {
            if i == 0 {
                p.header_len = p.header_len.saturating_add(n);
            } else {
                p.header_offset = p.header_offset.saturating_add(n);
            }
            p.body_offset = p.body_offset.saturating_add(n);
        }
        self.size = self.size.saturating_add(n);
        self
    }

    pub fn part(&self, index: u32) -> Option<&Part> {
        self.parts.get(index as usize)
    }

    /// Children of `index` in order (linear scan; parts are capped).
    pub fn children(&self, index: u32) -> impl Iterator<Item = u32> + '_ {
        let me = Some(index);
        (0..self.parts.len() as u32).filter(move |&i| self.parts.get(i as usize).map(|p| p.parent) == Some(me))
    }

    pub fn is_multipart(&self, index: u32) -> bool {
        self.part(index).is_some_and(|p| p.mime_type == "multipart")
    }

    pub fn is_message(&self, index: u32) -> bool {
        self.part(index).is_some_and(|p| p.mime_type == "message" && p.subtype == "rfc822")
            && self.children(index).next().is_some()
    }

    /// Resolves an IMAP part path (RFC 3501 §6.4.5 section-part) to a part index.
    /// For a non-multipart entity, part 1 is the entity itself; below a message/rfc822
    /// part, numbers address the parts of the encapsulated message (the top-level message
    /// is never descended into: `BODY[1]` of a message/rfc822 message is its body).
    pub fn resolve(&self, path: &[u32]) -> Option<u32> {
        let mut cur = 0u32;
        for (depth, &n) in path.iter().enumerate() {
            if depth > 0 && self.is_message(cur) {
                cur = self.children(cur).next()?;
            }
            if self.is_multipart(cur) {
                cur = self.children(cur).nth((n as usize).checked_sub(1)?)?;
            } else if n != 1 {
                return None;
            }
        }
        Some(cur)
    }
}

/// Where the parser is within the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Header(u32),
    Body(u32),
}

#[cfg(test)]
thread_local! {
    /// Work done by the parser on this thread, in bytes scanned or compared: lets the tests
    /// show that pathological input costs time linear in its size, without a clock.
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline]
fn work(_units: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + _units as u64));
}

/// Incremental parser; see the module doc.
#[derive(Debug)]
pub struct MimeParser {
    parts: Vec<Part>,
    /// Open parts, root first: the path to the current part.
    open: Vec<u32>,
    /// Active boundaries with the multipart part that owns them, outermost first.
    boundaries: Vec<(Vec<u8>, u32)>,
    mode: Mode,
    header: Vec<u8>,
    line: Vec<u8>,
    line_start: u64,
    pos: u64,
    lines: u64,
    /// Line number where each open part's body starts (parallel to `open`).
    body_start_line: Vec<u64>,
    /// Length of the previous line's terminator (the CRLF before a boundary).
    last_eol: u64,
    last_byte: u8,
    /// The previous line was empty (its CRLF, eaten by a boundary, was all it had).
    prev_empty: bool,
    /// The root header's [`SEARCH_FIELDS`] (see [`MimeSummary::header_fields`]).
    root_fields: Option<Vec<(String, String)>>,
}

impl Default for MimeParser {
    fn default() -> Self {
        MimeParser::new()
    }
}

impl MimeParser {
    pub fn new() -> MimeParser {
        MimeParser {
            parts: vec![new_part(None, 0)],
            open: vec![0],
            boundaries: Vec::new(),
            mode: Mode::Header(0),
            header: Vec::new(),
            line: Vec::new(),
            line_start: 0,
            pos: 0,
            lines: 0,
            body_start_line: vec![0],
            last_eol: 0,
            last_byte: 0,
            prev_empty: false,
            root_fields: None,
        }
    }

    /// Consumes the next chunk of the message.
    /// The values of the root header's `name` fields seen so far (one of
    /// [`SEARCH_FIELDS`], lower case), every occurrence; when more than
    /// [`SEARCH_FIELDS_BYTES`] were kept only the envelope's first (`from` and the others).
    pub fn root_fields(&self, name: &str) -> Vec<String> {
        if let Some(f) = &self.root_fields {
            return f.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect();
        }
        let env = self.parts.first().and_then(|p| p.envelope.as_ref());
        let v = match name {
            "from" => env.and_then(|e| e.from.clone()),
            "to" => env.and_then(|e| e.to.clone()),
            "subject" => env.and_then(|e| e.subject.clone()),
            _ => None,
        };
        v.into_iter().collect()
    }

    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let (take, end) = match memchr::memchr(b'\n', data) {
                Some(i) => (i + 1, true),
                None => (data.len(), false),
            };
            let (chunk, rest) = data.split_at(take);
            self.take_bytes(chunk);
            self.pos += take as u64;
            // CR before LF, even when the line was cut at LINE_KEEP or split across pushes.
            let before_lf = match chunk.len() {
                1 => self.last_byte,
                n => chunk.get(n - 2).copied().unwrap_or(0),
            };
            self.last_byte = chunk.last().copied().unwrap_or(0);
            if end {
                self.end_line(if before_lf == b'\r' { 2 } else { 1 });
            }
            data = rest;
        }
    }

    /// Ends the message and returns its structure.
    pub fn finish(mut self) -> MimeSummary {
        if !self.line.is_empty() || self.pos > self.line_start {
            self.lines += 1;
            self.end_line_at_eof();
        }
        if let Mode::Header(i) = self.mode {
            self.end_header(i, self.pos);
        }
        self.close_open(0, self.pos, 0);
        MimeSummary { parts: self.parts, size: self.pos, header_fields: self.root_fields }
    }

    fn take_bytes(&mut self, chunk: &[u8]) {
        work(chunk.len());
        let keep = match self.mode {
            Mode::Header(_) => HEADER_BYTES_MAX.saturating_sub(self.header.len() + self.line.len()),
            Mode::Body(_) => 0,
        };
        // Always enough of the line to recognise a boundary.
        let keep = keep.max(LINE_KEEP.saturating_sub(self.line.len()));
        self.line.extend_from_slice(chunk.get(..keep.min(chunk.len())).unwrap_or(&[]));
    }

    fn end_line(&mut self, eol: u64) {
        self.lines += 1;
        let line = std::mem::take(&mut self.line);
        self.process_line(&line, eol);
        self.prev_empty = self.pos - self.line_start == eol;
        self.line = line;
        self.line.clear();
        self.line_start = self.pos;
        self.last_eol = eol;
    }

    fn end_line_at_eof(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.process_line(&line, 0);
        self.line_start = self.pos;
    }

    fn process_line(&mut self, line: &[u8], eol: u64) {
        if self.boundary_line(line) {
            return;
        }
        if let Mode::Header(i) = self.mode {
            let content = line.get(..line.len().saturating_sub(eol as usize)).unwrap_or(&[]);
            let blank = content.is_empty() && eol > 0 && self.pos - self.line_start == eol;
            if blank {
                self.end_header(i, self.pos);
            } else if self.header.len() + line.len() <= HEADER_BYTES_MAX {
                self.header.extend_from_slice(line);
            }
        }
    }

    /// RFC 2046 §5.1.1: `--boundary` or `--boundary--`, optional trailing whitespace.
    /// An outer boundary also ends every part nested inside it.
    fn boundary_line(&mut self, line: &[u8]) -> bool {
        let Some(rest) = line.strip_prefix(b"--") else {
            return false;
        };
        work(self.boundaries.iter().map(|(b, _)| b.len().min(rest.len()) + 1).sum());
        let found = self
            .boundaries
            .iter()
            .rposition(|(b, _)| rest.starts_with(b) && is_boundary_tail(rest.get(b.len()..).unwrap_or(&[])));
        let Some(k) = found else {
            return false;
        };
        let (b, owner) = self.boundaries.get(k).cloned().unwrap_or_default();
        let closing = rest.get(b.len()..).is_some_and(|t| t.starts_with(b"--"));
        let end = self.line_start.saturating_sub(self.last_eol);
        if let Mode::Header(i) = self.mode {
            self.end_header(i, self.line_start);
        }
        // The boundary line is not body, nor is the CRLF before it: a part ending in an
        // empty line has one line fewer (RFC 2046 §5.1.1).
        self.close_open(owner + 1, end, if self.prev_empty { 2 } else { 1 });
        self.boundaries.truncate(k + 1);
        if closing {
            self.boundaries.truncate(k);
            self.mode = Mode::Body(owner);
        } else {
            self.start_child(owner, self.pos);
        }
        true
    }

    /// Closes open parts with index >= `from` (all parts nested in part `from - 1`).
    /// `extra` lines at the end are not body (the boundary line itself).
    fn close_open(&mut self, from: u32, end: u64, extra: u64) {
        while let Some(&top) = self.open.last() {
            if top < from {
                break;
            }
            self.open.pop();
            work(1);
            let start_line = self.body_start_line.pop().unwrap_or(0);
            let lines = self.lines.saturating_sub(start_line + extra);
            if let Some(p) = self.parts.get_mut(top as usize) {
                p.body_len = end.saturating_sub(p.body_offset);
                p.body_lines = lines;
            }
        }
    }

    fn start_child(&mut self, parent: u32, at: u64) {
        if self.parts.len() >= PARTS_MAX {
            // Cap: the rest is folded into the parent's body.
            self.mode = Mode::Body(parent);
            return;
        }
        let index = self.parts.len() as u32;
        self.parts.push(new_part(Some(parent), at));
        self.open.push(index);
        self.body_start_line.push(self.lines);
        self.header.clear();
        self.mode = Mode::Header(index);
    }

    /// The blank line (or a boundary, or EOF) ended part `i`'s header at `end`.
    fn end_header(&mut self, i: u32, end: u64) {
        let header = std::mem::take(&mut self.header);
        work(header.len() + 1);
        let depth = self.open.len();
        let default_digest = self.parent_is(i, "multipart", "digest");
        let is_message = self.parent_is(i, "message", "rfc822") || i == 0;
        let capped = depth >= DEPTH_MAX || self.parts.len() >= PARTS_MAX;
        let Some(p) = self.parts.get_mut(i as usize) else {
            return;
        };
        p.header_len = end.saturating_sub(p.header_offset);
        p.body_offset = end;
        apply_header(p, &header, default_digest, is_message);
        if i == 0 {
            self.root_fields = search_fields(&header);
        }
        if let Some(last) = self.body_start_line.last_mut() {
            *last = self.lines;
        }
        self.mode = Mode::Body(i);
        let p_type = (p.mime_type.clone(), p.subtype.clone());
        let boundary = param(&p.params, "boundary").map(|b| b.as_bytes().to_vec());
        match (p_type.0.as_str(), p_type.1.as_str(), boundary) {
            ("multipart", _, Some(b)) if !capped && !b.is_empty() => self.boundaries.push((b, i)),
            ("message", "rfc822", _) if !capped => {
                self.start_child(i, end);
            }
            ("multipart", _, _) | ("message", "rfc822", _) => make_opaque(p),
            _ => {}
        }
    }

    fn parent_is(&self, i: u32, t: &str, s: &str) -> bool {
        let parent = self.parts.get(i as usize).and_then(|p| p.parent);
        parent.and_then(|q| self.parts.get(q as usize)).is_some_and(|q| q.mime_type == t && q.subtype == s)
    }
}

fn is_boundary_tail(tail: &[u8]) -> bool {
    let tail = tail.strip_prefix(b"--").unwrap_or(tail);
    tail.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

fn new_part(parent: Option<u32>, at: u64) -> Part {
    Part {
        parent,
        header_offset: at,
        header_len: 0,
        body_offset: at,
        body_len: 0,
        body_lines: 0,
        mime_type: "text".into(),
        subtype: "plain".into(),
        params: Vec::new(),
        id: None,
        description: None,
        encoding: None,
        md5: None,
        disposition: None,
        language: None,
        location: None,
        envelope: None,
    }
}

fn make_opaque(p: &mut Part) {
    p.mime_type = "application".into();
    p.subtype = "octet-stream".into();
    p.params.clear();
}

/// The [`SEARCH_FIELDS`] of a header block, `None` beyond [`SEARCH_FIELDS_BYTES`].
fn search_fields(header: &[u8]) -> Option<Vec<(String, String)>> {
    let kept: Vec<_> =
        fields(header).into_iter().filter(|(n, _)| SEARCH_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n))).collect();
    let bytes: usize = kept.iter().map(|(n, v)| n.len() + v.len()).sum();
    (bytes <= SEARCH_FIELDS_BYTES).then_some(kept)
}

/// Case-insensitive parameter lookup.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Fills `p` from its header block (RFC 2045 §3 fields; RFC 5322 §3.6 envelope fields).
fn apply_header(p: &mut Part, header: &[u8], digest: bool, is_message: bool) {
    if digest {
        // RFC 2046 §5.1.5: the default type in a multipart/digest is message/rfc822.
        p.mime_type = "message".into();
        p.subtype = "rfc822".into();
    } else {
        p.params.push(("charset".into(), "us-ascii".into()));
    }
    let mut env = Envelope::default();
    let mut saw_type = false;
    for (name, value) in fields(header) {
        let v = || Some(value.clone());
        match name.to_ascii_lowercase().as_str() {
            "content-type" if !saw_type => {
                saw_type = true;
                content_type(p, &value)
            }
            "content-transfer-encoding" => p.encoding = Some(value.trim().to_ascii_lowercase()),
            "content-id" => p.id = v(),
            "content-description" => p.description = v(),
            "content-md5" => p.md5 = v(),
            "content-language" => p.language = v(),
            "content-location" => p.location = v(),
            "content-disposition" => p.disposition = Some(disposition(&value)),
            "date" => env.date = env.date.or_else(v),
            "subject" => env.subject = env.subject.or_else(v),
            "from" => env.from = env.from.or_else(v),
            "sender" => env.sender = env.sender.or_else(v),
            "reply-to" => env.reply_to = env.reply_to.or_else(v),
            "to" => env.to = env.to.or_else(v),
            "cc" => env.cc = env.cc.or_else(v),
            "bcc" => env.bcc = env.bcc.or_else(v),
            "in-reply-to" => env.in_reply_to = env.in_reply_to.or_else(v),
            "message-id" => env.message_id = env.message_id.or_else(v),
            _ => {}
        }
    }
    if is_message {
        p.envelope = Some(env);
    }
}

/// RFC 5322 §2.2: `name: value` fields with folded lines joined (CRLF removed).
pub fn fields(header: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for raw in header.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, v)) = out.last_mut() {
                if v.len() < FIELD_MAX {
                    v.push_str(&String::from_utf8_lossy(line));
                }
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or(&[]);
        let value = String::from_utf8_lossy(value.get(..value.len().min(FIELD_MAX)).unwrap_or(&[]));
        out.push((String::from_utf8_lossy(name).trim().to_owned(), value.trim().to_owned()));
    }
    for (_, v) in out.iter_mut() {
        *v = v.trim().to_owned();
    }
    out
}

/// RFC 2045 §5.1 `type "/" subtype *(";" parameter)`.
fn content_type(p: &mut Part, value: &str) {
    let (head, params) = split_params(value);
    let Some((t, s)) = head.split_once('/') else {
        return;
    };
    let (t, s) = (t.trim().to_ascii_lowercase(), s.trim().to_ascii_lowercase());
    if t.is_empty() || s.is_empty() {
        return;
    }
    p.mime_type = t;
    p.subtype = s;
    p.params = params;
    if p.mime_type == "text" && param(&p.params, "charset").is_none() {
        p.params.push(("charset".into(), "us-ascii".into()));
    }
}

/// RFC 2183 §2 `disposition-type *(";" disposition-parm)`.
fn disposition(value: &str) -> (String, Vec<(String, String)>) {
    let (head, params) = split_params(value);
    (head.trim().to_ascii_lowercase(), params)
}

/// Splits `x; a=b; c="d;e"` into `x` and parameters (quoted values unquoted).
fn split_params(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = Vec::new();
    let (mut cur, mut quoted, mut escape) = (String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escape => {
                cur.push(c);
                escape = false;
            }
            '\\' if quoted => escape = true,
            '"' => quoted = !quoted,
            ';' if !quoted => pieces.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    pieces.push(cur);
    let mut it = pieces.into_iter();
    let head = it.next().unwrap_or_default();
    let params = it
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .filter(|(k, _)| !k.is_empty())
        .take(64)
        .collect();
    (head, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `msg` in 8 KiB pushes; returns the summary and the parser's work units.
    fn measured(msg: &[u8]) -> (MimeSummary, u64) {
        WORK.with(|w| w.set(0));
        let mut p = MimeParser::new();
        for chunk in msg.chunks(8192) {
            p.push(chunk);
        }
        (p.finish(), WORK.with(|w| w.get()))
    }

    /// Work is linear: doubling the pathological part of the input at most doubles the
    /// work (plus 10 %), and the work per input byte stays small.
    fn assert_linear(make: impl Fn(usize) -> Vec<u8>, n: usize) {
        let (small, large) = (make(n), make(2 * n));
        let (_, w1) = measured(&small);
        let (_, w2) = measured(&large);
        eprintln!("work {w1} for {} bytes, {w2} for {}", small.len(), large.len());
        assert!(w2 * 10 <= w1 * 22, "work {w1} for {} bytes, {w2} for {}", small.len(), large.len());
        assert!(w2 <= 8 * large.len() as u64, "work {w2} for {} bytes", large.len());
    }

    #[test]
    fn prepended_summary_equals_the_parse_of_the_prefixed_message() {
        let msg = b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--b--\r\n";
        let prefix = b"Authentication-Results: h; spf=pass smtp.mailfrom=a.b\r\n";
        let whole: Vec<u8> = [&prefix[..], &msg[..]].concat();
        let mut want = MimeSummary::parse(&whole);
        let mut got = MimeSummary::parse(msg).prepended(prefix.len() as u64);
        want.header_fields = None;
        got.header_fields = None;
        assert_eq!(got, want);
    }

    #[test]
    fn single_part_defaults_and_offsets() {
        let m = MimeSummary::parse(b"Subject: x\r\n\r\nbody\r\nline2");
        let p = &m.parts[0];
        assert_eq!((p.header_len, p.body_offset, p.body_len, p.body_lines), (14, 14, 11, 2));
        assert_eq!((p.mime_type.as_str(), p.subtype.as_str()), ("text", "plain"));
        assert_eq!(param(&p.params, "CHARSET"), Some("us-ascii"));
        assert_eq!(p.envelope.as_ref().and_then(|e| e.subject.as_deref()), Some("x"));
    }

    #[test]
    fn folded_headers_and_quoted_params() {
        let m = MimeSummary::parse(b"Content-Type: multipart/mixed;\r\n boundary=\"a;b\"\r\nSubject: one\r\n two\r\n\r\n--a;b\r\n\r\nx\r\n--a;b--\r\n");
        assert_eq!(param(&m.parts[0].params, "boundary"), Some("a;b"));
        assert_eq!(m.parts[0].envelope.as_ref().and_then(|e| e.subject.as_deref()), Some("one two"));
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.parts[1].body_len, 1);
    }

    #[test]
    fn digest_default_is_message_rfc822() {
        let msg = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n";
        let m = MimeSummary::parse(msg);
        assert!(m.is_message(1));
        assert_eq!(m.parts[2].envelope.as_ref().and_then(|e| e.subject.as_deref()), Some("in"));
    }

    fn many_headers_and_parts(n: usize) -> Vec<u8> {
        let mut msg = b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec();
        for i in 0..n * 50 {
            msg.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        msg.extend_from_slice(b"\r\n");
        for _ in 0..n {
            msg.extend_from_slice(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        msg.extend_from_slice(b"--b--\r\n");
        msg
    }

    fn deep_multipart(n: usize) -> Vec<u8> {
        let mut deep = Vec::new();
        for i in 0..n {
            deep.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
            );
        }
        deep.extend_from_slice(b"\r\nleaf\r\n");
        deep
    }

    fn deep_message(n: usize) -> Vec<u8> {
        b"Content-Type: message/rfc822\r\n\r\n".repeat(n)
    }

    /// BAD-INPUTS 25: 500k headers, 10k parts, 10k-deep nesting: capped, and the work is
    /// linear in the input (counted in bytes scanned, not timed).
    #[test]
    fn bad_input_25_huge_headers_parts_and_nesting_are_capped() {
        let msg = many_headers_and_parts(10_000);
        let (m, _) = measured(&msg);
        assert_eq!(m.parts.len(), PARTS_MAX);
        assert_eq!(m.size, msg.len() as u64);
        assert_linear(many_headers_and_parts, 5_000);

        let (m, _) = measured(&deep_multipart(10_000));
        assert!(m.parts.len() <= DEPTH_MAX + 1, "{}", m.parts.len());
        assert_linear(deep_multipart, 5_000);

        let (m, _) = measured(&deep_message(10_000));
        assert!(m.parts.len() <= DEPTH_MAX + 1);
        assert_linear(deep_message, 5_000);
        let bytes = postcard::to_allocvec(&m).unwrap_or_default();
        assert!(!bytes.is_empty());
    }

    #[test]
    fn line_counts_exclude_the_crlf_before_a_boundary() {
        let m = MimeSummary::parse(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhello\r\n\r\n--b\r\n\r\nhello\r\n--b\r\n\r\n\r\n--b--\r\n");
        assert_eq!((m.parts[1].body_len, m.parts[1].body_lines), (7, 1));
        assert_eq!((m.parts[2].body_len, m.parts[2].body_lines), (5, 1));
        assert_eq!((m.parts[3].body_len, m.parts[3].body_lines), (0, 0));
    }

    #[test]
    fn resolve_message_rfc822_paths() {
        let msg = b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: s\r\n\r\nhi\r\n";
        let m = MimeSummary::parse(msg);
        assert_eq!(m.parts.len(), 3);
        assert_eq!(m.resolve(&[1]), Some(0));
        assert_eq!(m.resolve(&[1, 1]), Some(1));
        assert_eq!(m.resolve(&[1, 1, 1]), Some(2));
        assert_eq!(m.resolve(&[2]), None);
        let digest = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: a\r\n\r\nx\r\n--d--\r\n";
        let m = MimeSummary::parse(digest);
        assert_eq!(m.resolve(&[1]), Some(1));
        assert_eq!(m.resolve(&[1, 1]), Some(2));
    }

    #[test]
    fn long_lines_are_not_buffered() {
        let mut msg = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\n".to_vec();
        msg.extend(std::iter::repeat_n(b'z', 5 << 20));
        msg.extend_from_slice(b"\r\n--q--\r\n");
        let mut p = MimeParser::new();
        for chunk in msg.chunks(4096) {
            p.push(chunk);
            assert!(p.line.len() <= LINE_KEEP);
        }
        let m = p.finish();
        assert_eq!(m.parts[1].body_len, 5 << 20);
    }
}
