//! On-disk records of a folder file: pure encode and decode, versioned and checksummed.
//!
//! # Folder file format, version 1
//!
//! All integers are little-endian. A folder file is an 8-byte signature followed by records:
//!
//! ```text
//! file      = SIGNATURE record*
//! SIGNATURE = 89 'L' 'B' 'X' 0D 0A 1A 0A            (PNG-style: catches text-mode mangling)
//! record    = magic:4 = "LBR" 01 | kind:1 | zero:3 | len:4 | crc:4 | payload:len
//! ```
//!
//! `crc` is CRC-32C over the 8 bytes `kind zero len` followed by the *covered* part of the
//! payload: the whole payload for every kind except MESSAGE, where it covers the fixed part
//! and the meta bytes, and the body is covered by `body_crc` inside the fixed part. (The UID
//! is assigned under the folder lock after the body was received; this split lets the body
//! checksum be computed while receiving.) A record is *committed* when all its bytes are
//! present and both checksums match; anything else at the end of the file is a torn tail and
//! is truncated by the next writer. `len` is at most [`MAX_PAYLOAD`].
//!
//! Kinds and payloads:
//!
//! ```text
//! 1 HEADER   uidvalidity:4 uidnext:4 modseq:8 created:8          first record of every file
//! 2 MESSAGE  uid:4 flags:4 date:8 modseq:8 meta_len:4 body_crc:4 attrs:4 saved:4  (40 bytes)
//!            meta:meta_len body:(len - 40 - meta_len)
//! 3 FLAGS    modseq:8 count:4 (uid:4 flags:4)*count              new full flag words
//! 4 EXPUNGE  modseq:8 count:4 (first:4 last:4)*count             inclusive UID ranges
//! 5 KEYWORD  index:1 name:rest                                   keyword bit 5+index
//! ```
//!
//! * `uid` strictly ascends across MESSAGE records of a file and is never reused: `uidnext`
//!   in HEADER is a floor (compaction keeps it), as is `modseq`.
//! * `flags` bits: 0 `\Seen`, 1 `\Answered`, 2 `\Flagged`, 3 `\Deleted`, 4 `\Draft`,
//!   5..=31 keywords numbered by KEYWORD records (27 per folder).
//! * `date` is the IMAP internal date, Unix seconds. `attrs` bit 0: the message came from a
//!   CRLF mbox (export keeps CRLF for it); other bits zero.
//! * `saved` is when this record was written into this folder (RFC 8514 save date), Unix
//!   seconds; 0: unknown. Every append (delivery, APPEND, COPY/MOVE, import, fetch) sets it;
//!   compaction keeps it. The field was `zero:4` before (still version 1): records written
//!   then read as 0, and older readers ignore the field, so files stay interchangeable.
//! * `meta` is the message's MIME summary (ENVELOPE, BODYSTRUCTURE, SEARCH header fields),
//!   written by every delivery path; its format is specified in `crate::mime`'s `meta`
//!   module (postcard, versioned by an extension byte). Empty: none was stored (versions
//!   before issue 13 for SMTP, `deliver` and mbox import); readers compute it once and keep
//!   it in the folder's meta cache (`super::metacache`), and compaction folds it in.
//! * `body` is the message exactly as served (CRLF line ends, SMTP dot-stuffing undone).
//! * Every record carries the folder's modification sequence after it (RFC 7162 MODSEQ);
//!   a later FLAGS or EXPUNGE record overrides earlier state; readers apply records in order.

use crate::util::{crc32c, Crc};

/// File signature.
pub const SIGNATURE: [u8; 8] = [0x89, b'L', b'B', b'X', 0x0D, 0x0A, 0x1A, 0x0A];
/// Record magic.
pub const MAGIC: [u8; 4] = [b'L', b'B', b'R', 1];
/// Record header size.
pub const HEADER_LEN: usize = 16;
/// Fixed part of a MESSAGE payload.
pub const MESSAGE_FIXED: usize = 40;
/// Largest payload: 1 GiB (messages are limited far below by config).
pub const MAX_PAYLOAD: u32 = 1 << 30;
/// Largest meta section of a message.
pub const MAX_META: u32 = 65_535;
/// Number of keyword slots per folder (flag bits 5..=31).
pub const MAX_KEYWORDS: usize = 27;
/// Bytes of the flag word used by system flags.
pub const SYSTEM_FLAGS: u32 = 0x1f;
/// MESSAGE attrs bit: keep CRLF line ends on mbox export.
pub const ATTR_EXPORT_CRLF: u32 = 1;

/// Record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Header = 1,
    Message = 2,
    Flags = 3,
    Expunge = 4,
    Keyword = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Header,
            2 => Kind::Message,
            3 => Kind::Flags,
            4 => Kind::Expunge,
            5 => Kind::Keyword,
            _ => return None,
        })
    }
}

/// Why bytes are not a committed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Fewer bytes than the header or the declared length: a torn tail if at file end.
    Short,
    /// The magic, kind or length field is wrong.
    Garbage,
    /// All bytes are present but a checksum does not match.
    Checksum,
}

/// A decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: Kind,
    pub len: u32,
    pub crc: u32,
}

impl RecordHeader {
    /// Total bytes of the record on disk.
    pub fn total(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// Decodes a record header from at least [`HEADER_LEN`] bytes.
pub fn decode_header(b: &[u8]) -> Result<RecordHeader, Bad> {
    let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN).and_then(|s| s.try_into().ok()).ok_or(Bad::Short)?;
    if h[0..4] != MAGIC || h[5..8] != [0, 0, 0] {
        return Err(Bad::Garbage);
    }
    let kind = Kind::from_u8(h[4]).ok_or(Bad::Garbage)?;
    let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let crc = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    let min = match kind {
        Kind::Header => 24,
        Kind::Message => MESSAGE_FIXED as u32,
        Kind::Flags | Kind::Expunge => 12,
        Kind::Keyword => 2,
    };
    if len > MAX_PAYLOAD || len < min {
        return Err(Bad::Garbage);
    }
    Ok(RecordHeader { kind, len, crc })
}

/// How many payload bytes the record CRC covers (see module docs).
pub fn covered_len(h: &RecordHeader, payload_prefix: &[u8]) -> Result<usize, Bad> {
    if h.kind != Kind::Message {
        return Ok(h.len as usize);
    }
    let fixed = MessageFixed::decode(payload_prefix).ok_or(Bad::Short)?;
    let covered = MESSAGE_FIXED as u64 + u64::from(fixed.meta_len);
    if fixed.meta_len > MAX_META || covered > u64::from(h.len) {
        return Err(Bad::Garbage);
    }
    Ok(covered as usize)
}

/// The record CRC over header fields and covered payload.
pub fn record_crc(kind: Kind, len: u32, covered: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(&header_fields(kind, len));
    c.update(covered);
    c.finish()
}

fn header_fields(kind: Kind, len: u32) -> [u8; 8] {
    let l = len.to_le_bytes();
    [kind as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Encodes a record header.
pub fn encode_header(kind: Kind, len: u32, crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..12].copy_from_slice(&header_fields(kind, len));
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Encodes a whole non-MESSAGE record.
pub fn encode_record(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&encode_header(kind, len, record_crc(kind, len, payload)));
    out.extend_from_slice(payload);
    out
}

/// The fixed part of a MESSAGE payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageFixed {
    pub uid: u32,
    pub flags: u32,
    pub date: i64,
    pub modseq: u64,
    pub meta_len: u32,
    pub body_crc: u32,
    pub attrs: u32,
    /// Save date: Unix seconds when the record was written into this folder; 0: unknown.
    pub saved: u32,
}

impl MessageFixed {
    pub fn encode(&self) -> [u8; MESSAGE_FIXED] {
        let mut b = [0u8; MESSAGE_FIXED];
        b[0..4].copy_from_slice(&self.uid.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.date.to_le_bytes());
        b[16..24].copy_from_slice(&self.modseq.to_le_bytes());
        b[24..28].copy_from_slice(&self.meta_len.to_le_bytes());
        b[28..32].copy_from_slice(&self.body_crc.to_le_bytes());
        b[32..36].copy_from_slice(&self.attrs.to_le_bytes());
        b[36..40].copy_from_slice(&self.saved.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<MessageFixed> {
        let mut r = Reader(b.get(..MESSAGE_FIXED)?);
        Some(MessageFixed {
            uid: r.u32()?,
            flags: r.u32()?,
            date: r.u64()? as i64,
            modseq: r.u64()?,
            meta_len: r.u32()?,
            body_crc: r.u32()?,
            attrs: r.u32()?,
            saved: r.u32()?,
        })
    }

    /// Builds the header and the covered bytes (fixed + meta) of a MESSAGE record.
    pub fn encode_record_prefix(&self, meta: &[u8], body_len: u64) -> Option<Vec<u8>> {
        let len = MESSAGE_FIXED as u64 + meta.len() as u64 + body_len;
        let len = u32::try_from(len).ok().filter(|&l| l <= MAX_PAYLOAD)?;
        let mut covered = Vec::with_capacity(MESSAGE_FIXED + meta.len());
        covered.extend_from_slice(&self.encode());
        covered.extend_from_slice(meta);
        let mut out = Vec::with_capacity(HEADER_LEN + covered.len());
        out.extend_from_slice(&encode_header(Kind::Message, len, record_crc(Kind::Message, len, &covered)));
        out.extend_from_slice(&covered);
        Some(out)
    }
}

/// HEADER payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderHeader {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub modseq: u64,
    pub created: i64,
}

impl FolderHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        b.extend_from_slice(&self.uidvalidity.to_le_bytes());
        b.extend_from_slice(&self.uidnext.to_le_bytes());
        b.extend_from_slice(&self.modseq.to_le_bytes());
        b.extend_from_slice(&self.created.to_le_bytes());
        encode_record(Kind::Header, &b)
    }

    pub fn decode(p: &[u8]) -> Option<FolderHeader> {
        let mut r = Reader(p);
        Some(FolderHeader { uidvalidity: r.u32()?, uidnext: r.u32()?, modseq: r.u64()?, created: r.u64()? as i64 })
    }
}

/// FLAGS payload: new flag words for some UIDs.
pub fn encode_flags(modseq: u64, changes: &[(u32, u32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + changes.len() * 8);
    b.extend_from_slice(&modseq.to_le_bytes());
    b.extend_from_slice(&(changes.len() as u32).to_le_bytes());
    for (uid, flags) in changes {
        b.extend_from_slice(&uid.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
    }
    encode_record(Kind::Flags, &b)
}

/// EXPUNGE payload: inclusive UID ranges.
pub fn encode_expunge(modseq: u64, ranges: &[(u32, u32)]) -> Vec<u8> {
    encode_flags_like(Kind::Expunge, modseq, ranges)
}

fn encode_flags_like(kind: Kind, modseq: u64, pairs: &[(u32, u32)]) -> Vec<u8> {
    let mut rec = encode_flags(modseq, pairs);
    // Same layout as FLAGS; only the kind differs, so re-frame with the right kind.
    let payload = rec.split_off(HEADER_LEN);
    encode_record(kind, &payload)
}

/// Decodes a FLAGS or EXPUNGE payload into (modseq, pairs).
pub fn decode_pairs(p: &[u8]) -> Option<(u64, Vec<(u32, u32)>)> {
    let mut r = Reader(p);
    let modseq = r.u64()?;
    let count = r.u32()? as usize;
    if r.0.len() != count.checked_mul(8)? {
        return None;
    }
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        v.push((r.u32()?, r.u32()?));
    }
    Some((modseq, v))
}

/// KEYWORD record.
pub fn encode_keyword(index: u8, name: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + name.len());
    b.push(index);
    b.extend_from_slice(name.as_bytes());
    encode_record(Kind::Keyword, &b)
}

/// Decodes a KEYWORD payload.
pub fn decode_keyword(p: &[u8]) -> Option<(u8, String)> {
    let (&idx, name) = p.split_first()?;
    if usize::from(idx) >= MAX_KEYWORDS {
        return None;
    }
    Some((idx, String::from_utf8(name.to_vec()).ok()?))
}

/// Verifies a complete in-memory record (header + payload); used by tests and fuzzers.
pub fn verify_record(b: &[u8]) -> Result<RecordHeader, Bad> {
    let h = decode_header(b)?;
    let payload = b.get(HEADER_LEN..).ok_or(Bad::Short)?;
    let payload = payload.get(..h.len as usize).ok_or(Bad::Short)?;
    let covered = covered_len(&h, payload)?;
    let cov = payload.get(..covered).ok_or(Bad::Short)?;
    if record_crc(h.kind, h.len, cov) != h.crc {
        return Err(Bad::Checksum);
    }
    if h.kind == Kind::Message {
        let fixed = MessageFixed::decode(payload).ok_or(Bad::Short)?;
        let body = payload.get(covered..).ok_or(Bad::Short)?;
        if crc32c(body) != fixed.body_crc {
            return Err(Bad::Checksum);
        }
    }
    Ok(h)
}

/// A bounds-checked little-endian cursor.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (a, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        a.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_record(uid: u32, body: &[u8]) -> Vec<u8> {
        let fixed = MessageFixed {
            uid,
            flags: 1,
            date: 1_700_000_000,
            modseq: 7,
            body_crc: crc32c(body),
            ..Default::default()
        };
        let mut r = fixed.encode_record_prefix(b"", body.len() as u64).unwrap();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn every_truncation_is_torn_never_partial() {
        let records = [
            message_record(3, b"Subject: hi\r\n\r\nbody\r\n"),
            encode_flags(9, &[(1, 3), (2, 0)]),
            encode_expunge(10, &[(1, 5)]),
            encode_keyword(0, "$Forwarded"),
            FolderHeader { uidvalidity: 1, uidnext: 1, modseq: 0, created: 0 }.encode(),
        ];
        for rec in &records {
            assert!(verify_record(rec).is_ok());
            for cut in 0..rec.len() {
                let r = verify_record(&rec[..cut]);
                assert!(matches!(r, Err(Bad::Short)), "cut {cut}: {r:?}");
            }
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let rec = message_record(3, b"Subject: hi\r\n\r\nbody\r\n");
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut r = rec.clone();
                r[i] ^= 1 << bit;
                assert!(verify_record(&r).is_err(), "flip at {i}:{bit}");
            }
        }
    }

    #[test]
    fn message_fixed_round_trips_the_save_date_and_old_records_read_zero() {
        let fixed = MessageFixed {
            uid: 9,
            flags: 3,
            date: -5,
            modseq: 1 << 40,
            meta_len: 12,
            body_crc: 0xdead_beef,
            attrs: ATTR_EXPORT_CRLF,
            saved: 1_780_000_000,
        };
        let b = fixed.encode();
        assert_eq!(b[36..40], 1_780_000_000u32.to_le_bytes(), "saved is the trailing word");
        assert_eq!(MessageFixed::decode(&b), Some(fixed));
        // A record written before the field: its trailing word was zero:4.
        let mut old = b;
        old[36..40].copy_from_slice(&[0; 4]);
        assert_eq!(MessageFixed::decode(&old), Some(MessageFixed { saved: 0, ..fixed }));
        assert_eq!(MessageFixed::decode(&b[..MESSAGE_FIXED - 1]), None);
    }

    #[test]
    fn pairs_round_trip() {
        let rec = encode_expunge(42, &[(1, 2), (7, 9)]);
        let h = verify_record(&rec).unwrap();
        assert_eq!(h.kind, Kind::Expunge);
        assert_eq!(decode_pairs(&rec[HEADER_LEN..]).unwrap(), (42, vec![(1, 2), (7, 9)]));
        assert_eq!(decode_keyword(&encode_keyword(3, "Junk")[HEADER_LEN..]).unwrap(), (3, "Junk".into()));
    }
}
