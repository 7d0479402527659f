//! Unit tests of the signer: RFC 8463 Appendix A byte for byte, body hashes, split
//! invariance, folding, over-signing and the limits.

use super::*;

/// RFC 8032 §7.1 test 1, the Ed25519 key of RFC 8463 Appendix A.2, as PKCS#8 v1.
fn rfc8463_key(selector: &str) -> Key {
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend(base64::decode(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap());
    Key::ed25519_from_pkcs8(selector, &der).unwrap()
}

/// RFC 8463 Appendix A.3: the message after the two signatures.
const RFC8463_MESSAGE: &[u8] = b"From: Joe SixPack <joe@football.example.com>\r\n\
To: Suzie Q <suzie@shopping.example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n\
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game.  Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";

/// Its Ed25519 DKIM-Signature field up to the empty `b=`, as folded in the RFC.
const RFC8463_FIELD: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n \
d=football.example.com; i=@football.example.com;\r\n \
q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n \
subject : date : message-id : from : subject : date;\r\n \
bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n \
b=";

const RFC8463_B: &str = "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

fn sign(keys: &[Key], msg: &[u8]) -> Result<Vec<String>, SignError> {
    let mut s = Signer::new(keys, "Example.ORG", 1_700_000_000);
    s.update(msg);
    s.finish()
}

fn body_hash(msg: &[u8]) -> String {
    let mut s = Signer::new(&[], "example.org", 0);
    s.update(msg);
    s.body_hash()
}

#[test]
fn rfc8463_signature_byte_for_byte() {
    assert_eq!(body_hash(RFC8463_MESSAGE), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
    let mut f = Fields::new();
    f.feed(RFC8463_MESSAGE);
    let h = ["from", "to", "subject", "date", "message-id", "from", "subject", "date"];
    let input = signed_fields(&f.kept, &h);
    let b = signature(&rfc8463_key("brisbane"), &input, RFC8463_FIELD).unwrap();
    assert_eq!(base64::encode(&b, true), RFC8463_B);
}

#[test]
fn empty_body_hashes() {
    // Relaxed (§3.4.4): an empty body hashes as the empty string.
    let empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    assert_eq!(body_hash(b"From: a@example.org\r\n\r\n"), empty);
    assert_eq!(body_hash(b"From: a@example.org\r\n"), empty);
    assert_eq!(body_hash(b"From: a@example.org\r\n\r\n\r\n \t\r\n"), empty);
    // Simple (§3.4.3): an empty body is one CRLF.
    let mut out = Vec::new();
    let c = BodyCanon::new(Canon::Simple);
    c.finish(&mut |b| out.extend_from_slice(b));
    let d = digest::digest(&digest::SHA256, &out);
    assert_eq!(base64::encode(d.as_ref(), true), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
}

const SAMPLE: &[u8] = b"Received: by x\r\nFrom: A <a@example.org>\r\nTo: b@example.net,\r\n\tc@example.net\r\n\
Subject:  Hello   there \r\nX-Other: 1\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n\
Body  line \r\n\r\n.dot\r\n\r\n\r\n";

#[test]
fn every_split_gives_the_same_signature() {
    let keys = [rfc8463_key("lb1")];
    let whole = sign(&keys, SAMPLE).unwrap();
    for i in 0..=SAMPLE.len() {
        for j in (i..=SAMPLE.len()).step_by(7) {
            let mut s = Signer::new(&keys, "example.org", 1_700_000_000);
            for part in [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]] {
                s.update(part);
            }
            assert_eq!(s.finish().unwrap(), whole, "split at {i},{j}");
        }
    }
}

#[test]
fn field_is_folded_and_complete() {
    let keys = [rfc8463_key("lb1")];
    let mut msg = b"From: a@example.org\r\n".to_vec();
    for i in 0..30 {
        msg.extend_from_slice(format!("To: r{i}@example.net\r\n").as_bytes());
    }
    msg.extend_from_slice(b"\r\nbody\r\n");
    let fields = sign(&keys, &msg).unwrap();
    let f = &fields[0];
    let unfolded = f.replace("\r\n", "");
    assert!(
        unfolded.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=lb1;"),
        "{f}"
    );
    assert!(f.ends_with("\r\n") && !f.ends_with("\r\n\r\n"));
    for (n, line) in f.trim_end_matches("\r\n").split("\r\n").enumerate() {
        assert!(line.len() <= LINE_WIDTH, "line {n} too long: {line:?}");
        assert!(n == 0 || line.starts_with(' '), "continuation without WSP: {line:?}");
    }
    let h = tag(&unfolded, "h").replace(' ', "");
    let want: Vec<&str> = ["from", "from"].into_iter().chain(std::iter::repeat_n("to", 30)).collect();
    assert_eq!(h, want.join(":"));
    assert_eq!(tag(&unfolded, "t"), "1700000000");
    assert_eq!(tag(&unfolded, "b").replace(' ', "").len(), 88);
}

/// The value of tag `name` in an unfolded DKIM-Signature field.
fn tag(field: &str, name: &str) -> String {
    let list = field.split_once(':').unwrap().1;
    list.split(';').find_map(|t| t.trim().strip_prefix(&format!("{name}="))).unwrap().to_owned()
}

#[test]
fn from_is_over_signed() {
    let keys = [rfc8463_key("lb1")];
    let one = sign(&keys, b"From: a@example.org\r\nSubject: s\r\n\r\nx\r\n").unwrap();
    assert_eq!(tag(&one[0].replace("\r\n", ""), "h").replace(' ', ""), "from:from:subject");
    let two = sign(&keys, b"From: a@example.org\r\nfrom: b@example.org\r\n\r\nx\r\n").unwrap();
    assert_eq!(tag(&two[0].replace("\r\n", ""), "h").replace(' ', ""), "from:from:from");
    // The extra entry selects nothing (§5.4.2): the input has each From once, bottom first.
    let mut f = Fields::new();
    f.feed(b"From: a@example.org\r\nfrom: b@example.org\r\n\r\n");
    let input = signed_fields(&f.kept, &["from", "from", "from"]);
    assert_eq!(input, b"from:b@example.org\r\nfrom:a@example.org\r\n");
}

#[test]
fn refusals_and_limits() {
    let keys = [rfc8463_key("lb1")];
    assert_eq!(sign(&keys, b"Subject: no from\r\n\r\nx\r\n"), Err(SignError::NoFrom));
    let mut many = b"From: a@example.org\r\n".to_vec();
    many.extend(b"To: x@example.net\r\n".repeat(SIGNED_FIELDS_MAX));
    assert_eq!(sign(&keys, &many), Err(SignError::HeaderTooLarge));
    let mut big = b"From: a@example.org\r\nReferences: ".to_vec();
    big.extend(b"<x@y> ".repeat(SIGNED_HEADER_BYTES_MAX / 6 + 1));
    big.extend_from_slice(b"\r\n\r\nx\r\n");
    let mut s = Signer::new(&keys, "example.org", 0);
    for c in big.chunks(1000) {
        s.update(c);
        assert!(s.buffered() <= SIGNED_HEADER_BYTES_MAX + 2 * NAME_MAX, "{}", s.buffered());
    }
    assert_eq!(s.finish(), Err(SignError::HeaderTooLarge));
    // A huge field that is not signed is not kept at all.
    let mut s = Signer::new(&keys, "example.org", 0);
    s.update(b"From: a@example.org\r\nX-Big: ");
    for _ in 0..1000 {
        s.update(&[b'x'; 1000]);
    }
    assert!(s.buffered() < 1024, "{}", s.buffered());
    s.update(b"\r\n\r\nbody\r\n");
    assert_eq!(s.finish().unwrap().len(), 1);
}

#[test]
fn fields_parse_names_folds_and_odd_lines() {
    let mut f = Fields::new();
    let n = f.feed(b"SUBJECT : a\r\n b\r\nnocolon\r\n\rjunk\r\nTo:x\r\n\r\nbody");
    assert_eq!(f.phase, Phase::Body);
    let kept: Vec<&[u8]> = f.kept.iter().map(|(_, v)| v.as_slice()).collect();
    assert_eq!(kept, [&b"SUBJECT : a\r\n b"[..], b"To:x"]);
    assert_eq!(n, 41);
}
