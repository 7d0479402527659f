//! `[outbound]`: how mail to other domains leaves (issue 14). Keys are a contract: `relay`,
//! `relay_tls`, `relay_user`, `relay_password_file`, `resolver`, `mx_port`, `ca_file`.
//! Without `relay`, each recipient domain's MX is used (RFC 5321 §5.1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::toml::{Entry, Value};
use super::ConfigError;

/// TLS towards the relay (`relay_tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// RFC 3207 STARTTLS, certificate verified (the default: port 587).
    StartTls,
    /// RFC 8314 §3.3 TLS from the first byte (port 465).
    Implicit,
    /// Plaintext: allowed only for a loopback relay.
    None,
}

/// The `[outbound]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// `host:port` of the smarthost; `None` = MX delivery.
    pub relay: Option<(String, u16)>,
    pub relay_tls: RelayTls,
    pub relay_user: Option<String>,
    /// Read with [`Outbound::relay_password`] (mode 0600 or stricter).
    pub relay_password_file: Option<PathBuf>,
    /// DNS server; `None` = the first nameserver of /etc/resolv.conf.
    pub resolver: Option<SocketAddr>,
    /// Port MX delivery connects to (25; tests point it at a local peer).
    pub mx_port: u16,
    /// Trusted roots (PEM); `None` = the system bundle.
    pub ca_file: Option<PathBuf>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            relay: None,
            relay_tls: RelayTls::StartTls,
            relay_user: None,
            relay_password_file: None,
            resolver: None,
            mx_port: 25,
            ca_file: None,
        }
    }
}

/// Parses `host:port` (a bracketed IPv6 literal allowed); also `[[fetch]] server`.
pub(super) fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let h = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(h);
    let ok = !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    Some((h.to_ascii_lowercase(), p.parse().ok().filter(|&p| p > 0)?)).filter(|_| ok)
}

/// Applies one `[outbound]` entry; `err` names the place.
pub(super) fn apply(
    o: &mut Outbound,
    e: &Entry,
    base: &Path,
    err: impl Fn(&str) -> ConfigError,
) -> Result<(), ConfigError> {
    let text = || match &e.value {
        Value::Str(s) if !s.is_empty() => Ok(s.clone()),
        v => Err(err(&format!("expected a non-empty string, found {}", v.kind()))),
    };
    match e.key.as_str() {
        "relay" => o.relay = Some(host_port(&text()?).ok_or_else(|| err("expected host:port"))?),
        "relay_tls" => {
            o.relay_tls = match text()?.as_str() {
                "starttls" => RelayTls::StartTls,
                "implicit" => RelayTls::Implicit,
                "none" => RelayTls::None,
                _ => return Err(err("expected \"starttls\", \"implicit\" or \"none\"")),
            }
        }
        "relay_user" => o.relay_user = Some(text()?),
        "relay_password_file" => o.relay_password_file = Some(base.join(text()?)),
        "resolver" => o.resolver = Some(text()?.parse().map_err(|_| err("expected an address:port"))?),
        "mx_port" => match &e.value {
            Value::Int(n) if (1..=65535).contains(n) => o.mx_port = *n as u16,
            _ => return Err(err("expected a port number 1-65535")),
        },
        "ca_file" => o.ca_file = Some(base.join(text()?)),
        _ => return Err(err("unknown key")),
    }
    Ok(())
}

/// Checks the table as a whole: "none" only towards a loopback relay.
pub(super) fn validate(o: &Outbound, file: &str) -> Result<(), ConfigError> {
    let loopback = o
        .relay
        .as_ref()
        .is_some_and(|(h, _)| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
    if o.relay_tls == RelayTls::None && o.relay.is_some() && !loopback {
        return Err(ConfigError(format!("{file}: outbound.relay_tls: \"none\" is allowed only for a loopback relay")));
    }
    if o.relay_user.is_some() != o.relay_password_file.is_some() {
        return Err(ConfigError(format!("{file}: outbound: relay_user and relay_password_file go together")));
    }
    Ok(())
}

impl Outbound {
    /// The one DNS server the queue and the inbound checks ask: `resolver`, else the first
    /// nameserver of /etc/resolv.conf.
    pub fn dns_server(&self) -> std::net::SocketAddr {
        self.resolver.unwrap_or_else(|| {
            crate::dns::nameserver_from_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
        })
    }

    /// The relay password: the file's first line, refused unless mode 0600 or stricter
    /// (a secret readable by others is a configuration error, like ssh's keys).
    pub fn relay_password(&self) -> Result<Option<String>, ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let Some(p) = &self.relay_password_file else { return Ok(None) };
        let name = p.display();
        let meta = std::fs::metadata(p).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(ConfigError(format!("{name}: relay password file must be mode 0600 or stricter")));
        }
        if meta.len() > 4096 {
            return Err(ConfigError(format!("{name}: file too large")));
        }
        let text = std::fs::read_to_string(p).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        Ok(Some(text.lines().next().unwrap_or("").to_owned()))
    }
}
