//! `doctor`'s network checks: every listener accepts a connection on this host; the zone's
//! records as the configured resolver (`Outbound::dns_server`) answers them, each compared
//! with what `letterbox dns` prints; outbound port 25 or the relay; and the open-relay
//! self-test (RFC 5321 §3.9, §3.6.2: an unauthenticated client must not relay).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Level, Line};
use crate::config::Config;
use crate::dns::{DnsError, Rdata, Resolver, Rtype};
use crate::net::dns::StubResolver;
use crate::web::zone::{self, DkimTxt};

/// How long a local listener may take to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a remote port 25 may take: some networks drop (not refuse) blocked SYNs.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(8);
/// SMTP reply wait in the open-relay test (our own server answers in milliseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest SMTP reply read (a multi-line EHLO reply is under 1 KiB).
const REPLY_MAX: u64 = 16 * 1024;
/// A domain with well-run MX hosts, to see whether this network lets port 25 out.
const PORT25_PROBE: &str = "gmail.com";

/// Every network check, in order.
pub(super) fn checks(c: &Config) -> Vec<Line> {
    let mut out = listeners(c);
    let server = c.outbound.dns_server();
    let resolver = StubResolver::new(server);
    let dkim = dkim_records(c);
    let published = zone::records(c, &dkim);
    // A silent resolver would cost every question its retries: one probe decides.
    if smol::block_on(resolver.lookup(&c.domain, Rtype::Mx)) == Err(DnsError::Temporary) {
        let l = Line::new(Level::Warn, "DNS", &format!("the resolver {server} did not answer: record checks skipped"));
        out.push(l.todo("check [outbound] resolver or /etc/resolv.conf, then run doctor again"));
    } else {
        out.extend(smol::block_on(dns_checks(c, &resolver, &dkim, &published)));
    }
    out.push(smol::block_on(outbound_25(c, &resolver)));
    out.push(open_relay(c));
    out
}

/// Each configured listener address, connected to on this host (a wildcard address is
/// tried on loopback).
fn listeners(c: &Config) -> Vec<Line> {
    let l = &c.listen;
    let all = [
        ("smtp", &l.smtp),
        ("submission", &l.submission),
        ("submissions", &l.submissions),
        ("imap", &l.imap),
        ("imaps", &l.imaps),
        ("pop3", &l.pop3),
        ("pop3s", &l.pop3s),
        ("http", &l.http),
        ("https", &l.https),
    ];
    let mut out = Vec::new();
    for (name, addrs) in all {
        for a in addrs {
            let target = local(*a);
            let what = format!("listener {name} {a}");
            out.push(match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
                Ok(_) => Line::new(Level::Ok, &what, "accepts connections"),
                Err(e) => {
                    Line::new(Level::Fail, &what, &e.to_string()).todo("start letterbox serve (or check its log)")
                }
            });
        }
    }
    out
}

/// A wildcard bind address becomes loopback of its family.
fn local(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, a.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, a.port()).into(),
        _ => a,
    }
}

#[cfg(feature = "outbound")]
fn dkim_records(c: &Config) -> Vec<DkimTxt> {
    let set = crate::mailauth::keys::KeySet::load(&c.data_dir, &c.dkim.selector).ok();
    let keys = set.map(|s| s.keys).unwrap_or_default();
    keys.iter().map(|k| DkimTxt { selector: k.selector.clone(), value: k.record() }).collect()
}

#[cfg(not(feature = "outbound"))]
fn dkim_records(_: &Config) -> Vec<DkimTxt> {
    Vec::new()
}

/// The published line starting with `prefix`, as the thing to do.
fn publish(published: &[String], prefix: &str) -> String {
    match published.iter().find(|l| l.starts_with(prefix)) {
        Some(l) => format!("publish: {l}"),
        None => "see letterbox dns".to_owned(),
    }
}

/// The line for a failed lookup: a resolver that does not answer is a WARN (nothing known).
fn lookup_failed(what: &str, e: DnsError, missing: Level, todo: String) -> Line {
    match e {
        DnsError::NxDomain => Line::new(missing, what, "the name does not exist").todo(&todo),
        DnsError::Temporary => Line::new(Level::Warn, what, "the resolver did not answer")
            .todo("check [outbound] resolver / /etc/resolv.conf"),
        DnsError::Invalid => Line::new(missing, what, "CNAME loop or bad name").todo(&todo),
    }
}

/// The TXT strings at `name`, as text.
async fn txt(r: &StubResolver, name: &str) -> Result<Vec<String>, DnsError> {
    let recs = r.lookup(name, Rtype::Txt).await?;
    Ok(recs
        .into_iter()
        .filter_map(|d| if let Rdata::Txt(t) = d { Some(String::from_utf8_lossy(&t).into_owned()) } else { None })
        .collect())
}

async fn dns_checks(c: &Config, r: &StubResolver, dkim: &[DkimTxt], published: &[String]) -> Vec<Line> {
    let d = &c.domain;
    let mut out = vec![mx(c, r, published).await];
    let (line, ips) = host_addresses(c, r).await;
    out.push(line);
    out.push(spf(d, r, published).await);
    out.extend(dkim_lines(d, r, dkim, published).await);
    let dmarc = format!("_dmarc.{d}");
    out.push(policy_txt(r, "DMARC", &dmarc, "v=DMARC1", None, publish(published, &format!("{dmarc}. IN TXT"))).await);
    let sts = format!("_mta-sts.{d}");
    let sts_expected = published
        .iter()
        .find(|l| l.starts_with(&format!("{sts}. IN TXT")))
        .and_then(|l| l.split('"').nth(1))
        .map(str::to_owned);
    out.push(
        policy_txt(
            r,
            "MTA-STS",
            &sts,
            "v=STSv1",
            sts_expected.as_deref(),
            publish(published, &format!("{sts}. IN TXT")),
        )
        .await,
    );
    let tlsrpt = format!("_smtp._tls.{d}");
    out.push(
        policy_txt(r, "TLSRPT", &tlsrpt, "v=TLSRPTv1", None, publish(published, &format!("{tlsrpt}. IN TXT"))).await,
    );
    for ip in ips {
        out.push(ptr(c, r, ip).await);
    }
    out
}

async fn mx(c: &Config, r: &StubResolver, published: &[String]) -> Line {
    let todo = publish(published, &format!("{}. IN MX", c.domain));
    let what = format!("MX {}", c.domain);
    let recs = match r.lookup(&c.domain, Rtype::Mx).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&what, e, Level::Fail, todo),
    };
    let hosts: Vec<String> = recs
        .into_iter()
        .filter_map(|d| if let Rdata::Mx { exchange, .. } = d { Some(exchange) } else { None })
        .collect();
    let host = c.host();
    if hosts.iter().any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(host)) {
        Line::new(Level::Ok, &what, &format!("points to {host}"))
    } else if hosts.is_empty() {
        Line::new(Level::Fail, &what, "no MX record").todo(&todo)
    } else {
        Line::new(Level::Fail, &what, &format!("points to {}, not {host}", hosts.join(", "))).todo(&todo)
    }
}

/// The host's A records (its public addresses, for the PTR check).
async fn host_addresses(c: &Config, r: &StubResolver) -> (Line, Vec<IpAddr>) {
    let host = c.host();
    let what = format!("A {host}");
    let todo = format!("publish: {host}. IN A <the public address of this host>");
    let recs = match r.lookup(host, Rtype::A).await {
        Ok(v) => v,
        Err(e) => return (lookup_failed(&what, e, Level::Fail, todo), Vec::new()),
    };
    let ips: Vec<IpAddr> =
        recs.into_iter().filter_map(|d| if let Rdata::A(a) = d { Some(IpAddr::V4(a)) } else { None }).collect();
    if ips.is_empty() {
        return (Line::new(Level::Fail, &what, "no address").todo(&todo), ips);
    }
    let shown: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    (Line::new(Level::Ok, &what, &shown.join(", ")), ips)
}

/// RFC 7208 §4.5: exactly one `v=spf1` record.
async fn spf(d: &str, r: &StubResolver, published: &[String]) -> Line {
    let what = format!("SPF {d}");
    let todo = publish(published, &format!("{d}. IN TXT"));
    let all = match txt(r, d).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&what, e, Level::Fail, todo),
    };
    let spf: Vec<&String> = all.iter().filter(|t| is_version(t, "v=spf1")).collect();
    match spf.as_slice() {
        [one] => Line::new(Level::Ok, &what, one),
        [] => Line::new(Level::Fail, &what, "no v=spf1 record").todo(&todo),
        _ => Line::new(Level::Fail, &what, "more than one v=spf1 record (RFC 7208 §4.5: permerror)").todo("keep one"),
    }
}

/// `text` starts with the version tag `v`, followed by the end, a space or `;`.
fn is_version(text: &str, v: &str) -> bool {
    let t = text.trim_start();
    t.get(..v.len()).is_some_and(|p| p.eq_ignore_ascii_case(v))
        && matches!(t.as_bytes().get(v.len()), None | Some(b' ' | b';'))
}

/// Each DKIM key of the data directory published as `letterbox dns` prints it.
async fn dkim_lines(d: &str, r: &StubResolver, dkim: &[DkimTxt], published: &[String]) -> Vec<Line> {
    if dkim.is_empty() {
        let l = Line::new(Level::Warn, "DKIM", "no key in the data directory: outbound mail is unsigned");
        return vec![l.todo("run letterbox dns (it creates the key) and publish the record")];
    }
    let mut out = Vec::new();
    for k in dkim {
        let name = format!("{}._domainkey.{d}", k.selector);
        let what = format!("DKIM {name}");
        let todo = publish(published, &format!("{name}. IN TXT"));
        let found = match txt(r, &name).await {
            Ok(v) => v,
            Err(e) => {
                out.push(lookup_failed(&what, e, Level::Fail, todo));
                continue;
            }
        };
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        out.push(if found.iter().any(|t| squash(t) == squash(&k.value)) {
            Line::new(Level::Ok, &what, "matches the key in the data directory")
        } else if found.is_empty() {
            Line::new(Level::Fail, &what, "not published").todo(&todo)
        } else {
            Line::new(Level::Fail, &what, "differs from the key in the data directory").todo(&todo)
        });
    }
    out
}

/// A policy record (DMARC, MTA-STS, TLSRPT): missing or different is a WARN (mail flows;
/// receivers just trust it less).
async fn policy_txt(
    r: &StubResolver,
    kind: &str,
    name: &str,
    version: &str,
    expected: Option<&str>,
    todo: String,
) -> Line {
    let what = format!("{kind} {name}");
    let all = match txt(r, name).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&what, e, Level::Warn, todo),
    };
    let found: Vec<&String> = all.iter().filter(|t| is_version(t, version)).collect();
    match (found.as_slice(), expected) {
        ([], _) => Line::new(Level::Warn, &what, "not published").todo(&todo),
        ([one], Some(e)) if one.as_str() != e => {
            Line::new(Level::Warn, &what, &format!("{one} (the policy changed)")).todo(&todo)
        }
        ([one], _) => Line::new(Level::Ok, &what, one),
        _ => Line::new(Level::Warn, &what, "more than one record").todo("keep one"),
    }
}

/// Forward-confirmed reverse DNS of one of the host's addresses (receivers check it).
async fn ptr(c: &Config, r: &StubResolver, ip: IpAddr) -> Line {
    let host = c.host();
    let what = format!("PTR {ip}");
    let todo = format!("ask the provider of {ip} to set its reverse DNS to {host}");
    if !zone::is_public(ip) {
        return Line::new(Level::Warn, &what, "not a public address")
            .todo("publish the public address in the A record");
    }
    let names = match r.lookup(&reverse_name(ip), Rtype::Ptr).await {
        Ok(v) => v,
        Err(e) => return lookup_failed(&what, e, Level::Warn, todo),
    };
    let names: Vec<String> =
        names.into_iter().filter_map(|d| if let Rdata::Name(n) = d { Some(n) } else { None }).collect();
    if names.iter().any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(host)) {
        Line::new(Level::Ok, &what, &format!("names {host}"))
    } else if names.is_empty() {
        Line::new(Level::Warn, &what, "no PTR record").todo(&todo)
    } else {
        Line::new(Level::Warn, &what, &format!("names {}, not {host}", names.join(", "))).todo(&todo)
    }
}

/// RFC 1035 §3.5 `in-addr.arpa` / RFC 3596 §2.5 `ip6.arpa` name of `ip`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let nibbles: Vec<String> =
                v6.octets().iter().rev().flat_map(|b| [b & 0x0f, b >> 4]).map(|n| format!("{n:x}")).collect();
            format!("{}.ip6.arpa", nibbles.join("."))
        }
    }
}

/// The relay answers, or (without one) a well-known MX takes a connection on port 25.
async fn outbound_25(c: &Config, r: &StubResolver) -> Line {
    if let Some((host, port)) = &c.outbound.relay {
        let what = format!("relay {host}:{port}");
        let addrs: Vec<SocketAddr> =
            (host.as_str(), *port).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
        let ok = addrs.iter().any(|a| TcpStream::connect_timeout(a, REMOTE_TIMEOUT).is_ok());
        return if ok {
            Line::new(Level::Ok, &what, "accepts connections")
        } else {
            Line::new(Level::Fail, &what, "no connection").todo("check [outbound] relay and the network")
        };
    }
    let what = "outbound port 25";
    let Some(ip) = probe_address(r).await else {
        return Line::new(Level::Warn, what, &format!("could not resolve an MX of {PORT25_PROBE} to try"))
            .todo("check the resolver");
    };
    match TcpStream::connect_timeout(&(ip, 25).into(), REMOTE_TIMEOUT) {
        Ok(_) => Line::new(Level::Ok, what, &format!("{PORT25_PROBE}'s MX {ip} answers")),
        Err(e) => Line::new(Level::Fail, what, &format!("{ip}: {e}"))
            .todo("the network blocks port 25: set [outbound] relay to your provider's submission server"),
    }
}

async fn probe_address(r: &StubResolver) -> Option<IpAddr> {
    let mx = r.lookup(PORT25_PROBE, Rtype::Mx).await.ok()?;
    let host = mx.into_iter().find_map(|d| if let Rdata::Mx { exchange, .. } = d { Some(exchange) } else { None })?;
    let a = r.lookup(&host, Rtype::A).await.ok()?;
    a.into_iter().find_map(|d| if let Rdata::A(ip) = d { Some(IpAddr::V4(ip)) } else { None })
}

/// Our own SMTP listener, unauthenticated: a recipient elsewhere must get 5xx.
fn open_relay(c: &Config) -> Line {
    let what = "open relay";
    let Some(addr) = c.listen.smtp.first().map(|a| local(*a)) else {
        return Line::new(Level::Ok, what, "no smtp listener");
    };
    match relay_attempt(addr) {
        Ok(code) if (500..600).contains(&code) => {
            Line::new(Level::Ok, what, &format!("RCPT to another domain refused ({code})"))
        }
        Ok(code) if (200..300).contains(&code) => {
            Line::new(Level::Fail, what, &format!("RCPT to another domain accepted ({code})"))
                .todo("this server relays for anyone: report it as a bug and close port 25")
        }
        Ok(code) => Line::new(Level::Warn, what, &format!("inconclusive reply {code}")).todo("run doctor again"),
        Err(e) => Line::new(Level::Warn, what, &format!("could not test on {addr}: {e}")).todo("start letterbox serve"),
    }
}

/// EHLO, MAIL, RCPT to a foreign domain; the RCPT reply code.
fn relay_attempt(addr: SocketAddr) -> std::io::Result<u16> {
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(REPLY_TIMEOUT))?;
    s.set_write_timeout(Some(REPLY_TIMEOUT))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s.take(REPLY_MAX));
    reply(&mut r)?;
    let mut code = 0;
    for cmd in ["EHLO doctor.invalid", "MAIL FROM:<doctor@example.net>", "RCPT TO:<someone@example.net>"] {
        w.write_all(format!("{cmd}\r\n").as_bytes())?;
        code = reply(&mut r)?;
        if code >= 400 && !cmd.starts_with("RCPT") {
            return Ok(if code >= 500 { code } else { 0 });
        }
    }
    let _ = w.write_all(b"QUIT\r\n");
    Ok(code)
}

/// One SMTP reply (RFC 5321 §4.2: lines `NNN-` then `NNN `); its code.
fn reply(r: &mut impl BufRead) -> std::io::Result<u16> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let code = line.get(..3).and_then(|c| c.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("5.6.7.8".parse().unwrap()), "8.7.6.5.in-addr.arpa");
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0") && v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"), "{v6}");
    }

    #[test]
    fn version_tags() {
        assert!(is_version("v=spf1 mx -all", "v=spf1") && is_version("V=SPF1", "v=spf1"));
        assert!(!is_version("v=spf10 -all", "v=spf1") && !is_version("x v=spf1", "v=spf1"));
        assert!(is_version("v=DMARC1; p=none", "v=DMARC1"));
    }
}
