//! `letterbox sendmail [-t] [-i|-oi] [-f FROM] [--config PATH] [RCPT...]`: the sendmail
//! interface of cron, scripts and `mail(1)` (the msmtp/nullmailer/dma role). The message on
//! stdin ends at EOF, or at a line holding only `.` unless `-i`/`-oi` is given (sendmail(8)).
//! `-t` adds the To/Cc/Bcc addresses (RFC 5322 §3.6.3) to the recipients and removes Bcc.
//! Missing From/Date/Message-ID are added (RFC 5322 §3.6, RFC 6409 §8.1-8.3). Recipients at
//! the owner's domain go to INBOX, the rest to the outbound queue (both durable before exit
//! 0). Exit codes from sysexits.h: 64 usage, 65 not a message, 73 too big, 75 try later.

use std::io::{self, Read};

use crate::config::Config;
use crate::outbound::{self, queue, QueuedEnvelope};
use crate::store::Store;
use crate::util::{exit, Spool};

use super::deliver::{read_message, through_delivery_step, NotMessage, MAX_HEADER};
use crate::net::deliver::{Arrival, Delivered};

/// Parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SendmailArgs {
    pub config: Option<std::path::PathBuf>,
    pub from: Option<String>,
    pub read_headers: bool,
    pub ignore_dots: bool,
    pub rcpts: Vec<String>,
}

/// Parses sendmail(8)-style arguments (argh cannot spell `-oi` or `-fFROM`).
pub fn parse_args(args: &[String]) -> Result<SendmailArgs, String> {
    let mut a = SendmailArgs::default();
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "-t" => a.read_headers = true,
            "-i" | "-oi" => a.ignore_dots = true,
            "-f" | "-r" => a.from = Some(it.next().ok_or("-f needs an address")?.clone()),
            "--config" | "-C" => a.config = Some(it.next().ok_or("--config needs a path")?.into()),
            "--" => a.rcpts.extend(it.by_ref().cloned()),
            s if s.starts_with("-f") => a.from = s.get(2..).map(str::to_owned),
            // Accepted and ignored, as msmtp and nullmailer do: delivery mode, errors, verbosity.
            s if s.starts_with("-o") || s.starts_with("-B") || s == "-v" || s == "-odi" || s == "-em" => {}
            "-F" => {
                it.next();
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => a.rcpts.push(s.to_owned()),
        }
    }
    Ok(a)
}

/// Stops at a line holding only `.` (sendmail without `-i`); passes all else through.
pub struct DotEnd<R> {
    inner: R,
    /// At the start of a line, with this many bytes of a possible `.` line held back.
    bol: bool,
    held: Vec<u8>,
    done: bool,
}

impl<R: Read> DotEnd<R> {
    pub fn new(inner: R) -> Self {
        DotEnd { inner, bol: true, held: Vec::new(), done: false }
    }
}

impl<R: Read> Read for DotEnd<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut b = [0u8; 1];
        let mut n = 0;
        // Room for the held `.\r` and the byte after it (callers read 64 KiB at a time).
        while n + 3 <= out.len() && !self.done {
            if self.inner.read(&mut b)? == 0 {
                self.done = true;
                break;
            }
            let c = b[0];
            let holding = self.bol && (self.held.is_empty() && c == b'.' || self.held == b"." && c == b'\r');
            if holding {
                self.held.push(c);
                continue;
            }
            if !self.held.is_empty() && c == b'\n' {
                self.done = true; // ".\n" or ".\r\n": end of input.
                self.held.clear();
                return Ok(n);
            }
            for &h in std::mem::take(&mut self.held).iter().chain(std::iter::once(&c)) {
                if let Some(slot) = out.get_mut(n) {
                    *slot = h;
                    n += 1;
                }
            }
            self.bol = c == b'\n';
        }
        if self.done && !self.held.is_empty() && n + self.held.len() <= out.len() {
            for h in std::mem::take(&mut self.held) {
                if let Some(slot) = out.get_mut(n) {
                    *slot = h;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// Addresses of an address-list field value (RFC 5322 §3.4): comments dropped, groups
/// opened, `<angle-addr>` preferred over the display name.
pub fn addresses(value: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth, mut quoted, mut angle) = (Vec::new(), String::new(), 0u32, false, false);
    for c in value.chars() {
        match c {
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                continue;
            }
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                continue;
            }
            _ if depth > 0 => continue,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ':' if !quoted && !angle => {
                cur.clear(); // a group's display name
                continue;
            }
            ',' | ';' if !quoted && !angle => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts.iter().filter_map(|p| address_of(p)).collect()
}

/// The address inside one mailbox: its `<...>` part, or the whole when bare.
fn address_of(p: &str) -> Option<String> {
    let inner = match (p.find('<'), p.rfind('>')) {
        (Some(a), Some(b)) if a < b => p.get(a + 1..b)?,
        _ => p,
    };
    let a = inner.trim();
    (!a.is_empty() && valid_address(a)).then(|| a.to_owned())
}

/// What may be put in a queue record as a forward-path.
pub fn valid_address(a: &str) -> bool {
    a.len() <= outbound::MAX_ADDRESS
        && a.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"(),;:\\".contains(&b) || b >= 0x80)
}

/// The header section as field strings (folded lines kept), and where the body starts.
struct Header {
    fields: Vec<String>,
    body_at: usize,
}

fn split_header(buf: &[u8]) -> Header {
    let end = memchr::memmem::find(buf, b"\r\n\r\n");
    let (head, body_at) = match end {
        Some(i) => (buf.get(..i + 2).unwrap_or(&[]), i + 4),
        None => (buf, buf.len()),
    };
    let mut fields: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(head).split_inclusive("\r\n") {
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some(f)) => f.push_str(line),
            _ => fields.push(line.to_owned()),
        }
    }
    Header { fields, body_at }
}

fn field_name(f: &str) -> &str {
    f.split(':').next().unwrap_or("").trim()
}

/// Applies `-t` (collect and drop Bcc) and adds the missing origination fields.
fn rewrite(h: &mut Header, a: &SendmailArgs, c: &Config, from: &str) -> Vec<String> {
    let mut rcpts = Vec::new();
    if a.read_headers {
        for f in &h.fields {
            let n = field_name(f);
            if ["to", "cc", "bcc"].iter().any(|k| n.eq_ignore_ascii_case(k)) {
                rcpts.extend(addresses(f.split_once(':').map(|x| x.1).unwrap_or("").trim_end()));
            }
        }
        h.fields.retain(|f| !field_name(f).eq_ignore_ascii_case("bcc"));
    }
    let has = |k: &str| h.fields.iter().any(|f| field_name(f).eq_ignore_ascii_case(k));
    let now = crate::util::unix_now();
    let mut add = Vec::new();
    if !has("from") {
        add.push(format!(
            "From: <{}>\r\n",
            if from.is_empty() { format!("{}@{}", c.user, c.domain) } else { from.to_owned() }
        ));
    }
    if !has("date") {
        add.push(format!("Date: {}\r\n", crate::datetime::rfc5322(now.max(0) as u64)));
    }
    if !has("message-id") {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        add.push(format!("Message-ID: <{now}.{}.{nanos}@{}>\r\n", std::process::id(), c.domain));
    }
    h.fields.splice(0..0, add);
    rcpts
}

/// Reads, checks and rewrites the message; `Err(exit code)` with the reason printed.
fn read(c: &Config, s: &Store, a: &SendmailArgs, from: &str) -> Result<(Spool, Vec<String>), i32> {
    let mut spool = Spool::new(&s.tmp_dir(), c.limits.spool_memory);
    let mut mime = crate::mime::MimeParser::new();
    let stdin = io::stdin().lock();
    let r = match a.ignore_dots {
        true => read_message(&mut io::BufReader::new(stdin), &mut spool, &mut mime, c.limits.message_size, None),
        false => read_message(
            &mut DotEnd::new(io::BufReader::new(stdin)),
            &mut spool,
            &mut mime,
            c.limits.message_size,
            None,
        ),
    };
    match r {
        Err(e) => return Err(fail(exit::TEMPFAIL, &format!("reading the message: {e}"))),
        Ok(Err(NotMessage::TooBig)) => return Err(fail(exit::CANTCREAT, "message larger than the limit")),
        Ok(Err(why)) => return Err(fail(exit::DATAERR, &format!("not a message: {why:?}"))),
        Ok(Ok(())) => {}
    }
    let tempfail = |e: io::Error| fail(exit::TEMPFAIL, &format!("spool: {e}"));
    let mut buf = vec![0u8; MAX_HEADER + 4];
    let mut r = spool.reader().map_err(tempfail)?;
    let n = crate::util::read_full(&mut r, &mut buf).map_err(tempfail)?;
    buf.truncate(n);
    let mut h = split_header(&buf);
    let rcpts = rewrite(&mut h, a, c, from);
    let mut out = Spool::new(&s.tmp_dir(), c.limits.spool_memory);
    let body = buf.get(h.body_at..).unwrap_or(&[]);
    for piece in h.fields.iter().map(String::as_bytes).chain([&b"\r\n"[..], body]) {
        out.write(piece).map_err(tempfail)?;
    }
    io::copy(&mut r, &mut WriteSpool(&mut out)).map_err(tempfail)?;
    Ok((out, rcpts))
}

struct WriteSpool<'a>(&'a mut Spool);

impl io::Write for WriteSpool<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b).map(|_| b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fail(code: i32, msg: &str) -> i32 {
    eprintln!("letterbox sendmail: {msg}");
    code
}

/// The command: returns the exit code.
pub fn sendmail(c: &Config, s: &Store, a: &SendmailArgs) -> i32 {
    let from = match a.from.as_deref() {
        Some("<>") | Some("") => String::new(),
        Some(f) if valid_address(f.trim_start_matches('<').trim_end_matches('>')) => {
            f.trim_start_matches('<').trim_end_matches('>').to_owned()
        }
        Some(f) => return fail(exit::USAGE, &format!("invalid -f address {f:?}")),
        None => format!("{}@{}", c.user, c.domain),
    };
    if let Some(bad) = a.rcpts.iter().find(|r| !valid_address(r)) {
        return fail(exit::USAGE, &format!("invalid recipient {bad:?}"));
    }
    if a.rcpts.is_empty() && !a.read_headers {
        return fail(exit::USAGE, "no recipients (give addresses, or -t)");
    }
    let (mut spool, mut rcpts) = match read(c, s, a, &from) {
        Ok(x) => x,
        Err(code) => return code,
    };
    rcpts.extend(a.rcpts.iter().cloned());
    rcpts.dedup();
    if rcpts.is_empty() {
        return fail(exit::DATAERR, "no recipient addresses found in the header");
    }
    if spool.len() > c.limits.message_size {
        return fail(exit::CANTCREAT, "message larger than the limit");
    }
    let (local, remote): (Vec<String>, Vec<String>) = rcpts.into_iter().partition(|r| outbound::is_local(r, &c.domain));
    if !remote.is_empty() {
        let body = match local.is_empty() {
            true => std::mem::replace(&mut spool, Spool::new(&s.tmp_dir(), 0)),
            false => match queue::copy_spool(&mut spool, &s.tmp_dir(), c.limits.spool_memory) {
                Ok(b) => b,
                Err(e) => return fail(exit::TEMPFAIL, &format!("spool: {e}")),
            },
        };
        if let Err(code) = enqueue(
            c,
            s,
            QueuedEnvelope { auth_user: Some(c.user.clone()), ..QueuedEnvelope::new(&from, remote) },
            body,
        ) {
            return code;
        }
    }
    if !local.is_empty() {
        // The one delivery step (the owner's Sieve script, then the folders).
        let details = local.iter().map(|r| detail_of(r)).collect();
        let arrival =
            Arrival { spool, summary: None, from: from.clone(), rcpts: local, details, junk: false, inbox: None };
        match through_delivery_step(c, s, arrival) {
            Ok(Delivered::Rejected(reason)) => return fail(exit::NOPERM, &format!("rejected: {reason}")),
            Ok(_) => {}
            Err(e) => {
                return fail(if e.is_temporary() { exit::TEMPFAIL } else { exit::CANTCREAT }, &format!("storing: {e}"))
            }
        }
    }
    exit::OK
}

/// RFC 5233 `user+detail@domain`: the detail, if any.
fn detail_of(addr: &str) -> Option<String> {
    let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
    local.split_once('+').map(|(_, d)| d.to_owned()).filter(|d| !d.is_empty())
}

/// Appends the queue records (one lock, one sync).
fn enqueue(c: &Config, s: &Store, env: QueuedEnvelope, body: Spool) -> Result<(), i32> {
    let q = queue::open(&c.data_dir).map_err(|e| fail(exit::TEMPFAIL, &format!("queue: {e}")))?;
    let mut msgs = queue::messages(env, body, crate::util::unix_now(), &s.tmp_dir(), c.limits.spool_memory)
        .map_err(|e| fail(exit::TEMPFAIL, &format!("spool: {e}")))?;
    let r = q.open_folder_light(queue::FOLDER).and_then(|mut f| f.append(&mut msgs));
    match r {
        Ok(uids) => {
            eprintln!("letterbox sendmail: queued as {uids:?}");
            Ok(())
        }
        Err(e) if e.is_temporary() => Err(fail(exit::TEMPFAIL, &format!("queue: {e}"))),
        Err(e) => Err(fail(exit::CANTCREAT, &format!("queue: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<SendmailArgs, String> {
        parse_args(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn sendmail_flags() {
        let a = args("-t -oi -fme@a.example you@b.example").unwrap();
        assert!(a.read_headers && a.ignore_dots);
        assert_eq!((a.from.as_deref(), a.rcpts), (Some("me@a.example"), vec!["you@b.example".to_owned()]));
        assert_eq!(args("-f x@y -i -- -odd@b").unwrap().rcpts, vec!["-odd@b".to_owned()]);
        assert!(args("-X").is_err() && args("-f").is_err());
    }

    #[test]
    fn address_lists() {
        assert_eq!(addresses(" \"Doe, J\" <j@b.example>, k@c.example (Kay)"), vec!["j@b.example", "k@c.example"]);
        assert_eq!(
            addresses("friends: a@x.example, <b@y.example>;, c@z.example"),
            vec!["a@x.example", "b@y.example", "c@z.example"]
        );
        assert_eq!(addresses("undisclosed-recipients:;"), Vec::<String>::new());
    }

    #[test]
    fn dot_line_ends_input() {
        let mut out = String::new();
        DotEnd::new(&b"a\n.b\n.\nafter\n"[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "a\n.b\n");
        let mut out = String::new();
        DotEnd::new(&b"x\r\n.\r\nafter"[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "x\r\n");
        let mut out = String::new();
        DotEnd::new(&b"x\n."[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "x\n.");
    }
}
