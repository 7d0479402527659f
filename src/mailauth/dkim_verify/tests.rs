//! Unit tests: RFC 8463 Appendix A, the rules dkimpy does not check (key h=, t=s, x=/t=),
//! the bounds (BAD-INPUTS rows 78 and 79) and streaming.

use ring::signature::{Ed25519KeyPair, KeyPair};

use super::*;
use crate::auth::base64;
use crate::dns::Zone;

/// RFC 8463 Appendix A.3, with the keys of A.2.
const RFC8463: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r
 d=football.example.com; i=@football.example.com;\r
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r
 subject : date : message-id : from : subject : date;\r
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r
 d=football.example.com; i=@football.example.com;\r
 q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r
 date : message-id : from : subject : date;\r
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r
 b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r
 DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r
 dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r
From: Joe SixPack <joe@football.example.com>\r
To: Suzie Q <suzie@shopping.example.net>\r
Subject: Is dinner ready?\r
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r
\r
Hi.\r
\r
We lost the game.  Are you hungry yet?\r
\r
Joe.\r
";
const RFC8463_NOW: u64 = 1_528_637_909;

fn rfc8463_zone() -> Zone {
    let mut z = Zone::default();
    z.add(
        "brisbane._domainkey.football.example.com",
        txt("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
    );
    z.add(
        "test._domainkey.football.example.com",
        txt("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"),
    );
    z
}

fn txt(s: &str) -> Rdata {
    Rdata::Txt(s.as_bytes().to_vec())
}

fn run(msg: &[u8], zone: &Zone, now: u64) -> Vec<Signature> {
    let mut v = Verifier::new();
    v.push(msg);
    smol::block_on(verify(&v.finish(), zone, now))
}

fn results(sigs: &[Signature]) -> Vec<DkimResult> {
    sigs.iter().map(|s| s.result).collect()
}

#[test]
fn rfc8463_appendix_a_verifies() {
    let sigs = run(RFC8463.as_bytes(), &rfc8463_zone(), RFC8463_NOW);
    assert_eq!(results(&sigs), [DkimResult::Pass, DkimResult::Pass], "{sigs:?}");
    assert_eq!(sigs[0].header_b, "/gCrinpc");
    assert_eq!(sigs[1].header_b, "F45dVWDf");
    assert_eq!(sigs[0].domain, "football.example.com");
    assert_eq!((sigs[0].selector.as_str(), sigs[1].algorithm.as_str()), ("brisbane", "rsa-sha256"));
    assert_eq!(sigs[0].auid.as_deref(), Some("@football.example.com"));
    let altered = RFC8463.replace("hungry", "Hungry");
    let sigs = run(altered.as_bytes(), &rfc8463_zone(), RFC8463_NOW);
    assert_eq!(results(&sigs), [DkimResult::Fail, DkimResult::Fail]);
    assert_eq!(sigs[0].reason.as_deref(), Some("body hash mismatch"));
    let altered = RFC8463.replace("Is dinner", "is dinner");
    let sigs = run(altered.as_bytes(), &rfc8463_zone(), RFC8463_NOW);
    assert_eq!(sigs[1].reason.as_deref(), Some("signature mismatch"));
}

#[test]
fn every_split_gives_the_same_verdicts() {
    let msg = RFC8463.as_bytes();
    let zone = rfc8463_zone();
    for at in (0..=msg.len()).step_by(3) {
        for step in [1, 2, 5] {
            let mut v = Verifier::new();
            let (a, b) = msg.split_at(at);
            v.push(a);
            b.chunks(step.max(b.len() / 4).max(1)).for_each(|c| v.push(c));
            let sigs = smol::block_on(verify(&v.finish(), &zone, RFC8463_NOW));
            assert_eq!(results(&sigs), [DkimResult::Pass, DkimResult::Pass], "split at {at}");
        }
    }
}

/// An Ed25519 signer for signatures with any tags: `tags` (without `b=`, `BH` standing
/// for the body hash) over `rest` (header fields, empty line, body), relaxed body.
struct TestKey(Ed25519KeyPair);

impl TestKey {
    fn new() -> TestKey {
        TestKey(Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap())
    }

    fn record(&self, extra: &str) -> Rdata {
        let p = base64::encode(self.0.public_key().as_ref(), true);
        txt(&format!("v=DKIM1; {extra}k=ed25519; p={p}"))
    }

    fn sign(&self, tags: &str, rest: &str, limit: Option<usize>) -> String {
        let body = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let canon = canon::body(Canon::Relaxed, body.as_bytes());
        let canon = &canon[..limit.unwrap_or(canon.len()).min(canon.len())];
        let bh = base64::encode(digest::digest(&digest::SHA256, canon).as_ref(), true);
        let unsigned = format!("DKIM-Signature: {}; b=\r\n{rest}", tags.replace("BH", &bh));
        let mut v = Verifier::new();
        v.push(unsigned.as_bytes());
        let checked = v.finish();
        let Parsed::Ok { tags: parsed, .. } = &checked.entries[0].parsed else { panic!("{:?}", checked.entries) };
        let data = checked.header_input(checked.entries[0].field, parsed);
        let sig = ring::digest::digest(&digest::SHA256, &data);
        let b = base64::encode(self.0.sign(sig.as_ref()).as_ref(), true);
        unsigned.replacen("; b=\r\n", &format!("; b={b}\r\n"), 1)
    }
}

const MSG: &str = "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n";
const TAGS: &str = "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=sel; h=from:subject; bh=BH";
const NOW: u64 = 1_700_000_000;

fn zone_with(record: Rdata) -> Zone {
    let mut z = Zone::default();
    z.add("sel._domainkey.example.org", record);
    z
}

fn one(msg: &str, zone: &Zone) -> Signature {
    run(msg.as_bytes(), zone, NOW).remove(0)
}

#[test]
fn time_tags() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let with = |t: &str| one(&key.sign(&format!("{TAGS}; {t}"), MSG, None), &z);
    assert_eq!(with(&format!("x={}", NOW - CLOCK_SKEW + 1)).result, DkimResult::Pass);
    let expired = with(&format!("t={}; x={}", NOW - CLOCK_SKEW - 10, NOW - CLOCK_SKEW - 1));
    assert_eq!((expired.result, expired.reason.as_deref()), (DkimResult::Fail, Some("signature expired (x=)")));
    assert_eq!(with(&format!("t={}", NOW + CLOCK_SKEW)).result, DkimResult::Pass);
    assert_eq!(with(&format!("t={}", NOW + CLOCK_SKEW + 1)).result, DkimResult::Policy);
}

#[test]
fn key_record_rules() {
    let key = TestKey::new();
    let signed = key.sign(TAGS, MSG, None);
    let check = |rec: Rdata| {
        let s = one(&signed, &zone_with(rec));
        (s.result, s.reason)
    };
    assert_eq!(check(key.record("")), (DkimResult::Pass, None));
    assert_eq!(check(key.record("s=email:other; h=sha256; ")).0, DkimResult::Pass);
    assert_eq!(check(key.record("t=y; ")), (DkimResult::Pass, Some("testing mode (t=y)".into())));
    assert_eq!(check(key.record("h=sha1; ")).0, DkimResult::PermError);
    assert_eq!(check(key.record("s=other; ")).0, DkimResult::PermError);
    assert_eq!(
        check(txt("v=DKIM2; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")).0,
        DkimResult::PermError
    );
    assert_eq!(check(txt("v=DKIM1; k=ed25519; p=")), (DkimResult::PermError, Some("key revoked".into())));
    assert_eq!(check(txt("v=DKIM1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")).0, DkimResult::PermError);
    assert_eq!(check(txt("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")).0, DkimResult::Fail);
    // t=s: i= must be d= itself.
    let strict = zone_with(key.record("t=s; "));
    assert_eq!(one(&key.sign(&format!("{TAGS}; i=@example.org"), MSG, None), &strict).result, DkimResult::Pass);
    assert_eq!(
        one(&key.sign(&format!("{TAGS}; i=a@sub.example.org"), MSG, None), &strict).result,
        DkimResult::PermError
    );
    // Several records: the first one that is a key record is used.
    let mut z = zone_with(txt("hello"));
    z.add("sel._domainkey.example.org", key.record(""));
    assert_eq!(one(&signed, &z).result, DkimResult::Pass);
}

#[test]
fn dns_outcomes() {
    let signed = TestKey::new().sign(TAGS, MSG, None);
    let mut z = Zone::default();
    z.failing.push("sel._domainkey.example.org".into());
    assert_eq!(one(&signed, &z).result, DkimResult::TempError);
    let s = one(&signed, &Zone::default());
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::PermError, Some("no key record")));
    let mut z = Zone::default();
    z.add("sel._domainkey.example.org", Rdata::A([192, 0, 2, 1].into()));
    assert_eq!(one(&signed, &z).result, DkimResult::PermError);
}

#[test]
fn signature_tag_errors_are_permerror() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let sig = |tags: &str| one(&format!("DKIM-Signature: {tags}; b=AAAA\r\n{MSG}"), &z);
    for bad in [
        "a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA",
        "v=2; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA",
        "v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=AAAA",
        "v=1; a=ed25519-sha256; s=sel; h=from; bh=AAAA",
        "v=1; a=ed25519-sha256; d=example.org; h=from; bh=AAAA",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; bh=AAAA",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=subject; bh=AAAA",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; i=a@example.com",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; i=a@badexample.org",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; c=fancy",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; q=http",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; l=-1",
        "v=1; v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA",
        "v=1; a=ed25519-sha256; d=exa mple.org; s=sel; h=from; bh=AAAA",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=A*AA",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; t=1700000000; x=1699999999",
        "v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; t=99999999999999999999999",
        "v=1; 1a=x; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA",
    ] {
        let s = sig(bad);
        assert_eq!(s.result, DkimResult::PermError, "{bad}: {s:?}");
        assert!(s.reason.is_some());
    }
}

#[test]
fn tag_list_syntax() {
    let t = tags::tag_list(b" a=1 ;\r\n b = x y\r\n\tz ; c=;").unwrap();
    let pairs: Vec<(&[u8], &[u8])> = t.iter().map(|t| (t.name, t.value)).collect();
    assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (b"b", b"x y\r\n\tz"), (b"c", b"")]);
    assert!(tags::tag_list(b"a=1;;b=2").is_err());
    assert!(tags::tag_list(b"a=1; a=2").is_err());
    assert!(tags::tag_list(b"_a=1").is_err());
    assert!(tags::tag_list(b"a").is_err());
}

#[test]
fn body_length_tag() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let signed = key.sign(&format!("{TAGS}; l=6"), MSG, Some(6));
    assert_eq!(one(&signed, &z).result, DkimResult::Pass);
    assert_eq!(one(&format!("{signed}appended\r\n"), &z).result, DkimResult::Pass);
    let s = one(&signed.replace("body\r\n", "bo"), &z);
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::Fail, Some("l= is longer than the body")));
}

#[test]
fn over_signing_and_added_fields() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let plain = key.sign(TAGS, MSG, None);
    let over = key.sign(&TAGS.replace("h=from:subject", "h=from:subject:subject"), MSG, None);
    // §5.4.2: instances are taken from the bottom, so one added on top is not signed…
    assert_eq!(one(&format!("Subject: added\r\n{plain}"), &z).result, DkimResult::Pass);
    // …one added below the signed one is, and over-signing catches either.
    assert_eq!(one(&format!("Subject: added\r\n{over}"), &z).result, DkimResult::Fail);
    assert_eq!(one(&plain.replace("\r\n\r\n", "\r\nSubject: added\r\n\r\n"), &z).result, DkimResult::Fail);
    assert_eq!(one(&over.replace("\r\n\r\n", "\r\nSubject: added\r\n\r\n"), &z).result, DkimResult::Fail);
    assert_eq!(one(&over.replace("\r\n\r\n", "\r\nX-Other: added\r\n\r\n"), &z).result, DkimResult::Pass);
    // As dkimpy: a second From breaks a signature that lists From once.
    assert_eq!(one(&plain.replace("\r\n\r\n", "\r\nFrom: b@example.com\r\n\r\n"), &z).result, DkimResult::Fail);
}

#[test]
fn header_b_is_unique() {
    let z = Zone::default();
    let field =
        |b: &str| format!("DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=sel; h=from; bh=AAAA; b={b}\r\n");
    let msg = format!("{}{}{}{MSG}", field("AAAAAAAAAAAB"), field("AAAAAAAAAAAC"), field("ZZZZZZZZZZZZ"));
    let sigs = run(msg.as_bytes(), &z, NOW);
    let bs: Vec<&str> = sigs.iter().map(|s| s.header_b.as_str()).collect();
    assert_eq!(bs, ["AAAAAAAAAAAB", "AAAAAAAAAAAC", "ZZZZZZZZ"]);
}

// BAD-INPUTS row 78: huge h=, huge tag lists, many DKIM-Signature fields.

#[test]
fn h_with_10000_entries_is_refused() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let h = vec!["from"; 10_000].join(":");
    let msg = format!("DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=sel; h={h}; bh=AAAA; b=AAAA\r\n{MSG}");
    let s = one(&msg, &z);
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::PermError, Some("h= lists too many fields")));
    // At the limit it is accepted (and verifies: over-signed From entries hash nothing).
    let h = vec!["from"; tags::H_ENTRIES_MAX].join(":");
    let signed = key.sign(&TAGS.replace("h=from:subject", &format!("h={h}")), MSG, None);
    assert_eq!(one(&signed, &z).result, DkimResult::Pass);
}

#[test]
fn tag_list_of_2000_tags_is_refused() {
    let many: String = (0..2_000).map(|i| format!("t{i}=1; ")).collect();
    let s = one(&format!("DKIM-Signature: {many}\r\n{MSG}"), &Zone::default());
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::PermError, Some("too many tags")));
}

#[test]
fn many_signature_fields_are_bounded() {
    let key = TestKey::new();
    let z = zone_with(key.record(""));
    let signed = key.sign(TAGS, MSG, None);
    let (sig, rest) = signed.split_once("\r\nFrom:").unwrap();
    let msg = format!("{}\r\nFrom:{rest}", vec![sig; 100].join("\r\n"));
    let mut v = Verifier::new();
    v.push(msg.as_bytes());
    let checked = v.finish();
    assert_eq!(checked.bodies.len(), 1, "identical signatures share one body hash");
    let sigs = smol::block_on(verify(&checked, &z, NOW));
    assert_eq!(sigs.len(), 100);
    assert!(sigs[..SIGNATURES_MAX].iter().all(|s| s.result == DkimResult::Pass));
    assert!(sigs[SIGNATURES_MAX..].iter().all(|s| s.result == DkimResult::Neutral));
}

#[test]
fn header_over_the_limit_is_one_permerror() {
    let mut v = Verifier::new();
    let field = format!("X-Filler: {}\r\n", "x".repeat(998));
    for _ in 0..100 {
        v.push(field.as_bytes());
        assert!(v.buffered() <= HEADER_MAX);
    }
    v.push(MSG.as_bytes());
    let checked = v.finish();
    assert!(checked.too_large());
    let sigs = smol::block_on(verify(&checked, &Zone::default(), NOW));
    assert_eq!(results(&sigs), [DkimResult::PermError]);
    // Many tiny fields: over FIELDS_MAX.
    let mut v = Verifier::new();
    v.push("a:\r\n".repeat(FIELDS_MAX + 1).as_bytes());
    v.push(b"\r\n");
    assert!(v.finish().too_large());
}

// BAD-INPUTS row 79: a 16 KB base64 key, malformed key records, oversized TXT.

#[test]
fn key_of_16kb_base64_is_refused() {
    let signed = TestKey::new().sign(TAGS, MSG, None);
    let huge = format!("v=DKIM1; k=ed25519; p={}", "A".repeat(16 * 1024));
    let s = one(&signed, &zone_with(txt(&huge)));
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::PermError, Some("key record too large")));
    let long = format!("v=DKIM1; k=rsa; p={}", "A".repeat(3000));
    let s = one(&signed.replace("ed25519-sha256", "rsa-sha256"), &zone_with(txt(&long)));
    assert_eq!((s.result, s.reason.as_deref()), (DkimResult::PermError, Some("key p= too long")));
}

#[test]
fn malformed_key_records_are_permerror() {
    let signed = TestKey::new().sign(TAGS, MSG, None);
    let rsa = signed.replace("ed25519-sha256", "rsa-sha256");
    for (msg, rec) in [
        (&signed, "v=DKIM1; k=ed25519; p=AAAA"),
        (&signed, "v=DKIM1; k=ed25519; p=!!!!"),
        (&signed, "v=DKIM1; k=ed25519"),
        (&signed, "v=DKIM1; k=ed25519; p=AAAA; p=AAAA"),
        (&signed, "k=ed25519; p=AAAA;; x"),
        (&rsa, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDk"),
        (&rsa, "v=DKIM1; k=rsa; p=AAAAAAAA"),
        (&rsa, "v=DKIM1; k=dsa; p=AAAAAAAA"),
    ] {
        let s = one(msg, &zone_with(txt(rec)));
        // A mangled RSA signature can fail to parse before the key is used: PermError
        // either way, never a pass or a panic.
        assert_eq!(s.result, DkimResult::PermError, "{rec}: {s:?}");
    }
}
