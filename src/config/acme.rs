//! `[acme]`: certificates from an ACME CA (RFC 8555, issue 18). Keys are a contract:
//! `directory`, `contact`, `names`, `challenge`, `ca_file`. Accepted in every build (a build
//! without the `acme` feature refuses to start with the table, like `[tls]` without `tls`).
//! The issued chain and key are written over `[tls] cert` and `key`, which are required.

use std::path::{Path, PathBuf};

use super::toml::{Entry, Value};
use super::web::host_name;
use super::ConfigError;

/// Names in one order: Let's Encrypt allows 100; a mail host needs a handful, and each is a
/// pending challenge (`web::challenge::TOKENS_MAX`).
pub const NAMES_MAX: usize = 16;

/// How the CA checks control of a name (RFC 8555 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// RFC 8737: a TLS handshake with ALPN `acme-tls/1` on port 443 (`[listen] https`).
    TlsAlpn01,
    /// RFC 8555 §8.3: `GET /.well-known/acme-challenge/TOKEN` on port 80 (`[listen] http`).
    Http01,
}

impl AcmeChallenge {
    /// The challenge type's name in ACME documents and the config.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            AcmeChallenge::Http01 => "http-01",
        }
    }
}

/// The `[acme]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Acme {
    /// The directory URL (https).
    pub directory: String,
    /// A `mailto:` URL for the CA's expiry notices; `None` = no contact.
    pub contact: Option<String>,
    /// Names the certificate covers; empty = the mail host's name.
    pub names: Vec<String>,
    pub challenge: AcmeChallenge,
    /// Extra trusted root (PEM) for the ACME server; `None` = the system bundle.
    pub ca_file: Option<PathBuf>,
}

impl Default for Acme {
    fn default() -> Self {
        Acme {
            directory: String::new(),
            contact: None,
            names: Vec::new(),
            challenge: AcmeChallenge::TlsAlpn01,
            ca_file: None,
        }
    }
}

/// Applies one `[acme]` entry; `err` names the place.
pub(super) fn apply(
    a: &mut Acme,
    e: &Entry,
    base: &Path,
    err: impl Fn(&str) -> ConfigError,
) -> Result<(), ConfigError> {
    let text = || match &e.value {
        Value::Str(s) if !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '"' || c == '\\') => {
            Ok(Some(s.clone()))
        }
        Value::Str(s) if s.is_empty() => Ok(None),
        Value::Str(_) => Err(err("control characters, quotes and backslashes are not allowed")),
        v => Err(err(&format!("expected a string, found {}", v.kind()))),
    };
    match e.key.as_str() {
        "directory" => {
            let d = text()?.unwrap_or_default();
            if !d.starts_with("https://") || d.len() > 2048 || d.contains(' ') {
                return Err(err("expected an https:// URL"));
            }
            a.directory = d;
        }
        "contact" => {
            a.contact = text()?;
            if a.contact.as_ref().is_some_and(|c| !c.starts_with("mailto:") || c.contains([',', ' '])) {
                return Err(err("expected one mailto: URL or \"\""));
            }
        }
        "names" => a.names = names(&e.value).ok_or_else(|| err(&format!("expected 1 to {NAMES_MAX} host names")))?,
        "challenge" => {
            a.challenge = match text()?.as_deref() {
                Some("tls-alpn-01") => AcmeChallenge::TlsAlpn01,
                Some("http-01") => AcmeChallenge::Http01,
                _ => return Err(err("expected \"tls-alpn-01\" or \"http-01\"")),
            }
        }
        "ca_file" => a.ca_file = text()?.map(|p| base.join(p)),
        _ => return Err(err("unknown key")),
    }
    Ok(())
}

/// The `names` array: host names, deduplicated in order.
fn names(v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else { return None };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let Value::Str(s) = i else { return None };
        let h = host_name(s).filter(|h| h.contains('.'))?;
        if !out.contains(&h) {
            out.push(h);
        }
    }
    (!out.is_empty() && out.len() <= NAMES_MAX).then_some(out)
}

/// Checks the table as a whole: a directory is required.
pub(super) fn validate(a: &Acme, file: &str) -> Result<(), ConfigError> {
    if a.directory.is_empty() {
        return Err(ConfigError(format!("{file}: acme.directory: required key missing")));
    }
    Ok(())
}
