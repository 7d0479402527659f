//! SPF (RFC 7208): `check_host()` for the MAIL FROM and HELO identities (§2.3, §2.4), over
//! the [`Resolver`] trait so tests feed zone data. Implemented: record selection (§4.5),
//! every mechanism (§5: all, include, a, mx, ptr, ip4, ip6, exists) with qualifiers and
//! dual CIDR lengths, the redirect and exp modifiers (§6), macros (§7) with transformers,
//! delimiters and URL escaping, the limits of §4.6.4 (10 DNS-querying terms, 2 void
//! lookups, 10 MX and 10 PTR names per mechanism) and the error results (§2.6.6, §2.6.7).
//! Checked against the RFC 7208 test suite that Debian's python3-spf ships (tests/spf.rs).
//!
//! A record is parsed whole before any term is evaluated: a syntax error anywhere is
//! `permerror` (§4.6). Nothing here allocates in proportion to DNS answers beyond what the
//! resolver bounds (`dns::wire::RECORDS_MAX` records per answer).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::dns::{DnsError, Rdata, Resolver, Rtype};

/// §4.6.4: terms that cause DNS queries, per evaluation (includes and redirects together).
pub const DNS_TERMS_MAX: usize = 10;
/// §4.6.4: lookups that return no answer or NXDOMAIN, per evaluation.
pub const VOID_LOOKUPS_MAX: usize = 2;
/// §4.6.4: MX names looked up per `mx`, PTR names per `ptr` (and `%{p}`).
pub const NAMES_PER_MECHANISM_MAX: usize = 10;
/// An SPF record longer than this is refused (one TXT record of 8 KiB is our decode cap).
const RECORD_MAX: usize = 8 * 1024;
/// §4.3 / RFC 1035: a domain name of at most 253 characters in text form (§7.3 trims).
const DOMAIN_MAX: usize = 253;

/// §2.6 results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfResult {
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

impl SpfResult {
    /// The RFC 8601 / RFC 7208 §9.1 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

/// The result with the explanation of a `fail` (§6.2; the default when `exp` gives none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub result: SpfResult,
    pub explanation: Option<String>,
}

/// What `check_host()` is asked about (§4.1 arguments, plus the macro inputs of §7.2).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub ip: IpAddr,
    /// The MAIL FROM address; empty for the null reverse-path (then `postmaster@<helo>`).
    pub sender: &'a str,
    pub helo: &'a str,
    /// Our host name (`%{r}`).
    pub receiver: &'a str,
    /// Unix time (`%{t}`).
    pub now: u64,
}

/// The explanation when a failing domain's `exp` gives none.
pub const DEFAULT_EXPLANATION: &str = "SPF check failed (see RFC 7208)";

/// §2.4: the MAIL FROM identity (the HELO identity when the reverse-path is null).
pub async fn check_mail_from<R: Resolver>(r: &R, req: &Request<'_>) -> Verdict {
    let sender = if req.sender.is_empty() { format!("postmaster@{}", req.helo) } else { req.sender.to_owned() };
    let domain = sender.rsplit_once('@').map_or(sender.as_str(), |(_, d)| d).to_owned();
    check_host(r, req, &sender, &domain).await
}

/// §2.3: the HELO identity.
pub async fn check_helo<R: Resolver>(r: &R, req: &Request<'_>) -> Verdict {
    check_host(r, req, &format!("postmaster@{}", req.helo), req.helo).await
}

/// §4: `check_host(ip, domain, sender)`.
pub async fn check_host<R: Resolver>(r: &R, req: &Request<'_>, sender: &str, domain: &str) -> Verdict {
    let ip = match req.ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(req.ip, IpAddr::V4),
        v4 => v4,
    };
    let (local, _) = sender.rsplit_once('@').unwrap_or(("", sender));
    let local = if local.is_empty() { "postmaster" } else { local };
    let mut ev = Eval { r, req, ip, sender: format!("{local}@{}", domain_of(sender)), terms: 0, voids: 0 };
    let (result, exp) = ev.check(domain.trim_end_matches('.').to_owned(), true).await;
    let explanation = (result == SpfResult::Fail).then(|| exp.unwrap_or_else(|| DEFAULT_EXPLANATION.to_owned()));
    Verdict { result, explanation }
}

fn domain_of(sender: &str) -> &str {
    sender.rsplit_once('@').map_or(sender, |(_, d)| d)
}

/// The state of one evaluation: counters shared by includes and redirects (§4.6.4).
struct Eval<'a, R> {
    r: &'a R,
    req: &'a Request<'a>,
    ip: IpAddr,
    sender: String,
    terms: usize,
    voids: usize,
}

type Boxed<'a> = Pin<Box<dyn Future<Output = (SpfResult, Option<String>)> + 'a>>;

/// A term of a record (§4.6.1, §5, §6).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mechanism {
    All,
    Include(String),
    A(Option<String>, u8, u8),
    Mx(Option<String>, u8, u8),
    Ptr(Option<String>),
    Ip(IpAddr, u8),
    Exists(String),
}

/// A parsed record: its terms in order and the `redirect`/`exp` modifiers (§4.6.1, §6).
#[derive(Debug, Default)]
pub struct Record {
    terms: Vec<(SpfResult, Mechanism)>,
    redirect: Option<String>,
    exp: Option<String>,
}

impl Record {
    /// The number of mechanisms (modifiers not counted).
    pub fn mechanisms(&self) -> usize {
        self.terms.len()
    }
}

/// Why a TXT string is no SPF record that can be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// §4.5: does not start with `v=spf1` (the record is not selected).
    NotSpf,
    /// Over our 8 KiB cap, or not 7-bit ASCII (§3.1): permerror.
    Refused,
    /// §4.6: a term that is not in the grammar: permerror.
    Syntax,
}

/// §4.5/§4.6: one TXT string as `check_host()` reads it (the fuzz target `spf_record`).
pub fn parse_record(text: &str) -> Result<Record, RecordError> {
    if !is_spf1(text.as_bytes()) {
        return Err(RecordError::NotSpf);
    }
    if !text.is_ascii() || text.len() > RECORD_MAX {
        return Err(RecordError::Refused);
    }
    parse(text).ok_or(RecordError::Syntax)
}

/// Why evaluation stopped early.
enum Stop {
    Temp,
    Perm,
}

impl<'a, R: Resolver> Eval<'a, R> {
    /// §4.3–§4.7 for one domain; `top` is false inside include (no `exp` is taken there).
    fn check(&mut self, domain: String, top: bool) -> Boxed<'_> {
        Box::pin(async move {
            if !valid_domain(&domain) {
                return (SpfResult::None, None);
            }
            let text = match self.record(&domain).await {
                Ok(Some(t)) => t,
                Ok(None) => return (SpfResult::None, None),
                Err(Stop::Temp) => return (SpfResult::TempError, None),
                Err(Stop::Perm) => return (SpfResult::PermError, None),
            };
            let Some(rec) = parse(&text) else { return (SpfResult::PermError, None) };
            match self.evaluate(&rec, &domain).await {
                Ok(Some(SpfResult::Fail)) if top => (SpfResult::Fail, self.explain(&rec, &domain).await),
                Ok(Some(res)) => (res, None),
                Ok(None) => self.redirect(&rec, &domain, top).await,
                Err(Stop::Temp) => (SpfResult::TempError, None),
                Err(Stop::Perm) => (SpfResult::PermError, None),
            }
        })
    }

    /// §6.1: no mechanism matched; follow `redirect` unless an `all` is anywhere.
    async fn redirect(&mut self, rec: &Record, domain: &str, top: bool) -> (SpfResult, Option<String>) {
        let has_all = rec.terms.iter().any(|(_, m)| *m == Mechanism::All);
        let Some(spec) = rec.redirect.as_ref().filter(|_| !has_all) else { return (SpfResult::Neutral, None) };
        if self.count_term().is_err() {
            return (SpfResult::PermError, None);
        }
        let Some(target) = self.expand_domain(spec, domain, false).await else { return (SpfResult::PermError, None) };
        match self.check(target, top).await {
            (SpfResult::None, _) => (SpfResult::PermError, None),
            other => other,
        }
    }

    /// §4.5: the one `v=spf1` TXT record of `domain`, if any.
    async fn record(&mut self, domain: &str) -> Result<Option<String>, Stop> {
        let txts = match self.r.lookup(domain, Rtype::Txt).await {
            Ok(t) => t,
            Err(DnsError::Temporary) => return Err(Stop::Temp),
            Err(_) => return Ok(None),
        };
        let spf: Vec<&Vec<u8>> = txts
            .iter()
            .filter_map(|d| match d {
                Rdata::Txt(t) if is_spf1(t) => Some(t),
                _ => None,
            })
            .collect();
        let one = match spf.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => return Err(Stop::Perm),
        };
        // §3.1: records are 7-bit ASCII; §4.6 whitespace is SP only.
        if !one.is_ascii() || one.len() > RECORD_MAX {
            return Err(Stop::Perm);
        }
        Ok(Some(String::from_utf8_lossy(one).into_owned()))
    }

    /// §4.6.2: the first matching mechanism's qualifier, or `None` when none matched.
    async fn evaluate(&mut self, rec: &Record, domain: &str) -> Result<Option<SpfResult>, Stop> {
        for (q, m) in &rec.terms {
            if self.matches(m, domain).await? {
                return Ok(Some(*q));
            }
        }
        Ok(None)
    }

    fn count_term(&mut self) -> Result<(), Stop> {
        self.terms += 1;
        if self.terms > DNS_TERMS_MAX {
            return Err(Stop::Perm);
        }
        Ok(())
    }

    /// A lookup whose answer is counted as void when empty or NXDOMAIN (§4.6.4). A target
    /// that is no DNS name (an empty or over-long label, from a macro perhaps) does not
    /// exist (the RFC leaves it open; the test suite takes "fail" or "permerror").
    async fn lookup(&mut self, name: &str, rtype: Rtype) -> Result<Vec<Rdata>, Stop> {
        let queryable = name.split('.').all(|l| (1..=63).contains(&l.len()));
        let answer = if queryable { self.r.lookup(name, rtype).await } else { Err(DnsError::NxDomain) };
        match answer {
            Ok(v) if !v.is_empty() => Ok(v),
            Err(DnsError::Temporary) => Err(Stop::Temp),
            _ => {
                self.voids += 1;
                if self.voids > VOID_LOOKUPS_MAX {
                    return Err(Stop::Perm);
                }
                Ok(Vec::new())
            }
        }
    }

    async fn matches(&mut self, m: &Mechanism, domain: &str) -> Result<bool, Stop> {
        match m {
            Mechanism::All => Ok(true),
            Mechanism::Ip(net, len) => Ok(in_network(self.ip, *net, *len)),
            Mechanism::Include(spec) => self.include(spec, domain).await,
            Mechanism::A(spec, c4, c6) => {
                self.count_term()?;
                let target = self.target(spec.as_deref(), domain).await?;
                let addrs = self.addresses(&target).await?;
                Ok(addrs.into_iter().any(|a| self.cidr_match(a, *c4, *c6)))
            }
            Mechanism::Mx(spec, c4, c6) => {
                self.count_term()?;
                let target = self.target(spec.as_deref(), domain).await?;
                self.mx(&target, *c4, *c6).await
            }
            Mechanism::Ptr(spec) => {
                self.count_term()?;
                let target = self.target(spec.as_deref(), domain).await?;
                Ok(self.validated_names().await?.iter().any(|n| n == &target || n.ends_with(&format!(".{target}"))))
            }
            Mechanism::Exists(spec) => {
                self.count_term()?;
                let target = self.expand_domain(spec, domain, false).await.ok_or(Stop::Perm)?;
                Ok(!self.lookup(&target, Rtype::A).await?.is_empty())
            }
        }
    }

    /// §5.2: a Pass of the included domain matches; temperror/permerror/none propagate.
    async fn include(&mut self, spec: &str, domain: &str) -> Result<bool, Stop> {
        self.count_term()?;
        let target = self.expand_domain(spec, domain, false).await.ok_or(Stop::Perm)?;
        match self.check(target, false).await.0 {
            SpfResult::Pass => Ok(true),
            SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
            SpfResult::TempError => Err(Stop::Temp),
            SpfResult::PermError | SpfResult::None => Err(Stop::Perm),
        }
    }

    /// §5.4: the addresses of the first 10 MX names; more than 10 MX records is permerror.
    async fn mx(&mut self, target: &str, c4: u8, c6: u8) -> Result<bool, Stop> {
        let mut names: Vec<(u16, String)> = self
            .lookup(target, Rtype::Mx)
            .await?
            .into_iter()
            .filter_map(|d| match d {
                Rdata::Mx { preference, exchange } => Some((preference, exchange)),
                _ => None,
            })
            .collect();
        if names.len() > NAMES_PER_MECHANISM_MAX {
            return Err(Stop::Perm);
        }
        names.sort();
        for (_, name) in names {
            if self.addresses(&name).await?.into_iter().any(|a| self.cidr_match(a, c4, c6)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A or AAAA of `name`, as the client's address family (§5.3).
    async fn addresses(&mut self, name: &str) -> Result<Vec<IpAddr>, Stop> {
        let rtype = if self.ip.is_ipv4() { Rtype::A } else { Rtype::Aaaa };
        Ok(self.lookup(name, rtype).await?.into_iter().filter_map(ip_of).collect())
    }

    fn cidr_match(&self, a: IpAddr, c4: u8, c6: u8) -> bool {
        in_network(self.ip, a, if a.is_ipv4() { c4 } else { c6 })
    }

    /// §5.5: PTR names of the client whose A/AAAA lead back to it (the first 10 tried).
    /// A DNS error here makes the mechanism not match (never temperror).
    async fn validated_names(&mut self) -> Result<Vec<String>, Stop> {
        let names = match self.lookup(&reverse_name(self.ip), Rtype::Ptr).await {
            Ok(n) => n,
            Err(Stop::Temp) => return Ok(Vec::new()),
            Err(Stop::Perm) => return Err(Stop::Perm),
        };
        let mut valid = Vec::new();
        for d in names.into_iter().take(NAMES_PER_MECHANISM_MAX) {
            let Rdata::Name(n) = d else { continue };
            let rtype = if self.ip.is_ipv4() { Rtype::A } else { Rtype::Aaaa };
            if let Ok(addrs) = self.r.lookup(&n, rtype).await {
                if addrs.into_iter().filter_map(ip_of).any(|a| a == self.ip) {
                    valid.push(n);
                }
            }
        }
        Ok(valid)
    }

    /// The domain a mechanism is about: its expanded domain-spec, or the current domain.
    async fn target(&mut self, spec: Option<&str>, domain: &str) -> Result<String, Stop> {
        match spec {
            Some(s) => self.expand_domain(s, domain, false).await.ok_or(Stop::Perm),
            None => Ok(domain.to_owned()),
        }
    }

    /// §7.3: expands a domain-spec; over 253 characters, left-hand labels are dropped.
    async fn expand_domain(&mut self, spec: &str, domain: &str, exp: bool) -> Option<String> {
        let mut s = self.expand(spec, domain, exp).await?;
        while s.len() > DOMAIN_MAX {
            s = s.split_once('.').map(|(_, rest)| rest.to_owned())?;
        }
        Some(s.trim_end_matches('.').to_ascii_lowercase())
    }

    /// §6.2: the explanation of a `fail`: the one TXT record at the expanded `exp` domain,
    /// itself macro-expanded (with c, r, t). Any error: none (the default is used).
    async fn explain(&mut self, rec: &Record, domain: &str) -> Option<String> {
        let target = self.expand_domain(rec.exp.as_ref()?, domain, false).await?;
        let txts = self.r.lookup(&target, Rtype::Txt).await.ok()?;
        let [Rdata::Txt(t)] = txts.as_slice() else { return None };
        let text = std::str::from_utf8(t).ok().filter(|t| t.is_ascii())?;
        if !valid_macro_string(text, true) {
            return None;
        }
        self.expand(text, domain, true).await
    }

    /// §7: expands a macro-string (checked by the parser); `exp` allows c, r and t.
    async fn expand(&mut self, spec: &str, domain: &str, exp: bool) -> Option<String> {
        let mut out = String::new();
        let mut rest = spec;
        while let Some(i) = rest.find('%') {
            out.push_str(rest.get(..i)?);
            let after = rest.get(i + 1..)?;
            let simple = match after.chars().next()? {
                '%' => Some("%"),
                '_' => Some(" "),
                '-' => Some("%20"),
                _ => None,
            };
            if let Some(v) = simple {
                out.push_str(v);
                rest = after.get(1..)?;
                continue;
            }
            match after.chars().next()? {
                '{' => {
                    let end = after.find('}')?;
                    let body = after.get(1..end)?;
                    out.push_str(&self.macro_value(body, domain, exp).await?);
                    rest = after.get(end + 1..)?;
                }
                _ => return None,
            }
        }
        out.push_str(rest);
        Some(out)
    }

    /// `macro-letter transformers *delimiter` (§7.1) → the transformed value (§7.3).
    async fn macro_value(&mut self, body: &str, domain: &str, exp: bool) -> Option<String> {
        let letter = body.chars().next()?;
        let spec = body.get(letter.len_utf8()..)?;
        let digits: String = spec.chars().take_while(char::is_ascii_digit).collect();
        let rest = spec.get(digits.len()..)?;
        let (reverse, delims) = match rest.strip_prefix(['r', 'R']) {
            Some(d) => (true, d),
            None => (false, rest),
        };
        let value = self.letter_value(letter.to_ascii_lowercase(), domain, exp).await?;
        let delims: Vec<char> = if delims.is_empty() { vec!['.'] } else { delims.chars().collect() };
        let mut parts: Vec<&str> = value.split(|c| delims.contains(&c)).collect();
        if reverse {
            parts.reverse();
        }
        if !digits.is_empty() {
            let n: usize = digits.parse().ok().filter(|&n| n > 0)?;
            parts = parts.split_off(parts.len().saturating_sub(n));
        }
        let joined = parts.join(".");
        Some(if letter.is_ascii_uppercase() { url_escape(&joined) } else { joined })
    }

    async fn letter_value(&mut self, letter: char, domain: &str, exp: bool) -> Option<String> {
        let (local, sdomain) = self.sender.rsplit_once('@').unwrap_or(("postmaster", ""));
        Some(match letter {
            's' => self.sender.clone(),
            'l' => local.to_owned(),
            'o' => sdomain.to_owned(),
            'd' => domain.to_owned(),
            'i' => dotted(self.ip),
            'v' => if self.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_owned(),
            'h' => self.req.helo.to_owned(),
            'p' => self.validated_p(domain).await,
            'c' if exp => self.ip.to_string(),
            'r' if exp => self.req.receiver.to_owned(),
            't' if exp => self.req.now.to_string(),
            _ => return None,
        })
    }

    /// §7.3 `%{p}`: a validated name of the client (the domain itself or a subdomain
    /// preferred), else "unknown". DNS errors give "unknown".
    async fn validated_p(&mut self, domain: &str) -> String {
        let names = self.validated_names().await.unwrap_or_default();
        let pick =
            names.iter().find(|n| *n == domain).or_else(|| names.iter().find(|n| n.ends_with(&format!(".{domain}"))));
        pick.or(names.first()).cloned().unwrap_or_else(|| "unknown".to_owned())
    }
}

fn ip_of(d: Rdata) -> Option<IpAddr> {
    match d {
        Rdata::A(a) => Some(IpAddr::V4(a)),
        Rdata::Aaaa(a) => Some(IpAddr::V6(a)),
        _ => None,
    }
}

/// Whether `ip` is inside `net/len` (different families never match).
fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// §7.3 `%{i}`: dotted quad, or for IPv6 32 dot-separated nibbles.
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        // The openspf suite (v-macro-ip6) and pyspf write the nibbles in upper case; RFC
        // 7208 §7.3's example has lower case. DNS does not care; explanations show them.
        IpAddr::V6(a) => {
            let hex: String = a.octets().iter().map(|b| format!("{b:02X}")).collect();
            hex.chars().map(String::from).collect::<Vec<_>>().join(".")
        }
    }
}

/// The reverse-mapping name (RFC 1035 §3.5, RFC 3596 §2.5).
fn reverse_name(ip: IpAddr) -> String {
    let d = dotted(ip);
    let mut parts: Vec<&str> = d.split('.').collect();
    parts.reverse();
    format!("{}.{}", parts.join("."), if ip.is_ipv4() { "in-addr.arpa" } else { "ip6.arpa" })
}

/// §7.3: uppercase macro letters URL-escape everything but RFC 3986 unreserved characters.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// §4.3: a domain that can have a record: two or more labels of 1-63 characters, no
/// longer than 253 in all (a domain literal or a single label is `none`).
fn valid_domain(d: &str) -> bool {
    let d = d.trim_end_matches('.');
    d.len() <= DOMAIN_MAX && d.contains('.') && d.split('.').all(|l| (1..=63).contains(&l.len()) && !l.starts_with('['))
}

/// §4.5: the record starts with exactly "v=spf1" followed by a space or its end.
fn is_spf1(t: &[u8]) -> bool {
    t.get(..6).is_some_and(|v| v.eq_ignore_ascii_case(b"v=spf1")) && matches!(t.get(6), None | Some(b' '))
}

/// §4.6.1: the terms of a record, or `None` on any syntax error (permerror).
fn parse(text: &str) -> Option<Record> {
    let mut rec = Record::default();
    for term in text.split(' ').skip(1).filter(|t| !t.is_empty()) {
        if let Some((name, value)) = modifier(term) {
            match name.to_ascii_lowercase().as_str() {
                "redirect" if rec.redirect.is_none() && valid_domain_spec(value) => rec.redirect = Some(value.into()),
                "exp" if rec.exp.is_none() && valid_domain_spec(value) => rec.exp = Some(value.into()),
                "redirect" | "exp" => return None,
                _ if valid_macro_string(value, false) => {}
                _ => return None,
            }
            continue;
        }
        let (q, body) = match term.as_bytes().first()? {
            b'+' => (SpfResult::Pass, term.get(1..)?),
            b'-' => (SpfResult::Fail, term.get(1..)?),
            b'~' => (SpfResult::SoftFail, term.get(1..)?),
            b'?' => (SpfResult::Neutral, term.get(1..)?),
            _ => (SpfResult::Pass, term),
        };
        rec.terms.push((q, mechanism(body)?));
    }
    Some(rec)
}

/// `modifier = name "=" macro-string`, `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`.
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut c = name.chars();
    let ok = c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    ok.then_some((name, value))
}

/// §5 mechanisms (names case-insensitive).
fn mechanism(body: &str) -> Option<Mechanism> {
    let (name, arg) = match body.find([':', '/']) {
        Some(i) => (body.get(..i)?, body.get(i..)),
        None => (body, None),
    };
    let spec = |a: Option<&str>| -> Option<String> {
        let s = a?.strip_prefix(':')?;
        valid_domain_spec(s).then(|| s.to_owned())
    };
    match (name.to_ascii_lowercase().as_str(), arg) {
        ("all", None) => Some(Mechanism::All),
        ("include", a) => Some(Mechanism::Include(spec(a)?)),
        ("exists", a) => Some(Mechanism::Exists(spec(a)?)),
        ("a", a) => {
            let (d, c4, c6) = domain_and_cidr(a)?;
            Some(Mechanism::A(d, c4, c6))
        }
        ("mx", a) => {
            let (d, c4, c6) = domain_and_cidr(a)?;
            Some(Mechanism::Mx(d, c4, c6))
        }
        ("ptr", None) => Some(Mechanism::Ptr(None)),
        ("ptr", a) => Some(Mechanism::Ptr(Some(spec(a)?))),
        ("ip4", Some(a)) => ip_network(a.strip_prefix(':')?, false),
        ("ip6", Some(a)) => ip_network(a.strip_prefix(':')?, true),
        _ => None,
    }
}

/// `[ ":" domain-spec ] [ dual-cidr-length ]` of a and mx (§5.3, §5.4).
fn domain_and_cidr(arg: Option<&str>) -> Option<(Option<String>, u8, u8)> {
    let Some(arg) = arg else { return Some((None, 32, 128)) };
    let (spec, cidr) = split_cidr(arg);
    let domain = match spec {
        "" => None,
        s => {
            let s = s.strip_prefix(':')?;
            valid_domain_spec(s).then(|| s.to_owned())?.into()
        }
    };
    let (c4, c6) = dual_cidr(cidr)?;
    Some((domain, c4, c6))
}

/// Splits a trailing `dual-cidr-length` off (a domain-spec may itself hold `/` and `:`,
/// §7.1: "a:foo:bar/baz.example.com" names that host).
fn split_cidr(arg: &str) -> (&str, &str) {
    let digits_at = |s: &str| s.len() - s.bytes().rev().take_while(u8::is_ascii_digit).count();
    let mut cut = arg.len();
    let d = digits_at(arg);
    if d < arg.len() && arg.get(..d).is_some_and(|h| h.ends_with("//")) {
        cut = d - 2;
    } else if d < arg.len() && arg.get(..d).is_some_and(|h| h.ends_with('/')) {
        return (arg.get(..d - 1).unwrap_or(""), arg.get(d - 1..).unwrap_or(""));
    }
    let head = arg.get(..cut).unwrap_or("");
    let d4 = digits_at(head);
    if cut < arg.len() && d4 < head.len() && head.get(..d4).is_some_and(|h| h.ends_with('/')) {
        cut = d4 - 1;
    }
    (arg.get(..cut).unwrap_or(""), arg.get(cut..).unwrap_or(""))
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]`.
fn dual_cidr(s: &str) -> Option<(u8, u8)> {
    if s.is_empty() {
        return Some((32, 128));
    }
    let s = s.strip_prefix('/')?;
    let (v4, v6) = match s.strip_prefix('/') {
        Some(v6) => ("", Some(v6)),
        None => match s.split_once("//") {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        },
    };
    let c4 = if v4.is_empty() { 32 } else { cidr_len(v4, 32)? };
    let c6 = match v6 {
        Some(v) => cidr_len(v, 128)?,
        None => 128,
    };
    Some((c4, c6))
}

/// `"0" / %x31-39 0*2DIGIT` within `max`.
fn cidr_len(s: &str, max: u8) -> Option<u8> {
    let ok =
        !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse::<u8>().ok().filter(|&n| ok && n <= max)
}

/// `ip4-network [ ip4-cidr-length ]` / `ip6-network [ ip6-cidr-length ]` (§5.6).
fn ip_network(s: &str, v6: bool) -> Option<Mechanism> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, cidr_len(l, if v6 { 128 } else { 32 })?),
        None => (s, if v6 { 128 } else { 32 }),
    };
    let ip: IpAddr = if v6 {
        IpAddr::V6(addr.parse().ok()?)
    } else {
        // qnum: no leading zeros (Rust's parser refuses them too).
        IpAddr::V4(addr.parse().ok()?)
    };
    Some(Mechanism::Ip(ip, len))
}

/// §7.1 `domain-spec = macro-string domain-end`,
/// `domain-end = ( "." toplabel [ "." ] ) / macro-expand`.
fn valid_domain_spec(s: &str) -> bool {
    if !valid_macro_string(s, false) || s.is_empty() {
        return false;
    }
    if s.ends_with('}') {
        return true;
    }
    let t = s.strip_suffix('.').unwrap_or(s);
    let Some((_, top)) = t.rsplit_once('.') else { return false };
    toplabel(top)
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`.
fn toplabel(l: &str) -> bool {
    let b = l.as_bytes();
    let alnum = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
    let edges = b.first().is_some_and(u8::is_ascii_alphanumeric) && b.last().is_some_and(u8::is_ascii_alphanumeric);
    alnum && edges && (b.iter().any(u8::is_ascii_alphabetic) || b.contains(&b'-'))
}

/// §7.1 `macro-string` syntax; `exp` allows the letters c, r and t.
fn valid_macro_string(s: &str, exp: bool) -> bool {
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        if !rest.get(..i).is_some_and(|lit| lit.bytes().all(|b| (0x21..=0x7e).contains(&b) || (exp && b == b' '))) {
            return false;
        }
        let after = rest.get(i + 1..).unwrap_or("");
        rest = match after.chars().next() {
            Some('%' | '_' | '-') => after.get(1..).unwrap_or(""),
            Some('{') => {
                let Some(end) = after.find('}') else { return false };
                if !valid_macro_body(after.get(1..end).unwrap_or(""), exp) {
                    return false;
                }
                after.get(end + 1..).unwrap_or("")
            }
            _ => return false,
        };
    }
    rest.bytes().all(|b| (0x21..=0x7e).contains(&b) || (exp && b == b' '))
}

/// `macro-letter transformers *delimiter`.
fn valid_macro_body(b: &str, exp: bool) -> bool {
    let mut c = b.chars();
    let letter_ok = match c.next().map(|l| l.to_ascii_lowercase()) {
        Some('s' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v') => true,
        Some('c' | 'r' | 't') => exp,
        _ => false,
    };
    let rest: String = c.collect();
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let tail = rest.get(digits..).unwrap_or("");
    let tail = tail.strip_prefix(['r', 'R']).unwrap_or(tail);
    letter_ok
        && (digits == 0
            || rest.get(..digits).and_then(|d| d.parse::<u32>().ok()).is_some_and(|n| (1..=128).contains(&n)))
        && tail.chars().all(|ch| ".-+,/_=".contains(ch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Zone;

    fn txt(s: &str) -> Rdata {
        Rdata::Txt(s.as_bytes().to_vec())
    }

    fn run(zone: &Zone, ip: &str, sender: &str) -> Verdict {
        let req = Request { ip: ip.parse().unwrap(), sender, helo: "mx.example.net", receiver: "us.example", now: 0 };
        smol::block_on(check_mail_from(zone, &req))
    }

    #[test]
    fn rfc7208_section_7_4_macro_examples() {
        let zone = Zone::default();
        let req = Request {
            ip: "192.0.2.3".parse().unwrap(),
            sender: "strong-bad@email.example.com",
            helo: "h",
            receiver: "r",
            now: 0,
        };
        let mut ev = Eval { r: &zone, req: &req, ip: req.ip, sender: req.sender.into(), terms: 0, voids: 0 };
        let d = "email.example.com";
        let cases = [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
            ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
            ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ];
        for (spec, want) in cases {
            assert!(valid_macro_string(spec, false), "{spec}");
            assert_eq!(smol::block_on(ev.expand(spec, d, false)).as_deref(), Some(want), "{spec}");
        }
        let req6 = Request { ip: "2001:db8::cb01".parse().unwrap(), ..req.clone() };
        ev.ip = req6.ip;
        assert_eq!(
            smol::block_on(ev.expand("%{ir}.%{v}._spf.%{d2}", d, false)).as_deref(),
            Some("1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com")
        );
    }

    #[test]
    fn cidr_suffixes() {
        assert_eq!(split_cidr(":foo:bar/baz.example.com"), (":foo:bar/baz.example.com", ""));
        assert_eq!(split_cidr(":example.com/24"), (":example.com", "/24"));
        assert_eq!(split_cidr(":example.com/24//64"), (":example.com", "/24//64"));
        assert_eq!(split_cidr("//64"), ("", "//64"));
        assert_eq!(split_cidr("/24"), ("", "/24"));
        assert_eq!(dual_cidr("/24//64"), Some((24, 64)));
        assert_eq!(dual_cidr("/33"), None);
        assert_eq!(dual_cidr("/024"), None);
    }

    #[test]
    fn mechanisms_qualifiers_and_limits() {
        let mut z = Zone::default();
        z.add("example.org", txt("v=spf1 ip4:192.0.2.0/24 mx -all"));
        z.add("example.org", Rdata::Mx { preference: 10, exchange: "mx.example.org".into() });
        z.add("mx.example.org", Rdata::A([198, 51, 100, 7].into()));
        assert_eq!(run(&z, "192.0.2.200", "a@example.org").result, SpfResult::Pass);
        assert_eq!(run(&z, "198.51.100.7", "a@example.org").result, SpfResult::Pass);
        let v = run(&z, "203.0.113.1", "a@example.org");
        assert_eq!((v.result, v.explanation.as_deref()), (SpfResult::Fail, Some(DEFAULT_EXPLANATION)));
        // Eleven includes: over the DNS term limit.
        z.add("many.example", txt(&format!("v=spf1 {} -all", "include:example.org ".repeat(11))));
        assert_eq!(run(&z, "192.0.2.1", "a@many.example").result, SpfResult::Pass, "the first include matched");
        assert_eq!(run(&z, "203.0.113.1", "a@many.example").result, SpfResult::PermError);
        // Three void lookups.
        z.add("void.example", txt("v=spf1 a:x1.void.example a:x2.void.example a:x3.void.example ~all"));
        assert_eq!(run(&z, "203.0.113.1", "a@void.example").result, SpfResult::PermError);
        z.add("soft.example", txt("v=spf1 ~all"));
        assert_eq!(run(&z, "203.0.113.1", "a@soft.example").result, SpfResult::SoftFail);
        assert_eq!(run(&z, "203.0.113.1", "a@nowhere.example").result, SpfResult::None);
        z.failing.push("slow.example".into());
        assert_eq!(run(&z, "203.0.113.1", "a@slow.example").result, SpfResult::TempError);
    }

    #[test]
    fn include_loops_and_oversized_records_are_permerror() {
        let mut z = Zone::default();
        // §4.6.4: a loop ends at the 10-term limit; a self-redirect likewise.
        z.add("a.example", txt("v=spf1 include:b.example -all"));
        z.add("b.example", txt("v=spf1 include:a.example -all"));
        z.add("self.example", txt("v=spf1 redirect=self.example"));
        assert_eq!(run(&z, "192.0.2.1", "x@a.example").result, SpfResult::PermError);
        assert_eq!(run(&z, "192.0.2.1", "x@self.example").result, SpfResult::PermError);
        // A TXT record over our 8 KiB cap (RFC 1035 allows 64 KiB) is refused whole.
        let big = format!("v=spf1 {}-all", "ip4:192.0.2.1 ".repeat(RECORD_MAX / 14 + 1));
        z.add("big.example", txt(&big));
        assert_eq!(run(&z, "192.0.2.1", "x@big.example").result, SpfResult::PermError);
        assert_eq!(parse_record(&big).err(), Some(RecordError::Refused));
        // §3.2: two v=spf1 records are permerror; §4.6: a syntax error anywhere too.
        z.add("two.example", txt("v=spf1 +all")).add("two.example", txt("v=spf1 -all"));
        z.add("bad.example", txt("v=spf1 ip4:192.0.2.1 ip4:300.1.1.1 -all"));
        assert_eq!(run(&z, "192.0.2.1", "x@two.example").result, SpfResult::PermError);
        assert_eq!(run(&z, "192.0.2.1", "x@bad.example").result, SpfResult::PermError);
        assert_eq!(parse_record("v=spf1 ip4:192.0.2.1 a mx/24 ~all").map(|r| r.mechanisms()), Ok(4));
        assert_eq!(parse_record("v=spf10 -all").err(), Some(RecordError::NotSpf));
        assert_eq!(parse_record("v=spf1 ip4:300.1.1.1").err(), Some(RecordError::Syntax));
    }
}
