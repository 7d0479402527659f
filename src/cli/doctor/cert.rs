//! `doctor`'s certificate checks: the `[tls]` chain verified by webpki against the system's
//! trusted roots for each name clients and senders use (RFC 6125 §6 via rustls), and the
//! leaf's days to expiry read from its `validity` (RFC 5280 §4.1.2.5: UTCTime or
//! GeneralizedTime). The DER walk is bounded by the file's size limit.

use std::path::Path;

use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{CertificateError, Error as TlsError, RootCertStore};

use super::{Level, Line};
use crate::config::Config;

/// Largest certificate chain file read: real chains are 2-6 KiB.
const CHAIN_FILE_MAX: u64 = 256 * 1024;
/// Largest CA bundle read (Debian's is ~220 KB).
const CA_FILE_MAX: u64 = 4 << 20;
/// Days before expiry at which the check warns (ACME renews at 30).
const EXPIRY_WARN_DAYS: i64 = 21;
/// Debian's bundle of the system's trusted CAs (package ca-certificates).
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The certificate lines for `c` (none when `[tls]` is absent: the config check says so).
pub(super) fn check(c: &Config, now: i64) -> Vec<Line> {
    let Some(tls) = &c.tls else {
        return vec![Line::new(Level::Warn, "certificate", "no [tls] table")
            .todo("run letterbox init, or set [tls] cert and key")];
    };
    let chain = match read_chain(&tls.cert) {
        Ok(ch) => ch,
        Err(e) => return vec![Line::new(Level::Fail, "certificate", &e).todo("fix [tls] cert")],
    };
    let mut out = vec![expiry(&chain, now)];
    let roots = roots(c);
    let names = [c.host().to_owned(), format!("mta-sts.{}", c.domain), format!("autoconfig.{}", c.domain)];
    for (i, name) in names.iter().enumerate() {
        out.push(verify(&chain, &roots, name, now, i == 0));
    }
    out
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if size > CHAIN_FILE_MAX {
        return Err(format!("{}: larger than {CHAIN_FILE_MAX} bytes", path.display()));
    }
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", path.display()));
    }
    Ok(chain)
}

/// The roots webpki checks against: `[outbound] ca_file`, else the system bundle.
fn roots(c: &Config) -> RootCertStore {
    let path = c.outbound.ca_file.clone().unwrap_or_else(|| SYSTEM_CA_FILE.into());
    let mut store = RootCertStore::empty();
    let small = std::fs::metadata(&path).map(|m| m.len() <= CA_FILE_MAX).unwrap_or(false);
    if let Some(pem) = small.then(|| std::fs::read(&path).ok()).flatten() {
        store.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    }
    store
}

/// The chain verified for `name`: FAIL for the mail host, WARN for the policy and
/// autoconfig names (clients fall back to typed settings; MTA-STS senders to no policy).
fn verify(chain: &[CertificateDer<'static>], roots: &RootCertStore, name: &str, now: i64, main: bool) -> Line {
    let what = format!("certificate for {name}");
    let result = verifier_result(chain, roots, name, now);
    let level = if main { Level::Fail } else { Level::Warn };
    match result {
        Ok(()) => Line::new(Level::Ok, &what, "chain valid, name matches"),
        Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            // The self-signed fallback works, but every phone warns: not a failure.
            Line::new(Level::Warn, &what, "not issued by a trusted CA (self-signed?)")
                .todo("get a CA certificate naming it (ACME), then reload (SIGHUP)")
        }
        Err(TlsError::InvalidCertificate(e)) => {
            let detail = match e {
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "does not name it".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".to_owned(),
                other => format!("{other:?}"),
            };
            Line::new(level, &what, &detail).todo("get a certificate for every name (ACME), then reload (SIGHUP)")
        }
        Err(e) => Line::new(level, &what, &e.to_string()).todo("fix [tls] cert"),
    }
}

fn verifier_result(
    chain: &[CertificateDer<'static>],
    roots: &RootCertStore,
    name: &str,
    now: i64,
) -> Result<(), TlsError> {
    let (leaf, intermediates) = chain.split_first().ok_or(TlsError::General("empty chain".into()))?;
    if roots.is_empty() {
        return Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer));
    }
    let provider = std::sync::Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
    let v = WebPkiServerVerifier::builder_with_provider(std::sync::Arc::new(roots.clone()), provider)
        .build()
        .map_err(|e| TlsError::General(e.to_string()))?;
    let server = ServerName::try_from(name.to_owned()).map_err(|e| TlsError::General(e.to_string()))?;
    let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64));
    use futures_rustls::rustls::client::danger::ServerCertVerifier;
    v.verify_server_cert(leaf, intermediates, &server, &[], t).map(drop)
}

/// Days until the leaf's notAfter: FAIL when past, WARN under [`EXPIRY_WARN_DAYS`].
fn expiry(chain: &[CertificateDer<'static>], now: i64) -> Line {
    let Some(not_after) = chain.first().and_then(|leaf| not_after(leaf.as_ref())) else {
        return Line::new(Level::Fail, "certificate expiry", "the leaf's validity cannot be read")
            .todo("replace [tls] cert");
    };
    let days = (not_after - now).div_euclid(86_400);
    let detail = format!("{days} days left");
    match days {
        d if not_after <= now => {
            Line::new(Level::Fail, "certificate expiry", &format!("expired {} days ago", -d)).todo("renew it")
        }
        d if d < EXPIRY_WARN_DAYS => Line::new(Level::Warn, "certificate expiry", &detail).todo("renew it soon"),
        _ => Line::new(Level::Ok, "certificate expiry", &detail),
    }
}

/// The leaf's notAfter (RFC 5280 §4.1.2.5), Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    crate::der::validity(der).map(|(_, after)| after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_after_of_a_generated_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["mail.example.org".to_owned()]).unwrap();
        p.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.clone().self_signed(&key).unwrap();
        let expect = crate::datetime::days_from_civil(2031, 5, 17) * 86_400;
        assert_eq!(not_after(cert.der()), Some(expect));
        p.not_after = rcgen::date_time_ymd(2051, 1, 2); // GeneralizedTime from 2050 on
        let cert = p.self_signed(&key).unwrap();
        assert_eq!(not_after(cert.der()), Some(crate::datetime::days_from_civil(2051, 1, 2) * 86_400));
        assert_eq!(not_after(&cert.der()[..40]), None);
        assert_eq!(not_after(b""), None);
    }
}
