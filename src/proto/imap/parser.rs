//! Hand-written parser for the IMAP commands we serve (RFC 3501 §6 and §9 ABNF, RFC 9051
//! where it relaxes it; RFC 2971 ID, RFC 5161 ENABLE, RFC 2177 IDLE, RFC 4315 UID EXPUNGE,
//! RFC 3691 UNSELECT, RFC 4959 SASL-IR). Input is one frame from the framer: a command with
//! its literals inline, final CRLF removed. Each function is named after its ABNF rule.
//! Mailbox names are returned raw: validating them is a NO, not a BAD (BAD-INPUTS 33/34).

use crate::auth::Secret;

use super::api::{flag, StoreOp};
use super::fetch::{fetch_atts, FetchAtt};
use super::search::{search_program, SearchKey};
use super::types::{is_astring_char, is_atom_char, SeqNum, SequenceSet, Tag};

/// Nesting of parenthesized values skipped (select params, ID); deeper is BAD (item 31).
pub const PAREN_DEPTH_MAX: usize = 8;
/// Flags in one flag list.
pub const FLAGS_MAX: usize = 64;

/// A syntax error: BAD with a short generic text (house style 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad(pub &'static str);

pub type R<T> = Result<T, Bad>;

/// A flag in STORE / APPEND (RFC 3501 §9 `flag`); `\Recent` is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    System(u32),
    Keyword(String),
}

/// STATUS items (RFC 3501 §6.3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
}

#[derive(Debug)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: String,
        pass: Secret,
    },
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Id,
    /// RFC 5161: names are accepted; none of ours needs enabling.
    Enable,
    Namespace,
    List {
        reference: Vec<u8>,
        pattern: Vec<u8>,
        lsub: bool,
    },
    Select {
        mailbox: Vec<u8>,
        read_only: bool,
    },
    Create(Vec<u8>),
    Delete(Vec<u8>),
    Rename(Vec<u8>, Vec<u8>),
    /// SUBSCRIBE and UNSUBSCRIBE (every folder is listed by LSUB anyway).
    Subscribe(Vec<u8>),
    Status {
        mailbox: Vec<u8>,
        items: Vec<StatusItem>,
    },
    Close,
    Unselect,
    Check,
    Expunge(Option<SequenceSet>),
    Search {
        uid: bool,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        atts: Vec<FetchAtt>,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<Flag>,
    },
    Idle,
}

/// The parsed front of an APPEND (everything before the message literal).
#[derive(Debug)]
pub struct AppendPrefix {
    pub tag: Tag,
    pub mailbox: Vec<u8>,
    pub flags: Vec<Flag>,
    pub date: Option<i64>,
}

/// A cursor over one frame (rustls `Reader` style).
pub struct P<'a> {
    b: &'a [u8],
    i: usize,
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
        self.at_end()
            .then_some(())
            .ok_or(Bad("Unexpected extra arguments"))
    }

    /// Case-insensitive keyword followed by a non-atom char, `[` or the end.
    pub fn keyword(&mut self, word: &str) -> bool {
        let end = self.i + word.len();
        let hit = self
            .b
            .get(self.i..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(word.as_bytes()))
            && !self
                .b
                .get(end)
                .is_some_and(|&c| is_atom_char(c) && c != b'[');
        if hit {
            self.i = end;
        }
        hit
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
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
                (!a.is_empty())
                    .then(|| a.to_vec())
                    .ok_or(Bad("String expected"))
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
    fn list_mailbox(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(|c| is_astring_char(c) || c == b'%' || c == b'*');
                (!a.is_empty())
                    .then(|| a.to_vec())
                    .ok_or(Bad("Pattern expected"))
            }
        }
    }

    /// RFC 3501 §9 `sequence-set`; `0` and overflow are BAD (BAD-INPUTS 35).
    pub fn sequence_set(&mut self) -> R<SequenceSet> {
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
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
        Ok(Some(Flag::Keyword(
            String::from_utf8_lossy(kw).into_owned(),
        )))
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

/// RFC 3501 §9 `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF`. The tag comes back with the error when it was readable.
pub fn command(frame: &[u8]) -> Result<(Tag, Command), (Option<Tag>, Bad)> {
    let mut p = P::new(frame);
    let tag = tag(&mut p).map_err(|e| (None, e))?;
    let cmd = (|| {
        p.sp()?;
        let cmd = command_body(&mut p)?;
        p.end()?;
        Ok(cmd)
    })();
    match cmd {
        Ok(c) => Ok((tag, c)),
        Err(e) => Err((Some(tag), e)),
    }
}

/// RFC 3501 §9 `tag`.
fn tag(p: &mut P) -> R<Tag> {
    let t = p.take_while(|c| is_astring_char(c) && c != b'+');
    Tag::new(t).ok_or(Bad("Invalid tag"))
}

/// The command name and its arguments.
fn command_body(p: &mut P) -> R<Command> {
    let name = p.atom()?.to_ascii_uppercase();
    match name.as_slice() {
        b"CAPABILITY" => Ok(Command::Capability),
        b"NOOP" => Ok(Command::Noop),
        b"LOGOUT" => Ok(Command::Logout),
        b"STARTTLS" => Ok(Command::StartTls),
        b"NAMESPACE" => Ok(Command::Namespace),
        b"CLOSE" => Ok(Command::Close),
        b"UNSELECT" => Ok(Command::Unselect),
        b"CHECK" => Ok(Command::Check),
        b"EXPUNGE" => Ok(Command::Expunge(None)),
        b"IDLE" => Ok(Command::Idle),
        b"LOGIN" => login(p),
        b"AUTHENTICATE" => authenticate(p),
        b"ID" => id(p),
        b"ENABLE" => enable(p),
        b"LIST" | b"LSUB" => list(p, name.as_slice() == b"LSUB"),
        b"SELECT" | b"EXAMINE" => select(p, name.as_slice() == b"EXAMINE"),
        b"CREATE" | b"DELETE" | b"SUBSCRIBE" | b"UNSUBSCRIBE" => one_mailbox(p, &name),
        b"RENAME" => rename(p),
        b"STATUS" => status(p),
        b"SEARCH" | b"FETCH" | b"STORE" => selected_command(p, &name, false),
        b"UID" => uid(p),
        _ => Err(Bad("Unknown command")),
    }
}

/// RFC 3501 §9 `login = "LOGIN" SP userid SP password`.
fn login(p: &mut P) -> R<Command> {
    p.sp()?;
    let user = p.text()?;
    p.sp()?;
    let pass = Secret::new(p.astring()?);
    Ok(Command::Login { user, pass })
}

/// RFC 4959 §3 `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`.
fn authenticate(p: &mut P) -> R<Command> {
    p.sp()?;
    let mechanism = String::from_utf8_lossy(p.atom()?).into_owned();
    let initial = match p.eat(b' ') {
        true => Some(
            p.take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c))
                .to_vec(),
        ),
        false => None,
    };
    Ok(Command::Authenticate { mechanism, initial })
}

/// RFC 2971 §4 `id = "ID" SP id-params-list`; the client's values are not used.
fn id(p: &mut P) -> R<Command> {
    p.sp()?;
    if !p.keyword("NIL") {
        p.skip_value(1)?;
    }
    Ok(Command::Id)
}

/// RFC 5161 §4 `enable = "ENABLE" 1*(SP capability)`.
fn enable(p: &mut P) -> R<Command> {
    let mut caps = Vec::new();
    while p.eat(b' ') {
        caps.push(String::from_utf8_lossy(p.atom()?).to_ascii_uppercase());
        if caps.len() > FLAGS_MAX {
            return Err(Bad("Too many capabilities"));
        }
    }
    match caps.is_empty() {
        true => Err(Bad("Capability expected")),
        false => Ok(Command::Enable),
    }
}

/// RFC 3501 §9 `list = "LIST" SP mailbox SP list-mailbox` (LSUB alike).
fn list(p: &mut P, lsub: bool) -> R<Command> {
    p.sp()?;
    let reference = p.mailbox()?;
    p.sp()?;
    let pattern = p.list_mailbox()?;
    Ok(Command::List {
        reference,
        pattern,
        lsub,
    })
}

/// RFC 3501 §9 `select = "SELECT" SP mailbox`; RFC 4466 §2.1 select params are skipped
/// (CONDSTORE, QRESYNC), so clients that send them get no BAD.
fn select(p: &mut P, read_only: bool) -> R<Command> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    if p.eat(b' ') {
        if p.peek() != Some(b'(') {
            return Err(Bad("Select parameters expected"));
        }
        p.skip_value(1)?;
    }
    Ok(Command::Select { mailbox, read_only })
}

fn one_mailbox(p: &mut P, name: &[u8]) -> R<Command> {
    p.sp()?;
    let m = p.mailbox()?;
    Ok(match name {
        b"CREATE" => Command::Create(m),
        b"DELETE" => Command::Delete(m),
        _ => Command::Subscribe(m),
    })
}

fn rename(p: &mut P) -> R<Command> {
    p.sp()?;
    let from = p.mailbox()?;
    p.sp()?;
    Ok(Command::Rename(from, p.mailbox()?))
}

/// RFC 3501 §9 `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`.
fn status(p: &mut P) -> R<Command> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    p.expect(b'(')?;
    let mut items = Vec::new();
    loop {
        let a = p.atom()?.to_ascii_uppercase();
        items.push(match a.as_slice() {
            b"MESSAGES" => StatusItem::Messages,
            b"RECENT" => StatusItem::Recent,
            b"UIDNEXT" => StatusItem::UidNext,
            b"UIDVALIDITY" => StatusItem::UidValidity,
            b"UNSEEN" => StatusItem::Unseen,
            b"SIZE" => StatusItem::Size,
            _ => return Err(Bad("Unknown status item")),
        });
        if items.len() > 16 {
            return Err(Bad("Too many status items"));
        }
        if p.eat(b')') {
            return Ok(Command::Status { mailbox, items });
        }
        p.sp()?;
    }
}

/// RFC 3501 §9 `uid = "UID" SP (copy / fetch / search / store)`; RFC 4315 `uid-expunge`.
fn uid(p: &mut P) -> R<Command> {
    p.sp()?;
    let name = p.atom()?.to_ascii_uppercase();
    match name.as_slice() {
        b"EXPUNGE" => {
            p.sp()?;
            Ok(Command::Expunge(Some(p.sequence_set()?)))
        }
        b"SEARCH" | b"FETCH" | b"STORE" => selected_command(p, &name, true),
        _ => Err(Bad("Unknown UID command")),
    }
}

fn selected_command(p: &mut P, name: &[u8], uid: bool) -> R<Command> {
    p.sp()?;
    match name {
        b"SEARCH" => Ok(Command::Search {
            uid,
            key: search_program(p)?,
        }),
        b"FETCH" => {
            let set = p.sequence_set()?;
            p.sp()?;
            let atts = fetch_atts(p)?;
            Ok(Command::Fetch { uid, set, atts })
        }
        _ => store(p, uid),
    }
}

/// RFC 3501 §9 `store = "STORE" SP sequence-set SP store-att-flags`.
fn store(p: &mut P, uid: bool) -> R<Command> {
    let set = p.sequence_set()?;
    p.sp()?;
    let op = match p.peek() {
        Some(b'+') => StoreOp::Add,
        Some(b'-') => StoreOp::Remove,
        _ => StoreOp::Replace,
    };
    if op != StoreOp::Replace {
        p.i += 1;
    }
    let silent = if p.keyword("FLAGS.SILENT") {
        true
    } else if p.keyword("FLAGS") {
        false
    } else {
        return Err(Bad("FLAGS expected"));
    };
    p.sp()?;
    let flags = match p.peek() {
        Some(b'(') => p.flag_list()?,
        _ => flag_sequence(p)?,
    };
    Ok(Command::Store {
        uid,
        set,
        op,
        silent,
        flags,
    })
}

/// `flag *(SP flag)` without parentheses.
fn flag_sequence(p: &mut P) -> R<Vec<Flag>> {
    let mut flags: Vec<Flag> = p.flag()?.into_iter().collect();
    while p.eat(b' ') {
        flags.extend(p.flag()?);
        if flags.len() > FLAGS_MAX {
            return Err(Bad("Too many flags"));
        }
    }
    Ok(flags)
}

/// RFC 3501 §9 `append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal`,
/// up to the message literal header (included in `prefix`).
pub fn append_prefix(prefix: &[u8]) -> R<AppendPrefix> {
    let mut p = P::new(prefix);
    let tag = tag(&mut p)?;
    p.sp()?;
    if !p.keyword("APPEND") {
        return Err(Bad("APPEND expected"));
    }
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    let mut flags = Vec::new();
    if p.peek() == Some(b'(') {
        flags = p.flag_list()?;
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        date = Some(date_time(&mut p)?);
        p.sp()?;
    }
    literal_header_only(&mut p)?;
    Ok(AppendPrefix {
        tag,
        mailbox,
        flags,
        date,
    })
}

/// `{N}` or `{N+}` then CRLF and nothing else.
fn literal_header_only(p: &mut P) -> R<()> {
    p.expect(b'{')?;
    p.number()?;
    p.eat(b'+');
    p.expect(b'}')?;
    p.eat(b'\r');
    p.expect(b'\n')?;
    p.end()
}

/// Is this literal header (ending `prefix`) the message of an APPEND? (framer hook)
pub fn is_append_message(prefix: &[u8]) -> bool {
    let mut with_crlf = prefix.to_vec();
    with_crlf.extend_from_slice(b"\r\n");
    append_prefix(&with_crlf).is_ok()
}

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// RFC 3501 §9 `date-month`, 1-12.
fn month(p: &mut P) -> R<u32> {
    let m = p
        .take_while(|c| c.is_ascii_alphabetic())
        .to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|x| *x == m.as_slice())
        .map(|i| i as u32 + 1)
        .ok_or(Bad("Bad month"))
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
    Ok(crate::mbox::days_from_civil(i64::from(y), m, d))
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
