//! The inbound checks of the SMTP receiver (issue 15), driven with the stub resolver:
//! SPF (RFC 7208) for the MAIL FROM identity (the HELO identity for `<>`, §2.4), DKIM
//! (RFC 6376, RFC 8463) with the body hashed while DATA streams in, DMARC (RFC 7489), iprev
//! (RFC 8601 §3, with SPF: the forward-confirmed PTR name), a
//! DNSBL (RFC 5782) and greylisting (RFC 6647) at RCPT, and the `Authentication-Results:`
//! field (RFC 8601) every delivered message gets, after the forged ones are removed (§5).
//!
//! Nothing here can lose a message: a DNS failure is `temperror` in the results (and a
//! deferral only where the sender retries: greylisting, a DNSBL that cannot be asked is
//! skipped). Decisions: DMARC `p=reject` → `550 5.7.1` at the end of DATA (§6.7, after
//! `pct`), `p=quarantine` → the `\Junk` folder; a DNSBL listing → `554 5.7.1` at RCPT, or
//! the Junk folder with `dnsbl_action = "junk"`.

use std::net::IpAddr;

use super::dns::StubResolver;
use super::{log, Server};
use crate::mailauth::results::{AuthResults, ForgedResultsFilter};
use crate::mailauth::{dkim_verify, dmarc, dnsbl, greylist, spf};
use crate::proto::smtp::{RecipientCheck, RecipientVerdict};

/// The server-wide part: one resolver (its cache bounded by `dns::cache`) and the
/// greylist table.
pub struct Checks {
    pub resolver: StubResolver,
    greylist: std::cell::RefCell<greylist::Greylist>,
    greylist_path: std::path::PathBuf,
    /// Unix time of the last greylist save (saves are at most one per
    /// [`greylist::SAVE_INTERVAL`]: flash wear; a crash costs a sender one more retry).
    greylist_saved: std::cell::Cell<u64>,
}

impl Checks {
    /// The resolver of `[outbound] resolver` (the one key naming the DNS server) and the
    /// greylist state of the data directory.
    pub fn new(cfg: &crate::config::Config) -> Checks {
        let greylist_path = cfg.data_dir.join(greylist::FILE_NAME);
        Checks {
            resolver: StubResolver::new(cfg.outbound.dns_server()),
            greylist: std::cell::RefCell::new(greylist::load(&greylist_path)),
            greylist_path,
            // The first change after a start is saved at once; then one save per interval.
            greylist_saved: std::cell::Cell::new(0),
        }
    }
}

impl Checks {
    /// Saves the greylist now if it changed (the server is stopping).
    pub fn save(&self) {
        if !self.greylist.borrow().dirty() {
            return;
        }
        let bytes = self.greylist.borrow().encode();
        self.greylist.borrow_mut().mark_saved();
        if let Err(e) = greylist::save_bytes(&self.greylist_path, &bytes) {
            eprintln!("letterbox: greylist: saving {}: {e}", self.greylist_path.display());
        }
    }
}

/// Per SMTP session: answers that do not change within a connection.
#[derive(Default)]
pub struct SessionChecks {
    /// The DNSBL listing of the client address, asked once per connection.
    dnsbl: Option<Vec<dnsbl::Listing>>,
    /// The SPF verdict for (MAIL FROM, HELO).
    spf: Option<((String, String), spf::Verdict)>,
}

/// Per message: the streaming parts.
pub struct MessageChecks {
    filter: ForgedResultsFilter,
    dkim: Option<dkim_verify::Verifier>,
    mail_from: String,
    helo: String,
}

/// What the checks decided for a message.
pub struct Judgement {
    /// The `Authentication-Results:` field to put on top.
    pub field: Vec<u8>,
    /// Deliver into the Junk folder (with `$Junk`).
    pub junk: bool,
    /// Refuse with `550 5.7.1` and this text.
    pub reject: Option<String>,
}

/// Whether this session's messages are checked: unauthenticated receiving only (the
/// owner's own submissions are trusted, RFC 6409 §3.3) and any check on.
pub fn enabled(cfg: &crate::config::Config) -> bool {
    let c = &cfg.checks;
    c.spf || c.dkim || c.dmarc || !c.dnsbl.is_empty() || c.greylist
}

/// Whether RCPT waits for a decision (DNSBL or greylisting on).
pub fn at_rcpt(cfg: &crate::config::Config) -> bool {
    !cfg.checks.dnsbl.is_empty() || cfg.checks.greylist
}

impl MessageChecks {
    pub fn new(srv: &Server, mail_from: &str, helo: &str) -> MessageChecks {
        let cfg = srv.config();
        MessageChecks {
            filter: ForgedResultsFilter::new(&srv.hostname),
            dkim: (cfg.checks.dkim || cfg.checks.dmarc).then(dkim_verify::Verifier::new),
            mail_from: mail_from.to_owned(),
            helo: helo.to_owned(),
        }
    }

    /// A chunk of the message as the client sent it: the verifier sees it whole, the
    /// store gets it without forged results (`kept`).
    pub fn push(&mut self, data: &[u8], kept: &mut Vec<u8>) {
        if let Some(v) = self.dkim.as_mut() {
            v.push(data);
        }
        self.filter.push(data, kept);
    }

    /// The end of the message: what is still held back by the filter.
    pub fn end(&mut self, kept: &mut Vec<u8>) {
        self.filter.finish(kept);
    }
}

/// The SPF verdict for the transaction, computed once per (MAIL FROM, HELO).
async fn spf_verdict(srv: &Server, sc: &mut SessionChecks, ip: IpAddr, mail_from: &str, helo: &str) -> spf::Verdict {
    let key = (mail_from.to_owned(), helo.to_owned());
    if let Some((k, v)) = &sc.spf {
        if *k == key {
            return v.clone();
        }
    }
    let Some(checks) = srv.checks.as_ref() else {
        return spf::Verdict { result: spf::SpfResult::None, explanation: None };
    };
    let req = spf::Request {
        ip,
        sender: mail_from,
        helo,
        receiver: &srv.hostname,
        now: crate::util::unix_now().max(0) as u64,
    };
    let v = spf::check_mail_from(&checks.resolver, &req).await;
    sc.spf = Some((key, v.clone()));
    v
}

/// The domain SPF judged: the MAIL FROM domain, or the HELO name for `<>` (RFC 7208 §2.4).
fn spf_domain<'a>(mail_from: &'a str, helo: &'a str) -> &'a str {
    match mail_from.rsplit_once('@') {
        Some((_, d)) => d,
        None => helo,
    }
}

/// RCPT: DNSBL (once per connection), then greylisting (skipped for a sender whose SPF
/// passes: a real MTA that publishes SPF retries anyway, and greylisting it only delays).
pub async fn recipient(srv: &Server, sc: &mut SessionChecks, ip: IpAddr, c: &RecipientCheck) -> RecipientVerdict {
    let cfg = srv.config();
    let Some(checks) = srv.checks.as_ref() else { return RecipientVerdict::Accept };
    if !cfg.checks.dnsbl.is_empty() && cfg.checks.dnsbl_action == crate::config::DnsblAction::Reject {
        let listings = listings(srv, sc, ip).await;
        if let Some(l) = listings.first() {
            let why = match &l.verdict {
                Ok(dnsbl::Listed { reason: Some(r), .. }) => format!("; {r}"),
                _ => String::new(),
            };
            return RecipientVerdict::Refuse(format!("Client host [{ip}] blocked using {}{why}", l.zone));
        }
    }
    if !cfg.checks.greylist {
        return RecipientVerdict::Accept;
    }
    if cfg.checks.spf && spf_verdict(srv, sc, ip, &c.mail_from, &c.helo).await.result == spf::SpfResult::Pass {
        return RecipientVerdict::Accept;
    }
    let now = crate::util::unix_now().max(0) as u64;
    let t = greylist::Triplet { ip, sender: &c.mail_from, rcpt: &c.rcpt };
    let decision = checks.greylist.borrow_mut().check(&t, now);
    save_greylist(checks, now);
    match decision {
        greylist::Decision::Pass => RecipientVerdict::Accept,
        greylist::Decision::Defer { retry_in_secs } => {
            RecipientVerdict::Defer(format!("Greylisted, please try again in {retry_in_secs} seconds"))
        }
    }
}

/// The DNSBL listings of the client, asked once per session.
async fn listings(srv: &Server, sc: &mut SessionChecks, ip: IpAddr) -> Vec<dnsbl::Listing> {
    if let Some(l) = &sc.dnsbl {
        return l.clone();
    }
    let cfg = srv.config();
    let Some(checks) = srv.checks.as_ref() else { return Vec::new() };
    let mut listed = Vec::new();
    for l in dnsbl::check(&checks.resolver, ip, &cfg.checks.dnsbl).await {
        match &l.verdict {
            Ok(_) => listed.push(l),
            // RFC 5782 §2.1: only 127.0.0.0/8 answers list; the rest is logged, not acted on.
            Err(e) => log("smtp", &std::net::SocketAddr::new(ip, 0), &format!("dnsbl {}: {e:?}", l.zone)),
        }
    }
    sc.dnsbl = Some(listed.clone());
    listed
}

/// Writes the greylist off the executor when it changed and the last save is old enough.
fn save_greylist(checks: &Checks, now: u64) {
    if !checks.greylist.borrow().dirty() || now < checks.greylist_saved.get().saturating_add(greylist::SAVE_INTERVAL) {
        return;
    }
    checks.greylist_saved.set(now);
    let bytes = checks.greylist.borrow().encode();
    checks.greylist.borrow_mut().mark_saved();
    let path = checks.greylist_path.clone();
    smol::spawn(smol::unblock(move || {
        if let Err(e) = greylist::save_bytes(&path, &bytes) {
            eprintln!("letterbox: greylist: saving {}: {e}", path.display());
        }
    }))
    .detach();
}

/// The end of DATA: SPF, DKIM, DMARC; the results field and what to do with the message.
/// `from` holds the RFC 5322 From field values of the header.
pub async fn judge(srv: &Server, sc: &mut SessionChecks, m: MessageChecks, ip: IpAddr, from: &[String]) -> Judgement {
    let cfg = srv.config();
    let mut ar = AuthResults::new(&srv.hostname);
    let mut junk = false;
    let mut reject = None;
    let Some(checks) = srv.checks.as_ref() else {
        return Judgement { field: ar.field(), junk, reject };
    };
    let now = crate::util::unix_now().max(0) as u64;
    let spf_dom = spf_domain(&m.mail_from, &m.helo).to_owned();
    let mut spf_pass = None;
    if cfg.checks.spf || cfg.checks.dmarc {
        let v = spf_verdict(srv, sc, ip, &m.mail_from, &m.helo).await;
        let prop = if m.mail_from.is_empty() {
            ("smtp.helo", m.helo.as_str())
        } else {
            ("smtp.mailfrom", m.mail_from.as_str())
        };
        ar.add("spf", v.result.as_str(), None, &[prop]);
        if v.result == spf::SpfResult::Pass {
            spf_pass = Some(spf_dom.clone());
        }
    }
    if cfg.checks.spf {
        // §2.7.3 names the address; the confirmed name goes to the log.
        let (result, name) = iprev(&checks.resolver, ip).await;
        ar.add("iprev", result, None, &[("policy.iprev", &ip.to_canonical().to_string())]);
        if let Some(n) = name {
            log("smtp", &std::net::SocketAddr::new(ip, 0), &format!("iprev pass {n}"));
        }
    }
    let mut dkim_pass: Vec<String> = Vec::new();
    if let Some(v) = m.dkim {
        let sigs = dkim_verify::verify(&v.finish(), &checks.resolver, now).await;
        if sigs.is_empty() {
            ar.add("dkim", "none", None, &[]);
        }
        for s in &sigs {
            let props =
                [("header.d", s.domain.as_str()), ("header.s", s.selector.as_str()), ("header.b", s.header_b.as_str())];
            ar.add("dkim", s.result.as_str(), s.reason.as_deref(), &props);
            if s.result == dkim_verify::DkimResult::Pass {
                dkim_pass.push(s.domain.clone());
            }
        }
    }
    if cfg.checks.dmarc {
        match from_domain(from) {
            Ok(from_dom) => {
                let dkim: Vec<&str> = dkim_pass.iter().map(String::as_str).collect();
                let input = dmarc::Input {
                    from_domain: &from_dom,
                    spf_pass_domain: spf_pass.as_deref(),
                    dkim_pass_domains: &dkim,
                };
                let roll = crate::util::random_bytes::<1>()[0] % 100;
                let v = dmarc::check(&checks.resolver, &input, roll).await;
                ar.add("dmarc", v.result.as_str(), None, &[("header.from", from_dom.as_str())]);
                match v.disposition {
                    dmarc::Policy::Reject if v.result == dmarc::DmarcResult::Fail => {
                        reject = Some(format!("Message rejected by the DMARC policy of {}", v.policy_domain));
                    }
                    dmarc::Policy::Quarantine if v.result == dmarc::DmarcResult::Fail => junk = true,
                    _ => {}
                }
            }
            Err(why) => ar.add("dmarc", "permerror", Some(why), &[]),
        }
    }
    if cfg.checks.dnsbl_action == crate::config::DnsblAction::Junk && !cfg.checks.dnsbl.is_empty() {
        let l = listings(srv, sc, ip).await;
        if let Some(first) = l.first() {
            junk = true;
            ar.add("dnsbl", "fail", None, &[("policy.zone", first.zone.as_str())]);
        }
    }
    if m.filter.removed > 0 {
        log(
            "smtp",
            &std::net::SocketAddr::new(ip, 0),
            &format!("removed {} forged Authentication-Results", m.filter.removed),
        );
    }
    Judgement { field: ar.field(), junk, reject }
}

/// PTR names looked up forward per client (RFC 8601 §3 leaves it to us; SPF's `ptr`
/// allows 10, RFC 7208 §4.6.4).
const IPREV_NAMES_MAX: usize = 10;

/// RFC 8601 §3 "iprev": the client's PTR names, forward-confirmed (one of them resolves
/// back to the address). `pass` with the confirmed name; `fail` when no name confirms;
/// `temperror` on a DNS failure.
async fn iprev(r: &StubResolver, ip: IpAddr) -> (&'static str, Option<String>) {
    use crate::dns::{DnsError, Rdata, Resolver, Rtype};
    let ip = ip.to_canonical();
    let zone = if ip.is_ipv4() { "in-addr.arpa" } else { "ip6.arpa" };
    let names = match r.lookup(&dnsbl::query_name(ip, zone), Rtype::Ptr).await {
        Ok(v) => v,
        Err(DnsError::Temporary) => return ("temperror", None),
        Err(_) => return ("fail", None),
    };
    let rtype = if ip.is_ipv4() { Rtype::A } else { Rtype::Aaaa };
    let mut temp = false;
    for name in names.iter().filter_map(|d| if let Rdata::Name(n) = d { Some(n) } else { None }).take(IPREV_NAMES_MAX) {
        match r.lookup(name, rtype).await {
            Ok(addrs) => {
                let back = addrs.iter().any(|a| match (a, ip) {
                    (Rdata::A(v4), IpAddr::V4(me)) => *v4 == me,
                    (Rdata::Aaaa(v6), IpAddr::V6(me)) => *v6 == me,
                    _ => false,
                });
                if back {
                    return ("pass", Some(name.trim_end_matches('.').to_owned()));
                }
            }
            Err(DnsError::Temporary) => temp = true,
            Err(_) => {}
        }
    }
    (if temp { "temperror" } else { "fail" }, None)
}

/// RFC 7489 §6.6.1: exactly one From field with one address, else no DMARC evaluation.
fn from_domain(from: &[String]) -> Result<String, &'static str> {
    match from {
        [one] => dmarc::from_domain(one.as_bytes()).map_err(|_| "From has no single address domain"),
        [] => Err("no From field"),
        _ => Err("more than one From field"),
    }
}
