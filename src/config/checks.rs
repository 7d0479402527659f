//! `[checks]`: what the SMTP receiver verifies about inbound mail (issue 15). Keys are a
//! contract: `spf`, `dkim`, `dmarc`, `dnsbl`, `greylist`, and `dnsbl_action`.
//! The table parses in every build; in a build without the `checks` cargo feature the
//! defaults are off and turning a check on is refused at startup ([`Checks::unsupported`]).

use super::toml::{Entry, Value};
use super::ConfigError;

/// Whether this build can run the checks (cargo feature `checks`).
pub const BUILT_IN: bool = cfg!(feature = "checks");
/// DNS blocklists at most: each costs one DNS query per connection; 8 covers every usual
/// combination (Spamhaus ZEN, Barracuda, SpamCop, a private list…).
pub const DNSBL_MAX: usize = 8;
/// Longest zone name: the IPv6 query name (32 nibble labels, 64 octets) must still fit the
/// 253 octets of a domain name (RFC 1035 §2.3.4; RFC 5782 for the nibble form).
pub const DNSBL_ZONE_MAX: usize = 253 - 64;

/// What a DNSBL listing does (`dnsbl_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsblAction {
    /// 554 5.7.1 at RCPT naming the list (the default: a listed client is refused before
    /// any data is taken, and a real sender gets a bounce that says why).
    Reject,
    /// Accept and file into Junk (for lists with false positives the owner wants to see).
    Junk,
}

/// The `[checks]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Checks {
    /// RFC 7208 on MAIL FROM and HELO: on by default (with the feature), it is cheap and
    /// feeds DMARC.
    pub spf: bool,
    /// RFC 6376 / RFC 8463 verification: on by default (with the feature), it feeds DMARC.
    pub dkim: bool,
    /// RFC 7489: on by default (with the feature), it is what stops From: spoofing.
    pub dmarc: bool,
    /// Blocklist zones queried for the client address; empty by default, as public lists
    /// have usage terms the owner must accept.
    pub dnsbl: Vec<String>,
    /// RFC 6647 greylisting: off by default, as it delays first-time mail by 5 minutes or more.
    pub greylist: bool,
    pub dnsbl_action: DnsblAction,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            spf: BUILT_IN,
            dkim: BUILT_IN,
            dmarc: BUILT_IN,
            dnsbl: Vec::new(),
            greylist: false,
            dnsbl_action: DnsblAction::Reject,
        }
    }
}

impl Checks {
    /// In a build without the `checks` feature, the first key that turns a check on (the
    /// startup error names it); `None` when this build can do what the table asks.
    pub fn unsupported(&self) -> Option<&'static str> {
        if BUILT_IN {
            return None;
        }
        [
            ("spf", self.spf),
            ("dkim", self.dkim),
            ("dmarc", self.dmarc),
            ("dnsbl", !self.dnsbl.is_empty()),
            ("greylist", self.greylist),
        ]
        .into_iter()
        .find_map(|(k, on)| on.then_some(k))
    }
}

/// Applies one `[checks]` entry; `err` names the place.
pub(super) fn apply(c: &mut Checks, e: &Entry, err: impl Fn(&str) -> ConfigError) -> Result<(), ConfigError> {
    let flag = || match &e.value {
        Value::Bool(b) => Ok(*b),
        v => Err(err(&format!("expected a boolean, found {}", v.kind()))),
    };
    match e.key.as_str() {
        "spf" => c.spf = flag()?,
        "dkim" => c.dkim = flag()?,
        "dmarc" => c.dmarc = flag()?,
        "greylist" => c.greylist = flag()?,
        "dnsbl" => c.dnsbl = zones(&e.value, &err)?,
        "dnsbl_action" => {
            c.dnsbl_action = match &e.value {
                Value::Str(s) if s == "reject" => DnsblAction::Reject,
                Value::Str(s) if s == "junk" => DnsblAction::Junk,
                _ => return Err(err("expected \"reject\" or \"junk\"")),
            }
        }
        _ => return Err(err("unknown key")),
    }
    Ok(())
}

/// `dnsbl`: at most [`DNSBL_MAX`] zone names, lowercased, without a trailing dot.
fn zones(v: &Value, err: &impl Fn(&str) -> ConfigError) -> Result<Vec<String>, ConfigError> {
    let Value::Array(items) = v else {
        return Err(err(&format!("expected an array of zone names, found {}", v.kind())));
    };
    if items.len() > DNSBL_MAX {
        return Err(err(&format!("at most {DNSBL_MAX} lists")));
    }
    items
        .iter()
        .map(|i| match i {
            Value::Str(s) => zone(s).ok_or_else(|| err(&format!("{s:?} is not a DNS zone name"))),
            v => Err(err(&format!("expected strings, found {}", v.kind()))),
        })
        .collect()
}

/// A zone name: dot-separated labels of letters, digits, `-` and `_`, 1–63 octets each,
/// [`DNSBL_ZONE_MAX`] octets in all.
fn zone(s: &str) -> Option<String> {
    let z = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (z.len() <= DNSBL_ZONE_MAX && z.contains('.') && z.split('.').all(label)).then_some(z)
}
