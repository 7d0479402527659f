//! The MESSAGE record's meta section: a message's [`MimeSummary`] as the store keeps it,
//! computed once at delivery (SMTP, `letterbox deliver`, IMAP APPEND, COPY/MOVE, import)
//! and read back by IMAP for ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2) and the SEARCH
//! header keys (§6.4.4) without reading the message.
//!
//! # Meta format, version 1
//!
//! ```text
//! meta    = ""                              no summary stored: readers parse the body
//!         / summary [ext]
//! summary = postcard(MimeSummary)           fields in declaration order, header_fields
//!                                           skipped (postcard: varints, length-prefixed
//!                                           strings and sequences, 0/1 Option tags)
//! ext     = 01 fields ext_len:2 FE
//! fields  = postcard(Vec<(String, String)>) MimeSummary::header_fields
//! ```
//!
//! `ext_len` (little-endian) counts the bytes of `01 fields`. The trailer lets SEARCH read
//! `header_fields` from the end without decoding the summary: a meta whose last byte is
//! `FE` has an ext (a summary alone ends in the last byte of a varint, always below `80`).
//!
//! * `parts` is the tree the parser makes: `parts[0]` is the root (no parent), every other
//!   part's parent comes before it (pre-order), nesting at most `DEPTH_MAX + 1`, at most
//!   `PARTS_MAX` parts. A decoded summary of another shape (damage) is refused.
//! * An ext whose first byte is not `01` is from a later version and is ignored (SEARCH then
//!   reads the header), as is one whose trailer does not fit. Readers that predate the ext decode
//!   `summary` and ignore the rest (postcard's `from_bytes` leaves trailing bytes unread), so
//!   going back to an older binary still serves ENVELOPE and BODYSTRUCTURE from it.
//! * At most [`MAX_META`] bytes. A larger summary (thousands of parts, huge header fields)
//!   degrades step by step, never failing the delivery: trailing parts are dropped (parts
//!   are in pre-order, so the kept ones still form a tree; a multipart left without children
//!   shows a placeholder), then the ext, then the root's strings are cut to
//!   [`CUT_STRING`] bytes; failing all that the meta is empty.

use super::{Envelope, MimeParser, MimeSummary, Part, DEPTH_MAX, PARTS_MAX};
use crate::store::format::MAX_META;

/// First byte of the ext that carries `header_fields` (version 1).
pub const META_EXT_FIELDS: u8 = 1;
/// Last byte of a meta section with an ext (never the last byte of a varint).
const EXT_TRAILER: u8 = 0xFE;
/// Longest root string kept by the last degradation step.
const CUT_STRING: usize = 256;
/// Parameters of the root kept by the last degradation step.
const CUT_PARAMS: usize = 8;

impl MimeParser {
    /// Ends the message and returns its meta section (the one helper every delivery path
    /// uses).
    pub fn finish_meta(self) -> Vec<u8> {
        self.finish().to_meta()
    }
}

impl MimeSummary {
    /// Encodes the summary as a meta section of at most [`MAX_META`] bytes (see module doc).
    pub fn to_meta(mut self) -> Vec<u8> {
        let max = MAX_META as usize;
        let mut cut = false;
        loop {
            let bytes = self.encode();
            if bytes.len() <= max {
                return bytes;
            }
            if self.parts.len() > 1 {
                // Keep the share that fits, with a tenth to spare for uneven parts.
                let keep = self.parts.len() * max / bytes.len() * 9 / 10;
                self.parts.truncate(keep.clamp(1, self.parts.len() - 1));
            } else if self.header_fields.is_some() {
                self.header_fields = None;
            } else if !cut {
                self.parts.iter_mut().for_each(cut_part);
                cut = true;
            } else {
                return Vec::new();
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let Ok(mut out) = postcard::to_stdvec(self) else {
            return Vec::new();
        };
        let fields = self.header_fields.as_ref().and_then(|f| postcard::to_stdvec(f).ok());
        if let Some(ext_len) = fields.as_ref().and_then(|f| u16::try_from(f.len() + 1).ok()) {
            out.push(META_EXT_FIELDS);
            out.extend(fields.unwrap_or_default());
            out.extend(ext_len.to_le_bytes());
            out.push(EXT_TRAILER);
        }
        out
    }

    /// Only `header_fields` of a meta section, from its trailer (see module doc): `None`
    /// when the meta has no ext.
    pub fn fields_from_meta(bytes: &[u8]) -> Option<Vec<(String, String)>> {
        let (rest, trailer) = bytes.split_at_checked(bytes.len().checked_sub(3)?)?;
        let [lo, hi, EXT_TRAILER] = *trailer else { return None };
        let ext = rest.get(rest.len().checked_sub(usize::from(u16::from_le_bytes([lo, hi])))?..)?;
        match ext.split_first() {
            Some((&META_EXT_FIELDS, fields)) => postcard::from_bytes(fields).ok(),
            _ => None,
        }
    }

    /// The last stored value of one header field (of [`super::SEARCH_FIELDS`]) from the
    /// meta's ext, read in place without decoding the others (THREAD reads References).
    pub fn field_from_meta(bytes: &[u8], name: &str) -> Option<String> {
        let (rest, trailer) = bytes.split_at_checked(bytes.len().checked_sub(3)?)?;
        let [lo, hi, EXT_TRAILER] = *trailer else { return None };
        let ext = rest.get(rest.len().checked_sub(usize::from(u16::from_le_bytes([lo, hi])))?..)?;
        let (&META_EXT_FIELDS, fields) = ext.split_first()? else { return None };
        let (count, mut rest) = postcard::take_from_bytes::<u32>(fields).ok()?;
        let mut found = None;
        for _ in 0..count {
            let ((n, v), more) = postcard::take_from_bytes::<(&str, &str)>(rest).ok()?;
            if n.eq_ignore_ascii_case(name) {
                found = Some(v);
            }
            rest = more;
        }
        found.map(str::to_owned)
    }

    /// The root part of a meta section, without decoding the other parts (SORT and THREAD
    /// read only the root's envelope); `None` when empty or not a summary.
    pub fn root_from_meta(bytes: &[u8]) -> Option<Part> {
        let (count, rest) = postcard::take_from_bytes::<u32>(bytes).ok()?;
        if count == 0 || count as usize > PARTS_MAX + 1 {
            return None;
        }
        let (root, _) = postcard::take_from_bytes::<Part>(rest).ok()?;
        root.parent.is_none().then_some(root)
    }

    /// Decodes a meta section; `None` when empty or not a summary.
    pub fn from_meta(bytes: &[u8]) -> Option<MimeSummary> {
        let (mut s, rest) = postcard::take_from_bytes::<MimeSummary>(bytes).ok()?;
        if !is_tree(&s.parts) {
            return None;
        }
        // The ext follows the summary (a later version's ext, another first byte, is skipped).
        if rest.first() == Some(&META_EXT_FIELDS) {
            s.header_fields = Self::fields_from_meta(bytes);
        }
        Some(s)
    }
}

/// Meta is read from disk (and from the meta cache): only the shape the parser makes is
/// accepted — a root, every other part after its parent (pre-order), nesting and count
/// within the parser's caps — so encoders can recurse over children without a cycle.
fn is_tree(parts: &[Part]) -> bool {
    let mut depth: Vec<usize> = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let d = match p.parent {
            None if i == 0 => 0,
            Some(q) if (q as usize) < i => depth.get(q as usize).map_or(usize::MAX, |d| d + 1),
            _ => return false,
        };
        if d > DEPTH_MAX + 1 {
            return false;
        }
        depth.push(d);
    }
    !parts.is_empty() && parts.len() <= PARTS_MAX
}

/// The last degradation step: every string of the part cut to [`CUT_STRING`] bytes.
fn cut_part(p: &mut Part) {
    p.params.truncate(CUT_PARAMS);
    for (k, v) in p.params.iter_mut() {
        cut(k);
        cut(v);
    }
    if let Some((d, ps)) = &mut p.disposition {
        cut(d);
        ps.truncate(CUT_PARAMS);
        ps.iter_mut().for_each(|(k, v)| {
            cut(k);
            cut(v);
        });
    }
    [&mut p.id, &mut p.description, &mut p.encoding, &mut p.md5, &mut p.language, &mut p.location]
        .into_iter()
        .flatten()
        .for_each(cut);
    p.envelope.as_mut().map(cut_envelope);
}

fn cut_envelope(e: &mut Envelope) {
    [
        &mut e.date,
        &mut e.subject,
        &mut e.from,
        &mut e.sender,
        &mut e.reply_to,
        &mut e.to,
        &mut e.cc,
        &mut e.bcc,
        &mut e.in_reply_to,
        &mut e.message_id,
    ]
    .into_iter()
    .flatten()
    .for_each(cut);
}

/// Cuts `s` to at most [`CUT_STRING`] bytes at a character boundary.
fn cut(s: &mut String) {
    let mut n = s.len().min(CUT_STRING);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: A <a@x>\r\nTo: b@y\r\nSubject: hi\r\nX-Other: no\r\nSubject: again\r\n\r\nbody\r\n";

    #[test]
    fn round_trip_keeps_search_fields() {
        let s = MimeSummary::parse(MSG);
        let f = s.header_fields.clone().unwrap_or_default();
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f.iter().any(|(n, v)| n == "Subject" && v == "again"));
        let meta = s.clone().to_meta();
        assert_eq!(MimeSummary::from_meta(&meta), Some(s.clone()));
        assert_eq!(MimeSummary::fields_from_meta(&meta), s.header_fields);
        assert_eq!(meta.last(), Some(&EXT_TRAILER));
        // A reader without the ext (5523d82 and older) still decodes the summary.
        let old: Option<MimeSummary> = postcard::from_bytes(&meta).ok();
        assert_eq!(old.map(|o| o.parts), Some(s.parts));
    }

    #[test]
    fn root_alone_decodes_like_the_whole_summary() {
        let multi = b"From: A <a@x>\r\nSubject: parts\r\nMessage-ID: <m@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ntwo\r\n--b--\r\n";
        for msg in [MSG, &multi[..]] {
            let s = MimeSummary::parse(msg);
            let meta = s.clone().to_meta();
            assert_eq!(MimeSummary::root_from_meta(&meta).as_ref(), s.parts.first());
        }
        let refs = b"References: <a@x>\r\n <b@x>\r\nSubject: s\r\nReferences: <c@x>\r\n\r\nbody\r\n";
        let meta = MimeSummary::parse(refs).to_meta();
        assert_eq!(MimeSummary::field_from_meta(&meta, "references").as_deref(), Some("<c@x>"));
        assert_eq!(MimeSummary::field_from_meta(&meta, "In-Reply-To"), None);
        assert_eq!(MimeSummary::field_from_meta(&meta[..meta.len() - 1], "references"), None);
        assert!(MimeSummary::root_from_meta(b"").is_none());
        assert!(MimeSummary::root_from_meta(&[0]).is_none(), "no parts");
        assert!(MimeSummary::root_from_meta(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1]).is_none(), "absurd count");
        assert!(MimeSummary::root_from_meta(&[1, 1, 0]).is_none(), "a root with a parent");
    }

    #[test]
    fn old_and_unknown_meta() {
        let s = MimeSummary::parse(MSG);
        let old = postcard::to_stdvec(&s).unwrap_or_default();
        let back = MimeSummary::from_meta(&old);
        assert_eq!(back.as_ref().map(|b| &b.parts), Some(&s.parts));
        assert_eq!(back.and_then(|b| b.header_fields), None);
        assert_eq!(MimeSummary::fields_from_meta(&old), None);
        for n in 0..4 {
            assert_eq!(MimeSummary::fields_from_meta(&[0xFE; 4][..n]), None);
        }
        let mut later = old.clone();
        later.extend_from_slice(&[2, 9, 9, 9]);
        assert_eq!(MimeSummary::from_meta(&later).and_then(|b| b.header_fields), None);
        assert_eq!(MimeSummary::from_meta(b""), None);
        assert_eq!(MimeSummary::from_meta(&[0, 0]), None);
        // A cycle (root's parent is part 1, part 1's is the root) is refused, not recursed.
        let mut two = MimeSummary::parse(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
        assert_eq!(two.parts.len(), 2);
        assert!(MimeSummary::from_meta(&two.clone().to_meta()).is_some());
        two.parts[0].parent = Some(1);
        assert_eq!(MimeSummary::from_meta(&two.clone().to_meta()), None);
        two.parts[0].parent = None;
        two.parts[1].parent = Some(1);
        assert_eq!(MimeSummary::from_meta(&two.to_meta()), None);
        for n in 0..old.len() {
            let _ = MimeSummary::from_meta(old.get(..n).unwrap_or_default());
        }
    }

    #[test]
    fn deepest_parsed_summaries_decode() {
        let mut m = Vec::new();
        for i in 0..3 * DEPTH_MAX {
            m.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes());
            m.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        m.extend_from_slice(b"Subject: deep\r\n\r\nx\r\n");
        let s = MimeSummary::parse(&m);
        assert!(s.parts.len() >= DEPTH_MAX, "{}", s.parts.len());
        assert_eq!(MimeSummary::from_meta(&s.clone().to_meta()), Some(s));
    }

    #[test]
    fn oversize_summaries_degrade() {
        // 2,000 parts (the parser keeps 1,000) with long parameters: over MAX_META.
        let mut m = b"Content-Type: multipart/mixed; boundary=b\r\nSubject: s\r\n\r\n".to_vec();
        for i in 0..2000 {
            m.extend_from_slice(format!("--b\r\nContent-Type: text/plain; name=\"{i:0>120}\"\r\n\r\nx\r\n").as_bytes());
        }
        m.extend_from_slice(b"--b--\r\n");
        let s = MimeSummary::parse(&m);
        assert!(postcard::to_stdvec(&s).unwrap_or_default().len() > MAX_META as usize);
        let meta = s.clone().to_meta();
        assert!(meta.len() <= MAX_META as usize && meta.len() > MAX_META as usize / 2, "{}", meta.len());
        let back = MimeSummary::from_meta(&meta).unwrap_or_default();
        assert!(back.parts.len() > 100 && back.parts.len() < s.parts.len(), "{}", back.parts.len());
        assert_eq!(back.parts.first(), s.parts.first());
        assert_eq!(back.header_fields, s.header_fields);
        // One part with huge fields (built directly: the parser's caps keep real headers
        // below MAX_META): the strings are cut.
        let big = "v".repeat(8000);
        let mut one = MimeSummary::parse(MSG);
        if let Some(p) = one.parts.first_mut() {
            p.params = (0..64).map(|i| (format!("p{i}"), big.clone())).collect();
            p.description = Some(big.clone());
            p.envelope = Some(Envelope { subject: Some(big.clone()), from: Some(big.clone()), ..Envelope::default() });
        }
        let meta = one.to_meta();
        let back = MimeSummary::from_meta(&meta).unwrap_or_default();
        assert!(meta.len() <= MAX_META as usize);
        assert_eq!(back.header_fields, None);
        let subject = back.parts.first().and_then(|p| p.envelope.as_ref()).and_then(|e| e.subject.clone());
        assert_eq!(subject.map(|s| s.len()), Some(CUT_STRING));
    }

    #[test]
    fn too_many_search_fields_are_unknown() {
        let mut m = String::new();
        for _ in 0..10 {
            m.push_str(&format!("Subject: {}\r\n", "s".repeat(2000)));
        }
        m.push_str("\r\nbody\r\n");
        assert_eq!(MimeSummary::parse(m.as_bytes()).header_fields, None);
    }
}
