//! The ACME account key and request signing: JWS (RFC 7515) in the flattened JSON
//! serialization with ES256 (RFC 7518 §3.4: P-256, SHA-256, r‖s fixed-width), the `jwk` and
//! `kid` protected headers of RFC 8555 §6.2, base64url without padding (RFC 4648 §5), and
//! the JWK thumbprint of RFC 7638 used in key authorizations (RFC 8555 §8.1).

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::json::quote;

/// RFC 4648 §5 base64url without padding (RFC 7515 §2).
pub fn b64url(data: &[u8]) -> String {
    crate::auth::base64::encode(data, false).replace('+', "-").replace('/', "_")
}

/// Decodes base64url without padding; `None` for anything else.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.contains(['+', '/', '=']) {
        return None;
    }
    crate::auth::base64::decode(text.replace('-', "+").replace('_', "/").as_bytes()).ok()
}

/// An ECDSA P-256 account key (RFC 8555 §6.2 ES256).
pub struct AccountKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKey(..)")
    }
}

impl AccountKey {
    /// A new key and its PKCS#8 document (to keep durably).
    pub fn generate() -> Option<(AccountKey, Vec<u8>)> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?;
        let key = Self::from_pkcs8(doc.as_ref())?;
        Some((key, doc.as_ref().to_vec()))
    }

    /// The key kept in a PKCS#8 document; `None` when it is not a P-256 key.
    pub fn from_pkcs8(der: &[u8]) -> Option<AccountKey> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).ok()?;
        Some(AccountKey { pair, rng })
    }

    /// The public key as a JWK (RFC 7518 §6.2.1), members in RFC 7638 §3.2 order.
    pub fn jwk(&self) -> String {
        // The uncompressed point is 0x04 ‖ x ‖ y, 32 octets each (SEC 1 §2.3.3).
        let point = self.pair.public_key().as_ref();
        let x = point.get(1..33).unwrap_or_default();
        let y = point.get(33..65).unwrap_or_default();
        format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, b64url(x), b64url(y))
    }

    /// RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)).
    pub fn thumbprint(&self) -> String {
        b64url(ring::digest::digest(&ring::digest::SHA256, self.jwk().as_bytes()).as_ref())
    }

    /// RFC 8555 §8.1 key authorization of a challenge token.
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// One signed request body (RFC 8555 §6.2): `kid` once the account exists, else `jwk`;
    /// `payload` `None` is POST-as-GET (§6.3, empty payload).
    pub fn sign(&self, url: &str, nonce: &str, kid: Option<&str>, payload: Option<&str>) -> Option<String> {
        let who = match kid {
            Some(k) => format!("\"kid\":{}", quote(k)),
            None => format!("\"jwk\":{}", self.jwk()),
        };
        let header = format!(r#"{{"alg":"ES256",{who},"nonce":{},"url":{}}}"#, quote(nonce), quote(url));
        let protected = b64url(header.as_bytes());
        let payload = payload.map(|p| b64url(p.as_bytes())).unwrap_or_default();
        let input = format!("{protected}.{payload}");
        let sig = self.pair.sign(&self.rng, input.as_bytes()).ok()?;
        Some(format!(r#"{{"protected":"{protected}","payload":"{payload}","signature":"{}"}}"#, b64url(sig.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::json;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn base64url_round_trips_without_padding() {
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(b64url_decode("+/8"), None);
        assert_eq!(b64url_decode("AA=="), None);
    }

    #[test]
    fn signed_requests_verify_with_the_jwk() {
        let (key, doc) = AccountKey::generate().unwrap();
        let again = AccountKey::from_pkcs8(&doc).unwrap();
        assert_eq!(key.jwk(), again.jwk());
        assert_eq!(key.thumbprint().len(), 43);
        let body = key.sign("https://ca/new-acct", "n0nce", None, Some(r#"{"a":1}"#)).unwrap();
        let v = json::parse(body.as_bytes()).unwrap();
        let (p, pl, s) = (v.str_of("protected").unwrap(), v.str_of("payload").unwrap(), v.str_of("signature").unwrap());
        let header = json::parse(&b64url_decode(p).unwrap()).unwrap();
        assert_eq!(header.str_of("alg"), Some("ES256"));
        assert_eq!(header.str_of("nonce"), Some("n0nce"));
        let jwk = header.get("jwk").unwrap();
        let mut point = vec![4u8];
        point.extend(b64url_decode(jwk.str_of("x").unwrap()).unwrap());
        point.extend(b64url_decode(jwk.str_of("y").unwrap()).unwrap());
        let sig = b64url_decode(s).unwrap();
        let msg = format!("{p}.{pl}");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).verify(msg.as_bytes(), &sig).unwrap();
        // POST-as-GET with kid: empty payload, no jwk.
        let body = key.sign("https://ca/order/1", "n", Some("https://ca/acct/1"), None).unwrap();
        let v = json::parse(body.as_bytes()).unwrap();
        assert_eq!(v.str_of("payload"), Some(""));
        let header = json::parse(&b64url_decode(v.str_of("protected").unwrap()).unwrap()).unwrap();
        assert_eq!((header.str_of("kid"), header.get("jwk")), (Some("https://ca/acct/1"), None));
    }
}
