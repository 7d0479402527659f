//! The little DER (X.690 §8.1) this crate reads: a certificate's validity (RFC 5280
//! §4.1.2.5), for ACME's renewal time and `letterbox doctor`'s expiry line. Single-byte
//! tags, definite lengths of at most four octets; anything else is `None`.

use crate::datetime::days_from_civil;

/// notBefore and notAfter (Unix seconds) of a DER certificate.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // [0] EXPLICIT version
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serialNumber, signature, issuer
    }
    let (tag, validity, _) = tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, nb, r) = tlv(validity)?;
    let (t2, na, _) = tlv(r)?;
    Some((time(t1, nb)?, time(t2, na)?))
}

/// One DER TLV (X.690 §8.1): (tag, contents, rest). Single-byte tags, definite lengths.
pub fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = d.get(2..2 + n)?.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, d.get(hdr..end)?, d.get(end..)?))
}

/// RFC 5280 §4.1.2.5.1 UTCTime `YYMMDDHHMMSSZ` / §4.1.2.5.2 GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn time(tag: u8, v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        (0x18, 14) => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| rest.get(i..i + 2).and_then(|x| x.parse::<u32>().ok());
    let (mo, d, h, mi, se) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(year, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + se))
}
