//! DMARC (RFC 7489): the policy record (§6.3 tags, §6.4 syntax), policy discovery (§6.6.3),
//! identifier alignment (§3.1, relaxed and strict) of the SPF and DKIM results with the
//! RFC5322.From domain (§6.6.1, [`from_domain`]), the result (§4.2, §11.2 keywords) and the
//! disposition after `pct` sampling (§6.6.4). No reports are sent: `rua`/`ruf` are parsed,
//! only to apply §6.6.3 step 6. Sans-IO over the [`Resolver`] trait.
//!
//! **Organizational domain: the DNS tree walk of the DMARC revision**
//! (draft-ietf-dmarc-dmarcbis §4.10), not a public suffix list. Walking up from a domain,
//! `_dmarc.<target>` is asked for each target (the domain, then one label shorter each time;
//! a target of 8 or more labels is cut to its last 7 first, so at most 8 queries); a record
//! with `psd=n` makes its domain the organizational domain, `psd=y` the domain one label
//! below it; otherwise the domain with the fewest labels holding a DMARC record wins, and
//! with no record at all the domain is its own. Why: a router's binary has a 2 MiB budget
//! with every feature, and a public suffix list must ship in it and goes stale between
//! firmware updates. Measured on Debian's `publicsuffix` 20230209: 9,506 rules, 115,020
//! bytes of rule text (83,578 for the ICANN section alone), 40,198 bytes gzip -9, 34,320
//! bytes xz -9e (24,532 ICANN only), 54,368 bytes as the trie-packed DAFSA Debian ships
//! (`public_suffix_list.dafsa`, looked up without decompression) — 34–54 KB, 2–3 % of the
//! budget, plus the lookup code. The walk costs zero bytes and a few cached queries
//! (`_dmarc.com` and the like are answered from the resolver cache after the first message).
//!
//! Policy discovery is RFC 7489 §6.6.3: `_dmarc.<From domain>`, and only when that has no
//! DMARC record, `_dmarc.<organizational domain>` whose `sp` then applies (the revision
//! would take the first record on the walk instead, an intermediate one included). Several
//! `v=DMARC1` records at the asked name are `permerror` (step 5: no policy; §11.2: a
//! permanent error of the domain). Relaxed alignment compares organizational domains, each
//! from its own walk (tests/dmarc.rs holds the table of cases written from the RFC text).

mod from;

pub use from::{from_domain, FromError, FROM_MAX};

use crate::dns::{DnsError, Rdata, Resolver, Rtype};

/// The longest policy record accepted: real ones are under 300 bytes; 2 KiB leaves room
/// for several report URIs and keeps a hostile TXT record from being copied around.
pub const RECORD_MAX: usize = 2048;
/// Report URIs kept per `rua`/`ruf` tag (we send no reports; they decide §6.6.3 step 6).
pub const URIS_MAX: usize = 8;
/// dmarcbis §4.10: a walk asks at most this many names (the domain, then ≤ 7 labels).
pub const WALK_QUERIES_MAX: usize = 8;
/// DKIM-passing domains looked at for alignment: more signatures than this on one message
/// add DNS work and no trust.
pub const DKIM_DOMAINS_MAX: usize = 8;
/// RFC 1035 §2.3.4: a domain name of at most 253 characters in text form.
const DOMAIN_MAX: usize = 253;
/// `_dmarc` answers remembered during one check (each walk asks ≤ 8 names).
const MEMO_MAX: usize = 32;
/// DMARC records kept per name: §6.6.3 step 5 only asks "one or several?".
const KEPT_PER_NAME: usize = 2;

/// §6.3 `p`/`sp`: what the Domain Owner asks for mail that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    /// §6.4 `dmarc-request`: "none" / "quarantine" / "reject" (ABNF strings: any case).
    fn parse(s: &str) -> Option<Policy> {
        [Policy::None, Policy::Quarantine, Policy::Reject].into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// §6.6.4: a message not sampled by `pct` gets the next weaker policy.
    fn weaker(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            Policy::Quarantine | Policy::None => Policy::None,
        }
    }
}

/// §3.1.1 / §3.1.2 identifier alignment modes (`adkim`, `aspf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    Relaxed,
    Strict,
}

/// A DMARC policy record (§6.3). Unknown tags are ignored; `rf` is skipped (we send no
/// failure reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub p: Policy,
    pub sp: Option<Policy>,
    /// 0..=100, default 100.
    pub pct: u8,
    pub adkim: Alignment,
    pub aspf: Alignment,
    /// Syntactically valid report URIs (at most [`URIS_MAX`] each).
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    /// `fo`, as written (default "0").
    pub fo: String,
    /// `ri` seconds, default 86400.
    pub ri: u32,
    /// dmarcbis `psd=y|n` (absent: `None`), read by the tree walk.
    pub psd: Option<bool>,
}

/// Why a TXT record is not a usable policy record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Does not start with `v=DMARC1` (§6.6.3 step 2: discarded, as if absent).
    NotDmarc,
    /// Over [`RECORD_MAX`].
    TooLong,
    /// A known tag with an invalid value or repeated, or a term that is no tag.
    BadTag,
    /// §6.6.3 step 6: no valid `p` (or an invalid `sp`) and no valid `rua` to fall back on.
    NoPolicy,
}

impl ParseError {
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::NotDmarc => "not a DMARC record",
            ParseError::TooLong => "record too long",
            ParseError::BadTag => "invalid tag",
            ParseError::NoPolicy => "no valid p tag",
        }
    }
}

/// §6.3/§6.4: parses a policy record. `v=DMARC1` must be the first tag (the version value
/// is case-sensitive, `%x44 %x4d %x41 %x52 %x43 %x31`); `p` is required, except that per
/// §6.6.3 step 6 a record whose `p` or `sp` is invalid but which has a valid `rua` acts as
/// `p=none`.
pub fn parse_record(txt: &str) -> Result<Record, ParseError> {
    let mut tags = txt.split(';').map(|t| t.trim_matches([' ', '\t']));
    if !tags.next().and_then(tag).is_some_and(|(n, v)| n.eq_ignore_ascii_case("v") && v == "DMARC1") {
        return Err(ParseError::NotDmarc);
    }
    if txt.len() > RECORD_MAX {
        return Err(ParseError::TooLong);
    }
    let mut raw = RawTags::default();
    for t in tags.filter(|t| !t.is_empty()) {
        let (name, value) = tag(t).ok_or(ParseError::BadTag)?;
        raw.set(name, value)?;
    }
    raw.record()
}

/// `tag-name *WSP "=" *WSP tag-value` (RFC 6376 §3.2 style, which §6.4 follows).
fn tag(t: &str) -> Option<(&str, &str)> {
    let (n, v) = t.split_once('=')?;
    let n = n.trim_end_matches([' ', '\t']);
    let ok = n.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| (n, v.trim_start_matches([' ', '\t'])))
}

/// The tags of one record as written, before defaults and §6.6.3 step 6.
#[derive(Default)]
struct RawTags<'a> {
    p: Option<&'a str>,
    sp: Option<&'a str>,
    pct: Option<u8>,
    adkim: Option<Alignment>,
    aspf: Option<Alignment>,
    rua: Option<Vec<String>>,
    ruf: Option<Vec<String>>,
    fo: Option<&'a str>,
    ri: Option<u32>,
    psd: Option<bool>,
}

impl<'a> RawTags<'a> {
    /// Stores one tag; a repeated known tag or an invalid value of one is an error.
    fn set(&mut self, name: &str, v: &'a str) -> Result<(), ParseError> {
        fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Result<(), ParseError> {
            match (slot.is_some(), value) {
                (false, Some(x)) => {
                    *slot = Some(x);
                    Ok(())
                }
                _ => Err(ParseError::BadTag),
            }
        }
        match name.to_ascii_lowercase().as_str() {
            "p" => once(&mut self.p, Some(v)),
            "sp" => once(&mut self.sp, Some(v)),
            "pct" => once(&mut self.pct, pct(v)),
            "adkim" => once(&mut self.adkim, alignment(v)),
            "aspf" => once(&mut self.aspf, alignment(v)),
            "rua" => once(&mut self.rua, Some(uris(v))),
            "ruf" => once(&mut self.ruf, Some(uris(v))),
            "fo" => once(&mut self.fo, Some(v)),
            "ri" => once(&mut self.ri, v.parse().ok().filter(|_| v.bytes().all(|b| b.is_ascii_digit()))),
            "psd" => once(&mut self.psd, yes_no(v)),
            _ => Ok(()), // §6.3: unknown tags MUST be ignored (rf, np, t, and the future).
        }
    }

    /// Applies defaults (§6.3) and §6.6.3 step 6.
    fn record(self) -> Result<Record, ParseError> {
        let p = self.p.and_then(Policy::parse);
        let sp = self.sp.map(|s| Policy::parse(s).ok_or(()));
        let rua = self.rua.unwrap_or_default();
        let (p, sp) = match (p, sp) {
            (Some(p), None) => (p, None),
            (Some(p), Some(Ok(sp))) => (p, Some(sp)),
            _ if !rua.is_empty() => (Policy::None, None),
            _ => return Err(ParseError::NoPolicy),
        };
        Ok(Record {
            p,
            sp,
            pct: self.pct.unwrap_or(100),
            adkim: self.adkim.unwrap_or(Alignment::Relaxed),
            aspf: self.aspf.unwrap_or(Alignment::Relaxed),
            rua,
            ruf: self.ruf.unwrap_or_default(),
            fo: self.fo.unwrap_or("0").to_owned(),
            ri: self.ri.unwrap_or(86400),
            psd: self.psd,
        })
    }
}

/// `dmarc-percent = "pct" *WSP "=" *WSP 1*3DIGIT`, 0 to 100.
fn pct(v: &str) -> Option<u8> {
    let ok = (1..=3).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit());
    v.parse::<u8>().ok().filter(|&n| ok && n <= 100)
}

/// `dmarc-adkim`/`dmarc-aspf`: "r" / "s".
fn alignment(v: &str) -> Option<Alignment> {
    match v {
        "r" | "R" => Some(Alignment::Relaxed),
        "s" | "S" => Some(Alignment::Strict),
        _ => None,
    }
}

fn yes_no(v: &str) -> Option<bool> {
    match v {
        "y" | "Y" => Some(true),
        "n" | "N" => Some(false),
        _ => None,
    }
}

/// `dmarc-uri *(*WSP "," *WSP dmarc-uri)`: the syntactically valid ones (an RFC 3986
/// scheme, ":", and no whitespace), at most [`URIS_MAX`].
fn uris(v: &str) -> Vec<String> {
    let valid = |u: &&str| {
        let Some((scheme, rest)) = u.split_once(':') else { return false };
        let mut s = scheme.bytes();
        s.next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && !rest.is_empty()
            && u.bytes().all(|b| b.is_ascii_graphic())
    };
    v.split(',').map(|u| u.trim_matches([' ', '\t'])).filter(valid).take(URIS_MAX).map(str::to_owned).collect()
}

/// §11.2 / RFC 8601 §2.7.1 results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcResult {
    Pass,
    Fail,
    None,
    TempError,
    PermError,
}

impl DmarcResult {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcResult::Pass => "pass",
            DmarcResult::Fail => "fail",
            DmarcResult::None => "none",
            DmarcResult::TempError => "temperror",
            DmarcResult::PermError => "permerror",
        }
    }
}

/// What the receiver knows when it asks (§4.2): the RFC5322.From domain, the domain SPF
/// passed for (the MAIL FROM domain, or the HELO name when MAIL FROM is `<>`; `None` when
/// SPF did not pass), and the `d=` domains of the DKIM signatures that passed.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub from_domain: &'a str,
    pub spf_pass_domain: Option<&'a str>,
    pub dkim_pass_domains: &'a [&'a str],
}

/// The outcome: the result for `Authentication-Results`, and what to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub result: DmarcResult,
    /// The policy to apply after `pct` (§6.6.4); `None` unless the result is `Fail`.
    pub disposition: Policy,
    /// Where the policy record was found (the From domain when there is none).
    pub policy_domain: String,
    /// The From domain as evaluated (lower case, no final dot): `header.from`.
    pub from_domain: String,
    /// Why, for the log: the error, or what aligned.
    pub reason: Option<String>,
}

/// Evaluates DMARC for one message. `pct_roll` is a number in 0..=99 from a random source
/// the caller owns: the policy applies when `pct_roll < pct` (§6.6.4).
pub async fn check<R: Resolver>(r: &R, input: &Input<'_>, pct_roll: u8) -> Verdict {
    let from = normalize(input.from_domain);
    let mut ev = Eval { r, from: from.clone(), memo: Vec::new(), org: None };
    let (result, disposition, policy_domain, reason) = match ev.discover().await {
        Ok((rec, at)) => {
            let (result, mut reason) = ev.align(&rec, input).await;
            let applied = policy_for(&rec, at != from, pct_roll);
            let disposition = if result == DmarcResult::Fail { applied } else { Policy::None };
            if result == DmarcResult::Fail && pct_roll >= rec.pct {
                reason = Some(format!("{}; not sampled by pct={}", reason.unwrap_or_default(), rec.pct));
            }
            (result, disposition, at, reason)
        }
        Err((result, at, reason)) => (result, Policy::None, at, Some(reason)),
    };
    Verdict { result, disposition, policy_domain, from_domain: from, reason }
}

/// §6.3 `sp` for a record found at an organizational domain above the From domain; §6.6.4
/// sampling: not chosen by `pct`, the next weaker policy.
fn policy_for(rec: &Record, subdomain: bool, roll: u8) -> Policy {
    let asked = if subdomain { rec.sp.unwrap_or(rec.p) } else { rec.p };
    if roll < rec.pct {
        asked
    } else {
        asked.weaker()
    }
}

/// dmarcbis §4.10.2: the organizational domain of `domain` by the DNS tree walk (see the
/// module docs). A temporary DNS failure anywhere on the walk is an error.
/// A name that is no DNS name is [`DnsError::Invalid`].
pub async fn organizational_domain<R: Resolver>(r: &R, domain: &str) -> Result<String, DnsError> {
    if !valid_domain(&normalize(domain)) {
        return Err(DnsError::Invalid);
    }
    let mut ev = Eval { r, from: normalize(domain), memo: Vec::new(), org: None };
    ev.org_of(&normalize(domain)).await.map_err(|Temp| DnsError::Temporary)
}

/// A temporary DNS failure.
struct Temp;

/// The `v=DMARC1` TXT records at `_dmarc.<domain>` (§6.6.3 steps 1–2), or a temporary
/// failure.
#[derive(Clone)]
enum Lookup {
    Temp,
    Records(Vec<String>),
}

/// Why discovery found no policy: the result, the domain asked, the reason.
type NoPolicy = (DmarcResult, String, String);

/// One evaluation: the From domain, `_dmarc` answers already seen, its organizational domain.
struct Eval<'a, R> {
    r: &'a R,
    from: String,
    memo: Vec<(String, Lookup)>,
    org: Option<String>,
}

impl<R: Resolver> Eval<'_, R> {
    /// §6.6.3: the record at the From domain, else at its organizational domain.
    async fn discover(&mut self) -> Result<(Record, String), NoPolicy> {
        let from = self.from.clone();
        if !valid_domain(&from) {
            return Err((DmarcResult::PermError, from, "invalid From domain".into()));
        }
        let mut at = from.clone();
        let mut found = self.records(&at).await?;
        if found.is_empty() {
            let org = self.org_from().await.map_err(|Temp| temp(&from))?;
            if org != from {
                at = org;
                found = self.records(&at).await?;
            }
        }
        match found.as_slice() {
            [] => Err((DmarcResult::None, from, "no DMARC record".into())),
            [one] => match parse_record(one) {
                Ok(rec) => Ok((rec, at)),
                Err(e) => Err((DmarcResult::PermError, at.clone(), format!("_dmarc.{at}: {}", e.as_str()))),
            },
            // Step 5: several records, no policy; §11.2 a permanent error of the domain.
            _ => Err((DmarcResult::PermError, at.clone(), format!("_dmarc.{at}: several DMARC records"))),
        }
    }

    async fn records(&mut self, domain: &str) -> Result<Vec<String>, NoPolicy> {
        match self.dmarc_txt(domain).await {
            Lookup::Temp => Err(temp(domain)),
            Lookup::Records(v) => Ok(v),
        }
    }

    /// §4.2: pass when SPF or a DKIM signature passed for an aligned domain.
    async fn align(&mut self, rec: &Record, input: &Input<'_>) -> (DmarcResult, Option<String>) {
        let mut temp = false;
        if let Some(d) = input.spf_pass_domain {
            match self.aligned(d, rec.aspf).await {
                Ok(true) => return (DmarcResult::Pass, Some(format!("spf aligned ({d})"))),
                Ok(false) => {}
                Err(Temp) => temp = true,
            }
        }
        for d in input.dkim_pass_domains.iter().take(DKIM_DOMAINS_MAX) {
            match self.aligned(d, rec.adkim).await {
                Ok(true) => return (DmarcResult::Pass, Some(format!("dkim aligned ({d})"))),
                Ok(false) => {}
                Err(Temp) => temp = true,
            }
        }
        if temp {
            return (DmarcResult::TempError, Some("DNS failure while aligning".into()));
        }
        (DmarcResult::Fail, Some("no aligned SPF or DKIM pass".into()))
    }

    /// §3.1.1/§3.1.2: strict is equality; relaxed, equal organizational domains.
    async fn aligned(&mut self, domain: &str, mode: Alignment) -> Result<bool, Temp> {
        let d = normalize(domain);
        if d == self.from {
            return Ok(true);
        }
        if mode == Alignment::Strict || !valid_domain(&d) {
            return Ok(false);
        }
        let org = self.org_from().await?;
        // An organizational domain is a suffix of its domain: no walk when it cannot match.
        if d != org && !d.ends_with(&format!(".{org}")) {
            return Ok(false);
        }
        Ok(self.org_of(&d).await? == org)
    }

    async fn org_from(&mut self) -> Result<String, Temp> {
        if let Some(o) = &self.org {
            return Ok(o.clone());
        }
        let from = self.from.clone();
        let o = self.org_of(&from).await?;
        self.org = Some(o.clone());
        Ok(o)
    }

    /// dmarcbis §4.10.2 over the targets of [`walk_targets`].
    async fn org_of(&mut self, domain: &str) -> Result<String, Temp> {
        let targets = walk_targets(domain);
        let mut highest = None;
        for (i, t) in targets.iter().enumerate() {
            let Lookup::Records(found) = self.dmarc_txt(t).await else { return Err(Temp) };
            // Several records at one name are discarded (dmarcbis §4.10 step 7).
            let [one] = found.as_slice() else { continue };
            match parse_record(one).ok().and_then(|r| r.psd) {
                Some(false) => return Ok(t.clone()),
                Some(true) if i == 0 => return Ok(t.clone()),
                Some(true) => return Ok(suffix(domain, labels(t) + 1).to_owned()),
                None => highest = Some(t),
            }
        }
        Ok(highest.map_or_else(|| domain.to_owned(), Clone::clone))
    }

    /// The `v=DMARC1` records at `_dmarc.<domain>`; NXDOMAIN and NODATA are none.
    async fn dmarc_txt(&mut self, domain: &str) -> Lookup {
        if let Some((_, l)) = self.memo.iter().find(|(d, _)| d == domain) {
            return l.clone();
        }
        let l = match self.r.lookup(&format!("_dmarc.{domain}"), Rtype::Txt).await {
            Ok(v) => Lookup::Records(v.iter().filter_map(dmarc_text).take(KEPT_PER_NAME).collect()),
            Err(DnsError::Temporary) => Lookup::Temp,
            Err(DnsError::NxDomain | DnsError::Invalid) => Lookup::Records(Vec::new()),
        };
        if self.memo.len() < MEMO_MAX {
            self.memo.push((domain.to_owned(), l.clone()));
        }
        l
    }
}

fn temp(domain: &str) -> NoPolicy {
    (DmarcResult::TempError, domain.to_owned(), format!("_dmarc.{domain}: temporary DNS failure"))
}

/// §6.6.3 step 2: a TXT record that starts with `v=DMARC1` (others are discarded), cut
/// one byte past [`RECORD_MAX`] (still too long for [`parse_record`], and bounded).
fn dmarc_text(d: &Rdata) -> Option<String> {
    let Rdata::Txt(t) = d else { return None };
    let s = String::from_utf8_lossy(t.get(..RECORD_MAX + 1).unwrap_or(t));
    (parse_record(&s) != Err(ParseError::NotDmarc)).then(|| s.into_owned())
}

/// dmarcbis §4.10.1 steps 3–4: the domain, then shorter targets: fewer than 8 labels lose
/// the left-most one; 8 or more are cut to the last 7. Ends at one label.
fn walk_targets(domain: &str) -> Vec<String> {
    let mut out = vec![domain.to_owned()];
    let mut n = labels(domain);
    while n > 1 && out.len() < WALK_QUERIES_MAX {
        n = if n < 8 { n - 1 } else { 7 };
        out.push(suffix(domain, n).to_owned());
    }
    out
}

fn labels(d: &str) -> usize {
    d.split('.').count()
}

/// The last `n` labels of `d` (all of it when it has fewer).
fn suffix(d: &str, n: usize) -> &str {
    let total = labels(d);
    let skip = total.saturating_sub(n);
    d.match_indices('.').nth(skip.wrapping_sub(1)).map_or(d, |(i, _)| d.get(i + 1..).unwrap_or(d))
}

/// Lower case, no surrounding whitespace, no final dot.
fn normalize(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A name we can ask `_dmarc.` for: labels of 1–63 letters, digits, `-` or `_`.
fn valid_domain(d: &str) -> bool {
    d.len() <= DOMAIN_MAX
        && d.split('.')
            .all(|l| (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_syntax() {
        let r = parse_record("v=DMARC1; p=reject; sp=none; pct=20; adkim=s; rua=mailto:a@example.com, x").unwrap();
        assert_eq!(
            (r.p, r.sp, r.pct, r.adkim, r.aspf),
            (Policy::Reject, Some(Policy::None), 20, Alignment::Strict, Alignment::Relaxed)
        );
        assert_eq!(r.rua, ["mailto:a@example.com"]);
        // §6.4: the version value is case-sensitive, the tag name and policy words are not.
        assert_eq!(parse_record("V = DMARC1 ; P = Quarantine").map(|r| r.p), Ok(Policy::Quarantine));
        assert_eq!(parse_record("v=dmarc1; p=reject"), Err(ParseError::NotDmarc));
        assert_eq!(parse_record("p=reject; v=DMARC1"), Err(ParseError::NotDmarc));
        assert_eq!(parse_record("v=DMARC10; p=reject"), Err(ParseError::NotDmarc));
        // §6.3: unknown tags ignored; p required; §6.6.3 step 6: rua rescues to p=none.
        assert_eq!(parse_record("v=DMARC1; p=none; foo=bar; np=reject; t=y").map(|r| r.p), Ok(Policy::None));
        assert_eq!(parse_record("v=DMARC1"), Err(ParseError::NoPolicy));
        assert_eq!(parse_record("v=DMARC1; p=bogus"), Err(ParseError::NoPolicy));
        assert_eq!(parse_record("v=DMARC1; p=bogus; rua=mailto:r@example.com").map(|r| r.p), Ok(Policy::None));
        assert_eq!(
            parse_record("v=DMARC1; p=reject; sp=x; rua=mailto:r@example.com").map(|r| (r.p, r.sp)),
            Ok((Policy::None, None))
        );
        assert_eq!(parse_record("v=DMARC1; p=reject; pct=101"), Err(ParseError::BadTag));
        assert_eq!(parse_record("v=DMARC1; p=reject; pct=0050"), Err(ParseError::BadTag));
        assert_eq!(parse_record("v=DMARC1; p=reject; p=none"), Err(ParseError::BadTag));
        assert_eq!(parse_record("v=DMARC1; p=reject; garbage"), Err(ParseError::BadTag));
        let long = format!("v=DMARC1; p=reject; x={}", "a".repeat(RECORD_MAX));
        assert_eq!(parse_record(&long), Err(ParseError::TooLong));
    }

    #[test]
    fn walk_targets_shorten_long_names_to_seven_labels() {
        assert_eq!(
            walk_targets("a.b.example.co.uk"),
            ["a.b.example.co.uk", "b.example.co.uk", "example.co.uk", "co.uk", "uk"]
        );
        let t = walk_targets("1.2.3.4.5.6.7.8.9.example");
        assert_eq!(t.len(), WALK_QUERIES_MAX);
        assert_eq!(t.get(1).map(String::as_str), Some("4.5.6.7.8.9.example"));
        assert_eq!(t.last().map(String::as_str), Some("example"));
        assert_eq!(walk_targets("com"), ["com"]);
        assert_eq!(suffix("a.b.c", 5), "a.b.c");
        assert_eq!(suffix("a.b.c", 1), "c");
    }
}
