//! DNS blocklists (RFC 5782), the sans-IO half: the query name of a client address (§2.1
//! IPv4 reversed octets, §2.4 IPv6 32 reversed nibbles) and the reading of the answers over
//! the [`Resolver`] trait. An entry is listed when its A records are in 127.0.0.0/8 (§2.1),
//! with the TXT record as the reason (§2.1, bounded and made printable). Answers that are
//! not a listing are returned as errors for the log and never refuse mail: 127.255.255.0/24
//! (Spamhaus's codes for "your resolver is blocked / over quota", which would otherwise
//! list every client) and anything outside 127/8 (a resolver that rewrites NXDOMAIN).
//!
//! The address is used as given: the caller turns an IPv4-mapped IPv6 peer address
//! (`::ffff:a.b.c.d` from a dual-stack socket) into IPv4 first (`IpAddr::to_canonical`).

use std::net::{IpAddr, Ipv4Addr};

use crate::dns::{DnsError, Rdata, Resolver, Rtype};

/// A listing's TXT reason is cut here: it goes into a log line and a 554 reply text.
pub const REASON_MAX: usize = 200;
/// Return codes kept per zone (lists answer one to a few: 127.0.0.2, .3, .4, .10…).
pub const CODES_MAX: usize = 8;

/// A zone that says something about the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The list, as configured.
    pub zone: String,
    /// Listed, or an answer that is not a listing (logged, not acted on).
    pub verdict: Result<Listed, DnsblError>,
}

/// §2.1: the address is on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The A records (the list's return codes), at most [`CODES_MAX`].
    pub codes: Vec<Ipv4Addr>,
    /// The TXT record, printable ASCII, at most [`REASON_MAX`] bytes.
    pub reason: Option<String>,
}

/// Answers that are not a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsblError {
    /// 127.255.255.x: the list refuses to answer us (blocked or over-quota resolver).
    Refused(Ipv4Addr),
    /// An A record outside 127.0.0.0/8 (§2.1 allows none): a hijacked or broken answer.
    OutOfRange(Ipv4Addr),
    /// A timeout or server failure: nothing known.
    Temporary,
}

/// §2.1 / §2.4: `d.c.b.a.zone` for IPv4, the 32 nibbles of an IPv6 address in reverse
/// (lower case hex) then the zone.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(a) => {
            let [o1, o2, o3, o4] = a.octets();
            format!("{o4}.{o3}.{o2}.{o1}.{zone}")
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(64 + zone.len());
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0x0f, b >> 4));
            }
            s.push_str(zone);
            s
        }
    }
}

/// Asks every zone about `ip`; returns those that listed it or answered oddly, in the
/// order of `zones`. NXDOMAIN and NODATA (not listed) are left out.
pub async fn check<R: Resolver>(r: &R, ip: IpAddr, zones: &[String]) -> Vec<Listing> {
    let mut out = Vec::new();
    for zone in zones {
        if let Some(verdict) = ask(r, ip, zone).await {
            out.push(Listing { zone: zone.clone(), verdict });
        }
    }
    out
}

/// One zone: `None` when the address is not listed.
async fn ask<R: Resolver>(r: &R, ip: IpAddr, zone: &str) -> Option<Result<Listed, DnsblError>> {
    let name = query_name(ip, zone);
    let answers = match r.lookup(&name, Rtype::A).await {
        Ok(a) => a,
        Err(DnsError::Temporary) => return Some(Err(DnsblError::Temporary)),
        Err(DnsError::NxDomain | DnsError::Invalid) => return None,
    };
    let codes: Vec<Ipv4Addr> = answers
        .iter()
        .filter_map(|d| match d {
            Rdata::A(a) => Some(*a),
            _ => None,
        })
        .collect();
    if let Some(odd) = codes.iter().find(|a| matches!(a.octets(), [127, 255, 255, _])) {
        return Some(Err(DnsblError::Refused(*odd)));
    }
    if let Some(odd) = codes.iter().find(|a| !a.is_loopback()) {
        return Some(Err(DnsblError::OutOfRange(*odd)));
    }
    if codes.is_empty() {
        return None;
    }
    let reason = r.lookup(&name, Rtype::Txt).await.ok().and_then(|t| t.iter().find_map(reason));
    Some(Ok(Listed { codes: codes.into_iter().take(CODES_MAX).collect(), reason }))
}

/// A TXT record as a reason: printable ASCII (others become `?`), at most [`REASON_MAX`].
fn reason(d: &Rdata) -> Option<String> {
    let Rdata::Txt(t) = d else { return None };
    let s: String = t
        .iter()
        .take(REASON_MAX)
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '?' })
        .collect();
    (!s.trim().is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Zone;

    fn run(z: &Zone, ip: &str, zones: &[&str]) -> Vec<Listing> {
        let zones: Vec<String> = zones.iter().map(|s| s.to_string()).collect();
        smol::block_on(check(z, ip.parse().unwrap(), &zones))
    }

    #[test]
    fn rfc5782_query_names() {
        // §2.1: 192.0.2.99 in dnsbl.example.net.
        assert_eq!(query_name("192.0.2.99".parse().unwrap(), "dnsbl.example.net."), "99.2.0.192.dnsbl.example.net");
        // §2.4's example: 2001:db8:1:2:3:4:567:89ab.
        assert_eq!(
            query_name("2001:DB8:1:2:3:4:567:89AB".parse().unwrap(), "ugly.example.com"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
        );
        // §5: the IPv6 test entry ::FFFF:7F00:2 is asked in nibble form, not as 127.0.0.2.
        assert_eq!(
            query_name("::FFFF:7F00:2".parse().unwrap(), "l.example"),
            "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.l.example"
        );
    }

    #[test]
    fn rfc5782_test_entries_v4_and_v6() {
        let mut z = Zone::default();
        // §5: a list MUST contain 127.0.0.2 and ::FFFF:7F00:2 and MUST NOT contain 127.0.0.1.
        z.add("2.0.0.127.bl.example", Rdata::A([127, 0, 0, 2].into()));
        z.add("2.0.0.127.bl.example", Rdata::Txt(b"Test entry; see https://bl.example/\r\nInjected: x".to_vec()));
        let v6 = query_name("::FFFF:7F00:2".parse().unwrap(), "bl.example");
        z.add(&v6, Rdata::A([127, 0, 0, 2].into()));
        z.add("other.bl.example", Rdata::A([127, 0, 0, 9].into())); // the zone exists
        let got = run(&z, "127.0.0.2", &["bl.example"]);
        let want = Listed {
            codes: vec![[127, 0, 0, 2].into()],
            reason: Some("Test entry; see https://bl.example/??Injected: x".into()),
        };
        assert_eq!(got, [Listing { zone: "bl.example".into(), verdict: Ok(want) }]);
        assert_eq!(run(&z, "127.0.0.1", &["bl.example"]), []);
        let got = run(&z, "::FFFF:7F00:2", &["bl.example"]);
        assert_eq!(
            got.first().map(|l| l.verdict.clone()),
            Some(Ok(Listed { codes: vec![[127, 0, 0, 2].into()], reason: None }))
        );
        assert_eq!(run(&z, "::FFFF:7F00:1", &["bl.example"]), []);
    }

    #[test]
    fn odd_answers_are_errors_not_listings() {
        let mut z = Zone::default();
        z.add("2.0.0.127.zen.example", Rdata::A([127, 255, 255, 254].into()));
        z.add("2.0.0.127.hijacked.example", Rdata::A([198, 51, 100, 1].into()));
        z.add("2.0.0.127.mixed.example", Rdata::A([127, 0, 0, 2].into()));
        z.add("2.0.0.127.mixed.example", Rdata::A([127, 255, 255, 252].into()));
        z.failing.push("2.0.0.127.slow.example".into());
        let zones = ["zen.example", "hijacked.example", "mixed.example", "slow.example", "absent.example"];
        let got: Vec<_> = run(&z, "127.0.0.2", &zones).into_iter().map(|l| (l.zone, l.verdict)).collect();
        assert_eq!(
            got,
            [
                ("zen.example".into(), Err(DnsblError::Refused([127, 255, 255, 254].into()))),
                ("hijacked.example".into(), Err(DnsblError::OutOfRange([198, 51, 100, 1].into()))),
                ("mixed.example".into(), Err(DnsblError::Refused([127, 255, 255, 252].into()))),
                ("slow.example".into(), Err(DnsblError::Temporary)),
            ]
        );
    }

    #[test]
    fn many_codes_and_a_long_reason_are_bounded() {
        let mut z = Zone::default();
        for i in 0..20 {
            z.add("2.0.0.127.bl.example", Rdata::A([127, 0, 0, 2 + i].into()));
        }
        z.add("2.0.0.127.bl.example", Rdata::Txt(vec![b'x'; 8000]));
        let got = run(&z, "127.0.0.2", &["bl.example"]);
        let Some(Listing { verdict: Ok(l), .. }) = got.first() else { panic!("{got:?}") };
        assert_eq!((l.codes.len(), l.reason.as_ref().map(String::len)), (CODES_MAX, Some(REASON_MAX)));
    }
}
