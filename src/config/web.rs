//! `[web]`: what `letterbox dns` and the client autoconfiguration documents say about this
//! host (issue 18). Keys are a contract: `host`, `display_name`, `mta_sts_mode`. Accepted in
//! every build (a board without the `web` feature ignores them), like `[dkim]`.

use super::toml::{Entry, Value};
use super::ConfigError;

/// Longest `display_name`: clients show it in one line of an account list.
pub const DISPLAY_NAME_MAX: usize = 64;

/// RFC 8461 §5 policy modes offered (`none` is for withdrawing a policy, done by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsMode {
    /// Senders report failures but deliver anyway: the safe start.
    Testing,
    /// Senders refuse to deliver without valid TLS to a listed MX.
    Enforce,
}

impl StsMode {
    /// The policy file's `mode` value (RFC 8461 §3.2).
    pub fn as_str(self) -> &'static str {
        match self {
            StsMode::Testing => "testing",
            StsMode::Enforce => "enforce",
        }
    }
}

/// The `[web]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Web {
    /// The mail host's name (MX target, server name in client settings); `None` = the domain.
    pub host: Option<String>,
    /// The account's name in mail clients; `None` = the domain. Free text (escaped wherever it
    /// is written), no control characters.
    pub display_name: Option<String>,
    pub mta_sts_mode: StsMode,
}

impl Default for Web {
    fn default() -> Self {
        Web { host: None, display_name: None, mta_sts_mode: StsMode::Testing }
    }
}

/// Applies one `[web]` entry; `err` names the place.
pub(super) fn apply(w: &mut Web, e: &Entry, err: impl Fn(&str) -> ConfigError) -> Result<(), ConfigError> {
    let Value::Str(s) = &e.value else {
        return Err(err(&format!("expected a string, found {}", e.value.kind())));
    };
    match e.key.as_str() {
        "host" => w.host = Some(host_name(s).ok_or_else(|| err("not a valid host name"))?),
        "display_name" => {
            let ok = !s.is_empty() && s.chars().count() <= DISPLAY_NAME_MAX && !s.chars().any(char::is_control);
            if !ok {
                return Err(err("expected 1 to 64 characters without control characters"));
            }
            w.display_name = Some(s.clone());
        }
        "mta_sts_mode" => {
            w.mta_sts_mode = match s.as_str() {
                "testing" => StsMode::Testing,
                "enforce" => StsMode::Enforce,
                _ => return Err(err("expected \"testing\" or \"enforce\"")),
            }
        }
        _ => return Err(err("unknown key")),
    }
    Ok(())
}

/// A host name (RFC 1123 §2.1: labels of letters, digits and inner hyphens, ≤ 63 octets each,
/// ≤ 253 in all), lowercased; a trailing dot is dropped.
pub fn host_name(s: &str) -> Option<String> {
    let h = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (h.len() <= 253 && h.split('.').all(label)).then_some(h)
}
