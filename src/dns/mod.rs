//! DNS for mail: the sans-IO half of a stub resolver (RFC 1035 §7, RFC 1123 §6.1.3). The
//! message codec is [`wire`], the bounded answer cache [`cache`]; `net::dns` sends the
//! queries (UDP, then TCP when the answer is truncated, RFC 7766 §5) and implements
//! [`Resolver`]. Outbound delivery (MX, RFC 5321 §5.1), SPF, DKIM and DMARC ask through
//! [`Resolver`], so their tests feed zone data with [`Zone`] instead of a server.
//!
//! What a lookup returns: the records of the asked type at the name, after following
//! CNAMEs (RFC 1034 §3.6.2, at most [`CNAME_CHAIN_MAX`] links: a loop or a longer chain is
//! an error); `Ok(vec![])` when the name exists without such records (NODATA);
//! [`DnsError::NxDomain`] when the name does not exist; [`DnsError::Temporary`] for
//! timeouts, SERVFAIL, REFUSED and garbage (callers retry later, never bounce on it).

pub mod cache;
pub mod wire;
pub mod zonefile;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use wire::{Message, Rcode, Section};
pub use wire::{Rdata, Rtype};

/// CNAME links followed for one lookup (RFC 1034 §5.3.1 asks resolvers to bound them).
pub const CNAME_CHAIN_MAX: usize = 8;

/// Why a lookup has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// RFC 1035 §4.1.1 RCODE 3: the name does not exist (a permanent answer).
    NxDomain,
    /// Timeout, SERVFAIL/REFUSED, a lame or garbled answer, a network error: try later.
    Temporary,
    /// A CNAME loop or a chain over [`CNAME_CHAIN_MAX`], or a name that cannot be asked.
    Invalid,
}

/// The answer to one question: records and the TTL they may be kept (the smallest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub records: Vec<Rdata>,
    pub ttl: u32,
}

/// What one response says about a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Final: the records (possibly none) and their TTL (for NODATA: the negative TTL).
    Done(Result<Answer, DnsError>),
    /// The name is an alias whose target the response did not answer: ask for `0`.
    Follow(String),
}

/// Reads the answer to (`name`, `rtype`) out of a response to that question, following
/// CNAMEs inside it. RFC 2308 §5: the negative TTL is the SOA's MINIMUM (capped by its TTL).
pub fn interpret(msg: &Message, name: &str, rtype: Rtype) -> Step {
    match msg.rcode {
        Rcode::NoError | Rcode::NxDomain => {}
        _ => return Step::Done(Err(DnsError::Temporary)),
    }
    let mut at = wire::normalize(name);
    let mut links = 0;
    let answers = || msg.records.iter().filter(|(s, _)| *s == Section::Answer).map(|(_, r)| r);
    loop {
        let here: Vec<&wire::Record> = answers().filter(|r| r.name == at && r.rtype == rtype).collect();
        if !here.is_empty() {
            let ttl = here.iter().map(|r| r.ttl).min().unwrap_or(0);
            return Step::Done(Ok(Answer { records: here.into_iter().map(|r| r.data.clone()).collect(), ttl }));
        }
        let alias = answers().find_map(|r| match (&r.data, r.rtype == Rtype::Cname && r.name == at) {
            (Rdata::Name(target), true) => Some(target.clone()),
            _ => None,
        });
        match alias {
            Some(_) if links >= CNAME_CHAIN_MAX => return Step::Done(Err(DnsError::Invalid)),
            Some(target) => {
                links += 1;
                at = target;
            }
            None if links > 0 && msg.rcode == Rcode::NoError && negative_ttl(msg).is_none() => {
                return Step::Follow(at);
            }
            None if msg.rcode == Rcode::NxDomain => return Step::Done(Err(DnsError::NxDomain)),
            None => return Step::Done(Ok(Answer { records: Vec::new(), ttl: negative_ttl(msg).unwrap_or(0) })),
        }
    }
}

/// RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the authority section's SOA, if any.
fn negative_ttl(msg: &Message) -> Option<u32> {
    msg.records.iter().find_map(|(s, r)| match (&r.data, *s == Section::Authority) {
        (Rdata::Soa { minimum }, true) => Some(r.ttl.min(*minimum)),
        _ => None,
    })
}

/// A DNS resolver: a stub resolver talking to a server (`net::dns::StubResolver`), or
/// fixed zone data in tests ([`Zone`]).
pub trait Resolver {
    /// The records of type `rtype` at `name`, CNAMEs followed (see the module docs).
    fn lookup(&self, name: &str, rtype: Rtype) -> impl Future<Output = Result<Vec<Rdata>, DnsError>>;
}

/// Zone data as a resolver: what a test (of MX selection, SPF, DKIM…) wants DNS to say.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    records: HashMap<(String, u16), Vec<Rdata>>,
    /// Names that answer [`DnsError::Temporary`] (a test of timeouts).
    pub failing: Vec<String>,
}

impl Zone {
    /// Adds a record (names case-insensitive, a final dot optional).
    pub fn add(&mut self, name: &str, data: Rdata) -> &mut Self {
        let rtype = match &data {
            Rdata::A(_) => Rtype::A,
            Rdata::Aaaa(_) => Rtype::Aaaa,
            Rdata::Mx { .. } => Rtype::Mx,
            Rdata::Txt(_) => Rtype::Txt,
            Rdata::Soa { .. } => Rtype::Soa,
            Rdata::Name(_) | Rdata::Skipped => Rtype::Ptr,
        };
        self.records.entry((key(name), rtype.code())).or_default().push(data);
        self
    }

    /// Adds a CNAME from `name` to `target`.
    pub fn cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.records.entry((key(name), Rtype::Cname.code())).or_default().push(Rdata::Name(key(target)));
        self
    }

    fn exists(&self, name: &str) -> bool {
        self.records.keys().any(|(n, _)| n == name)
    }
}

fn key(name: &str) -> String {
    wire::normalize(name)
}

impl Resolver for Zone {
    async fn lookup(&self, name: &str, rtype: Rtype) -> Result<Vec<Rdata>, DnsError> {
        let mut at = key(name);
        for _ in 0..=CNAME_CHAIN_MAX {
            if self.failing.contains(&at) {
                return Err(DnsError::Temporary);
            }
            if let Some(r) = self.records.get(&(at.clone(), rtype.code())) {
                return Ok(r.clone());
            }
            match self.records.get(&(at.clone(), Rtype::Cname.code())).and_then(|v| v.first()) {
                Some(Rdata::Name(t)) => at = t.clone(),
                _ if self.exists(&at) => return Ok(Vec::new()),
                _ => return Err(DnsError::NxDomain),
            }
        }
        Err(DnsError::Invalid)
    }
}

/// RFC 1035 §7.1 / resolv.conf(5): the first `nameserver` line, port 53. Without one the
/// resolver library default is the local host.
pub fn nameserver_from_resolv_conf(text: &str) -> SocketAddr {
    let first = text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| w.next()).flatten()
    });
    // A scoped IPv6 address (fe80::1%eth0) is not a SocketAddr: the zone is dropped.
    let ip = first.and_then(|s| s.split('%').next()).and_then(|s| s.parse().ok());
    SocketAddr::new(ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)), 53)
}

#[cfg(test)]
mod tests {
    use super::wire::{decode, encode_response, Record};
    use super::*;

    fn rec(name: &str, rtype: Rtype, data: Rdata, ttl: u32) -> Record {
        Record { name: name.into(), rtype, ttl, data }
    }

    #[test]
    fn cnames_followed_inside_a_response() {
        let rs = [
            rec("www.example.org", Rtype::Cname, Rdata::Name("web.example.org".into()), 600),
            rec("web.example.org", Rtype::A, Rdata::A([192, 0, 2, 1].into()), 300),
            rec("web.example.org", Rtype::A, Rdata::A([192, 0, 2, 2].into()), 100),
        ];
        let m = decode(&encode_response(1, ("www.example.org", Rtype::A), 0, false, &rs)).unwrap();
        let want = Answer { records: vec![Rdata::A([192, 0, 2, 1].into()), Rdata::A([192, 0, 2, 2].into())], ttl: 100 };
        assert_eq!(interpret(&m, "WWW.example.org.", Rtype::A), Step::Done(Ok(want)));
        // Only the alias in the answer: ask for the target.
        let m = decode(&encode_response(1, ("www.example.org", Rtype::A), 0, false, &rs[..1])).unwrap();
        assert_eq!(interpret(&m, "www.example.org", Rtype::A), Step::Follow("web.example.org".into()));
    }

    #[test]
    fn cname_loops_and_long_chains_are_invalid() {
        let looped = [
            rec("a.example", Rtype::Cname, Rdata::Name("b.example".into()), 60),
            rec("b.example", Rtype::Cname, Rdata::Name("a.example".into()), 60),
        ];
        let m = decode(&encode_response(1, ("a.example", Rtype::Mx), 0, false, &looped)).unwrap();
        assert_eq!(interpret(&m, "a.example", Rtype::Mx), Step::Done(Err(DnsError::Invalid)));
        let mut zone = Zone::default();
        zone.cname("a.example", "b.example").cname("b.example", "a.example");
        assert_eq!(smol::block_on(zone.lookup("a.example", Rtype::Mx)), Err(DnsError::Invalid));
    }

    #[test]
    fn nxdomain_nodata_and_server_failures() {
        let soa = rec("example", Rtype::Soa, Rdata::Soa { minimum: 30 }, 3600);
        let mut nx = encode_response(1, ("no.example", Rtype::A), 3, false, &[]);
        assert_eq!(interpret(&decode(&nx).unwrap(), "no.example", Rtype::A), Step::Done(Err(DnsError::NxDomain)));
        nx[3] = (nx[3] & 0xf0) | 2; // SERVFAIL
        assert_eq!(interpret(&decode(&nx).unwrap(), "no.example", Rtype::A), Step::Done(Err(DnsError::Temporary)));
        // NODATA with an SOA in the authority section: its MINIMUM is the negative TTL.
        let mut msg = encode_response(1, ("example", Rtype::Mx), 0, false, &[soa]);
        msg[6..10].copy_from_slice(&[0, 0, 0, 1]); // the record moves to AUTHORITY
        let want = Answer { records: vec![], ttl: 30 };
        assert_eq!(interpret(&decode(&msg).unwrap(), "example", Rtype::Mx), Step::Done(Ok(want)));
    }

    #[test]
    fn resolv_conf() {
        let t = "# comment\nsearch lan\nnameserver 192.168.1.1\nnameserver 8.8.8.8\n";
        assert_eq!(nameserver_from_resolv_conf(t), "192.168.1.1:53".parse().unwrap());
        assert_eq!(nameserver_from_resolv_conf("nameserver fe80::1%eth0"), "[fe80::1]:53".parse().unwrap());
        assert_eq!(nameserver_from_resolv_conf(""), "127.0.0.1:53".parse().unwrap());
    }
}
