//! The DKIM tag-list (RFC 6376 §3.2) and the two records written in it: the DKIM-Signature
//! field (§3.5) and the key record (§3.6.1, RFC 8463 §4). Parsers are bounded: a list of
//! more than [`TAGS_MAX`] tags, an `h=` of more than [`H_ENTRIES_MAX`] names or a `p=` of
//! more than [`KEY_B64_MAX`] characters is refused, so a hostile field or record costs at
//! most a few kilobytes whatever its size.

use crate::auth::base64;
use crate::mailauth::canon::Canon;

/// Tags in one list: a signature has about 12, a key record 3 to 6; 64 leaves room for
/// extensions and refuses a list built to make lookups slow.
pub const TAGS_MAX: usize = 64;
/// Names in `h=`: real signers list 10 to 40, over-signing about doubles that.
pub const H_ENTRIES_MAX: usize = 256;
/// Base64 characters of `p=`: an 8192-bit RSA SubjectPublicKeyInfo (the largest key ring
/// verifies) is 1,062 octets, 1,416 characters.
pub const KEY_B64_MAX: usize = 1500;
/// Base64 characters of `b=`: an 8192-bit RSA signature is 1,024 octets, 1,368 characters.
pub const SIG_B64_MAX: usize = 1400;
/// RFC 1035 §2.3.4 (text form): d= and s= together make a DNS name of at most this.
pub const DOMAIN_MAX: usize = 253;

/// Why a list or record was refused (the text becomes the A-R `reason`).
pub type Refusal = &'static str;

/// One `tag=value` pair: name and value with the surrounding FWS removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims FWS (WSP and folding CRLFs) at both ends.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_fws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_fws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// §3.2 `tag-list = tag-spec *( ";" tag-spec ) [ ";" ]`, `tag-name = ALPHA *ALNUMPUNC`.
/// Duplicate names are an error (§3.2: "MUST be interpreted as a syntax error").
pub fn tag_list(text: &[u8]) -> Result<Vec<Tag<'_>>, Refusal> {
    let text = trim(text);
    let text = text.strip_suffix(b";").unwrap_or(text);
    let mut tags: Vec<Tag<'_>> = Vec::new();
    for spec in text.split(|&b| b == b';') {
        if tags.len() >= TAGS_MAX {
            return Err("too many tags");
        }
        let eq = spec.iter().position(|&b| b == b'=').ok_or("a tag without =")?;
        let (name, value) = (trim(spec.get(..eq).unwrap_or_default()), trim(spec.get(eq + 1..).unwrap_or_default()));
        if !tag_name(name) {
            return Err("a bad tag name");
        }
        if tags.iter().any(|t| t.name == name) {
            return Err("a duplicate tag");
        }
        tags.push(Tag { name, value });
    }
    Ok(tags)
}

fn tag_name(name: &[u8]) -> bool {
    let mut it = name.iter();
    it.next().is_some_and(u8::is_ascii_alphabetic) && it.all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

fn find<'a>(tags: &[Tag<'a>], name: &str) -> Option<&'a [u8]> {
    tags.iter().find(|t| t.name == name.as_bytes()).map(|t| t.value)
}

/// Base64 with FWS anywhere (§3.5 b=, bh=; §3.6.1 p=), at most `max` characters.
pub fn base64_fws(value: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    let text: Vec<u8> = value.iter().copied().filter(|&b| !is_fws(b)).take(max + 1).collect();
    if text.len() > max {
        return Err("a base64 value too long");
    }
    base64::decode(&text).map_err(|_| "bad base64")
}

/// A decimal number of at most 20 digits that fits u64 (§3.5 t=, x=, l=).
fn number(value: &[u8]) -> Result<u64, Refusal> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err("not a number");
    }
    std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).ok_or("a number too large")
}

/// §3.3 signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// §3.3.1; RFC 8301 §3.1: verifiers MUST NOT consider it valid.
    RsaSha1,
    RsaSha256,
    /// RFC 8463 §3.
    Ed25519Sha256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaSha1 => "rsa-sha1",
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    fn parse(v: &[u8]) -> Option<Algorithm> {
        [Algorithm::RsaSha1, Algorithm::RsaSha256, Algorithm::Ed25519Sha256]
            .into_iter()
            .find(|a| a.as_str().as_bytes().eq_ignore_ascii_case(v))
    }

    /// The hash, as the key record's `h=` names it (§3.6.1).
    pub fn hash_name(self) -> &'static str {
        match self {
            Algorithm::RsaSha1 => "sha1",
            _ => "sha256",
        }
    }

    /// The key type, as the key record's `k=` names it.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::Ed25519Sha256 => "ed25519",
            _ => "rsa",
        }
    }
}

/// A DKIM-Signature field's tags (§3.5), checked for syntax and the §6.1.1 rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigTags {
    pub algorithm: Algorithm,
    pub b: Vec<u8>,
    /// `b=` as written, FWS removed (for `header.b`).
    pub b_text: String,
    pub bh: Vec<u8>,
    pub header_canon: Canon,
    pub body_canon: Canon,
    /// Lowercase.
    pub domain: String,
    pub selector: String,
    /// `h=` names, lowercase, in order.
    pub headers: Vec<String>,
    pub auid: Option<String>,
    pub length: Option<u64>,
    pub timestamp: Option<u64>,
    pub expiry: Option<u64>,
}

/// What is known of a signature that did not parse: for the A-R `header.d`/`header.s`/`header.b`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    pub domain: String,
    pub selector: String,
    pub b_text: String,
    pub algorithm: String,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// The identifying tags of any tag list, however broken the rest.
pub fn partial(tags: &[Tag<'_>]) -> Partial {
    let b: Vec<u8> = find(tags, "b").unwrap_or_default().iter().copied().filter(|&b| !is_fws(b)).collect();
    Partial {
        domain: text(find(tags, "d").unwrap_or_default()).to_ascii_lowercase(),
        selector: text(find(tags, "s").unwrap_or_default()),
        b_text: text(&b),
        algorithm: text(find(tags, "a").unwrap_or_default()),
    }
}

/// §3.5 with the checks of §6.1.1 that need no clock and no key.
pub fn signature(tags: &[Tag<'_>]) -> Result<SigTags, Refusal> {
    let need = |n: &'static str| find(tags, n).ok_or(n);
    if need("v").map_err(|_| "v= missing")? != b"1" {
        return Err("v= is not 1");
    }
    let algorithm = Algorithm::parse(need("a").map_err(|_| "a= missing")?).ok_or("unknown algorithm")?;
    let b_raw = need("b").map_err(|_| "b= missing")?;
    let b = base64_fws(b_raw, SIG_B64_MAX)?;
    let bh = base64_fws(need("bh").map_err(|_| "bh= missing")?, SIG_B64_MAX)?;
    let (header_canon, body_canon) = canonicalization(find(tags, "c"))?;
    let domain = domain(need("d").map_err(|_| "d= missing")?)?;
    let selector = selector(need("s").map_err(|_| "s= missing")?)?;
    let headers = h_list(need("h").map_err(|_| "h= missing")?)?;
    let auid = find(tags, "i").map(|i| auid(i, &domain)).transpose()?;
    if let Some(q) = find(tags, "q") {
        if !q.split(|&c| c == b':').any(|m| trim(m).eq_ignore_ascii_case(b"dns/txt")) {
            return Err("q= has no dns/txt");
        }
    }
    let num = |n: &str| find(tags, n).map(number).transpose();
    let (length, timestamp, expiry) = (num("l")?, num("t")?, num("x")?);
    if let (Some(t), Some(x)) = (timestamp, expiry) {
        if x < t {
            return Err("x= before t=");
        }
    }
    let b_text = partial(tags).b_text;
    Ok(SigTags {
        algorithm,
        b,
        b_text,
        bh,
        header_canon,
        body_canon,
        domain,
        selector,
        headers,
        auid,
        length,
        timestamp,
        expiry,
    })
}

/// `c=` (§3.5): "header/body", either "simple" or "relaxed"; one word is the header's, the
/// body's is simple then; absent means simple/simple.
fn canonicalization(c: Option<&[u8]>) -> Result<(Canon, Canon), Refusal> {
    let one = |w: &[u8]| match w.to_ascii_lowercase().as_slice() {
        b"simple" => Ok(Canon::Simple),
        b"relaxed" => Ok(Canon::Relaxed),
        _ => Err("unknown canonicalization"),
    };
    match c.map(|c| c.splitn(2, |&b| b == b'/').collect::<Vec<_>>()).as_deref() {
        None => Ok((Canon::Simple, Canon::Simple)),
        Some([h]) => Ok((one(h)?, Canon::Simple)),
        Some([h, b]) => Ok((one(h)?, one(b)?)),
        Some(_) => Err("unknown canonicalization"),
    }
}

/// `d=`: a domain name (lowercased; the A-R reports it so).
fn domain(v: &[u8]) -> Result<String, Refusal> {
    let d = v.strip_suffix(b".").unwrap_or(v);
    let ok = !d.is_empty()
        && d.len() <= DOMAIN_MAX
        && d.split(|&b| b == b'.').all(|l| !l.is_empty() && l.len() <= 63)
        && d.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') || b >= 0x80);
    std::str::from_utf8(d).ok().filter(|_| ok).map(str::to_ascii_lowercase).ok_or("bad d= domain")
}

/// `s=`: one or more labels (§3.1 allows dots in selectors).
fn selector(v: &[u8]) -> Result<String, Refusal> {
    domain(v).map_err(|_| "bad s= selector")
}

/// `h=`: colon-separated field names, FWS around them allowed; From MUST be there (§5.4).
fn h_list(v: &[u8]) -> Result<Vec<String>, Refusal> {
    let mut out = Vec::new();
    for name in v.split(|&b| b == b':') {
        if out.len() >= H_ENTRIES_MAX {
            return Err("h= lists too many fields");
        }
        let name = trim(name);
        if name.is_empty() || !name.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b':') {
            return Err("bad h= field name");
        }
        out.push(text(name).to_ascii_lowercase());
    }
    if !out.iter().any(|n| n == "from") {
        return Err("From is not signed");
    }
    Ok(out)
}

/// `i=` (§3.5): its domain is d= or a subdomain of it.
fn auid(i: &[u8], d: &str) -> Result<String, Refusal> {
    let at = i.iter().rposition(|&b| b == b'@').ok_or("i= has no @")?;
    let idom = text(i.get(at + 1..).unwrap_or_default()).to_ascii_lowercase();
    let idom = idom.strip_suffix('.').unwrap_or(&idom);
    if !(idom == d || idom.ends_with(&format!(".{d}"))) {
        return Err("i= is not in d=");
    }
    Ok(text(i))
}

/// A key record (§3.6.1, RFC 8463 §4) as far as verification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=`: "rsa" (the default) or "ed25519".
    pub key_type: String,
    /// `p=` decoded; empty means revoked.
    pub public_key: Vec<u8>,
    /// `h=`: acceptable hashes, lowercase; empty when absent (all).
    pub hashes: Vec<String>,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
    /// `t=s`: i= must be in d= exactly, no subdomain.
    pub strict: bool,
}

fn colon_list(v: &[u8]) -> Vec<String> {
    v.split(|&b| b == b':').map(|x| text(trim(x)).to_ascii_lowercase()).filter(|x| !x.is_empty()).collect()
}

/// §3.6.1: v= (if there) is DKIM1, s= (if there) allows email, p= is present.
pub fn key_record(text: &[u8]) -> Result<KeyRecord, Refusal> {
    let tags = tag_list(text).map_err(|_| "key record syntax")?;
    if find(&tags, "v").is_some_and(|v| v != b"DKIM1") {
        return Err("key record v= is not DKIM1");
    }
    if let Some(s) = find(&tags, "s") {
        if !colon_list(s).iter().any(|s| s == "*" || s == "email") {
            return Err("key not for email (s=)");
        }
    }
    let flags = find(&tags, "t").map(colon_list).unwrap_or_default();
    let key_type = find(&tags, "k").map_or_else(|| "rsa".to_owned(), |k| self::text(k).to_ascii_lowercase());
    let public_key = base64_fws(find(&tags, "p").ok_or("key record has no p=")?, KEY_B64_MAX).map_err(|e| {
        if e == "bad base64" {
            "key p= is not base64"
        } else {
            "key p= too long"
        }
    })?;
    Ok(KeyRecord {
        key_type,
        public_key,
        hashes: find(&tags, "h").map(colon_list).unwrap_or_default(),
        testing: flags.iter().any(|f| f == "y"),
        strict: flags.iter().any(|f| f == "s"),
    })
}
