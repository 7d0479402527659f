//! Streaming decoders that turn a MIME part's stored bytes into the text a person reads:
//! RFC 2045 §6.7 quoted-printable and §6.8 base64 transfer encodings, the part's charset
//! (RFC 2046 §4.1.2, via [`crate::charset`]) and HTML as text (tags, comments and
//! `<script>`/`<style>` content skipped, character references decoded: HTML 5 §13.1, §13.5).
//!
//! Every decoder is a byte or character state machine that carries its state across
//! chunks (a `=XX` escape, a base64 quantum, a UTF-8 sequence, an entity or a tag may be
//! split anywhere), so output for a stream pushed in chunks of any size equals output for
//! the whole; state is a few bytes, output per push is proportional to the push.

use crate::charset::{Charset, Decoder};
use crate::mime::Part;

/// White space held at once while waiting to see whether a line break follows (RFC 2045
/// §6.7 keeps encoded lines to 76 characters; a longer run is text and goes out).
const QP_WS_MAX: usize = 256;

/// RFC 2045 §6.7 quoted-printable decoder (`=XX`, soft line breaks `=CRLF` / `=LF`;
/// malformed escapes are kept as they are; rule 3: white space at the end of a line was
/// added by transport and is deleted).
#[derive(Debug, Default, Clone)]
pub struct QpDecoder {
    /// Bytes of an escape in progress: `=`, `=X` or `=CR`.
    pending: Vec<u8>,
    /// Spaces and tabs not yet known to be inside a line (at most [`QP_WS_MAX`]).
    ws: Vec<u8>,
    /// A CR was seen after `ws`; a LF next makes a line break.
    cr: bool,
}

impl QpDecoder {
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.pending.is_empty() && self.ws.is_empty() && !self.cr {
                // The common case: plain text up to the next byte that needs a decision.
                let n = input.iter().position(|&b| matches!(b, b'=' | b' ' | b'\t' | b'\r')).unwrap_or(input.len());
                out.extend_from_slice(input.get(..n).unwrap_or_default());
                input = input.get(n..).unwrap_or_default();
            }
            if let Some((&b, rest)) = input.split_first() {
                self.byte(b, out);
                input = rest;
            }
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            return self.escape(b, out);
        }
        if self.cr {
            self.cr = false;
            if b == b'\n' {
                // Rule 3: the white space before a line break goes.
                self.ws.clear();
                return out.extend_from_slice(b"\r\n");
            }
            self.flush_ws(out);
            out.push(b'\r');
        }
        match b {
            b' ' | b'\t' => {
                if self.ws.len() >= QP_WS_MAX {
                    self.flush_ws(out);
                }
                self.ws.push(b);
            }
            b'\r' => self.cr = true,
            b'\n' => {
                self.ws.clear();
                out.push(b);
            }
            b'=' => {
                self.flush_ws(out);
                self.pending.push(b);
            }
            _ => {
                self.flush_ws(out);
                out.push(b);
            }
        }
    }

    /// Inside `=...`: `=XX`, or a soft line break `=` [white space] [CR] LF (rule 3: white
    /// space a gateway added after the `=` does not stop it being a soft break).
    fn escape(&mut self, b: u8, out: &mut Vec<u8>) {
        let rest = self.pending.get(1..).unwrap_or_default();
        let (space, cr) = match rest.split_last() {
            Some((b'\r', before)) => (before, true),
            _ => (rest, false),
        };
        let blank = space.iter().all(|&c| c == b' ' || c == b'\t');
        match (rest, b) {
            (_, b'\n') if blank => self.pending.clear(),
            (_, b'\r') if blank && !cr => self.pending.push(b),
            (_, b' ' | b'\t') if blank && !cr && self.pending.len() < QP_WS_MAX => self.pending.push(b),
            ([], _) if b.is_ascii_hexdigit() => self.pending.push(b),
            ([h], _) if h.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                out.push(hex(*h) << 4 | hex(b));
                self.pending.clear();
            }
            _ => {
                // Not an escape: the bytes stand for themselves, `b` starts afresh.
                out.append(&mut self.pending);
                self.byte(b, out);
            }
        }
    }

    fn flush_ws(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.ws);
    }

    /// Ends the stream: an unfinished escape is kept as it is; white space at the very end
    /// is the end of a line too (rule 3); a lone CR stays.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.ws.clear();
        if std::mem::take(&mut self.cr) {
            out.push(b'\r');
        }
        out.append(&mut self.pending);
    }
}

/// RFC 2045 §6.8 base64 decoder, lenient as RFC 2045 asks of readers: characters outside
/// the alphabet are ignored, `=` ends a quantum, a short final quantum yields its bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Base64Decoder {
    acc: u32,
    sextets: u8,
}

impl Base64Decoder {
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() / 4 * 3 + 3);
        for &b in input {
            match B64.get(usize::from(b)).copied().unwrap_or(B64_SKIP) {
                B64_SKIP => {}
                B64_PAD => self.finish(out),
                v => {
                    self.acc = (self.acc << 6) | u32::from(v);
                    self.sextets += 1;
                    if self.sextets == 4 {
                        let [_, x, y, z] = self.acc.to_be_bytes();
                        out.push(x);
                        out.push(y);
                        out.push(z);
                        (self.acc, self.sextets) = (0, 0);
                    }
                }
            }
        }
    }

    /// Ends a quantum: 2 or 3 sextets give 1 or 2 bytes, a lone one nothing.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let bytes = (self.acc << (6 * (4 - u32::from(self.sextets)))).to_be_bytes();
        let n = usize::from(self.sextets.saturating_sub(1));
        out.extend_from_slice(bytes.get(1..1 + n).unwrap_or_default());
        (self.acc, self.sextets) = (0, 0);
    }

    /// Decodes a whole base64 text (RFC 2047 "B" words).
    pub fn decode_all(text: &[u8]) -> Vec<u8> {
        let mut d = Base64Decoder::default();
        let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
        d.push(text, &mut out);
        d.finish(&mut out);
        out
    }
}

/// [`B64`] entries that are not sextets: a character outside the alphabet (ignored) and `=`.
const B64_SKIP: u8 = 0xFF;
const B64_PAD: u8 = 0xFE;

/// The base64 alphabet (RFC 2045 Table 1) as a byte → sextet table.
static B64: [u8; 256] = {
    let mut t = [B64_SKIP; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'=' as usize] = B64_PAD;
    t
};

/// The value of an ASCII hex digit (callers check `is_ascii_hexdigit`).
fn hex(c: u8) -> u8 {
    char::from(c).to_digit(16).unwrap_or(0) as u8
}

/// Longest tag name remembered: enough for `blockquote`; longer names are neither block
/// tags nor `script`/`style`.
const TAG_NAME_MAX: usize = 10;
/// Longest character reference kept while it is read (`&#x10FFFF;`, `&frac34;`); a longer
/// one is plain text.
const ENTITY_MAX: usize = 10;

/// HTML 4 Latin-1 entity names for U+00A0…U+00FF in order (HTML 5 §13.5 has them all).
const LATIN1_ENTITIES: &str = "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr \
deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute \
Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute \
Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring \
aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide \
oslash ugrave uacute ucirc uuml yacute thorn yuml";

/// Elements whose edges separate words when rendered.
const BLOCK_TAGS: [&str; 22] = [
    "p",
    "br",
    "div",
    "td",
    "th",
    "tr",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "hr",
    "title",
    "pre",
    "dd",
    "dt",
];

/// Where [`HtmlText`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Html {
    Text,
    /// After `<`.
    Open,
    /// In a tag name (`true`: an end tag).
    Name(bool),
    /// In a tag's attributes, inside the given quote if any.
    Attrs(Option<char>),
    /// After `<!`, with the number of `-` seen.
    Bang(u8),
    /// In a comment, with the run of `-` just seen (`-->` ends it).
    Comment(u8),
    /// In `<!DOCTYPE …>` or `<?…>`.
    Decl,
    /// In `<script>`/`<style>` content, with the bytes of `</script` / `</style` matched.
    Raw(u8),
    /// After `&`.
    Entity,
}

/// HTML to text (see the module doc): whitespace runs become one space, block tags a space.
#[derive(Debug, Clone)]
pub struct HtmlText {
    state: Html,
    name: String,
    entity: String,
    /// The raw-text element being skipped: `"script"` or `"style"`.
    raw: &'static str,
    space: bool,
}

impl Default for HtmlText {
    fn default() -> Self {
        HtmlText { state: Html::Text, name: String::new(), entity: String::new(), raw: "", space: true }
    }
}

impl HtmlText {
    pub fn push(&mut self, mut input: &str, out: &mut String) {
        while !input.is_empty() {
            if self.state == Html::Text {
                // Plain ASCII text up to the next markup, space or non-ASCII character.
                let n = input
                    .bytes()
                    .position(|b| matches!(b, b'<' | b'&' | b'\t'..=b'\r' | b' ') || b >= 0x80)
                    .unwrap_or(input.len());
                if n > 0 {
                    out.push_str(input.get(..n).unwrap_or_default());
                    self.space = false;
                    input = input.get(n..).unwrap_or_default();
                    continue;
                }
            }
            let mut chars = input.chars();
            let Some(c) = chars.next() else { break };
            self.char(c, out);
            input = chars.as_str();
        }
    }

    /// Ends the stream: a pending `&name` is text; an unclosed tag or comment is dropped.
    pub fn finish(&mut self, out: &mut String) {
        if self.state == Html::Entity {
            out.push('&');
            out.push_str(&self.entity);
        }
        self.state = Html::Text;
    }

    fn emit(&mut self, c: char, out: &mut String) {
        if c.is_whitespace() {
            if !self.space {
                out.push(' ');
            }
            self.space = true;
        } else {
            out.push(c);
            self.space = false;
        }
    }

    fn char(&mut self, c: char, out: &mut String) {
        self.state = match (self.state, c) {
            (Html::Text, '<') => Html::Open,
            (Html::Text, '&') => {
                self.entity.clear();
                Html::Entity
            }
            (Html::Text, _) => {
                self.emit(c, out);
                Html::Text
            }
            (Html::Open, '!') => Html::Bang(0),
            (Html::Open, '?') => Html::Decl,
            (Html::Open, '/') => self.start_name(true),
            (Html::Open, _) if c.is_ascii_alphabetic() => {
                self.start_name(false);
                self.name.push(c.to_ascii_lowercase());
                Html::Name(false)
            }
            (Html::Open, _) => {
                // `a < b`: not a tag.
                self.emit('<', out);
                self.state = Html::Text;
                return self.char(c, out);
            }
            (Html::Name(end), _) if c.is_ascii_alphanumeric() => {
                if self.name.len() < TAG_NAME_MAX {
                    self.name.push(c.to_ascii_lowercase());
                } else {
                    self.name.push('-'); // too long: matches no known name
                    self.name.truncate(TAG_NAME_MAX + 1);
                }
                Html::Name(end)
            }
            (Html::Name(end), '>') => self.end_tag(end, out),
            (Html::Name(end), _) => {
                self.raw_start(end);
                Html::Attrs(None)
            }
            (Html::Attrs(None), '>') => self.end_tag(false, out),
            (Html::Attrs(None), '"' | '\'') => Html::Attrs(Some(c)),
            (Html::Attrs(Some(q)), _) if c == q => Html::Attrs(None),
            (s @ Html::Attrs(_), _) => s,
            (Html::Bang(1), '-') => Html::Comment(0),
            (Html::Bang(0), '-') => Html::Bang(1),
            (Html::Bang(_), '>') | (Html::Decl, '>') => Html::Text,
            (Html::Bang(_) | Html::Decl, _) => Html::Decl,
            (Html::Comment(n), '>') if n >= 2 => Html::Text,
            (Html::Comment(n), '-') => Html::Comment(n.saturating_add(1)),
            (Html::Comment(_), _) => Html::Comment(0),
            (Html::Raw(n), _) => self.raw_char(n, c),
            (Html::Entity, _) => return self.entity_char(c, out),
        };
    }

    fn start_name(&mut self, end: bool) -> Html {
        self.name.clear();
        self.raw = "";
        Html::Name(end)
    }

    /// The tag name is complete: an opening `script`/`style` starts raw text at `>`.
    fn raw_start(&mut self, end: bool) {
        self.raw = match (end, self.name.as_str()) {
            (false, "script") => "script",
            (false, "style") => "style",
            _ => "",
        };
    }

    fn end_tag(&mut self, end: bool, out: &mut String) -> Html {
        if matches!(self.state, Html::Name(_)) {
            self.raw_start(end);
        }
        if BLOCK_TAGS.contains(&self.name.as_str()) {
            self.emit(' ', out);
        }
        match self.raw.is_empty() {
            true => Html::Text,
            false => Html::Raw(0),
        }
    }

    /// Matches `</` + the raw element's name, case-insensitively.
    fn raw_char(&mut self, n: u8, c: char) -> Html {
        let n = usize::from(n);
        let want = match n {
            0 | 1 => b"</".get(n),
            _ => self.raw.as_bytes().get(n - 2),
        };
        match want {
            Some(&w) if c.eq_ignore_ascii_case(&char::from(w)) => {
                if n + 1 == 2 + self.raw.len() {
                    self.name = self.raw.to_owned();
                    self.raw = "";
                    return Html::Attrs(None);
                }
                Html::Raw(u8::try_from(n + 1).unwrap_or(0))
            }
            _ if c == '<' => Html::Raw(1),
            _ => Html::Raw(0),
        }
    }

    fn entity_char(&mut self, c: char, out: &mut String) {
        if c == ';' {
            match entity(&self.entity) {
                Some(ch) => self.emit(ch, out),
                None => {
                    out.push('&');
                    out.push_str(&self.entity);
                    out.push(';');
                    self.space = false;
                }
            }
            self.state = Html::Text;
        } else if (c.is_ascii_alphanumeric() || c == '#') && self.entity.len() < ENTITY_MAX {
            self.entity.push(c);
        } else {
            out.push('&');
            out.push_str(&self.entity);
            self.space = false;
            self.state = Html::Text;
            self.char(c, out);
        }
    }
}

/// The character of a reference `name` (between `&` and `;`): numeric, the XML five and
/// the Latin-1 names; `nbsp` reads as a space.
fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let v = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => num.parse().ok()?,
        };
        // HTML 5 §13.2.5.80: NUL, surrogates and out-of-range numbers read as U+FFFD.
        return Some(char::from_u32(v).filter(|&c| c != '\0').unwrap_or('\u{FFFD}'));
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "euro" => '€',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        _ => {
            let i = LATIN1_ENTITIES.split(' ').position(|n| n == name)?;
            char::from_u32(0xA0 + u32::try_from(i).ok()?)?
        }
    })
}

/// A part's content transfer encoding (RFC 2045 §6.1; 7bit, 8bit, binary and unknown ones
/// are read as they are).
#[derive(Debug, Clone)]
enum Transfer {
    Identity,
    Qp(QpDecoder),
    Base64(Base64Decoder),
}

/// A text part's stored body to the text a person reads: transfer decoding, then charset
/// conversion to UTF-8 (unknown charsets read as UTF-8), then HTML to text for text/html.
#[derive(Debug)]
pub struct TextStream {
    transfer: Transfer,
    charset: Decoder,
    html: Option<HtmlText>,
    bytes: Vec<u8>,
    text: String,
    out: String,
}

impl TextStream {
    /// A stream for a body in `encoding` (`Content-Transfer-Encoding`), `charset`, as HTML
    /// or plain text.
    pub fn new(encoding: Option<&str>, charset: Option<&str>, html: bool) -> TextStream {
        let transfer = match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            Some("quoted-printable") => Transfer::Qp(QpDecoder::default()),
            Some("base64") => Transfer::Base64(Base64Decoder::default()),
            _ => Transfer::Identity,
        };
        let charset = charset.and_then(Charset::lookup).unwrap_or(Charset::Utf8);
        TextStream {
            transfer,
            charset: Decoder::new(charset),
            html: html.then(HtmlText::default),
            bytes: Vec::new(),
            text: String::new(),
            out: String::new(),
        }
    }

    /// The stream for `part`'s body, from its MIME summary entry.
    pub fn for_part(part: &Part) -> TextStream {
        let html = part.mime_type == "text" && part.subtype == "html";
        TextStream::new(part.encoding.as_deref(), super::param(&part.params, "charset"), html)
    }

    /// Decodes the next chunk of stored body; returns the text it completes.
    pub fn push(&mut self, raw: &[u8]) -> &str {
        self.bytes.clear();
        match &mut self.transfer {
            Transfer::Identity => self.bytes.extend_from_slice(raw),
            Transfer::Qp(d) => d.push(raw, &mut self.bytes),
            Transfer::Base64(d) => d.push(raw, &mut self.bytes),
        }
        self.convert(false)
    }

    /// Ends the body; returns the text still held.
    pub fn finish(&mut self) -> &str {
        self.bytes.clear();
        match &mut self.transfer {
            Transfer::Identity => {}
            Transfer::Qp(d) => d.finish(&mut self.bytes),
            Transfer::Base64(d) => d.finish(&mut self.bytes),
        }
        self.convert(true)
    }

    fn convert(&mut self, last: bool) -> &str {
        self.text.clear();
        self.charset.push(&self.bytes, &mut self.text);
        if last {
            self.charset.finish(&mut self.text);
        }
        let Some(html) = &mut self.html else { return &self.text };
        self.out.clear();
        html.push(&self.text, &mut self.out);
        if last {
            html.finish(&mut self.out);
        }
        &self.out
    }
}

#[cfg(test)]
mod tests;
