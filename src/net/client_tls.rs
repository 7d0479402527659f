//! Client TLS of outbound SMTP (rustls, ring): CA roots from a PEM bundle (`[outbound]
//! ca_file`, else [`SYSTEM_CA_FILE`]), and two ways to judge the server's certificate:
//! - required (relays, implicit TLS): RFC 6125 name and chain checks by webpki; a failure
//!   fails the handshake, so nothing is sent.
//! - opportunistic (MX, RFC 7435 §3): the same checks run and their result is recorded,
//!   but the handshake goes on whatever it is, because an unauthenticated encrypted
//!   session still beats plaintext (RFC 7435 §1.3); the driver logs which it was.
//!   The handshake signature is still checked against the presented key.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::crypto::{ring as provider, verify_tls12_signature, verify_tls13_signature};
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Debian's bundle of the system's trusted CAs (package ca-certificates).
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Largest CA bundle read (Debian's is ~220 KB): a wrong path to a huge file is refused.
pub const CA_FILE_MAX: u64 = 4 << 20;

/// Trusted roots, loaded once and shared by every delivery.
#[derive(Debug, Clone)]
pub struct Roots(Arc<RootCertStore>);

impl Roots {
    /// Reads the CERTIFICATE blocks of a PEM bundle; unparsable certificates are skipped
    /// (as OpenSSL does), a bundle without a usable one is an error.
    pub fn load(path: &Path) -> io::Result<Roots> {
        let bad =
            |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()));
        if std::fs::metadata(path)?.len() > CA_FILE_MAX {
            return Err(bad(&"CA bundle too large"));
        }
        let pem = std::fs::read(path)?;
        let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bad(&"no usable CERTIFICATE in the CA bundle"));
        }
        Ok(Roots(Arc::new(store)))
    }

    /// The roots of several bundles (the system's plus an extra one): a file that does not
    /// exist is skipped (a router may have no system bundle), any other error is returned.
    pub fn load_many(paths: &[&Path]) -> io::Result<Roots> {
        let mut store = RootCertStore::empty();
        for p in paths.iter().filter(|p| p.exists()) {
            store.roots.extend(Self::load(p)?.0.roots.iter().cloned());
        }
        if store.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no CA bundle found"));
        }
        Ok(Roots(Arc::new(store)))
    }

    /// No roots: every certificate is unverified (tests, or no bundle on the system).
    pub fn empty() -> Roots {
        Roots(Arc::new(RootCertStore::empty()))
    }

    /// Trusted certificates loaded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The verification result of one opportunistic handshake: `None` until checked,
/// `Some(Err(reason))` when the certificate did not verify.
pub type Verdict = Arc<Mutex<Option<Result<(), String>>>>;

/// Runs webpki's checks, records the verdict, and accepts (RFC 7435 opportunistic TLS).
#[derive(Debug)]
struct Recording {
    inner: Option<Arc<WebPkiServerVerifier>>,
    verdict: Verdict,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, name, ocsp, now).map(drop),
            None => Err(rustls::Error::General("no trusted CA certificates loaded".into())),
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(result.map_err(|e| e.to_string()));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client config: verification mandatory, or recorded into the returned [`Verdict`].
pub fn client_config(roots: &Roots, mandatory: bool) -> io::Result<(Arc<ClientConfig>, Verdict)> {
    let provider = Arc::new(provider::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(roots.0.clone(), provider.clone()).build();
    let verdict = Verdict::default();
    let verifier: Arc<dyn ServerCertVerifier> = match webpki {
        Ok(v) if mandatory => v,
        Err(e) if mandatory => return Err(io::Error::other(format!("TLS verification unavailable: {e}"))),
        inner => Arc::new(Recording {
            inner: inner.ok(),
            verdict: verdict.clone(),
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((Arc::new(cfg), verdict))
}

/// The name to verify and send as SNI (RFC 6066 §3); an IP literal is allowed.
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid TLS server name {name:?}")))
}
