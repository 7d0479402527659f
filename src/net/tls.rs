//! TLS settings: rustls with the ring provider, TLS 1.2 and 1.3 only (RFC 8996 retires 1.0
//! and 1.1), certificates from PEM files, and a self-signed certificate for home hosts.
//! Without the `tls` cargo feature, [`ServerConfig`] is a type with no values: a `[tls]`
//! table is refused at startup and no session can ever be offered STARTTLS.
//!
//! With the `acme` feature, every TLS listener also answers RFC 8737 TLS-ALPN-01
//! validations: [`for_hello`] looks at the ClientHello before the config is chosen, and a
//! hello whose ALPN list has `acme-tls/1` gets the challenge config, whose
//! [`ChallengeResolver`] serves the pending validation certificate for the SNI name from a
//! process-wide map ([`publish_alpn_cert`], [`withdraw_alpn_cert`]); every other hello gets
//! the listener's normal config, so mail clients and browsers never see the challenge.

use std::io;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "tls")]
pub use futures_rustls::rustls::ServerConfig;
#[cfg(feature = "tls")]
use futures_rustls::rustls::{
    self,
    crypto::ring as provider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};

/// Stands for rustls' config in a build without TLS; it has no values.
#[cfg(not(feature = "tls"))]
pub enum ServerConfig {}

/// Whether this build speaks TLS (cargo feature `tls`).
pub const BUILT_IN: bool = cfg!(feature = "tls");

#[cfg(not(feature = "tls"))]
pub fn load(_cert: &Path, _key: &Path) -> io::Result<Arc<ServerConfig>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "[tls]: this letterbox was built without tls (cargo feature); remove the table",
    ))
}

/// Nothing to write in a build without TLS (its configs have no `[tls]` table).
#[cfg(not(feature = "tls"))]
pub fn write_self_signed(_names: &[String], _cert: &Path, _key: &Path) -> io::Result<()> {
    Ok(())
}

/// Loads a PEM chain and key into a server config.
#[cfg(feature = "tls")]
pub fn load(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let bad = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", p.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("certificate", cert, &"no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let cfg = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("certificate and key: {e}")))?;
    Ok(Arc::new(cfg))
}

/// Writes a self-signed certificate for `names` and its key (mode 0600) as PEM files.
#[cfg(feature = "tls")]
pub fn write_self_signed(names: &[String], cert: &Path, key: &Path) -> io::Result<()> {
    let ck = rcgen::generate_simple_self_signed(names.to_vec()).map_err(io::Error::other)?;
    write_private(key, ck.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, ck.cert.pem())
}

/// RFC 8737 §6.2: the ALPN protocol of TLS-ALPN-01 validations.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Validation certificates pending at once: one per name of an order.
#[cfg(feature = "acme")]
pub const ALPN_CERTS_MAX: usize = crate::web::challenge::TOKENS_MAX;

#[cfg(feature = "acme")]
type AlpnCerts = std::sync::Mutex<Vec<(String, Arc<rustls::sign::CertifiedKey>)>>;

/// The pending TLS-ALPN-01 certificates by name, shared by every listener.
#[cfg(feature = "acme")]
fn alpn_certs() -> &'static AlpnCerts {
    static CERTS: std::sync::OnceLock<AlpnCerts> = std::sync::OnceLock::new();
    CERTS.get_or_init(AlpnCerts::default)
}

/// Makes the validation certificate (DER) and key (PKCS#8 DER) for `name` answerable.
#[cfg(feature = "acme")]
pub fn publish_alpn_cert(name: &str, cert: Vec<u8>, key: Vec<u8>) -> io::Result<()> {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let signer = provider::sign::any_supported_type(&key).map_err(io::Error::other)?;
    let ck = Arc::new(rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert)], signer));
    let mut m = alpn_certs().lock().map_err(|_| io::Error::other("poisoned"))?;
    m.retain(|(n, _)| n != name);
    if m.len() >= ALPN_CERTS_MAX {
        return Err(io::Error::other("too many pending TLS-ALPN-01 certificates"));
    }
    m.push((name.to_ascii_lowercase(), ck));
    Ok(())
}

/// Withdraws the validation certificate of `name`.
#[cfg(feature = "acme")]
pub fn withdraw_alpn_cert(name: &str) {
    if let Ok(mut m) = alpn_certs().lock() {
        m.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// Serves the pending validation certificate of the SNI name (RFC 8737 §3), nothing else.
#[cfg(feature = "acme")]
#[derive(Debug)]
pub struct ChallengeResolver;

#[cfg(feature = "acme")]
impl rustls::server::ResolvesServerCert for ChallengeResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name()?;
        let m = alpn_certs().lock().ok()?;
        m.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, ck)| ck.clone())
    }
}

/// The config for a ClientHello that offers `acme-tls/1` (RFC 8737 §3); `None` = use the
/// listener's own.
#[cfg(feature = "acme")]
pub fn for_hello(hello: &rustls::server::ClientHello<'_>) -> Option<Arc<ServerConfig>> {
    static CFG: std::sync::OnceLock<Option<Arc<ServerConfig>>> = std::sync::OnceLock::new();
    hello.alpn()?.find(|p| *p == ACME_TLS_ALPN)?;
    CFG.get_or_init(|| {
        let mut c = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .ok()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(ChallengeResolver));
        c.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        Some(Arc::new(c))
    })
    .clone()
}

/// Without ACME every hello gets the listener's config.
#[cfg(all(feature = "tls", not(feature = "acme")))]
pub fn for_hello(_hello: &rustls::server::ClientHello<'_>) -> Option<Arc<ServerConfig>> {
    None
}

/// Creates a file readable by its owner only.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
