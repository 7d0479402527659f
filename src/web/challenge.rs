//! ACME challenge material shared by the ACME client and the listeners that answer the CA
//! (RFC 8555 §8.3 HTTP-01 key authorizations served at `/.well-known/acme-challenge/TOKEN`;
//! RFC 8737 TLS-ALPN-01 certificates, kept by the TLS layer). A small bounded map: the CA
//! validates a handful of names at a time.

use std::sync::Mutex;

/// Pending HTTP-01 tokens at once: one per name of an order (`[acme] names`), with room.
pub const TOKENS_MAX: usize = 16;
/// RFC 8555 §8.1: a token is base64url of at least 128 bits; a key authorization adds a
/// 43-character thumbprint. Longer values are not ACME's.
pub const TOKEN_BYTES_MAX: usize = 256;

/// The HTTP-01 key authorizations being validated now, by token.
#[derive(Default)]
pub struct Tokens {
    map: Mutex<Vec<(String, String)>>,
}

impl Tokens {
    /// Publishes `key_authorization` at `token`; false when the token is not base64url, is
    /// too long, or the map is full.
    pub fn insert(&self, token: &str, key_authorization: &str) -> bool {
        if !valid_token(token) || key_authorization.len() > TOKEN_BYTES_MAX {
            return false;
        }
        let Ok(mut m) = self.map.lock() else { return false };
        m.retain(|(t, _)| t != token);
        if m.len() >= TOKENS_MAX {
            return false;
        }
        m.push((token.to_owned(), key_authorization.to_owned()));
        true
    }

    /// Withdraws a token once its challenge is settled.
    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|(t, _)| t != token);
        }
    }

    /// The key authorization for `token`, if one is published.
    pub fn get(&self, token: &str) -> Option<String> {
        let m = self.map.lock().ok()?;
        m.iter().find(|(t, _)| t == token).map(|(_, k)| k.clone())
    }
}

/// The process's one token map: the ACME driver publishes here, the HTTP listener serves
/// from here.
pub fn shared() -> &'static Tokens {
    static TOKENS: std::sync::OnceLock<Tokens> = std::sync::OnceLock::new();
    TOKENS.get_or_init(Tokens::default)
}

/// RFC 8555 §8.3: the token is base64url without padding.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= TOKEN_BYTES_MAX
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bounded_and_validated() {
        let t = Tokens::default();
        assert!(t.insert("abc_-1", "abc_-1.thumb"));
        assert_eq!(t.get("abc_-1").as_deref(), Some("abc_-1.thumb"));
        assert!(!t.insert("../etc/passwd", "x"));
        assert!(!t.insert("a/b", "x"));
        for i in 0..TOKENS_MAX - 1 {
            assert!(t.insert(&format!("t{i}"), "k"));
        }
        assert!(!t.insert("one-too-many", "k"));
        t.remove("abc_-1");
        assert_eq!(t.get("abc_-1"), None);
        assert!(t.insert("one-too-many", "k"));
    }
}
