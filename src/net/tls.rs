//! TLS settings: rustls with the ring provider, TLS 1.2 and 1.3 only (RFC 8996 retires 1.0
//! and 1.1), certificates from PEM files, and a self-signed certificate for home hosts.
//! Without the `tls` cargo feature, [`ServerConfig`] is a type with no values: a `[tls]`
//! table is refused at startup and no session can ever be offered STARTTLS.

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

/// Creates a file readable by its owner only.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
