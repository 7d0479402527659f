//! Charsets for reading mail as a person sees it: bytes in a MIME charset (RFC 2045 §5.1
//! `charset` parameter, RFC 2046 §4.1.2; names from the IANA registry, RFC 2978) to UTF-8,
//! and Unicode simple case folding for the `i;unicode-casemap` comparator (RFC 5051 §2).
//!
//! Supported: UTF-8, US-ASCII (read as UTF-8, its superset), ISO-8859-1…16 (no -12, which
//! was never published), windows-874 and windows-1250…1258, KOI8-R, KOI8-U, IBM866 and
//! macintosh. The single-byte tables are hand-sized: 128 UTF-16 code units each (256 bytes)
//! in `tables.rs`, generated from Python's codecs by `scripts/gen-charset-tables.py`;
//! ISO-8859-1 needs none (it is the first 256 code points). Simple case folding is 202
//! runs of 12 bytes. [`Decoder`] converts a stream in chunks of any size. Measured in the
//! x86_64 release binary (issue 19): 28 tables 7,168 B + folding runs 2,424 B; with the
//! decoders of [`crate::mime::decode`] and the SEARCH changes the stripped binary grew
//! by 30,976 B (2,345,520 → 2,376,496).
//!
//! [`words`] decodes RFC 2047 encoded words and RFC 2231 parameters; [`FoldMatcher`] finds a
//! case-folded needle in a stream of text.

#[rustfmt::skip]
mod tables;
pub mod words;

pub use words::{decode_rfc2047, param_rfc2231};

/// Charset names accepted by [`Charset::lookup`], as listed in a `[BADCHARSET (…)]`
/// response code (RFC 3501 §7.1).
pub const NAMES: &str = "UTF-8 US-ASCII ISO-8859-1 ISO-8859-2 ISO-8859-3 ISO-8859-4 ISO-8859-5 ISO-8859-6 \
ISO-8859-7 ISO-8859-8 ISO-8859-9 ISO-8859-10 ISO-8859-11 ISO-8859-13 ISO-8859-14 ISO-8859-15 ISO-8859-16 \
windows-874 windows-1250 windows-1251 windows-1252 windows-1253 windows-1254 windows-1255 windows-1256 \
windows-1257 windows-1258 KOI8-R KOI8-U IBM866 macintosh";

/// A supported charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 and US-ASCII; invalid sequences become U+FFFD.
    Utf8,
    /// ISO-8859-1: byte value = code point.
    Latin1,
    /// A single-byte charset: ASCII below 0x80, the table above.
    Table(&'static [u16; 128]),
}

impl Charset {
    /// The charset called `name` (case-insensitive; `-`, `_` and spaces ignored, so
    /// `ISO_8859-1`, `iso8859-1` and `cp1252` / `windows-1252` are found), `None` if unknown.
    pub fn lookup(name: &str) -> Option<Charset> {
        let key: String =
            name.trim().chars().filter(|c| !matches!(c, '-' | '_' | ' ')).map(|c| c.to_ascii_lowercase()).collect();
        let key = key.strip_suffix('i').filter(|k| k.starts_with("iso8859")).unwrap_or(&key); // RFC 1556 -8-i
        Some(match key {
            "utf8" | "usascii" | "ascii" | "ansix3.41968" | "us" => Charset::Utf8,
            "iso88591" | "latin1" | "l1" => Charset::Latin1,
            "latin2" | "l2" => Charset::Table(&tables::ISO_8859_2),
            "latin3" | "l3" => Charset::Table(&tables::ISO_8859_3),
            "latin4" | "l4" => Charset::Table(&tables::ISO_8859_4),
            "latin5" | "l5" => Charset::Table(&tables::ISO_8859_9),
            "latin6" | "l6" => Charset::Table(&tables::ISO_8859_10),
            "latin7" => Charset::Table(&tables::ISO_8859_13),
            "latin8" => Charset::Table(&tables::ISO_8859_14),
            "latin9" => Charset::Table(&tables::ISO_8859_15),
            "latin10" => Charset::Table(&tables::ISO_8859_16),
            "koi8r" => Charset::Table(&tables::KOI8_R),
            "koi8u" => Charset::Table(&tables::KOI8_U),
            "ibm866" | "cp866" => Charset::Table(&tables::IBM866),
            "macintosh" | "mac" | "macroman" => Charset::Table(&tables::MACINTOSH),
            "tis620" | "windows874" | "cp874" => Charset::Table(&tables::WINDOWS_874),
            _ => return numbered(key),
        })
    }
}

/// `iso8859N` and `windowsN` / `cpN` names.
fn numbered(key: &str) -> Option<Charset> {
    if let Some(n) = key.strip_prefix("iso8859") {
        return Some(Charset::Table(match n {
            "1" => return Some(Charset::Latin1),
            "2" => &tables::ISO_8859_2,
            "3" => &tables::ISO_8859_3,
            "4" => &tables::ISO_8859_4,
            "5" => &tables::ISO_8859_5,
            "6" => &tables::ISO_8859_6,
            "7" => &tables::ISO_8859_7,
            "8" => &tables::ISO_8859_8,
            "9" => &tables::ISO_8859_9,
            "10" => &tables::ISO_8859_10,
            "11" => &tables::ISO_8859_11,
            "13" => &tables::ISO_8859_13,
            "14" => &tables::ISO_8859_14,
            "15" => &tables::ISO_8859_15,
            "16" => &tables::ISO_8859_16,
            _ => return None,
        }));
    }
    let n = key.strip_prefix("windows").or_else(|| key.strip_prefix("cp"))?;
    Some(Charset::Table(match n {
        "1250" => &tables::WINDOWS_1250,
        "1251" => &tables::WINDOWS_1251,
        "1252" => &tables::WINDOWS_1252,
        "1253" => &tables::WINDOWS_1253,
        "1254" => &tables::WINDOWS_1254,
        "1255" => &tables::WINDOWS_1255,
        "1256" => &tables::WINDOWS_1256,
        "1257" => &tables::WINDOWS_1257,
        "1258" => &tables::WINDOWS_1258,
        _ => return None,
    }))
}

/// Longest incomplete UTF-8 sequence carried between chunks.
const UTF8_CARRY_MAX: usize = 3;

/// Streaming conversion to UTF-8: [`Decoder::push`] chunks of any size, then
/// [`Decoder::finish`]. The output equals a one-shot conversion of the concatenation
/// (for UTF-8, `String::from_utf8_lossy`'s).
#[derive(Debug)]
pub struct Decoder {
    charset: Charset,
    /// An incomplete UTF-8 sequence from the end of the last chunk (≤ [`UTF8_CARRY_MAX`]).
    carry: Vec<u8>,
}

impl Decoder {
    pub fn new(charset: Charset) -> Decoder {
        Decoder { charset, carry: Vec::new() }
    }

    /// Appends the text of `bytes` to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut String) {
        match self.charset {
            Charset::Latin1 => single_byte(bytes, out, char::from),
            Charset::Table(t) => single_byte(bytes, out, |b| table_char(t, b)),
            Charset::Utf8 if self.carry.is_empty() => self.utf8(bytes, out),
            Charset::Utf8 => {
                let mut joined = std::mem::take(&mut self.carry);
                joined.extend_from_slice(bytes);
                self.utf8(&joined, out);
            }
        }
    }

    /// Ends the stream: a truncated UTF-8 sequence becomes one U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if !self.carry.is_empty() {
            self.carry.clear();
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }

    fn utf8(&mut self, mut bytes: &[u8], out: &mut String) {
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => return out.push_str(s),
                Err(e) => {
                    let (good, bad) = bytes.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        // Incomplete at the end: at most 3 bytes, completed by the next chunk.
                        None => {
                            self.carry = bad.get(..UTF8_CARRY_MAX.min(bad.len())).unwrap_or_default().to_vec();
                            return;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            bytes = bad.get(n..).unwrap_or_default();
                        }
                    }
                }
            }
        }
    }
}

/// A single-byte charset: runs of ASCII are copied as they are, other bytes mapped.
fn single_byte(mut bytes: &[u8], out: &mut String, map: impl Fn(u8) -> char) {
    while !bytes.is_empty() {
        let n = bytes.iter().position(|&b| b >= 0x80).unwrap_or(bytes.len());
        let (ascii, rest) = bytes.split_at(n);
        out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
        let m = rest.iter().position(|&b| b < 0x80).unwrap_or(rest.len());
        let (high, rest) = rest.split_at(m);
        out.extend(high.iter().map(|&b| map(b)));
        bytes = rest;
    }
}

fn table_char(t: &[u16; 128], b: u8) -> char {
    match b.checked_sub(0x80) {
        None => char::from(b),
        Some(i) => t.get(usize::from(i)).and_then(|&u| char::from_u32(u32::from(u))).unwrap_or('\u{FFFD}'),
    }
}

/// `bytes` in `charset` as UTF-8 (one shot).
pub fn decode(charset: Charset, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut d = Decoder::new(charset);
    d.push(bytes, &mut out);
    d.finish(&mut out);
    out
}

/// Unicode simple case folding of one character (CaseFolding.txt statuses C and S, as
/// RFC 5051 §2 `i;unicode-casemap` step 2 uses; the titlecase step 1 is the identity for
/// what simple folding maps).
pub fn fold_char(c: char) -> char {
    let cp = u32::from(c);
    if cp < 0x80 {
        return c.to_ascii_lowercase();
    }
    let i = tables::FOLD_RUNS.partition_point(|&(start, ..)| start <= cp);
    let Some(&(start, len, step, delta)) = i.checked_sub(1).and_then(|i| tables::FOLD_RUNS.get(i)) else {
        return c;
    };
    let off = cp - start;
    let hit = off % u32::from(step.max(1)) == 0 && off / u32::from(step.max(1)) < u32::from(len);
    match hit {
        true => cp.checked_add_signed(delta).and_then(char::from_u32).unwrap_or(c),
        false => c,
    }
}

/// `s` case-folded with [`fold_char`].
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// `s` as [`FoldMatcher`] compares it: case-folded, each run of white space one space
/// (a line break in the stored text is a space to the reader).
pub fn normalize(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut space = false;
    push_normalized(s, &mut out, &mut space);
    // Only whole UTF-8 sequences are appended, so this never loses anything.
    String::from_utf8(out).unwrap_or_default()
}

/// ASCII white space as `char::is_whitespace` has it (HT, LF, VT, FF, CR, SP).
fn ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// Appends `s` normalized (UTF-8) to `out`; `space` carries "the last character was white
/// space". Runs of ASCII letters are copied and lowercased in bulk (most mail text is
/// ASCII: this is the hot loop of a BODY search); other characters go one by one.
fn push_normalized(s: &str, out: &mut Vec<u8>, space: &mut bool) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b >= 0x80 {
            let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else { break };
            i += c.len_utf8();
            if c.is_whitespace() {
                if !*space {
                    out.push(b' ');
                }
                *space = true;
            } else {
                let mut buf = [0u8; 4];
                out.extend_from_slice(fold_char(c).encode_utf8(&mut buf).as_bytes());
                *space = false;
            }
        } else if ascii_space(b) {
            if !*space {
                out.push(b' ');
            }
            *space = true;
            i += 1;
        } else {
            let run = bytes.get(i..).unwrap_or_default();
            let n = run.iter().position(|&c| c >= 0x80 || ascii_space(c)).unwrap_or(run.len());
            let start = out.len();
            out.extend_from_slice(run.get(..n).unwrap_or_default());
            if let Some(new) = out.get_mut(start..) {
                new.make_ascii_lowercase();
            }
            *space = false;
            i += n;
        }
    }
}

/// Streaming case-insensitive substring search: feed text with [`FoldMatcher::push`]; a
/// match may span pushes (the last `needle chars - 1` normalized characters are kept).
/// Needle and text are compared [`normalize`]d.
#[derive(Debug)]
pub struct FoldMatcher {
    finder: memchr::memmem::Finder<'static>,
    keep: usize,
    /// Normalized text (UTF-8): the kept tail of the previous pushes, then the current push.
    hay: Vec<u8>,
    /// The last character pushed was white space.
    space: bool,
    found: bool,
}

impl FoldMatcher {
    /// A matcher for `needle` (folded here); an empty needle matches everything.
    pub fn new(needle: &str) -> FoldMatcher {
        let folded = normalize(needle);
        let keep = folded.chars().count().saturating_sub(1);
        let finder = memchr::memmem::Finder::new(folded.as_bytes()).into_owned();
        FoldMatcher { finder, keep, hay: Vec::new(), space: false, found: folded.is_empty() }
    }

    /// Feeds text; returns whether the needle has been seen so far.
    pub fn push(&mut self, text: &str) -> bool {
        if self.found {
            return true;
        }
        push_normalized(text, &mut self.hay, &mut self.space);
        self.found = self.finder.find(&self.hay).is_some();
        let cut = tail_start(&self.hay, self.keep);
        self.hay.drain(..cut);
        self.found
    }

    /// Forgets the kept tail, so text after this does not join text before (a new part).
    pub fn reset(&mut self) {
        self.hay.clear();
        self.space = false;
    }

    pub fn found(&self) -> bool {
        self.found
    }
}

/// Where the last `chars` characters of UTF-8 `text` begin (0 when it has fewer).
fn tail_start(text: &[u8], chars: usize) -> usize {
    if chars == 0 {
        return text.len();
    }
    let mut seen = 0;
    for (i, &b) in text.iter().enumerate().rev() {
        if b & 0xC0 != 0x80 {
            seen += 1;
            if seen == chars {
                return i;
            }
        }
    }
    0
}

#[cfg(test)]
pub(crate) mod tests;
