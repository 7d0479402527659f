//! FETCH (RFC 3501 §6.4.5, §7.4.2; §9 `fetch-att`, `section`, partial `<o.n>`; RFC 7162
//! §3.1.4 MODSEQ and CHANGEDSINCE; RFC 3516 BINARY items, decoded in `binary`; RFC 8970
//! PREVIEW, from `preview`; RFC 8474 EMAILID and THREADID, from `objectid`): parsing
//! and a streaming job. Message bytes are never loaded whole: a [`FetchJob`] yields output
//! in chunks of about [`OUTPUT_CHUNK`] bytes, reading sections through [`Mailstore::read`],
//! one chunk per `poll`, so a client that stops reading stops the job (BAD-INPUTS 36).

use std::io::Write as _;

use super::api::{Mailstore, MsgMeta, StoreError};
use super::binary::{self, BinarySection, CteDecoder, DecodeStream, Located};
use super::encode;
use super::reader::{Bad, P, R};
use super::search::read_range;
use super::view::{MetaCursor, Selected};
use crate::mime::MimeSummary;

/// Bytes of FETCH output produced per `poll` (plus one small non-streamed item at most).
pub const OUTPUT_CHUNK: usize = 16 * 1024;
/// Header bytes read to answer HEADER.FIELDS (the answer is built in memory).
pub const HEADER_FIELDS_MAX: u64 = 256 * 1024;
/// Items in one FETCH and fields in one HEADER.FIELDS list.
pub const FETCH_ATTS_MAX: usize = 64;
/// Depth of a section part path (`1.2.3...`); MIME nesting is capped lower anyway.
pub const SECTION_DEPTH_MAX: usize = 32;

/// How a body section is named in the response (RFC 3501 §6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionName {
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
}

/// RFC 3501 §9 `section-msgtext` / `section-text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySection {
    pub name: SectionName,
    pub peek: bool,
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
    pub partial: Option<(u32, u32)>,
}

/// RFC 3501 §9 `fetch-att`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAtt {
    Envelope,
    Flags,
    InternalDate,
    /// RFC 8514 §4.1 SAVEDATE: when the message was saved into this folder
    /// ([`Mailstore::save_date`]; the INTERNALDATE where the store has none).
    SaveDate,
    Size,
    Uid,
    BodyStructure,
    Body,
    /// RFC 7162 §3.1.4.2 `MODSEQ`.
    Modseq,
    Section(BodySection),
    /// RFC 3516 `BINARY[...]`, `BINARY.PEEK[...]`, `BINARY.SIZE[...]`.
    Binary(BinarySection),
    /// RFC 8970 `PREVIEW`.
    Preview,
    /// RFC 8474 §5.1 `EMAILID`.
    #[cfg(feature = "objectid")]
    EmailId,
    /// RFC 8474 §5.2 `THREADID`.
    #[cfg(feature = "objectid")]
    ThreadId,
}

impl FetchAtt {
    /// Does this item set \Seen (RFC 3501 §6.4.5: BODY[...] without .PEEK, RFC822, RFC822.TEXT)?
    pub fn sets_seen(&self) -> bool {
        match self {
            FetchAtt::Section(s) => !s.peek,
            FetchAtt::Binary(b) => !b.peek,
            _ => false,
        }
    }
}

/// `("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")`; the
/// RFC 4466 fetch modifiers after it are the parser's.
pub fn fetch_atts(p: &mut P) -> R<Vec<FetchAtt>> {
    use FetchAtt as F;
    let atts = if p.keyword("ALL") {
        vec![F::Flags, F::InternalDate, F::Size, F::Envelope]
    } else if p.keyword("FAST") {
        vec![F::Flags, F::InternalDate, F::Size]
    } else if p.keyword("FULL") {
        vec![F::Flags, F::InternalDate, F::Size, F::Envelope, F::Body]
    } else if p.eat(b'(') {
        let mut v = vec![fetch_att(p)?];
        while p.eat(b' ') {
            v.push(fetch_att(p)?);
            if v.len() > FETCH_ATTS_MAX {
                return Err(Bad("Too many fetch items"));
            }
        }
        p.expect(b')')?;
        v
    } else {
        vec![fetch_att(p)?]
    };
    Ok(atts)
}

/// RFC 3501 §9 `fetch-att`.
fn fetch_att(p: &mut P) -> R<FetchAtt> {
    use FetchAtt as F;
    let section = |name, peek, text| F::Section(BodySection { name, peek, part: Vec::new(), text, partial: None });
    if let Some(b) = binary::binary_att(p)? {
        return Ok(F::Binary(b));
    }
    if super::preview::preview_att(p)? {
        return Ok(F::Preview);
    }
    #[cfg(feature = "objectid")]
    if p.keyword("EMAILID") {
        return Ok(F::EmailId);
    }
    #[cfg(feature = "objectid")]
    if p.keyword("THREADID") {
        return Ok(F::ThreadId);
    }
    Ok(if p.keyword("ENVELOPE") {
        F::Envelope
    } else if p.keyword("FLAGS") {
        F::Flags
    } else if p.keyword("INTERNALDATE") {
        F::InternalDate
    } else if p.keyword("SAVEDATE") {
        F::SaveDate
    } else if p.keyword("RFC822.SIZE") {
        F::Size
    } else if p.keyword("RFC822.HEADER") {
        section(SectionName::Rfc822Header, true, Some(SectionText::Header))
    } else if p.keyword("RFC822.TEXT") {
        section(SectionName::Rfc822Text, false, Some(SectionText::Text))
    } else if p.keyword("RFC822") {
        section(SectionName::Rfc822, false, None)
    } else if p.keyword("UID") {
        F::Uid
    } else if p.keyword("MODSEQ") {
        F::Modseq
    } else if p.keyword("BODYSTRUCTURE") {
        F::BodyStructure
    } else if p.keyword("BODY.PEEK") {
        body_section(p, true)?
    } else if p.keyword("BODY") {
        match p.peek() {
            Some(b'[') => body_section(p, false)?,
            _ => F::Body,
        }
    } else {
        return Err(Bad("Unknown fetch item"));
    })
}

/// `section ["<" number "." nz-number ">"]` after BODY / BODY.PEEK.
pub(super) fn body_section(p: &mut P, peek: bool) -> R<FetchAtt> {
    p.expect(b'[')?;
    let mut part = Vec::new();
    let mut text = None;
    while p.peek().is_some_and(|c| c.is_ascii_digit()) {
        part.push(p.nz_number()?);
        if part.len() > SECTION_DEPTH_MAX {
            return Err(Bad("Section too deep"));
        }
        if !p.eat(b'.') {
            break;
        }
    }
    if p.peek() != Some(b']') {
        text = Some(section_text(p, !part.is_empty())?);
    }
    p.expect(b']')?;
    let partial = match p.eat(b'<') {
        true => {
            let o = p.number()?;
            p.expect(b'.')?;
            let n = p.nz_number()?;
            p.expect(b'>')?;
            Some((o, n))
        }
        false => None,
    };
    Ok(FetchAtt::Section(BodySection { name: SectionName::Body, peek, part, text, partial }))
}

/// RFC 3501 §9 `section-text` (MIME only after a part number).
fn section_text(p: &mut P, has_part: bool) -> R<SectionText> {
    let not = p.keyword("HEADER.FIELDS.NOT");
    if not || p.keyword("HEADER.FIELDS") {
        p.sp()?;
        p.expect(b'(')?;
        let mut fields = vec![p.text()?];
        while p.eat(b' ') {
            fields.push(p.text()?);
            if fields.len() > FETCH_ATTS_MAX {
                return Err(Bad("Too many header fields"));
            }
        }
        p.expect(b')')?;
        return Ok(SectionText::HeaderFields { not, fields });
    }
    if p.keyword("HEADER") {
        Ok(SectionText::Header)
    } else if p.keyword("TEXT") {
        Ok(SectionText::Text)
    } else if has_part && p.keyword("MIME") {
        Ok(SectionText::Mime)
    } else {
        Err(Bad("Bad section"))
    }
}

/// Where a section's bytes come from.
#[derive(Debug)]
pub(super) enum Source {
    Range(u64, u64),
    Bytes(Vec<u8>),
    Nil,
}

impl BodySection {
    fn needs_mime(&self) -> bool {
        !(self.part.is_empty() && self.text.is_none())
    }

    /// RFC 3501 §7.4.2: `BODY[1.2.HEADER.FIELDS (A B)]<0>` or the RFC822 names.
    pub fn response_name(&self) -> String {
        let base = match self.name {
            SectionName::Rfc822 => return "RFC822".into(),
            SectionName::Rfc822Header => return "RFC822.HEADER".into(),
            SectionName::Rfc822Text => return "RFC822.TEXT".into(),
            SectionName::Body => "BODY",
        };
        let mut spec: Vec<String> = self.part.iter().map(u32::to_string).collect();
        match &self.text {
            None => {}
            Some(SectionText::Header) => spec.push("HEADER".into()),
            Some(SectionText::Text) => spec.push("TEXT".into()),
            Some(SectionText::Mime) => spec.push("MIME".into()),
            Some(SectionText::HeaderFields { not, fields }) => {
                let names: Vec<String> = fields.iter().map(|f| field_name(f)).collect();
                let kind = if *not { "HEADER.FIELDS.NOT" } else { "HEADER.FIELDS" };
                spec.push(format!("{kind} ({})", names.join(" ")));
            }
        }
        let partial = self.partial.map(|(o, _)| format!("<{o}>")).unwrap_or_default();
        format!("{base}[{}]{partial}", spec.join("."))
    }
}

/// A `header-fld-name` (RFC 3501 §9, an astring) echoed as the client sent it: an atom when
/// every octet is an ATOM-CHAR (`]` excluded: it would end the section), else quoted or a
/// literal. Dovecot, Cyrus and UW-IMAP echo atoms, and clients (Python imaplib users, IMAP
/// libraries) find the item by the exact text they sent.
fn field_name(f: &str) -> String {
    if !f.is_empty() && f.bytes().all(super::types::is_atom_char) {
        return f.to_owned();
    }
    let mut out = Vec::new();
    encode::string(&mut out, f.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a section to message bytes (RFC 3501 §6.4.5 section rules).
pub(super) fn resolve(
    sec: &BodySection,
    mime: &MimeSummary,
    meta: MsgMeta,
    folder: &str,
    store: &mut dyn Mailstore,
) -> Source {
    let Some(idx) = mime.resolve(&sec.part) else {
        return Source::Nil;
    };
    let Some(part) = mime.part(idx) else {
        return Source::Nil;
    };
    // HEADER / TEXT / HEADER.FIELDS of a part address its embedded message.
    let target = match (&sec.text, sec.part.is_empty()) {
        (Some(SectionText::Mime) | None, _) | (_, true) => idx,
        _ if mime.is_message(idx) => mime.children(idx).next().unwrap_or(idx),
        _ => return Source::Nil,
    };
    let Some(t) = mime.part(target) else {
        return Source::Nil;
    };
    match &sec.text {
        None if sec.part.is_empty() => Source::Range(0, meta.size),
        None => Source::Range(part.body_offset, part.body_len),
        Some(SectionText::Mime) => Source::Range(part.header_offset, part.header_len),
        Some(SectionText::Header) => Source::Range(t.header_offset, t.header_len),
        Some(SectionText::Text) => Source::Range(t.body_offset, t.body_len),
        Some(SectionText::HeaderFields { not, fields }) => {
            let len = t.header_len.min(HEADER_FIELDS_MAX);
            match read_range(store, folder, meta.uid, t.header_offset, len) {
                Ok(h) => Source::Bytes(filter_fields(&h, fields, *not)),
                Err(_) => Source::Nil,
            }
        }
    }
}

/// The header fields named (or not named) in `names`, raw, then the blank line.
pub fn filter_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&c| c == b'\n') {
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.is_empty() {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = trimmed.split(|&c| c == b':').next().unwrap_or(&[]);
            let hit = names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
            keep = hit != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// RFC 3501 §6.4.5 partial: `<o.n>` takes up to `n` octets from `o`.
pub(super) fn apply_partial(source: Source, partial: Option<(u32, u32)>) -> Source {
    let Some((o, n)) = partial else { return source };
    let (o, n) = (u64::from(o), u64::from(n));
    match source {
        Source::Range(off, len) => {
            let skip = o.min(len);
            Source::Range(off + skip, (len - skip).min(n))
        }
        Source::Bytes(b) => {
            let skip = (o as usize).min(b.len());
            let rest = b.get(skip..).unwrap_or(&[]);
            Source::Bytes(rest.get(..rest.len().min(n as usize)).unwrap_or(rest).to_vec())
        }
        Source::Nil => Source::Nil,
    }
}

mod job;
pub use job::FetchJob;
