//! The public-key half of DKIM verification: RSASSA-PKCS1-v1_5 (RFC 6376 §3.3.1, §3.3.2;
//! RFC 8301 §3.2 key sizes) and Ed25519 over the SHA-256 of the header hash input (RFC 8463
//! §3), with ring. RSA keys come as a SubjectPublicKeyInfo (RFC 6376 §3.6.1, RFC 5280
//! §4.1.2.7) or, as some old records have it and dkimpy accepts, a bare RSAPublicKey
//! (RFC 8017 Appendix A.1.1); the small DER reader here reads only those.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::tags::Algorithm;

/// RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than
/// 1024 bits as valid signatures".
pub const RSA_BITS_MIN: usize = 1024;
/// The largest modulus ring verifies with.
pub const RSA_BITS_MAX: usize = 8192;

/// How a signature check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Valid,
    Invalid,
    /// The key could not be used (the reason is given).
    BadKey(&'static str),
    /// RFC 8301 §3.2: an RSA key under [`RSA_BITS_MIN`] bits (its size is given).
    ShortKey(usize),
}

/// Checks `sig` over `data` (the header hash input of RFC 6376 §3.7) with the public key.
pub fn check(alg: Algorithm, key: &[u8], data: &[u8], sig: &[u8]) -> Outcome {
    match alg {
        Algorithm::Ed25519Sha256 => ed25519(key, data, sig),
        Algorithm::RsaSha1 => rsa(&signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, key, data, sig),
        Algorithm::RsaSha256 => rsa(&signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, key, data, sig),
    }
}

/// RFC 8463 §3: PureEd25519 over SHA-256(data); §4.2: `p=` is the raw 32-octet key.
fn ed25519(key: &[u8], data: &[u8], sig: &[u8]) -> Outcome {
    if key.len() != 32 {
        return Outcome::BadKey("an ed25519 key is not 32 octets");
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    match UnparsedPublicKey::new(&signature::ED25519, key).verify(digest.as_ref(), sig) {
        Ok(()) => Outcome::Valid,
        Err(_) => Outcome::Invalid,
    }
}

fn rsa(params: &'static signature::RsaParameters, key: &[u8], data: &[u8], sig: &[u8]) -> Outcome {
    let Some((n, e)) = rsa_public_key(key) else { return Outcome::BadKey("not an RSA public key") };
    let bits = bit_length(n);
    if bits < RSA_BITS_MIN {
        return Outcome::ShortKey(bits);
    }
    if bits > RSA_BITS_MAX {
        return Outcome::BadKey("an RSA key over 8192 bits");
    }
    match (RsaPublicKeyComponents { n, e }).verify(params, data, sig) {
        Ok(()) => Outcome::Valid,
        Err(_) => Outcome::Invalid,
    }
}

/// Bits of a big-endian unsigned integer without leading zero octets.
fn bit_length(n: &[u8]) -> usize {
    n.first().map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize)
}

/// (modulus, exponent) without leading zeros, from SubjectPublicKeyInfo or RSAPublicKey.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (seq, _) = tlv(der, 0x30)?;
    match seq.first() {
        // SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }.
        Some(0x30) => {
            let (alg, rest) = tlv(seq, 0x30)?;
            let (oid, _) = tlv(alg, 0x06)?;
            if oid != RSA_ENCRYPTION {
                return None;
            }
            let (bits, _) = tlv(rest, 0x03)?;
            let (&unused, key) = bits.split_first()?;
            if unused != 0 {
                return None;
            }
            let (inner, _) = tlv(key, 0x30)?;
            integers(inner)
        }
        // RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e }.
        Some(0x02) => integers(seq),
        _ => None,
    }
}

/// 1.2.840.113549.1.1.1 (RFC 8017 Appendix C).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn integers(seq: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    Some((strip_zeros(n), strip_zeros(e)))
}

fn strip_zeros(mut x: &[u8]) -> &[u8] {
    while let Some((0, rest)) = x.split_first() {
        x = rest;
    }
    x
}

/// One DER element of type `tag` (X.690 §8.1): its content and what follows it.
fn tlv(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    if t != tag {
        return None;
    }
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: at most 4 length octets (our inputs are under 2 KB).
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (octets, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        octets.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b))
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_refuses_truncation_and_odd_forms() {
        assert_eq!(tlv(&[0x30, 0x02, 1, 2, 9], 0x30), Some((&[1u8, 2][..], &[9u8][..])));
        assert_eq!(tlv(&[0x30, 0x03, 1, 2], 0x30), None);
        assert_eq!(tlv(&[0x30, 0x81, 0x01, 7], 0x30), Some((&[7u8][..], &[][..])));
        assert_eq!(tlv(&[0x30, 0x85, 0, 0, 0, 0, 1], 0x30), None);
        assert_eq!(tlv(&[0x30, 0x80], 0x30), None);
        assert_eq!(tlv(&[0x31, 0x00], 0x30), None);
        assert_eq!(rsa_public_key(&[]), None);
        assert_eq!(rsa_public_key(&[0x30, 0x04, 0x02, 0x01, 0x00, 0x05]), None);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f; 128]), 1023);
    }
}
