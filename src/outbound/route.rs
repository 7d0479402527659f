//! Where a recipient domain's mail goes: the configured relay, or the domain's mail
//! exchangers (RFC 5321 §5.1): MX records in preference order, equal preferences shuffled
//! (§5.1 "SHOULD randomize"), the domain itself when it has no MX (the implicit MX, via its
//! A/AAAA records), and a null MX (RFC 7505 §3: one MX `.`) a permanent failure.
//! Addresses of a host: A first, then AAAA (routers are often IPv4-only).

use std::net::{IpAddr, SocketAddr};

use crate::dns::{DnsError, Rdata, Resolver, Rtype};

/// MX hosts tried per domain (Postfix `smtp_mx_address_limit` is 5 addresses; hosts here).
pub const MAX_MX_HOSTS: usize = 5;
/// Addresses tried per host.
pub const MAX_ADDRS_PER_HOST: usize = 2;

/// Why a domain has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// RFC 7505 null MX, no such domain, or no address at all: fail (5xx) now.
    Permanent(String),
    /// DNS failed for now: retry.
    Temporary(String),
}

impl RouteError {
    /// The reply text put in the DSN (RFC 7505 §4.2 suggests 556 5.1.10 for a null MX).
    pub fn reply(&self) -> &str {
        match self {
            RouteError::Permanent(s) | RouteError::Temporary(s) => s,
        }
    }
}

/// One server to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The MX or relay host name (SNI, certificate name, logs).
    pub host: String,
    pub addr: SocketAddr,
    /// A relay (smarthost) rather than the recipient domain's MX.
    pub relay: bool,
}

/// The MX host names of `domain` in the order to try them; `seed` shuffles equal preferences.
pub async fn mx_hosts(r: &impl Resolver, domain: &str, seed: u64) -> Result<Vec<String>, RouteError> {
    let records = match r.lookup(domain, Rtype::Mx).await {
        Ok(rs) => rs,
        Err(DnsError::NxDomain) => return Err(RouteError::Permanent(format!("550 5.1.2 no such domain {domain}"))),
        Err(_) => return Err(RouteError::Temporary(format!("451 4.4.3 DNS lookup of {domain} MX failed"))),
    };
    let mut mx: Vec<(u16, String)> = records
        .into_iter()
        .filter_map(|d| match d {
            Rdata::Mx { preference, exchange } => Some((preference, exchange.trim_end_matches('.').to_owned())),
            _ => None,
        })
        .collect();
    if mx.is_empty() {
        // §5.1: no MX records: the domain itself is the implicit MX.
        return Ok(vec![domain.to_owned()]);
    }
    if mx.iter().any(|(_, h)| h.is_empty()) {
        // RFC 7505 §3: a null MX says the domain accepts no mail.
        return Err(RouteError::Permanent(format!("556 5.1.10 {domain} accepts no mail (null MX)")));
    }
    shuffle_equal(&mut mx, seed);
    Ok(mx.into_iter().map(|(_, h)| h).take(MAX_MX_HOSTS).collect())
}

/// Sorts by preference and shuffles within each preference (a small xorshift from `seed`).
fn shuffle_equal(mx: &mut [(u16, String)], seed: u64) {
    let mut x = seed | 1;
    let mut keyed: Vec<(u16, u64, String)> = mx
        .iter()
        .map(|(p, h)| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (*p, x, h.clone())
        })
        .collect();
    keyed.sort();
    for (slot, (p, _, h)) in mx.iter_mut().zip(keyed) {
        *slot = (p, h);
    }
}

/// The addresses of `host` (A, then AAAA), at most [`MAX_ADDRS_PER_HOST`].
pub async fn addresses(r: &impl Resolver, host: &str) -> Result<Vec<IpAddr>, DnsError> {
    let mut out = Vec::new();
    let mut temporary = false;
    for t in [Rtype::A, Rtype::Aaaa] {
        match r.lookup(host, t).await {
            Ok(rs) => out.extend(rs.into_iter().filter_map(|d| match d {
                Rdata::A(a) => Some(IpAddr::V4(a)),
                Rdata::Aaaa(a) => Some(IpAddr::V6(a)),
                _ => None,
            })),
            Err(DnsError::Temporary) => temporary = true,
            Err(_) => {}
        }
    }
    out.truncate(MAX_ADDRS_PER_HOST);
    if out.is_empty() && temporary {
        return Err(DnsError::Temporary);
    }
    Ok(out)
}

/// Every hop for `domain` by MX (port `mx_port`), in order.
pub async fn mx_hops(r: &impl Resolver, domain: &str, mx_port: u16, seed: u64) -> Result<Vec<Hop>, RouteError> {
    let hosts = mx_hosts(r, domain, seed).await?;
    let mut hops = Vec::new();
    let mut temporary = false;
    for h in hosts {
        match addresses(r, &h).await {
            Ok(ips) => hops.extend(ips.into_iter().map(|ip| Hop {
                host: h.clone(),
                addr: SocketAddr::new(ip, mx_port),
                relay: false,
            })),
            Err(_) => temporary = true,
        }
    }
    match (hops.is_empty(), temporary) {
        (false, _) => Ok(hops),
        (true, true) => Err(RouteError::Temporary(format!("451 4.4.3 DNS lookup of {domain}'s mail hosts failed"))),
        (true, false) => Err(RouteError::Permanent(format!("550 5.1.2 {domain} has no mail host address"))),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::dns::Zone;

    fn mx(p: u16, h: &str) -> Rdata {
        Rdata::Mx { preference: p, exchange: h.to_owned() }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        smol::block_on(f)
    }

    #[test]
    fn preference_order_with_equal_ones_shuffled() {
        let mut z = Zone::default();
        z.add("b.example", mx(20, "c.b.example")).add("b.example", mx(10, "x.b.example"));
        z.add("b.example", mx(10, "y.b.example")).add("b.example", mx(10, "z.b.example."));
        let mut firsts = std::collections::BTreeSet::new();
        for seed in 0..64 {
            let hosts = run(mx_hosts(&z, "b.example", seed)).unwrap();
            assert_eq!(hosts.len(), 4);
            assert_eq!(hosts[3], "c.b.example");
            firsts.insert(hosts[0].clone());
        }
        assert_eq!(firsts.len(), 3, "equal preferences are shuffled: {firsts:?}");
    }

    #[test]
    fn implicit_mx_null_mx_and_nxdomain() {
        let mut z = Zone::default();
        z.add("plain.example", Rdata::A(Ipv4Addr::new(192, 0, 2, 7)));
        z.add("null.example", mx(0, "."));
        let hops = run(mx_hops(&z, "plain.example", 2525, 1)).unwrap();
        assert_eq!(
            hops,
            vec![Hop { host: "plain.example".into(), addr: "192.0.2.7:2525".parse().unwrap(), relay: false }]
        );
        let e = run(mx_hops(&z, "null.example", 25, 1)).unwrap_err();
        assert!(matches!(&e, RouteError::Permanent(s) if s.starts_with("556 5.1.10")), "{e:?}");
        assert!(matches!(run(mx_hops(&z, "nope.example", 25, 1)), Err(RouteError::Permanent(_))));
    }

    #[test]
    fn dns_failure_is_temporary_and_hosts_without_addresses_are_skipped() {
        let mut z = Zone::default();
        z.failing.push("down.example".into());
        assert!(matches!(run(mx_hops(&z, "down.example", 25, 1)), Err(RouteError::Temporary(_))));
        z.add("two.example", mx(5, "gone.two.example")).add("two.example", mx(9, "ok.two.example"));
        z.add("ok.two.example", Rdata::Aaaa("2001:db8::1".parse().unwrap()));
        let hops = run(mx_hops(&z, "two.example", 25, 1)).unwrap();
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].addr, "[2001:db8::1]:25".parse().unwrap());
    }
}
