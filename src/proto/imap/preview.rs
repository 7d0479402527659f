//! RFC 8970 PREVIEW: `FETCH PREVIEW` (§3.1, with the `(LAZY)` modifier accepted and
//! ignored: the preview is always computed), the first text/plain (else text/html) part
//! that is not an attachment, decoded (transfer encoding, charset, HTML as text by
//! `crate::mime::decode::TextStream`), white space folded, at most [`PREVIEW_CHARS`]
//! characters (§4: 256). Streamed: the part is read in [`PREVIEW_READ`] pieces and reading
//! stops once the preview is full or [`PREVIEW_READ_MAX`] bytes were read.

use super::api::{Mailstore, StoreError};
use super::reader::{P, R};
use crate::mime::decode::TextStream;
use crate::mime::{MimeSummary, Part};

/// RFC 8970 §4: a preview holds at most 256 characters.
pub const PREVIEW_CHARS: usize = 256;
/// Raw bytes read per step.
pub const PREVIEW_READ: usize = 4 * 1024;
/// Raw bytes read at most (an HTML part may open with a long `<style>`).
pub const PREVIEW_READ_MAX: u64 = 64 * 1024;

/// `"PREVIEW" [SP "(" "LAZY" ")"]` (RFC 8970 §6 `fetch-att =/ "PREVIEW" [SP "(" preview-mod
/// *(SP preview-mod) ")"]`, `preview-mod = "LAZY"`); true if it was there.
pub fn preview_att(p: &mut P) -> R<bool> {
    if !p.keyword("PREVIEW") {
        return Ok(false);
    }
    let save = p.i;
    if p.eat(b' ') && p.eat(b'(') {
        if p.keyword("LAZY") && p.eat(b')') {
            return Ok(true);
        }
        return Err(super::reader::Bad("Bad PREVIEW modifier"));
    }
    p.i = save;
    Ok(true)
}

/// The part a preview comes from: the first inline text/plain, else the first text/html.
fn preview_part(mime: &MimeSummary) -> Option<&Part> {
    let inline_text = |p: &&Part, sub: &str| {
        p.mime_type == "text"
            && p.subtype == sub
            && !p.disposition.as_ref().is_some_and(|(d, _)| d.eq_ignore_ascii_case("attachment"))
    };
    let plain = mime.parts.iter().find(|p| inline_text(p, "plain"));
    plain.or_else(|| mime.parts.iter().find(|p| inline_text(p, "html")))
}

/// The preview text of message `uid` (empty if it has no text part).
pub fn preview(
    store: &mut dyn Mailstore,
    (folder, uid): (&str, u32),
    mime: &MimeSummary,
) -> Result<String, StoreError> {
    let Some(part) = preview_part(mime) else {
        return Ok(String::new());
    };
    let mut stream = TextStream::for_part(part);
    let mut out = Folded::default();
    let len = part.body_len.min(PREVIEW_READ_MAX);
    let mut buf = vec![0u8; PREVIEW_READ];
    let mut pos = 0u64;
    while pos < len && !out.full() {
        let want = usize::try_from(len - pos).unwrap_or(PREVIEW_READ).min(PREVIEW_READ);
        let chunk = buf.get_mut(..want).unwrap_or(&mut []);
        let n = store.read(folder, uid, part.body_offset + pos, chunk)?;
        if n == 0 {
            break;
        }
        out.push(stream.push(chunk.get(..n).unwrap_or(&[])));
        pos += n as u64;
    }
    out.push(stream.finish());
    Ok(out.text.trim_end().to_owned())
}

/// Text with runs of white space folded to one space, cut at [`PREVIEW_CHARS`].
#[derive(Default)]
struct Folded {
    text: String,
    chars: usize,
    space: bool,
}

impl Folded {
    fn full(&self) -> bool {
        self.chars >= PREVIEW_CHARS
    }

    fn push(&mut self, s: &str) {
        for c in s.chars() {
            if self.full() {
                return;
            }
            if c.is_whitespace() || c.is_control() {
                self.space = !self.text.is_empty();
                continue;
            }
            if std::mem::take(&mut self.space) {
                self.text.push(' ');
                self.chars += 1;
                if self.full() {
                    return;
                }
            }
            self.text.push(c);
            self.chars += 1;
        }
    }
}
