//! SASL PLAIN (RFC 4616 §2) decoding from the base64 (RFC 4648 §4) of an AUTH exchange:
//! `message = [authzid] UTF8NUL authcid UTF8NUL passwd`. Exactly two NULs, non-empty authcid
//! and passwd of at most 255 octets each, UTF-8 throughout; anything else is an error
//! (BAD-INPUTS 47).

use super::{base64, Secret};

/// Largest base64 blob accepted: a PLAIN message is at most 3 x 255 + 2 octets (~1 KB
/// encoded); 4 KB leaves room for other mechanisms sharing the limit and refuses 10 KB blobs.
pub const SASL_BLOB_MAX: usize = 4096;
/// RFC 4616 §2: authzid, authcid and passwd are each at most 255 octets.
pub const SASL_FIELD_MAX: usize = 255;

/// Why a PLAIN response was refused; all map to the same client-visible failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    TooLong,
    Base64,
    /// Not exactly two NULs, an empty authcid or passwd, or a field over 255 octets.
    Format,
    Utf8,
}

/// A decoded PLAIN response. `authzid` is `None` when empty (act as `authcid`).
#[derive(Debug)]
pub struct PlainCredentials {
    pub authzid: Option<String>,
    pub authcid: String,
    pub passwd: Secret,
}

/// Decodes the base64 client response of `AUTH PLAIN` (RFC 4616 §2 `message`).
pub fn decode_plain(blob: &[u8]) -> Result<PlainCredentials, SaslError> {
    if blob.len() > SASL_BLOB_MAX {
        return Err(SaslError::TooLong);
    }
    let raw = Secret::new(base64::decode(blob).map_err(|_| SaslError::Base64)?);
    message(raw.expose())
}

/// `message = [authzid] UTF8NUL authcid UTF8NUL passwd` (RFC 4616 §2).
fn message(raw: &[u8]) -> Result<PlainCredentials, SaslError> {
    let mut fields = raw.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Format);
    };
    if authcid.is_empty() || passwd.is_empty() {
        return Err(SaslError::Format);
    }
    if [authzid, authcid, passwd].iter().any(|f| f.len() > SASL_FIELD_MAX) {
        return Err(SaslError::Format);
    }
    let text = |f: &[u8]| String::from_utf8(f.to_vec()).map_err(|_| SaslError::Utf8);
    std::str::from_utf8(passwd).map_err(|_| SaslError::Utf8)?;
    Ok(PlainCredentials {
        authzid: Some(text(authzid)?).filter(|z| !z.is_empty()),
        authcid: text(authcid)?,
        passwd: Secret::new(passwd.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(raw: &[u8]) -> Vec<u8> {
        base64::encode(raw, true).into_bytes()
    }

    #[test]
    fn rfc4616_examples_decode() {
        let c = decode_plain(&b64(b"\0tim\0tanstaaftanstaaf")).unwrap();
        assert_eq!((c.authzid, c.authcid.as_str()), (None, "tim"));
        assert_eq!(c.passwd.expose(), b"tanstaaftanstaaf");
        let c = decode_plain(&b64(b"Ursel\0Kurt\0xipj3plmq")).unwrap();
        assert_eq!((c.authzid.as_deref(), c.authcid.as_str()), (Some("Ursel"), "Kurt"));
    }

    /// BAD-INPUTS 47: malformed SASL, embedded NULs and a 10 KB blob are errors.
    #[test]
    fn bad_input_47_malformed_sasl_nuls_and_10kb_blob() {
        let cases: [(&[u8], SaslError); 8] = [
            (b"\0tim\0pass\0word", SaslError::Format),
            (b"\0\0tim\0pw", SaslError::Format),
            (b"tim\0pw", SaslError::Format),
            (b"timpw", SaslError::Format),
            (b"\0\0pw", SaslError::Format),
            (b"\0tim\0", SaslError::Format),
            (b"\0t\xffm\0pw", SaslError::Utf8),
            (b"\0tim\0p\xc3", SaslError::Utf8),
        ];
        for (raw, err) in cases {
            assert_eq!(decode_plain(&b64(raw)).err(), Some(err), "{raw:?}");
        }
        let long = [b'a'; 256];
        let mut raw = b"\0tim\0".to_vec();
        raw.extend_from_slice(&long);
        assert_eq!(decode_plain(&b64(&raw)).err(), Some(SaslError::Format));
        let blob = b64(&[b'x'; 10 * 1024]);
        assert_eq!(decode_plain(&blob).err(), Some(SaslError::TooLong));
        assert_eq!(decode_plain(b"not base64!").err(), Some(SaslError::Base64));
        assert_eq!(decode_plain(b"").err(), Some(SaslError::Format));
    }
}
