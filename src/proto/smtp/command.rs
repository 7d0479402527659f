//! SMTP command parser: RFC 5321 §4.1.1 commands and the §4.1.2 argument grammar, with the
//! MAIL parameters SIZE (RFC 1870 §3), BODY (RFC 6152 §2) and SMTPUTF8 (RFC 6531 §3.4).
//! Input is one framed line without its CRLF; it never contains CR, LF or NUL (checked by
//! the caller). Verbs and parameter keywords are case-insensitive (RFC 5321 §2.4).

use super::address::{self, AddrError, Mailbox, Reader};

/// RFC 4954 §4 `"AUTH" SP sasl-mech [SP initial-response]`; `=` is an empty response.
fn auth(args: &[u8]) -> Result<Command, CommandError> {
    let mut parts = args.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let mech = parts.next().ok_or(CommandError::Syntax)?;
    let initial = parts.next().map(|r| if r == b"=" { Vec::new() } else { r.to_vec() });
    // RFC 4422 §3.1 sasl-mech: 1-20 of upper-case letters, digits, "-" and "_".
    let mech_ok = (1..=20).contains(&mech.len()) && mech.iter().all(|c| c.is_ascii_alphanumeric() || b"-_".contains(c));
    if parts.next().is_some() || !mech_ok {
        return Err(CommandError::Syntax);
    }
    let mechanism = String::from_utf8_lossy(mech).to_ascii_uppercase();
    Ok(Command::Auth { mechanism, initial })
}

/// RFC 1870 §3 `size-value ::= 1*20DIGIT`.
const SIZE_DIGITS_MAX: usize = 20;

/// A parsed command. Borrowed parts point into the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// RFC 5321 §4.1.1.1 `ehlo = "EHLO" SP ( Domain / address-literal ) CRLF`.
    Ehlo(String),
    /// RFC 4954 §4 `AUTH mechanism [initial-response]` (the response still base64).
    Auth {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    /// RFC 5321 §4.1.1.1 `helo = "HELO" SP Domain CRLF`.
    Helo(String),
    /// RFC 5321 §4.1.1.2; `from` is `None` for the null reverse-path `<>`.
    Mail {
        from: Option<Mailbox>,
        params: MailParams,
    },
    /// RFC 5321 §4.1.1.3.
    Rcpt {
        to: Mailbox,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    /// RFC 3207 §4.
    StartTls,
    /// Known verbs we do not offer: AUTH, BDAT (no CHUNKING), EXPN, ETRN, TURN, SEND...
    NotImplemented,
}

/// RFC 5321 §4.1.2 `Mail-parameters` we understand.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MailParams {
    /// RFC 1870 SIZE= declared size.
    pub size: Option<u64>,
    /// RFC 6152 BODY=8BITMIME (BODY=7BIT leaves it false).
    pub body_8bit: bool,
    /// RFC 6531 SMTPUTF8.
    pub smtputf8: bool,
}

/// Why a line is not a valid command; mapped to replies by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// Unknown verb: 500 5.5.1.
    Unrecognized,
    /// Bad or missing arguments: 501 5.5.4.
    Syntax,
    /// Invalid EHLO/HELO argument: 501 5.5.4.
    BadHelo,
    /// MAIL path refused.
    Sender(AddrError),
    /// RCPT path refused.
    Recipient(AddrError),
    /// Known parameter with a bad value (SIZE garbage or overflow, BODY=x): 501 5.5.4.
    BadParam,
    /// Parameter we do not support: 555 5.5.4 (RFC 5321 §4.1.1.11).
    UnknownParam,
}

/// RFC 5321 §4.1.1: `verb [SP arguments]`, trailing spaces tolerated.
/// `utf8` is whether the current transaction declared SMTPUTF8 (for RCPT).
pub fn command(line: &[u8], utf8: bool) -> Result<Command, CommandError> {
    let line = trim_end(line);
    let (verb, args) = match memchr::memchr(b' ', line) {
        Some(i) => (line.get(..i).unwrap_or_default(), line.get(i + 1..)),
        None => (line, None),
    };
    let is = |name: &str| verb.eq_ignore_ascii_case(name.as_bytes());
    let bare = |c: Command| {
        if args.is_some() {
            Err(CommandError::Syntax)
        } else {
            Ok(c)
        }
    };
    match () {
        _ if is("EHLO") => hello(args).map(Command::Ehlo),
        _ if is("HELO") => hello(args).map(Command::Helo),
        _ if is("MAIL") => mail(args.unwrap_or_default()),
        _ if is("RCPT") => rcpt(args.unwrap_or_default(), utf8),
        _ if is("DATA") => bare(Command::Data),
        _ if is("RSET") => bare(Command::Rset),
        _ if is("QUIT") => bare(Command::Quit),
        _ if is("STARTTLS") => bare(Command::StartTls),
        _ if is("NOOP") => Ok(Command::Noop),
        _ if is("HELP") => Ok(Command::Help),
        _ if is("VRFY") => args.map(|_| Command::Vrfy).ok_or(CommandError::Syntax),
        _ if is("AUTH") => auth(args.ok_or(CommandError::Syntax)?),
        _ if ["BDAT", "EXPN", "ETRN", "TURN", "SEND", "SOML", "SAML"].iter().any(|v| is(v)) => {
            Ok(Command::NotImplemented)
        }
        _ => Err(CommandError::Unrecognized),
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
    line.get(..end).unwrap_or_default()
}

/// The EHLO/HELO argument: one `Domain` or `address-literal`, checked for its character set
/// only (RFC 5321 §4.1.4 forbids refusing on a mismatch), since it goes into `Received:`.
fn hello(args: Option<&[u8]>) -> Result<String, CommandError> {
    let arg = args.ok_or(CommandError::BadHelo)?;
    let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || b"-._[]:".contains(b);
    if arg.is_empty() || arg.len() > address::DOMAIN_MAX || !arg.iter().all(ok_byte) {
        return Err(CommandError::BadHelo);
    }
    String::from_utf8(arg.to_vec()).map_err(|_| CommandError::BadHelo)
}

/// RFC 5321 §4.1.1.2 `mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF`.
/// Spaces after the colon are tolerated, as most servers do.
fn mail(args: &[u8]) -> Result<Command, CommandError> {
    let path = keyword_colon(args, b"FROM:").ok_or(CommandError::Sender(AddrError::Syntax))?;
    let mut r = Reader::new(path);
    let from = address::reverse_path(&mut r, true).map_err(CommandError::Sender)?;
    let path_len = path.len() - r.rest().len();
    let params = mail_parameters(r.rest())?;
    if !params.smtputf8 && !path.get(..path_len).unwrap_or_default().is_ascii() {
        return Err(CommandError::Sender(AddrError::NonAscii));
    }
    Ok(Command::Mail { from, params })
}

/// RFC 5321 §4.1.1.3 `rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
/// Forward-path ) [SP Rcpt-parameters] CRLF`. We support no RCPT parameters (no DSN).
fn rcpt(args: &[u8], utf8: bool) -> Result<Command, CommandError> {
    let path = keyword_colon(args, b"TO:").ok_or(CommandError::Recipient(AddrError::Syntax))?;
    let mut r = Reader::new(path);
    let to = address::forward_path(&mut r, utf8).map_err(CommandError::Recipient)?;
    match r.rest() {
        [] => Ok(Command::Rcpt { to }),
        [b' ', ..] => Err(CommandError::UnknownParam),
        _ => Err(CommandError::Recipient(AddrError::Syntax)),
    }
}

/// Strips a case-insensitive `FROM:`/`TO:` and any spaces after it.
fn keyword_colon<'a>(args: &'a [u8], keyword: &[u8]) -> Option<&'a [u8]> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args.get(keyword.len()..)?;
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    rest.get(spaces..)
}

/// RFC 5321 §4.1.2 `Mail-parameters = esmtp-param *(SP esmtp-param)`,
/// `esmtp-param = esmtp-keyword ["=" esmtp-value]`. A parameter repeated with the same
/// value is taken once (Postfix does; Python's smtplib adds `size=N` itself when SIZE is
/// offered, so a caller passing `SIZE=N` too sends it twice); conflicting values are errors.
fn mail_parameters(rest: &[u8]) -> Result<MailParams, CommandError> {
    let mut params = MailParams::default();
    let mut seen = 0u8;
    if rest.is_empty() {
        return Ok(params);
    }
    let list = rest.strip_prefix(b" ").ok_or(CommandError::Sender(AddrError::Syntax))?;
    for param in list.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
        let (key, value) = match memchr::memchr(b'=', param) {
            Some(i) => (param.get(..i).unwrap_or_default(), param.get(i + 1..)),
            None => (param, None),
        };
        let before = params;
        let slot = mail_parameter(key, value, &mut params)?;
        let bit = 1u8 << slot;
        if seen & bit != 0 && params != before {
            return Err(CommandError::BadParam);
        }
        seen |= bit;
    }
    Ok(params)
}

/// One `esmtp-param`; returns which known parameter it was (0-2), for duplicate detection.
fn mail_parameter(key: &[u8], value: Option<&[u8]>, p: &mut MailParams) -> Result<usize, CommandError> {
    if key.eq_ignore_ascii_case(b"SIZE") {
        p.size = Some(size_value(value.ok_or(CommandError::BadParam)?)?);
        Ok(0)
    } else if key.eq_ignore_ascii_case(b"BODY") {
        let v = value.ok_or(CommandError::BadParam)?;
        p.body_8bit = match () {
            _ if v.eq_ignore_ascii_case(b"8BITMIME") => true,
            _ if v.eq_ignore_ascii_case(b"7BIT") => false,
            _ => return Err(CommandError::BadParam),
        };
        Ok(1)
    } else if key.eq_ignore_ascii_case(b"SMTPUTF8") {
        p.smtputf8 = value.is_none().then_some(true).ok_or(CommandError::BadParam)?;
        Ok(2)
    } else {
        Err(CommandError::UnknownParam)
    }
}

/// RFC 1870 §3 `size-value ::= 1*20DIGIT`, refusing values that overflow u64.
fn size_value(v: &[u8]) -> Result<u64, CommandError> {
    if v.is_empty() || v.len() > SIZE_DIGITS_MAX || !v.iter().all(u8::is_ascii_digit) {
        return Err(CommandError::BadParam);
    }
    v.iter()
        .try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(CommandError::BadParam)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(command(b"nOoP", false), Ok(Command::Noop));
        assert_eq!(command(b"quit  ", false), Ok(Command::Quit));
        assert_eq!(command(b"QUIT now", false), Err(CommandError::Syntax));
        assert_eq!(command(b"FOO", false), Err(CommandError::Unrecognized));
        assert_eq!(command(b"BDAT 10 LAST", false), Ok(Command::NotImplemented));
    }

    #[test]
    fn mail_parameters_parse() {
        let Ok(Command::Mail { from, params }) = command(b"mail from:<a@b.c> size=100 body=8bitmime SMTPUTF8", false)
        else {
            panic!("parse failed");
        };
        assert_eq!(from.map(|m| m.text), Some("a@b.c".into()));
        assert_eq!(params, MailParams { size: Some(100), body_8bit: true, smtputf8: true });
    }

    #[test]
    fn mail_parameter_errors() {
        let e = |l: &[u8]| command(l, false).err();
        assert_eq!(e(b"MAIL FROM:<> SIZE=x"), Some(CommandError::BadParam));
        assert_eq!(e(b"MAIL FROM:<> SIZE=99999999999999999999"), Some(CommandError::BadParam));
        assert_eq!(e(b"MAIL FROM:<> SIZE=1 SIZE=2"), Some(CommandError::BadParam));
        assert_eq!(e(b"MAIL FROM:<> BODY=8BITMIME BODY=7BIT"), Some(CommandError::BadParam));
        assert_eq!(e(b"MAIL FROM:<> BODY=7BIT SIZE=5 BODY=8BITMIME"), Some(CommandError::BadParam));
        let Ok(Command::Mail { params, .. }) =
            command(b"MAIL FROM:<a@b> SIZE=100 size=0100 BODY=8BITMIME body=8bitmime SMTPUTF8 SMTPUTF8", false)
        else {
            panic!("a parameter repeated with the same value is accepted (issue 13.5)")
        };
        assert_eq!(params, MailParams { size: Some(100), body_8bit: true, smtputf8: true });
        assert_eq!(e(b"MAIL FROM:<> BODY=BINARYMIME"), Some(CommandError::BadParam));
        assert_eq!(e(b"MAIL FROM:<> RET=HDRS"), Some(CommandError::UnknownParam));
        assert_eq!(e(b"RCPT TO:<a@b> NOTIFY=NEVER"), Some(CommandError::UnknownParam));
        assert_eq!(e("MAIL FROM:<ü@b>".as_bytes()), Some(CommandError::Sender(AddrError::NonAscii)));
        assert!(command("MAIL FROM:<ü@b> SMTPUTF8".as_bytes(), false).is_ok());
    }

    #[test]
    fn random_lines_never_panic() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let alphabet = b"MAILRCPT FROM:TO:<>@\"\\.[]+%!,SIZE=BODY8\xc3\xa9\xff 0123456789";
        for _ in 0..20_000 {
            let line: Vec<u8> = (0..x % 80)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet.get((x % alphabet.len() as u64) as usize).copied().unwrap_or(b' ')
                })
                .collect();
            for prefix in [&b""[..], b"MAIL FROM:<", b"RCPT TO:<", b"RCPT TO:<@"] {
                let _ = command(&[prefix, &line].concat(), x & 1 == 0);
            }
        }
    }
}
