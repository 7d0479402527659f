//! RFC 3516 BINARY: `FETCH BINARY[part]<o.n>`, `BINARY.PEEK[...]` and `BINARY.SIZE[part]`
//! (§4.1-§4.3, §9 `fetch-att`), answered with the part's content transfer encoding undone
//! (RFC 2045 §6.7 quoted-printable, §6.8 base64; 7bit, 8bit and binary as they are) in
//! `literal8` form (§4.2 `~{n}`). Unknown encodings give `NO [UNKNOWN-CTE]` (§4.3).
//!
//! Streamed: the decoded length (needed before the literal) comes from one decoding pass
//! over the part in [`DECODE_CHUNK`] reads, then the part is decoded again as it is sent,
//! one read per step of the FETCH job, so no part is ever held whole in RAM. The lenient
//! decoders of `crate::mime::decode` make both passes agree on any input, broken base64
//! included (characters outside the alphabet are skipped the same way both times).

use super::api::{Mailstore, MsgMeta, StoreError};
use super::fetch::SECTION_DEPTH_MAX;
use super::reader::{Bad, P, R};
use crate::mime::decode::{Base64Decoder, QpDecoder};
use crate::mime::MimeSummary;

/// Raw bytes read per decoding step (the size pass and each streaming step).
pub const DECODE_CHUNK: usize = 16 * 1024;

/// A BINARY fetch item (RFC 3516 §9 `section-binary = "[" [section-part] "]"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySection {
    pub peek: bool,
    /// `BINARY.SIZE`: only the decoded length.
    pub size: bool,
    pub part: Vec<u32>,
    pub partial: Option<(u32, u32)>,
}

impl BinarySection {
    /// `BINARY[1.2]<o>` or `BINARY.SIZE[1.2]` (RFC 3516 §9 `msg-att-static`).
    pub fn response_name(&self) -> String {
        let spec: Vec<String> = self.part.iter().map(u32::to_string).collect();
        let partial = self.partial.map(|(o, _)| format!("<{o}>")).unwrap_or_default();
        let name = if self.size { "BINARY.SIZE" } else { "BINARY" };
        format!("{name}[{}]{partial}", spec.join("."))
    }
}

/// RFC 3516 §9 `"BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE"
/// section-binary`; `None` if the next item is not a BINARY one.
pub fn binary_att(p: &mut P) -> R<Option<BinarySection>> {
    let (peek, size) = if p.keyword("BINARY.PEEK") {
        (true, false)
    } else if p.keyword("BINARY.SIZE") {
        (true, true)
    } else if p.keyword("BINARY") {
        (false, false)
    } else {
        return Ok(None);
    };
    p.expect(b'[')?;
    let mut part = Vec::new();
    while p.peek().is_some_and(|c| c.is_ascii_digit()) {
        part.push(p.nz_number()?);
        if part.len() > SECTION_DEPTH_MAX {
            return Err(Bad("Section too deep"));
        }
        if !p.eat(b'.') {
            break;
        }
    }
    p.expect(b']')?;
    let mut partial = None;
    if !size && p.eat(b'<') {
        let o = p.number()?;
        p.expect(b'.')?;
        let n = p.nz_number()?;
        p.expect(b'>')?;
        partial = Some((o, n));
    }
    Ok(Some(BinarySection { peek, size, part, partial }))
}

/// A content transfer decoder (RFC 2045 §6.1 mechanisms).
#[derive(Debug, Clone)]
pub enum CteDecoder {
    Identity,
    Base64(Base64Decoder),
    Qp(QpDecoder),
}

impl CteDecoder {
    /// The decoder for a `Content-Transfer-Encoding` value; `None` if it is unknown.
    pub fn for_encoding(encoding: Option<&str>) -> Option<CteDecoder> {
        let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
        match enc.as_deref() {
            None | Some("" | "7bit" | "8bit" | "binary") => Some(CteDecoder::Identity),
            Some("base64") => Some(CteDecoder::Base64(Base64Decoder::default())),
            Some("quoted-printable") => Some(CteDecoder::Qp(QpDecoder::default())),
            Some(_) => None,
        }
    }

    pub fn push(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        match self {
            CteDecoder::Identity => out.extend_from_slice(raw),
            CteDecoder::Base64(d) => d.push(raw, out),
            CteDecoder::Qp(d) => d.push(raw, out),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            CteDecoder::Identity => {}
            CteDecoder::Base64(d) => d.finish(out),
            CteDecoder::Qp(d) => d.finish(out),
        }
    }
}

/// Where a BINARY section's bytes are and how they are encoded.
#[derive(Debug)]
pub enum Located {
    /// `offset`, `len` of the raw bytes and their decoder.
    Part(u64, u64, CteDecoder),
    /// No such part.
    Missing,
    /// RFC 3516 §4.3: an encoding the server cannot decode.
    UnknownCte,
}

/// RFC 3516 §4.1: `BINARY[]` is the whole message as it is; a part is its body, decoded.
pub fn locate(sec: &BinarySection, mime: &MimeSummary, meta: MsgMeta) -> Located {
    if sec.part.is_empty() {
        return Located::Part(0, meta.size, CteDecoder::Identity);
    }
    let Some(part) = mime.resolve(&sec.part).and_then(|i| mime.part(i)) else {
        return Located::Missing;
    };
    match CteDecoder::for_encoding(part.encoding.as_deref()) {
        Some(d) => Located::Part(part.body_offset, part.body_len, d),
        None => Located::UnknownCte,
    }
}

/// The decoded length of `len` raw bytes at `offset` (one streamed pass; identity is free).
pub fn decoded_len(
    store: &mut dyn Mailstore,
    (folder, uid): (&str, u32),
    offset: u64,
    len: u64,
    mut dec: CteDecoder,
) -> Result<u64, StoreError> {
    if matches!(dec, CteDecoder::Identity) {
        return Ok(len);
    }
    let mut raw = vec![0u8; DECODE_CHUNK];
    let mut out = Vec::with_capacity(DECODE_CHUNK);
    let (mut pos, mut total) = (0u64, 0u64);
    while pos < len {
        let want = usize::try_from(len - pos).unwrap_or(DECODE_CHUNK).min(DECODE_CHUNK);
        let buf = raw.get_mut(..want).unwrap_or(&mut []);
        let n = store.read(folder, uid, offset + pos, buf)?;
        if n == 0 {
            return Err(StoreError::Io);
        }
        dec.push(buf.get(..n).unwrap_or(&[]), &mut out);
        total += out.len() as u64;
        out.clear();
        pos += n as u64;
    }
    dec.finish(&mut out);
    Ok(total + out.len() as u64)
}

/// A decoded section being sent: raw input left, decoded bytes to skip (`<o.n>`) and to
/// send (the promised literal length).
#[derive(Debug)]
pub struct DecodeStream {
    pub uid: u32,
    raw_offset: u64,
    raw_left: u64,
    dec: CteDecoder,
    skip: u64,
    pub left: u64,
}

impl DecodeStream {
    pub fn new(uid: u32, (raw_offset, raw_left): (u64, u64), dec: CteDecoder, skip: u64, left: u64) -> DecodeStream {
        DecodeStream { uid, raw_offset, raw_left, dec, skip, left }
    }

    /// Decodes up to `room` raw bytes into `out`; Err if the store failed (the literal is
    /// then padded with spaces, as `FetchJob` does for raw sections).
    pub fn pump(&mut self, store: &mut dyn Mailstore, folder: &str, out: &mut Vec<u8>, room: usize) -> Result<(), ()> {
        let mut decoded = Vec::with_capacity(room.min(DECODE_CHUNK));
        let mut ok = true;
        if self.raw_left > 0 {
            let want = usize::try_from(self.raw_left).unwrap_or(DECODE_CHUNK).min(room.clamp(1, DECODE_CHUNK));
            let mut raw = vec![0u8; want];
            match store.read(folder, self.uid, self.raw_offset, &mut raw) {
                Ok(n) if n > 0 => {
                    self.dec.push(raw.get(..n).unwrap_or(&[]), &mut decoded);
                    self.raw_offset += n as u64;
                    self.raw_left = self.raw_left.saturating_sub(n as u64);
                }
                _ => (self.raw_left, ok) = (0, false),
            }
        }
        if self.raw_left == 0 {
            self.dec.finish(&mut decoded);
        }
        self.emit(&decoded, out);
        if self.raw_left == 0 && self.left > 0 {
            // The two passes disagree (the message changed under us): keep the promise.
            out.resize(out.len() + usize::try_from(self.left).unwrap_or(0), b' ');
            (self.left, ok) = (0, false);
        }
        ok.then_some(()).ok_or(())
    }

    /// Sends decoded bytes after the partial offset, up to the promised length.
    fn emit(&mut self, decoded: &[u8], out: &mut Vec<u8>) {
        let skip = usize::try_from(self.skip).unwrap_or(usize::MAX).min(decoded.len());
        self.skip -= skip as u64;
        let rest = decoded.get(skip..).unwrap_or(&[]);
        let take = usize::try_from(self.left).unwrap_or(usize::MAX).min(rest.len());
        out.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        self.left -= take as u64;
    }

    pub fn done(&self) -> bool {
        self.left == 0
    }
}

/// RFC 3516 §4.1 partial `<o.n>` over a decoded length: (skip, send).
pub fn partial_range(total: u64, partial: Option<(u32, u32)>) -> (u64, u64) {
    match partial {
        None => (0, total),
        Some((o, n)) => {
            let skip = u64::from(o).min(total);
            (skip, (total - skip).min(u64::from(n)))
        }
    }
}
