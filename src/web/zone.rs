//! The DNS records `letterbox dns` prints (issue 18): zone-file lines (RFC 1035 §5.1, names
//! absolute, no TTL so the zone's `$TTL` applies, comments after `;`) for MX (RFC 5321 §5.1),
//! SPF (RFC 7208 §3), DKIM (RFC 6376 §3.6.2, the keys' own lines), DMARC (RFC 7489 §6.3),
//! MTA-STS (RFC 8461 §3.1), TLS reporting (RFC 8460 §3), client SRV records (RFC 6186 §3,
//! RFC 8314 §5.1), the autoconfig CNAMEs and the host's A/AAAA records when the listeners
//! bind public addresses. A pure function of the configuration and the DKIM records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Config;
use crate::dns::zonefile::txt_strings;
use crate::dns::{Rdata, Rtype};

use super::{autoconfig, Service, Services};

/// MX preference: any value works for a single MX; 10 leaves room for a backup below or above.
const MX_PREFERENCE: u16 = 10;
/// SRV priorities (RFC 6186 §3.4: they rank across the mail services of a domain; RFC 8314
/// §5.1: implicit TLS is preferred, then STARTTLS; IMAP before POP3).
const PRIO_IMPLICIT: u16 = 0;
const PRIO_STARTTLS: u16 = 10;
const PRIO_POP3: u16 = 20;
/// Hex digits of the policy digest used as the MTA-STS `id` (RFC 8461 §3.1 allows 1-32
/// alphanumerics; 128 bits never collide by chance).
pub const STS_ID_LEN: usize = 32;

/// One DKIM key's record: its selector and TXT value (`mailauth::keys::Key::record`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimTxt {
    pub selector: String,
    pub value: String,
}

/// Every line to publish for `c`, comments included, in paste order.
pub fn records(c: &Config, dkim: &[DkimTxt]) -> Vec<String> {
    let mut out = vec![format!("; letterbox dns: the records of {} (mail host {}).", c.domain, c.host())];
    out.push("; Paste them into the zone; names are absolute, the zone's $TTL applies.".into());
    mx(c, &mut out);
    addresses(c, &mut out);
    spf(c, &mut out);
    dkim_lines(c, dkim, &mut out);
    policies(c, &mut out);
    srv(c, &mut out);
    cnames(c, &mut out);
    out
}

fn mx(c: &Config, out: &mut Vec<String>) {
    out.push(format!("; MX (RFC 5321 §5.1): mail for {} goes to {}.", c.domain, c.host()));
    out.push(format!("{}. IN MX {MX_PREFERENCE} {}.", c.domain, c.host()));
}

/// A/AAAA of the host when it is in this zone and a listener binds a public address.
fn addresses(c: &Config, out: &mut Vec<String>) {
    let host = c.host();
    if host != c.domain && !host.ends_with(&format!(".{}", c.domain)) {
        out.push(format!("; {host} is outside {}: its A/AAAA records belong to its own zone.", c.domain));
        return;
    }
    let ips = public_addresses(c);
    if ips.is_empty() {
        out.push(format!(
            "; A/AAAA: the listeners bind no public address (wildcard or private): add {host}'s public addresses yourself:"
        ));
        out.push(format!(";   {host}. IN A 203.0.113.1   (and AAAA for IPv6)"));
    }
    if !ips.is_empty() {
        out.push(format!("; A/AAAA of {host}: the public addresses the listeners bind."));
    }
    for ip in ips {
        let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
        out.push(format!("{host}. IN {kind} {ip}"));
    }
}

/// Distinct public addresses of every listener, in config order.
fn public_addresses(c: &Config) -> Vec<IpAddr> {
    let l = &c.listen;
    let all = [&l.smtp, &l.submission, &l.submissions, &l.imap, &l.imaps, &l.pop3, &l.pop3s];
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in all.into_iter().flatten().map(|a| a.ip()).filter(|ip| is_public(*ip)) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

/// Whether `ip` is a globally routed unicast address (not wildcard, loopback, private,
/// shared, link-local, documentation or multicast: RFC 6890 special-purpose ranges).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // RFC 6598 carrier-grade NAT
    let documentation = matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)); // RFC 5737
    let benchmarking = a == 198 && (b == 18 || b == 19); // RFC 2544
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || shared
        || documentation
        || benchmarking)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s.first().copied().unwrap_or(0);
    let unique_local = first & 0xfe00 == 0xfc00; // RFC 4193
    let link_local = first & 0xffc0 == 0xfe80; // RFC 4291 §2.5.6
    let documentation = first == 0x2001 && s.get(1) == Some(&0x0db8); // RFC 3849
                                                                      // Global unicast is 2000::/3 (RFC 4291 §2.4); everything else is special.
    first & 0xe000 == 0x2000 && !(ip.is_multicast() || unique_local || link_local || documentation)
}

fn spf(c: &Config, out: &mut Vec<String>) {
    out.push("; SPF (RFC 7208): only the MX host sends for the domain; -all fails every other sender.".into());
    if let Some((relay, _)) = &c.outbound.relay {
        out.push(format!(
            "; Mail leaves through the relay {relay}: add its provider's include: (see their documentation) before -all."
        ));
    }
    out.push(format!("{}. IN TXT {}", c.domain, txt_strings("v=spf1 mx -all")));
}

fn dkim_lines(c: &Config, dkim: &[DkimTxt], out: &mut Vec<String>) {
    out.push("; DKIM (RFC 6376 §3.6.2, RFC 8463): the public keys of the data directory (letterbox dkim).".into());
    if dkim.is_empty() {
        out.push("; no DKIM key in the data directory: run letterbox dkim".into());
    }
    for k in dkim {
        out.push(format!("{}._domainkey.{}. IN TXT {}", k.selector, c.domain, txt_strings(&k.value)));
    }
}

/// DMARC, MTA-STS and TLSRPT: the policies receivers and senders look up.
fn policies(c: &Config, out: &mut Vec<String>) {
    let owner = c.owner_address();
    let d = &c.domain;
    out.push("; DMARC (RFC 7489 §6.3): p=quarantine is the start; after a few weeks of clean".into());
    out.push(";   aggregate reports, make it p=reject.".into());
    out.push(format!("_dmarc.{d}. IN TXT {}", txt_strings(&format!("v=DMARC1; p=quarantine; rua=mailto:{owner}"))));
    let policy = autoconfig::mta_sts_policy(c);
    out.push(format!(
        "; MTA-STS (RFC 8461 §3.1): the policy (mode {}) is served at https://mta-sts.{d}/.well-known/mta-sts.txt;",
        c.web.mta_sts_mode.as_str()
    ));
    out.push(";   id is a digest of it, so it changes when the policy does.".into());
    out.push(format!("_mta-sts.{d}. IN TXT {}", txt_strings(&format!("v=STSv1; id={}", mta_sts_id(&policy)))));
    out.push("; TLS reporting (RFC 8460 §3): where senders report TLS failures.".into());
    out.push(format!("_smtp._tls.{d}. IN TXT {}", txt_strings(&format!("v=TLSRPTv1; rua=mailto:{owner}"))));
}

/// The MTA-STS `id` of `policy`: the first [`STS_ID_LEN`] hex digits of its SHA-256.
pub fn mta_sts_id(policy: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, policy.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    hex.chars().take(STS_ID_LEN).collect()
}

/// RFC 6186 §3 and RFC 8314 §5.1 SRV records; a service that is off gets target `.`
/// (RFC 2782: "decidedly not available"), so clients do not probe for it.
fn srv(c: &Config, out: &mut Vec<String>) {
    let s = Services::of(c);
    out.push("; Client discovery (RFC 6186, RFC 8314 §5.1): implicit TLS first; \"0 0 0 .\" = not offered.".into());
    let rows = [
        ("_submissions", s.submissions, PRIO_IMPLICIT),
        ("_submission", s.submission, PRIO_STARTTLS),
        ("_imaps", s.imaps, PRIO_IMPLICIT),
        ("_imap", s.imap, PRIO_STARTTLS),
        ("_pop3s", s.pop3s, PRIO_POP3),
        ("_pop3", s.pop3, PRIO_POP3 + PRIO_STARTTLS),
    ];
    for (label, service, prio) in rows {
        out.push(srv_line(&c.domain, c.host(), label, service, prio));
    }
}

fn srv_line(domain: &str, host: &str, label: &str, service: Option<Service>, prio: u16) -> String {
    match service {
        Some(s) => format!("{label}._tcp.{domain}. IN SRV {prio} 1 {} {host}.", s.port),
        None => format!("{label}._tcp.{domain}. IN SRV 0 0 0 ."),
    }
}

/// autoconfig (Thunderbird), autodiscover (Outlook) and mta-sts (RFC 8461 §3.3) names point
/// at the host; a name that is the host itself gets none (a CNAME cannot share its name).
fn cnames(c: &Config, out: &mut Vec<String>) {
    out.push("; Client autoconfiguration and the MTA-STS policy host (HTTPS on the mail host).".into());
    for label in ["autoconfig", "autodiscover", "mta-sts"] {
        let name = format!("{label}.{}", c.domain);
        if name != c.host() {
            out.push(format!("{name}. IN CNAME {}.", c.host()));
        }
    }
}

/// The question whose answer shows whether a printed record line is published: its owner
/// name and type, for the lines that can be compared (MX, TXT, A, AAAA); `None` for
/// comments and the rest (SRV, CNAME).
pub fn question(line: &str) -> Option<(&str, Rtype)> {
    let (owner, rest) = line.split_once(" IN ")?;
    let rtype = match rest.split(' ').next()? {
        "MX" => Rtype::Mx,
        "TXT" => Rtype::Txt,
        "A" => Rtype::A,
        "AAAA" => Rtype::Aaaa,
        _ => return None,
    };
    (!line.starts_with(';')).then_some((owner.strip_suffix('.').unwrap_or(owner), rtype))
}

/// Whether `answers` (to [`question`]) hold the record `line` prints: the same MX target,
/// the same TXT text, the same address.
pub fn is_published(line: &str, answers: &[Rdata]) -> bool {
    let Some((_, rest)) = line.split_once(" IN ") else { return false };
    let (kind, data) = rest.split_once(' ').unwrap_or((rest, ""));
    let same_name = |n: &str| {
        n.trim_end_matches('.').eq_ignore_ascii_case(data.rsplit(' ').next().unwrap_or("").trim_end_matches('.'))
    };
    answers.iter().any(|a| match (kind, a) {
        ("MX", Rdata::Mx { exchange, .. }) => same_name(exchange),
        ("TXT", Rdata::Txt(t)) => txt_strings(&String::from_utf8_lossy(t)) == data,
        ("A", Rdata::A(ip)) => data.parse() == Ok(IpAddr::V4(*ip)),
        ("AAAA", Rdata::Aaaa(ip)) => data.parse() == Ok(IpAddr::V6(*ip)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cfg(extra: &str) -> Config {
        let text = format!("domain = \"example.org\"\nuser = \"alice\"\ndata_dir = \"d\"\n{extra}");
        Config::parse(Path::new("/x/letterbox.toml"), &text).unwrap()
    }

    fn find<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
        lines.iter().filter(|l| l.starts_with(prefix)).map(String::as_str).collect()
    }

    const LISTEN: &str = "[listen]\nsmtp = [\"5.6.7.8:25\", \"[2a01:4f8::1]:25\"]\nsubmission = [\"0.0.0.0:587\"]\nsubmissions = [\"5.6.7.8:465\"]\nimap = []\nimaps = [\"0.0.0.0:993\"]\npop3 = []\npop3s = [\"0.0.0.0:995\"]\n";

    #[test]
    fn mx_spf_dmarc_tlsrpt_and_addresses() {
        let c = cfg(&format!("{LISTEN}[web]\nhost = \"Mail.Example.org.\"\n"));
        let r = records(&c, &[]);
        assert_eq!(find(&r, "example.org. IN MX"), ["example.org. IN MX 10 mail.example.org."]);
        assert_eq!(find(&r, "example.org. IN TXT"), ["example.org. IN TXT \"v=spf1 mx -all\""]);
        assert_eq!(
            find(&r, "mail.example.org. IN A"),
            ["mail.example.org. IN A 5.6.7.8", "mail.example.org. IN AAAA 2a01:4f8::1"]
        );
        assert_eq!(
            find(&r, "_dmarc."),
            ["_dmarc.example.org. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:alice@example.org\""]
        );
        assert_eq!(
            find(&r, "_smtp._tls."),
            ["_smtp._tls.example.org. IN TXT \"v=TLSRPTv1; rua=mailto:alice@example.org\""]
        );
        assert!(r.iter().any(|l| l.starts_with(';') && l.contains("p=quarantine is the start")));
        assert!(r.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn srv_records_follow_the_listeners() {
        let r = records(&cfg(LISTEN), &[]);
        let srv = |n: &str| find(&r, &format!("{n}._tcp.example.org. IN SRV ")).join("");
        assert_eq!(srv("_submissions"), "_submissions._tcp.example.org. IN SRV 0 1 465 example.org.");
        assert_eq!(srv("_submission"), "_submission._tcp.example.org. IN SRV 10 1 587 example.org.");
        assert_eq!(srv("_imaps"), "_imaps._tcp.example.org. IN SRV 0 1 993 example.org.");
        assert_eq!(srv("_imap"), "_imap._tcp.example.org. IN SRV 0 0 0 .");
        assert_eq!(srv("_pop3s"), "_pop3s._tcp.example.org. IN SRV 20 1 995 example.org.");
        assert_eq!(srv("_pop3"), "_pop3._tcp.example.org. IN SRV 0 0 0 .");
    }

    #[test]
    fn wildcard_or_private_listeners_give_a_comment_not_records() {
        let r = records(
            &cfg("[listen]\nsmtp = [\"0.0.0.0:25\", \"192.168.1.2:25\", \"[::]:25\", \"[fd00::1]:25\"]\n"),
            &[],
        );
        assert!(find(&r, "example.org. IN A").is_empty() && find(&r, "example.org. IN AAAA").is_empty());
        assert!(r.iter().any(|l| l.starts_with("; A/AAAA: the listeners bind no public address")));
        let r = records(&cfg("[listen]\nsmtp = [\"5.6.7.8:25\"]\n[web]\nhost = \"mx.isp.net\"\n"), &[]);
        assert!(find(&r, "mx.isp.net. IN A").is_empty());
        assert!(r.iter().any(|l| l.contains("mx.isp.net is outside example.org")));
    }

    #[test]
    fn public_address_ranges() {
        for ip in ["5.6.7.8", "2a01:4f8::1", "::ffff:5.6.7.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fd12::1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn dkim_records_are_split_at_255() {
        let long = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let k = [DkimTxt { selector: "lb1-rsa".into(), value: long.clone() }];
        let r = records(&cfg(""), &k);
        let line = find(&r, "lb1-rsa._domainkey.example.org. IN TXT ").join("");
        let strings: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(strings.len(), 2);
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert_eq!(strings.concat(), long);
    }

    #[test]
    fn mta_sts_id_changes_with_the_policy() {
        let id = |extra: &str| {
            let r = records(&cfg(extra), &[]);
            find(&r, "_mta-sts.example.org. IN TXT \"v=STSv1; id=").join("")
        };
        let testing = id("");
        assert_eq!(testing, id(""));
        assert_ne!(testing, id("[web]\nmta_sts_mode = \"enforce\"\n"));
        assert_ne!(testing, id("[web]\nhost = \"mx.example.org\"\n"));
        let value = testing.rsplit("id=").next().unwrap().trim_end_matches('"');
        assert!(value.len() == 32 && value.bytes().all(|b| b.is_ascii_alphanumeric()), "{value}");
    }

    #[test]
    fn published_records_are_recognised() {
        let r = records(&cfg(&format!("{LISTEN}[web]\nhost = \"mail.example.org\"\n")), &[]);
        let line = |p: &str| r.iter().find(|l| l.starts_with(p)).unwrap().clone();
        let mx = line("example.org. IN MX");
        assert_eq!(question(&mx), Some(("example.org", Rtype::Mx)));
        let exchange = |e: &str| Rdata::Mx { preference: 5, exchange: e.into() };
        assert!(is_published(&mx, &[exchange("other.net"), exchange("Mail.Example.org.")]));
        assert!(!is_published(&mx, &[exchange("other.net")]));
        let spf = line("example.org. IN TXT");
        assert!(is_published(&spf, &[Rdata::Txt(b"v=spf1 mx -all".to_vec())]));
        assert!(!is_published(&spf, &[Rdata::Txt(b"v=spf1 -all".to_vec())]));
        let a = line("mail.example.org. IN A ");
        assert!(is_published(&a, &[Rdata::A([5, 6, 7, 8].into())]) && !is_published(&a, &[]));
        assert_eq!(question(&line("_imaps._tcp")), None);
        assert_eq!(question("; example.org. IN MX 10 x."), None);
    }

    #[test]
    fn cnames_skip_the_host_itself() {
        let r = records(&cfg("[web]\nhost = \"autoconfig.example.org\"\n"), &[]);
        assert!(find(&r, "autoconfig.example.org. IN CNAME").is_empty());
        assert_eq!(
            find(&r, "mta-sts.example.org. IN CNAME"),
            ["mta-sts.example.org. IN CNAME autoconfig.example.org."]
        );
    }
}
