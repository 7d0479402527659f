//! `[[fetch]]`: the owner's other mailboxes to pull from (issue 17). Keys are a contract:
//! `name`, `protocol`, `server`, `tls`, `user`, `password_file`, `folders`, `into`, `keep`,
//! `interval`. Parsed in every build; a build without the `fetch` feature refuses to start
//! with an account configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::outbound::host_port;
use super::toml::{Entry, Value};
use super::ConfigError;
use crate::auth::Secret;

/// Accounts configured at most (each is a background task and a connection).
pub const ACCOUNTS_MAX: usize = 32;
/// Remote folders per IMAP account at most.
pub const FOLDERS_MAX: usize = 64;
/// Shortest polling interval accepted: remote providers throttle faster pollers.
pub const INTERVAL_MIN: Duration = Duration::from_secs(60);

/// The remote protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop3,
}

/// TLS towards the remote server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchTls {
    /// TLS from the first byte (IMAPS 993, POP3S 995; RFC 8314 §3.3).
    Implicit,
    /// STARTTLS (RFC 3501 §6.2.1) / STLS (RFC 2595 §4), required.
    StartTls,
    /// Plaintext: only to a loopback server.
    None,
}

/// Where the account's secret comes from: a password file today; an OAuth token source
/// (XOAUTH2 / OAUTHBEARER) would be another variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    PasswordFile(PathBuf),
}

/// One `[[fetch]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub protocol: Protocol,
    /// `host:port`.
    pub server: (String, u16),
    pub tls: FetchTls,
    pub user: String,
    pub credential: Credential,
    /// IMAP remote folders (default INBOX); unused by POP3.
    pub folders: Vec<String>,
    /// The local folder (default INBOX).
    pub into: String,
    pub keep: bool,
    pub interval: Duration,
}

/// An account being built from its entries.
#[derive(Debug, Default)]
pub(super) struct Draft {
    name: Option<String>,
    protocol: Option<Protocol>,
    server: Option<(String, u16)>,
    tls: Option<FetchTls>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    folders: Option<Vec<String>>,
    into: Option<String>,
    keep: Option<bool>,
    interval: Option<Duration>,
}

/// `"90s"`, `"5m"`, `"1h"` (a number and a unit).
pub fn parse_interval(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Applies one entry of a `[[fetch]]` table.
pub(super) fn apply(
    d: &mut Draft,
    e: &Entry,
    base: &Path,
    err: impl Fn(&str) -> ConfigError,
) -> Result<(), ConfigError> {
    let text = || match &e.value {
        Value::Str(s) if !s.is_empty() => Ok(s.clone()),
        v => Err(err(&format!("expected a non-empty string, found {}", v.kind()))),
    };
    match e.key.as_str() {
        "name" => {
            let n = text()?;
            if !valid_name(&n) {
                return Err(err("expected 1-32 letters, digits, - or _"));
            }
            d.name = Some(n);
        }
        "protocol" => {
            d.protocol = Some(match text()?.as_str() {
                "imap" => Protocol::Imap,
                "pop3" => Protocol::Pop3,
                _ => return Err(err("expected \"imap\" or \"pop3\"")),
            })
        }
        "server" => d.server = Some(host_port(&text()?).ok_or_else(|| err("expected host:port"))?),
        "tls" => {
            d.tls = Some(match text()?.as_str() {
                "implicit" => FetchTls::Implicit,
                "starttls" => FetchTls::StartTls,
                "none" => FetchTls::None,
                _ => return Err(err("expected \"implicit\", \"starttls\" or \"none\"")),
            })
        }
        "user" => d.user = Some(text()?),
        "password_file" => d.password_file = Some(base.join(text()?)),
        "folders" => d.folders = Some(folders(&e.value).ok_or_else(|| err("expected a list of folder names"))?),
        "into" => d.into = Some(text()?),
        "keep" => match e.value {
            Value::Bool(b) => d.keep = Some(b),
            _ => return Err(err("expected true or false")),
        },
        "interval" => {
            let i = parse_interval(&text()?).ok_or_else(|| err("expected a duration such as \"5m\""))?;
            if i < INTERVAL_MIN {
                return Err(err("shorter than 1 minute"));
            }
            d.interval = Some(i);
        }
        _ => return Err(err("unknown key")),
    }
    Ok(())
}

/// Account names: the same rule as `fetch::valid_name` (file names and logs).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn folders(v: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else { return None };
    let names: Option<Vec<String>> = items
        .iter()
        .map(|i| match i {
            Value::Str(s) if !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    names.filter(|n| !n.is_empty() && n.len() <= FOLDERS_MAX)
}

impl Draft {
    /// The finished account; `what` names the table (`file: fetch[0]`) in errors.
    pub(super) fn finish(self, what: &str) -> Result<Account, ConfigError> {
        let missing = |k: &str| ConfigError(format!("{what}.{k}: required key missing"));
        let server = self.server.ok_or_else(|| missing("server"))?;
        let tls = self.tls.unwrap_or(FetchTls::Implicit);
        let loopback = server.0 == "localhost" || server.0.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if tls == FetchTls::None && !loopback {
            return Err(ConfigError(format!("{what}.tls: \"none\" is allowed only for a loopback server")));
        }
        let protocol = self.protocol.ok_or_else(|| missing("protocol"))?;
        if protocol == Protocol::Pop3 && self.folders.is_some() {
            return Err(ConfigError(format!("{what}.folders: IMAP only")));
        }
        Ok(Account {
            name: self.name.ok_or_else(|| missing("name"))?,
            protocol,
            server,
            tls,
            user: self.user.ok_or_else(|| missing("user"))?,
            credential: Credential::PasswordFile(self.password_file.ok_or_else(|| missing("password_file"))?),
            folders: self.folders.unwrap_or_else(|| vec![crate::store::INBOX.to_owned()]),
            into: self.into.unwrap_or_else(|| crate::store::INBOX.to_owned()),
            keep: self.keep.unwrap_or(true),
            interval: self.interval.unwrap_or(Duration::from_secs(300)),
        })
    }
}

impl Account {
    /// The secret: the password file's first line, refused unless mode 0600 or stricter.
    pub fn secret(&self) -> Result<Secret, ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let Credential::PasswordFile(p) = &self.credential;
        let name = p.display();
        let meta = std::fs::metadata(p).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(ConfigError(format!("{name}: password file must be mode 0600 or stricter")));
        }
        if meta.len() > 4096 {
            return Err(ConfigError(format!("{name}: file too large")));
        }
        let text = std::fs::read_to_string(p).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        Ok(Secret::from(text.lines().next().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg(extra: &str) -> Result<Config, ConfigError> {
        let text = format!("domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n{extra}");
        Config::parse(Path::new("/etc/lb/letterbox.toml"), &text)
    }

    #[test]
    fn accounts_parse_with_defaults_and_checks() {
        let two = "[[fetch]]\nname = \"isp\"\nprotocol = \"imap\"\nserver = \"imap.isp.example:993\"\nuser = \"me\"\npassword_file = \"isp.secret\"\nfolders = [\"INBOX\", \"Work\"]\nkeep = false\ninterval = \"10m\"\n[[fetch]]\nname = \"old\"\nprotocol = \"pop3\"\nserver = \"127.0.0.1:110\"\ntls = \"none\"\nuser = \"x\"\npassword_file = \"/s\"\ninto = \"Old\"\n";
        let c = cfg(two).unwrap();
        assert_eq!(c.fetch.len(), 2);
        let a = &c.fetch[0];
        assert_eq!(
            (a.name.as_str(), a.tls, a.keep, a.interval),
            ("isp", FetchTls::Implicit, false, Duration::from_secs(600))
        );
        assert_eq!(a.credential, Credential::PasswordFile(PathBuf::from("/etc/lb/isp.secret")));
        assert_eq!(a.folders, ["INBOX", "Work"]);
        assert_eq!((c.fetch[1].into.as_str(), c.fetch[1].keep), ("Old", true));
        let e = cfg("[[fetch]]\nname = \"x\"\nprotocol = \"pop3\"\nserver = \"pop.example:110\"\ntls = \"none\"\nuser = \"u\"\npassword_file = \"p\"\n").unwrap_err();
        assert!(e.0.contains("loopback"), "{}", e.0);
        let e = cfg("[[fetch]]\nname = \"x\"\nprotocol = \"imap\"\n").unwrap_err();
        assert!(e.0.contains("server: required"), "{}", e.0);
        assert!(cfg("[[fetch]]\nname = \"a/b\"\n").is_err());
        assert!(cfg("[[fetch]]\ninterval = \"10s\"\n").is_err());
        assert!(cfg("[[fetch]]\nbogus = 1\n").unwrap_err().0.contains("fetch[0].bogus: unknown key"));
        let dup =
            "[[fetch]]\nname = \"a\"\nprotocol = \"imap\"\nserver = \"h:1\"\nuser = \"u\"\npassword_file = \"p\"\n";
        assert!(cfg(&format!("{dup}{dup}")).unwrap_err().0.contains("twice"));
        assert_eq!(parse_interval("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_interval("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_interval("5"), None);
    }

    #[test]
    fn password_file_needs_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lb-fetch-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s");
        std::fs::write(&p, "sekrit\nignored\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let a = Draft {
            name: Some("a".into()),
            protocol: Some(Protocol::Imap),
            server: Some(("h".into(), 1)),
            user: Some("u".into()),
            password_file: Some(p.clone()),
            ..Draft::default()
        }
        .finish("t")
        .unwrap();
        assert!(a.secret().unwrap_err().0.contains("0600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(a.secret().unwrap().expose(), b"sekrit");
        let _ = std::fs::remove_dir_all(dir);
    }
}
