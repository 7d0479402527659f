//! Certificates around an ACME order: the new P-256 key and its CSR (RFC 2986, RFC 8555
//! §7.4), the TLS-ALPN-01 validation certificate (RFC 8737 §3: the name in subjectAltName and
//! the critical id-pe-acmeIdentifier extension holding SHA-256 of the key authorization),
//! and the validity of an installed certificate read from its DER (RFC 5280 §4.1.2.5) with
//! the renewal time derived from it.

/// Renew this long before expiry (Let's Encrypt's advice for 90-day certificates)...
pub const RENEW_BEFORE_SECS: i64 = 30 * 86_400;
/// ...or when a third of the lifetime is left, for short-lived certificates.
pub const RENEW_FRACTION: i64 = 3;

/// A new certificate key (PKCS#8 PEM) and the DER of a CSR for `names`.
pub fn key_and_csr(names: &[String]) -> Result<(String, Vec<u8>), String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
    let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}

/// RFC 8737 §3 validation certificate for `name`: (certificate DER, PKCS#8 key DER).
pub fn alpn_challenge_cert(name: &str, key_authorization: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(|e| e.to_string())?;
    // A SHA-256 digest is always the 32 bytes new_acme_identifier asserts.
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest.as_ref())];
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

pub use crate::der::validity;

/// When to renew a certificate valid from `not_before` to `not_after`.
pub fn renew_at(not_before: i64, not_after: i64) -> i64 {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    not_after - RENEW_BEFORE_SECS.min(lifetime / RENEW_FRACTION)
}

/// The leaf of a PEM chain as DER.
pub fn leaf_der(pem: &str) -> Option<Vec<u8>> {
    use futures_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok().map(|c| c.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_of_generated_certificates_and_renewal_time() {
        let mut p = rcgen::CertificateParams::new(vec!["a.example".to_owned()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2026, 1, 1);
        p.not_after = rcgen::date_time_ymd(2051, 3, 31);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = p.self_signed(&key).unwrap().der().to_vec();
        let (nb, na) = validity(&der).unwrap();
        assert_eq!((nb, na), (1_767_225_600, 2_563_833_600));
        assert_eq!(renew_at(nb, na), na - RENEW_BEFORE_SECS);
        // A 90-second certificate is renewed with 30 seconds left.
        assert_eq!(renew_at(1000, 1090), 1060);
        for i in 0..der.len() {
            let _ = validity(&der[..i]);
        }
        assert_eq!(validity(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn alpn_certificate_carries_the_critical_acme_identifier() {
        let (der, _key) = alpn_challenge_cert("mail.example.org", "tok.thumb").unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, b"tok.thumb");
        // Extension: OID 1.3.6.1.5.5.7.1.31, critical TRUE, OCTET STRING { OCTET STRING digest }.
        let mut ext = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f, 0x01, 0x01, 0xff];
        ext.extend([0x04, 0x22, 0x04, 0x20]);
        ext.extend(digest.as_ref());
        assert!(der.windows(ext.len()).any(|w| w == ext.as_slice()));
        let (_, csr) = key_and_csr(&["mail.example.org".to_owned()]).unwrap();
        assert_eq!(csr.first(), Some(&0x30));
    }
}
