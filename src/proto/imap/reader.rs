//! The IMAP token reader: a cursor over one framed command and the RFC 3501 §9 (RFC 9051
//! §9) lexical rules every command uses: `atom`, `number`, `nz-number`, `string`
//! (`quoted`, `literal`), `astring`, `mailbox`, `list-mailbox`, `sequence-set`,
//! `flag-list`, `flag`, and RFC 3501 §9 `date` / `date-time`. Each function is named after
//! its ABNF rule; errors are [`Bad`] (a tagged BAD).

use super::api::flag;
use super::types::{is_astring_char, is_atom_char, SeqNum, SequenceSet};

pub const PAREN_DEPTH_MAX: usize = 8;
/// Flags in one flag list.
pub const FLAGS_MAX: usize = 64;

/// A syntax error: BAD with a short generic text (house style 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad(pub &'static str);

pub type R<T> = Result<T, Bad>;

/// A flag in STORE / APPEND (RFC 3501 §9 `flag`); `\\Recent` is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    System(u32),
    Keyword(String),
}

/// A cursor over one frame (rustls `Reader` style).
pub struct P<'a> {
    b: &'a [u8],
    pub(super) i: usize,
}

impl<'a> P<'a> {
    pub fn new(b: &'a [u8]) -> P<'a> {
        P { b, i: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    pub fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    pub fn expect(&mut self, c: u8) -> R<()> {
        self.eat(c).then_some(()).ok_or(Bad("Syntax error"))
    }

    pub fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    pub fn end(&self) -> R<()> {
        self.at_end().then_some(()).ok_or(Bad("Unexpected extra arguments"))
    }

    /// Case-insensitive keyword followed by a non-atom char, `[` or the end.
    pub fn keyword(&mut self, word: &str) -> bool {
        let end = self.i + word.len();
        let hit = self.b.get(self.i..end).is_some_and(|s| s.eq_ignore_ascii_case(word.as_bytes()))
            && !self.b.get(end).is_some_and(|&c| is_atom_char(c) && c != b'[');
        if hit {
            self.i = end;
        }
        hit
    }

    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.b.get(start..self.i).unwrap_or(&[])
    }

    /// RFC 3501 §9 `atom = 1*ATOM-CHAR`.
    pub fn atom(&mut self) -> R<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        (!a.is_empty()).then_some(a).ok_or(Bad("Atom expected"))
    }

    /// RFC 3501 §9 `number` (u32, no overflow).
    pub fn number(&mut self) -> R<u32> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return Err(Bad("Number expected"));
        }
        let n = d.iter().fold(0u64, |a, &c| a * 10 + u64::from(c - b'0'));
        u32::try_from(n).map_err(|_| Bad("Number too large"))
    }

    /// RFC 7162 §7 `mod-sequence-valzer = "0" / mod-sequence-value`: at most 2^63 - 1.
    pub fn mod_sequence(&mut self) -> R<u64> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err(Bad("Mod-sequence expected"));
        }
        let n = d.iter().fold(0u64, |a, &c| a.saturating_mul(10).saturating_add(u64::from(c - b'0')));
        (n <= i64::MAX as u64).then_some(n).ok_or(Bad("Mod-sequence too large"))
    }

    /// RFC 3501 §9 `nz-number`.
    pub fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => Err(Bad("Zero is not allowed")),
            n => Ok(n),
        }
    }

    /// RFC 3501 §9 `string = quoted / literal`.
    pub fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(Bad("String expected")),
        }
    }

    /// RFC 3501 §9 `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; RFC 9051 §9 adds UTF-8. NUL, CR
    /// and LF are never QUOTED-CHARs (BAD-INPUTS 32).
    pub fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(0 | b'\r' | b'\n') => return Err(Bad("Bad quoted string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c),
                        _ => return Err(Bad("Bad quoted string")),
                    }
                }
                Some(c) => out.push(c),
            }
            self.i += 1;
        }
        self.i += 1;
        Ok(out)
    }

    /// RFC 3501 §9 `literal = "{" number "}" CRLF *CHAR8`, RFC 7888 `{N+}`; the framer
    /// already checked sizes. NUL is not a CHAR8.
    pub fn literal(&mut self) -> R<Vec<u8>> {
        self.expect(b'{')?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        let data = self.b.get(self.i..self.i + n).ok_or(Bad("Short literal"))?;
        if data.contains(&0) {
            return Err(Bad("NUL in literal"));
        }
        self.i += n;
        Ok(data.to_vec())
    }

    /// RFC 3501 §9 `astring = 1*ASTRING-CHAR / string`.
    pub fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                (!a.is_empty()).then(|| a.to_vec()).ok_or(Bad("String expected"))
            }
        }
    }

    /// An astring that must be UTF-8 text.
    pub fn text(&mut self) -> R<String> {
        String::from_utf8(self.astring()?).map_err(|_| Bad("Invalid UTF-8"))
    }

    /// RFC 3501 §9 `mailbox = "INBOX" / astring` (raw; validated by the session).
    pub fn mailbox(&mut self) -> R<Vec<u8>> {
        self.astring()
    }

    /// RFC 3501 §9 `list-mailbox = 1*list-char / string`.
    pub fn list_mailbox(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(|c| is_astring_char(c) || c == b'%' || c == b'*');
                (!a.is_empty()).then(|| a.to_vec()).ok_or(Bad("Pattern expected"))
            }
        }
    }

    /// RFC 3501 §9 `sequence-set`; `0` and overflow are BAD (BAD-INPUTS 35). RFC 5182 §4
    /// `seq-last-command = "$"` is [`SequenceSet::saved`].
    pub fn sequence_set(&mut self) -> R<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') { self.seq_number()? } else { a };
            ranges.push((a, b));
            if ranges.len() > super::types::SEQ_RANGES_MAX {
                return Err(Bad("Sequence set too long"));
            }
            if !self.eat(b',') {
                break;
            }
        }
        SequenceSet::new(ranges).ok_or(Bad("Invalid sequence set"))
    }

    /// RFC 3501 §9 `seq-number = nz-number / "*"`.
    fn seq_number(&mut self) -> R<SeqNum> {
        match self.eat(b'*') {
            true => Ok(SeqNum::Star),
            false => self.nz_number().map(SeqNum::Value),
        }
    }

    /// RFC 3501 §9 `flag-list = "(" [flag *(SP flag)] ")"`.
    pub fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        while !self.eat(b')') {
            if !flags.is_empty() {
                self.sp()?;
            }
            flags.extend(self.flag()?);
            if flags.len() > FLAGS_MAX {
                return Err(Bad("Too many flags"));
            }
        }
        Ok(flags)
    }

    /// RFC 6154 §6 `"(" use-attr *(SP use-attr) ")"` with `use-attr = "\\" atom`, as text.
    pub fn flag_list_raw(&mut self) -> R<Vec<String>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        while !self.eat(b')') {
            if !out.is_empty() {
                self.sp()?;
            }
            self.expect(b'\\')?;
            out.push(format!("\\{}", String::from_utf8_lossy(self.atom()?)));
            if out.len() > FLAGS_MAX {
                return Err(Bad("Too many flags"));
            }
        }
        Ok(out)
    }

    /// RFC 3501 §9 `flag`: system flags, `\`-extensions (refused), keyword atoms.
    pub fn flag(&mut self) -> R<Option<Flag>> {
        if self.eat(b'\\') {
            let name = self.atom()?.to_ascii_lowercase();
            let bit = match name.as_slice() {
                b"seen" => flag::SEEN,
                b"answered" => flag::ANSWERED,
                b"flagged" => flag::FLAGGED,
                b"deleted" => flag::DELETED,
                b"draft" => flag::DRAFT,
                b"recent" => return Ok(None),
                _ => return Err(Bad("Unknown system flag")),
            };
            return Ok(Some(Flag::System(bit)));
        }
        let kw = self.atom()?;
        Ok(Some(Flag::Keyword(String::from_utf8_lossy(kw).into_owned())))
    }

    /// Skips one value: atom, string, or a parenthesized list of them (depth-capped).
    pub fn skip_value(&mut self, depth: usize) -> R<()> {
        if depth > PAREN_DEPTH_MAX {
            return Err(Bad("Nesting too deep"));
        }
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                while !self.eat(b')') {
                    self.eat(b' ');
                    self.skip_value(depth + 1)?;
                }
                Ok(())
            }
            Some(b'"' | b'{') => self.string().map(drop),
            _ => self
                .take_while(|c| is_astring_char(c) || c == b'\\')
                .is_empty()
                .then_some(())
                .map_or(Ok(()), |_| Err(Bad("Value expected"))),
        }
    }
}

const MONTHS: [&[u8]; 12] =
    [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];

/// RFC 3501 §9 `date-month`, 1-12.
fn month(p: &mut P) -> R<u32> {
    let m = p.take_while(|c| c.is_ascii_alphabetic()).to_ascii_lowercase();
    MONTHS.iter().position(|x| *x == m.as_slice()).map(|i| i as u32 + 1).ok_or(Bad("Bad month"))
}

/// RFC 3501 §9 `date = date-text / DQUOTE date-text DQUOTE`, as days since 1970-01-01.
pub fn date(p: &mut P) -> R<i64> {
    let quoted = p.eat(b'"');
    let d = p.number()?;
    p.expect(b'-')?;
    let m = month(p)?;
    p.expect(b'-')?;
    let y = p.number()?;
    if quoted {
        p.expect(b'"')?;
    }
    if !(1..=31).contains(&d) || !(1000..=9999).contains(&y) {
        return Err(Bad("Bad date"));
    }
    Ok(crate::datetime::days_from_civil(i64::from(y), m, d))
}

/// RFC 3501 §9 `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP
/// zone DQUOTE`, as unix seconds.
pub fn date_time(p: &mut P) -> R<i64> {
    p.expect(b'"')?;
    p.eat(b' ');
    let day = date(p)?;
    p.sp()?;
    let mut secs = 0i64;
    for (i, max) in [23u32, 59, 60].into_iter().enumerate() {
        if i > 0 {
            p.expect(b':')?;
        }
        let n = p.number()?;
        if n > max {
            return Err(Bad("Bad time"));
        }
        secs = secs * 60 + i64::from(n);
    }
    p.sp()?;
    let sign = match (p.eat(b'+'), p.eat(b'-')) {
        (true, _) => 1,
        (_, true) => -1,
        _ => return Err(Bad("Bad zone")),
    };
    let z = i64::from(p.number()?);
    p.expect(b'"')?;
    Ok(day * 86_400 + secs - sign * ((z / 100) * 3600 + (z % 100) * 60))
}
