//! DMARC (`mailauth::dmarc`): a table of From/SPF/DKIM domain combinations against zone data
//! with strict and relaxed alignment and p/sp/pct records. Every expected result was written
//! from the text of RFC 7489 (and, for the organizational domain, of the DMARC revision's
//! DNS tree walk, draft-ietf-dmarc-dmarcbis §4.10), cited beside each row; none was copied
//! from the code's output. Then the tree walk is cross-checked against Debian's public
//! suffix list (the `publicsuffix` package) for realistic domains.
#![cfg(feature = "checks")]

use std::collections::HashSet;

use letterbox::dns::{DnsError, Rdata, Zone};
use letterbox::mailauth::dmarc::{self, DmarcResult, Input, Policy};

const PSL: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

fn txt(s: &str) -> Rdata {
    Rdata::Txt(s.as_bytes().to_vec())
}

/// The zone of the table: each domain's record says what the rows test.
fn zone() -> Zone {
    let mut z = Zone::default();
    let recs = [
        ("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"),
        ("_dmarc.sub.example.com", "v=DMARC1; p=none"),
        ("_dmarc.dept.example.com", "v=DMARC1; p=reject; psd=n"),
        ("_dmarc.strict.example", "v=DMARC1; p=reject; adkim=s; aspf=s"),
        ("_dmarc.spfstrict.example", "v=DMARC1; p=reject; aspf=s"),
        ("_dmarc.example.co.uk", "v=DMARC1; p=quarantine"),
        ("_dmarc.co.uk", "v=DMARC1; p=none; psd=y"),
        ("_dmarc.half.example", "v=DMARC1; p=reject; pct=50"),
        ("_dmarc.zero.example", "v=DMARC1; p=quarantine; pct=0"),
        ("_dmarc.full.example", "v=DMARC1; p=quarantine; pct=100"),
        ("_dmarc.none.example", "v=DMARC1; p=none"),
        ("_dmarc.broken.example", "v=DMARC1; p=reject; pct=abc"),
        ("_dmarc.nop.example", "v=DMARC1; sp=reject"),
        ("_dmarc.rescued.example", "v=DMARC1; p=bogus; rua=mailto:d@rescued.example"),
        ("_dmarc.two.example", "v=DMARC1; p=none"),
        ("_dmarc.two.example", "v=DMARC1; p=reject"),
        ("_dmarc.spfonly.example", "v=spf1 -all"),
        ("_dmarc.mixed.example", "v=spf1 -all"),
        ("_dmarc.mixed.example", "v=DMARC1; p=reject"),
        ("_dmarc.unknown.example", "v=DMARC1; p=reject; np=none; t=y; future=1"),
    ];
    for (name, rec) in recs {
        z.add(name, txt(rec));
    }
    z.add("two.sub2.example.com", Rdata::A([192, 0, 2, 1].into()));
    z.add("_dmarc.twosub.example.com", txt("v=DMARC1; p=none"));
    z.add("_dmarc.twosub.example.com", txt("v=DMARC1; p=none"));
    z.failing.push("_dmarc.slow.example".into());
    z.failing.push("_dmarc.slow.example.com".into());
    z
}

/// One row: From domain, SPF-pass domain, DKIM-pass domains, pct roll, and what the RFC
/// says: result, disposition, policy domain; then why.
type Row =
    (&'static str, Option<&'static str>, &'static [&'static str], u8, DmarcResult, Policy, &'static str, &'static str);

use DmarcResult::{Fail, None as NoResult, Pass, PermError, TempError};
use Policy::{None as NoPolicy, Quarantine, Reject};

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // §3.1.1/§3.1.2: identical domains align in either mode; §4.2: one aligned pass is enough.
    ("example.com", Some("example.com"), &[], 0, Pass, NoPolicy, "example.com", "§3.1.2 identical"),
    ("example.com", None, &["example.com"], 99, Pass, NoPolicy, "example.com", "§3.1.1 identical"),
    // §3.1.2 relaxed: "cbg.bounces.example.com" aligns with "example.com" (its own example).
    ("example.com", Some("cbg.bounces.example.com"), &[], 0, Pass, NoPolicy, "example.com", "§3.1.2 relaxed, the RFC's example"),
    ("example.com", None, &["mail.example.com"], 0, Pass, NoPolicy, "example.com", "§3.1.1 relaxed subdomain signer"),
    // §4.2: DKIM aligned is enough though SPF passed for a foreign domain.
    ("example.com", Some("evil.example"), &["other.example", "example.com"], 0, Pass, NoPolicy, "example.com", "§4.2 either mechanism"),
    // §6.6.2/§6.6.4: nothing aligned → fail, p applies (pct defaults to 100, §6.3).
    ("example.com", Some("evil.example"), &["other.example"], 0, Fail, Reject, "example.com", "§6.6.4 p=reject"),
    ("example.com", None, &[], 99, Fail, Reject, "example.com", "§6.3 pct default 100: every roll"),
    // §3.1: alignment is of the RFC5322.From domain; an unrelated suffix match is not one.
    ("example.com", Some("notexample.com"), &["com"], 0, Fail, Reject, "example.com", "§3.1.1 different org domains"),
    // §6.6.3 step 3: no record at mail.example.com → the org domain's; §6.3 sp for subdomains.
    ("mail.example.com", None, &[], 0, Fail, Quarantine, "example.com", "§6.6.3 step 3 + §6.3 sp"),
    ("mail.example.com", Some("example.com"), &[], 0, Pass, NoPolicy, "example.com", "§3.1.2 relaxed parent"),
    ("mail.example.com", None, &["other.example.com"], 0, Pass, NoPolicy, "example.com", "§3.1.1 relaxed sibling"),
    // Case and a final dot do not matter in DNS names (RFC 4343 §3); §3.1 compares domains.
    ("Mail.EXAMPLE.com.", None, &["EXAMPLE.COM"], 0, Pass, NoPolicy, "example.com", "case-insensitive"),
    // §6.6.3 step 1: a record at the From domain itself is the policy: p, not the parent's sp.
    ("sub.example.com", None, &[], 0, Fail, NoPolicy, "sub.example.com", "§6.6.3 step 1 own p=none"),
    // §6.6.3 step 3 asks the organizational domain only: sub.example.com's own record is
    // not the policy of a.sub.example.com (the revision's walk would take it); the walk
    // passes it on the way to example.com, the highest record (dmarcbis §4.10.2).
    ("a.sub.example.com", None, &[], 0, Fail, Quarantine, "example.com", "§6.6.3 step 3, not the intermediate record"),
    ("a.sub.example.com", None, &["other.example.com"], 0, Pass, NoPolicy, "example.com", "§3.1.1 relaxed across levels"),
    // Ten labels: the walk cuts to seven and still reaches example.com (dmarcbis §4.10).
    ("a.b.c.d.e.f.g.h.example.com", None, &[], 0, Fail, Quarantine, "example.com", "long name, sp"),
    // dmarcbis §4.10.2: psd=n makes dept.example.com its own organizational domain.
    ("dept.example.com", Some("example.com"), &[], 0, Fail, Reject, "dept.example.com", "psd=n: parent not aligned"),
    ("x.dept.example.com", Some("evil.example"), &[], 0, Fail, Reject, "dept.example.com", "psd=n: its sp absent = p"),
    ("x.dept.example.com", Some("dept.example.com"), &[], 0, Pass, NoPolicy, "dept.example.com", "psd=n: parent of From aligns"),
    ("x.dept.example.com", None, &["y.dept.example.com"], 0, Pass, NoPolicy, "dept.example.com", "psd=n: siblings below align"),
    // §3.1.1/§3.1.2 strict: only an exact match aligns.
    ("strict.example", Some("mail.strict.example"), &["strict.example"], 0, Pass, NoPolicy, "strict.example", "strict DKIM exact"),
    ("strict.example", Some("mail.strict.example"), &["mail.strict.example"], 0, Fail, Reject, "strict.example", "strict: subdomains do not align"),
    ("STRICT.example.", None, &["strict.EXAMPLE"], 0, Pass, NoPolicy, "strict.example", "strict, case-insensitive"),
    // aspf=s with adkim relaxed (default): a subdomain aligns for DKIM only.
    ("spfstrict.example", Some("b.spfstrict.example"), &[], 0, Fail, Reject, "spfstrict.example", "aspf=s"),
    ("spfstrict.example", Some("b.spfstrict.example"), &["d.spfstrict.example"], 0, Pass, NoPolicy, "spfstrict.example", "adkim=r"),
    // Organizational domains under a public suffix: the zone's psd=y record at co.uk
    // (dmarcbis §4.10.2) makes example.co.uk the org domain; the sp/p of example.co.uk apply.
    ("sub.example.co.uk", Some("example.co.uk"), &[], 0, Pass, NoPolicy, "example.co.uk", "co.uk psd=y, relaxed"),
    ("sub.example.co.uk", None, &["bounce.example.co.uk"], 0, Pass, NoPolicy, "example.co.uk", "co.uk psd=y, siblings"),
    ("sub.example.co.uk", Some("other.co.uk"), &["co.uk"], 0, Fail, Quarantine, "example.co.uk", "§6.3 sp absent = p"),
    ("example.co.uk", None, &["evil.co.uk"], 0, Fail, Quarantine, "example.co.uk", "other registrant under co.uk"),
    // §6.6.4 sampling: roll < pct applies the policy; otherwise reject → quarantine,
    // quarantine → none ("apply local message classification as normal").
    ("half.example", None, &[], 0, Fail, Reject, "half.example", "pct=50 roll 0"),
    ("half.example", None, &[], 49, Fail, Reject, "half.example", "pct=50 roll 49"),
    ("half.example", None, &[], 50, Fail, Quarantine, "half.example", "pct=50 roll 50: next weaker"),
    ("half.example", None, &[], 99, Fail, Quarantine, "half.example", "pct=50 roll 99"),
    ("half.example", Some("half.example"), &[], 99, Pass, NoPolicy, "half.example", "pass: no disposition"),
    ("zero.example", None, &[], 0, Fail, NoPolicy, "zero.example", "pct=0 never applies"),
    ("full.example", None, &[], 99, Fail, Quarantine, "full.example", "pct=100 always applies"),
    ("none.example", None, &[], 0, Fail, NoPolicy, "none.example", "§6.3 p=none: monitor"),
    // §6.6.3 step 5 / "no such record": DMARC is not applied; §11.2 result none.
    ("norecord.example", Some("norecord.example"), &[], 0, NoResult, NoPolicy, "norecord.example", "no record"),
    ("spfonly.example", None, &[], 0, NoResult, NoPolicy, "spfonly.example", "§6.6.3 step 2 discards v=spf1"),
    ("mixed.example", None, &[], 0, Fail, Reject, "mixed.example", "§6.6.3 step 2: the one DMARC record remains"),
    // §6.3: unknown tags (and the revision's np, t) are ignored.
    ("unknown.example", None, &[], 0, Fail, Reject, "unknown.example", "§6.3 unknown tags ignored"),
    // §11.2 permerror: a syntactically incorrect record; §6.6.3 step 6.2: no p and no rua.
    ("broken.example", Some("broken.example"), &[], 0, PermError, NoPolicy, "broken.example", "bad pct"),
    ("nop.example", None, &[], 0, PermError, NoPolicy, "nop.example", "§6.6.3 step 6.2: no p"),
    // §6.6.3 step 6.1: invalid p with a valid rua acts as p=none.
    ("rescued.example", None, &[], 0, Fail, NoPolicy, "rescued.example", "§6.6.3 step 6.1"),
    // §6.6.3 step 5: several records → no policy (result permerror, §11.2), no fallback to
    // the organizational domain (step 3 applies only to an empty set).
    ("two.example", Some("two.example"), &[], 0, PermError, NoPolicy, "two.example", "two records"),
    ("twosub.example.com", None, &[], 0, PermError, NoPolicy, "twosub.example.com", "two records, no fallback"),
    // §6.6.3 end / §11.2 temperror: a transient DNS error.
    ("slow.example", Some("slow.example"), &[], 0, TempError, NoPolicy, "slow.example", "DNS timeout"),
    ("a.slow.example.com", None, &["example.com"], 0, TempError, NoPolicy, "a.slow.example.com", "timeout on the walk"),
];

#[test]
fn rfc7489_table_of_alignment_policy_and_sampling() {
    let z = zone();
    let mut failed = Vec::new();
    for &(from, spf, dkim, roll, result, disposition, policy_domain, why) in TABLE {
        let input = Input { from_domain: from, spf_pass_domain: spf, dkim_pass_domains: dkim };
        let v = smol::block_on(dmarc::check(&z, &input, roll));
        let got = (v.result, v.disposition, v.policy_domain.as_str());
        if got != (result, disposition, policy_domain) {
            failed.push(format!("{from} spf={spf:?} dkim={dkim:?} roll={roll} ({why}): got {got:?} ({:?})", v.reason));
        }
    }
    assert!(failed.is_empty(), "{} of {} rows differ:\n{}", failed.len(), TABLE.len(), failed.join("\n"));
}

#[test]
fn verdict_fields_and_keywords() {
    let z = zone();
    let input = Input { from_domain: "Mail.Example.COM", spf_pass_domain: None, dkim_pass_domains: &[] };
    let v = smol::block_on(dmarc::check(&z, &input, 0));
    assert_eq!((v.from_domain.as_str(), v.result.as_str()), ("mail.example.com", "fail"));
    assert_eq!(v.disposition.as_str(), "quarantine");
    let words: Vec<_> = [Pass, Fail, NoResult, TempError, PermError].iter().map(|r| r.as_str()).collect();
    assert_eq!(words, ["pass", "fail", "none", "temperror", "permerror"], "RFC 8601 §2.7.1 / RFC 7489 §11.2");
}

#[test]
fn organizational_domain_follows_the_zone_data() {
    let z = zone();
    let org = |d: &str| smol::block_on(dmarc::organizational_domain(&z, d));
    assert_eq!(org("a.b.example.com").as_deref(), Ok("example.com"));
    assert_eq!(org("x.sub.example.com").as_deref(), Ok("example.com"), "the highest record wins");
    assert_eq!(org("x.dept.example.com").as_deref(), Ok("dept.example.com"), "psd=n stops the walk");
    assert_eq!(org("deep.sub.example.co.uk").as_deref(), Ok("example.co.uk"), "psd=y: one label below");
    assert_eq!(org("unrelated.co.uk").as_deref(), Ok("unrelated.co.uk"));
    assert_eq!(org("co.uk").as_deref(), Ok("co.uk"), "psd=y at the domain itself");
    assert_eq!(org("nothing.invalid").as_deref(), Ok("nothing.invalid"), "no record: its own");
    assert_eq!(org("a.slow.example"), Err(DnsError::Temporary));
}

/// Debian's public suffix list: rules, wildcard rules (`*.`) and exceptions (`!`), both the
/// ICANN and the private section (PSL algorithm, https://publicsuffix.org/list/).
struct Psl {
    rules: HashSet<String>,
}

impl Psl {
    fn load() -> Psl {
        let text = std::fs::read_to_string(PSL).expect("Debian's publicsuffix package (scripts/deps.sh)");
        let rules =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).map(str::to_owned).collect();
        Psl { rules }
    }

    /// The registrable domain: the public suffix plus one label.
    fn registrable(&self, d: &str) -> String {
        let labels: Vec<&str> = d.split('.').collect();
        let mut suffix_len = 1; // the implicit "*" rule
        for n in 1..=labels.len() {
            let cand = labels[labels.len() - n..].join(".");
            let wild = format!("*.{}", labels[labels.len() - n + 1..].join("."));
            if self.rules.contains(&format!("!{cand}")) {
                suffix_len = n - 1;
                break;
            }
            if self.rules.contains(&cand) || (n > 1 && self.rules.contains(&wild)) {
                suffix_len = n;
            }
        }
        labels[labels.len() - (suffix_len + 1).min(labels.len())..].join(".")
    }

    fn public_suffix(&self, d: &str) -> String {
        let reg = self.registrable(d);
        reg.split_once('.').map_or(reg.clone(), |(_, s)| s.to_owned())
    }
}

const REALISTIC: &[&str] = &[
    "mail.google.com",
    "bounces.newsletter.bbc.co.uk",
    "www.example.com.au",
    "a.b.shop.example.co.jp",
    "foo.bar.kawasaki.jp",
    "x.city.kawasaki.jp",
    "user.github.io",
    "alerts.user.github.io",
    "a.b.c.d.e.f.g.h.i.example.org",
    "mx.example.ac.uk",
    "em1234.mail.example.net",
    "notify.example.gov.uk",
];

/// With realistic DNS the walk and the PSL agree: (1) only registrable domains publish DMARC
/// records (the common case today); (2) public suffix operators publish `psd=y` records
/// (dmarcbis) and the registrable domains publish none.
#[test]
fn tree_walk_agrees_with_debians_public_suffix_list() {
    let psl = Psl::load();
    assert_eq!(psl.registrable("foo.bar.kawasaki.jp"), "foo.bar.kawasaki.jp", "wildcard rule");
    assert_eq!(psl.registrable("x.city.kawasaki.jp"), "city.kawasaki.jp", "exception rule");
    for d in REALISTIC {
        let reg = psl.registrable(d);
        let mut owners = Zone::default();
        owners.add(&format!("_dmarc.{reg}"), txt("v=DMARC1; p=reject"));
        let mut operators = Zone::default();
        operators.add(&format!("_dmarc.{}", psl.public_suffix(d)), txt("v=DMARC1; p=none; psd=y"));
        for (what, z) in [("registrant records", &owners), ("psd=y records", &operators)] {
            let walked = smol::block_on(dmarc::organizational_domain(z, d));
            assert_eq!(walked.as_deref(), Ok(reg.as_str()), "{d} with {what}");
        }
    }
    // Where they part: a suffix operator publishing a record WITHOUT psd=y (gov.uk has
    // one today) becomes everyone's organizational domain in the walk — the reason the
    // revision added `psd=`. The PSL says notify.example.gov.uk belongs to example.gov.uk.
    let mut z = Zone::default();
    z.add("_dmarc.example.gov.uk", txt("v=DMARC1; p=reject"));
    z.add("_dmarc.gov.uk", txt("v=DMARC1; p=reject"));
    assert_eq!(psl.registrable("notify.example.gov.uk"), "example.gov.uk");
    assert_eq!(smol::block_on(dmarc::organizational_domain(&z, "notify.example.gov.uk")).as_deref(), Ok("gov.uk"));
}

/// Oversized and numerous records: §11.2 permerror, read within bounds.
#[test]
fn oversized_and_numerous_records_are_permerror() {
    let mut z = Zone::default();
    let big = format!("v=DMARC1; p=reject; rua=mailto:{}@example.org", "a".repeat(8000));
    z.add("_dmarc.big.example", txt(&big));
    for _ in 0..64 {
        z.add("_dmarc.many.example", txt(&big));
    }
    z.add("_dmarc.binary.example", Rdata::Txt(b"v=DMARC1; p=reject; x=\xff\xfe\x00".to_vec()));
    for (from, want) in [("big.example", PermError), ("many.example", PermError), ("binary.example", Fail)] {
        let input = Input { from_domain: from, spf_pass_domain: None, dkim_pass_domains: &[] };
        let v = smol::block_on(dmarc::check(&z, &input, 0));
        assert_eq!(v.result, want, "{from}: {:?}", v.reason);
    }
    let org = smol::block_on(dmarc::organizational_domain(&z, "a..example"));
    assert_eq!(org, Err(DnsError::Invalid));
}
