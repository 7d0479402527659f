//! `letterbox.toml`: the configuration contract and every tunable limit.
//!
//! Key names are a contract used by scripts outside the crate (issue 2/3/4): `domain`,
//! `aliases`, `user`, `data_dir`, `password_hash`, `allow_plaintext_auth`, `hide_client_ip`, `subaddress_folders`, `apop_secret`,
//! `run_as`, `[listen] smtp submission submissions imap imaps pop3 pop3s managesieve http https`, `[tls] cert key`,
//! `[dkim] selector`, `[limits] …`, `[outbound] …` (see [`outbound`]), `[checks] …` (see
//! [`checks`]), `[web] …` (see [`web`]), `[acme] …` (see [`acme`]).
//! Paths are relative to the folder that holds the file. An unknown key, a wrong type or a
//! missing required key is an error naming `file:line: key`.

pub mod acme;
pub mod checks;
pub mod fetch;
pub mod outbound;
pub mod toml;
pub mod web;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use self::acme::{Acme, AcmeChallenge};
pub use self::checks::{Checks, DnsblAction};
pub use self::outbound::{Outbound, RelayTls};
use self::toml::{Entry, Value};
pub use self::web::{StsMode, Web};

/// Where `serve` keeps its embedded default (issue 3).
pub const EMBEDDED_DIR: &str = "letterbox-data";
/// The config file name everywhere.
pub const FILE_NAME: &str = "letterbox.toml";
/// System-wide default location.
pub const SYSTEM_PATH: &str = "/etc/letterbox/letterbox.toml";

/// A configuration error with its place.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Tunable limits (`[limits]`). RFC-fixed values are consts in the protocol modules; these
/// are the ones a board overrides for its RAM and storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest message accepted (SMTP SIZE, deliver, APPEND): 64 MiB fits a 50 MB attachment
    /// mail; boards with little flash lower it.
    pub message_size: u64,
    /// Bytes of one incoming message kept in RAM before it spills to a file in the data
    /// directory: 128 KiB covers ~95% of mail while bounding RAM per session.
    pub spool_memory: usize,
    /// Free bytes the data directory must keep beyond an announced SIZE, checked at MAIL:
    /// 8 MiB leaves room for flag and expunge records when the disk is nearly full.
    pub free_space_reserve: u64,
    /// Concurrent connections on all listeners: 128 sessions × ~20 KiB fit a 128 MB router.
    pub connections: usize,
    /// Concurrent connections from one IP: 32 fits a household behind one NAT address (two
    /// Thunderbirds × 5 cached connections, three phones × (K-9/FairEmail IDLE per pushed
    /// folder ~4 + 1), an iPad's ~4: about 29) while one address holds a quarter of the
    /// 128 slots at most; RAM is bounded by `connections`, not by this (BAD-INPUTS 59).
    pub connections_per_ip: usize,
    /// Recipients per SMTP transaction: RFC 5321 §4.5.3.1.8 requires at least 100.
    pub recipients: usize,
    /// SMTP data line length including CRLF: RFC 5321 §4.5.3.1.6 says 1000.
    pub smtp_line: usize,
    /// IMAP command line (without literals): RFC 7162 §4 recommends at least 8192; 64 KiB.
    pub imap_line: usize,
    /// Largest IMAP literal after login (APPEND bodies are bounded by message_size instead).
    pub imap_literal: u64,
    /// Largest IMAP literal before login: credentials only.
    pub imap_literal_prelogin: u64,
    /// SMTP per-command timeout: RFC 5321 §4.5.3.2.7 server timeout is 5 minutes.
    pub smtp_command_timeout: u64,
    /// SMTP whole-session cap in seconds: 30 minutes stops drip-feeding peers.
    pub smtp_session_timeout: u64,
    /// IMAP autologout: RFC 3501 §5.4 says at least 30 minutes.
    pub imap_idle_timeout: u64,
    /// IMAP autologout before login: 60 s is plenty for a client to authenticate.
    pub imap_prelogin_timeout: u64,
    /// POP3 autologout: RFC 1939 §3 says at least 10 minutes.
    pub pop3_timeout: u64,
    /// TLS handshake deadline in seconds: a stalled ClientHello is cut here.
    pub tls_handshake_timeout: u64,
    /// Seconds an HTTP client has to send its whole request (at most `web::http::HEAD_MAX`
    /// plus `BODY_MAX` bytes): 10 s is ample on a slow phone link, and bounds a slowloris.
    pub http_timeout: u64,
    /// Seconds a write may stall (a client that stops reading) before the session is cut.
    pub write_timeout: u64,
    /// Failed logins before the per-IP delay reaches its cap and the IP is locked out.
    pub auth_failures_lockout: u32,
    /// Expunged bytes in a folder that trigger background compaction: 4 MiB.
    pub compact_threshold: u64,
    /// IMAP QUOTA (RFC 9208) STORAGE limit in bytes over all folders; 0: none (the device's
    /// free space still counts). A router whose flash is shared sets it.
    pub quota_storage: u64,
    /// IMAP QUOTA MESSAGE limit over all folders; 0: none.
    pub quota_messages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_size: 64 * 1024 * 1024,
            spool_memory: 128 * 1024,
            free_space_reserve: 8 * 1024 * 1024,
            connections: 128,
            connections_per_ip: 32,
            recipients: 100,
            smtp_line: 1000,
            imap_line: 64 * 1024,
            imap_literal: 64 * 1024,
            imap_literal_prelogin: 1024,
            smtp_command_timeout: 300,
            smtp_session_timeout: 1800,
            imap_idle_timeout: 1860,
            imap_prelogin_timeout: 60,
            pop3_timeout: 600,
            tls_handshake_timeout: 10,
            http_timeout: 10,
            write_timeout: 120,
            auth_failures_lockout: 10,
            compact_threshold: 4 * 1024 * 1024,
            quota_storage: 0,
            quota_messages: 0,
        }
    }
}

/// `[listen]`: addresses per protocol; an empty list disables it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listen {
    pub smtp: Vec<SocketAddr>,
    /// RFC 6409 message submission: STARTTLS, then AUTH (port 587).
    pub submission: Vec<SocketAddr>,
    /// RFC 8314 §3.3 submission over implicit TLS (port 465).
    pub submissions: Vec<SocketAddr>,
    pub imap: Vec<SocketAddr>,
    pub imaps: Vec<SocketAddr>,
    pub pop3: Vec<SocketAddr>,
    pub pop3s: Vec<SocketAddr>,
    /// RFC 5804 ManageSieve (port 4190): STARTTLS, then AUTHENTICATE (feature `sieve`).
    pub managesieve: Vec<SocketAddr>,
    /// Plain HTTP (issue 18): ACME HTTP-01 answers, autoconfig and the help page (port 80).
    pub http: Vec<SocketAddr>,
    /// HTTPS: autoconfig, autodiscover, the MTA-STS policy (port 443).
    pub https: Vec<SocketAddr>,
}

/// `[tls]`: certificate chain and key, PEM.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[dkim]`: the signing keys' selector (issue 14; keys in `DATA/dkim/`, see
/// `mailauth::keys`). Accepted in every build, used by builds with `outbound`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dkim {
    /// DNS label(s) under `_domainkey`; `lb1` when absent, so `letterbox dkim` works on a
    /// config that never mentions DKIM. The RSA key's selector is this plus `-rsa`.
    pub selector: String,
}

/// Longest selector: `-rsa` appended must still fit a 63-octet DNS label (RFC 1035 §2.3.4).
pub const SELECTOR_MAX: usize = 59;

impl Default for Dkim {
    fn default() -> Self {
        Dkim { selector: "lb1".to_owned() }
    }
}

/// The whole configuration, paths resolved against the file's folder.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub path: PathBuf,
    pub domain: String,
    pub aliases: Vec<String>,
    pub user: String,
    pub data_dir: PathBuf,
    pub password_hash: Option<String>,
    pub allow_plaintext_auth: bool,
    /// Loopback peers may log in without TLS (true); set false behind a local TLS proxy.
    pub loopback_plaintext: bool,
    /// Mail submitted after AUTH gets a `Received:` without the client's address (the
    /// owner's home IP stays out of every message sent; RFC 6409 §8 leaves trace to us).
    pub hide_client_ip: bool,
    /// Mail for `user+detail@domain` goes to folder `detail` when it exists (issue 16's rule
    /// without a Sieve script; RFC 5233 subaddress). On by default: no folder, no change.
    pub subaddress_folders: bool,
    pub apop_secret: Option<String>,
    pub run_as: Option<String>,
    pub listen: Listen,
    pub tls: Option<Tls>,
    pub dkim: Dkim,
    pub limits: Limits,
    /// `[outbound]` (issue 14).
    pub outbound: Outbound,
    /// `[checks]` (issue 15).
    pub checks: Checks,
    /// `[web]` (issue 18).
    pub web: Web,
    /// `[acme]` (issue 18); `None` without the table.
    pub acme: Option<Acme>,
    /// `[[fetch]]` accounts (issue 17), in file order.
    pub fetch: Vec<fetch::Account>,
}

impl Config {
    /// The mail host's name: `[web] host`, else the domain (the SMTP greeting uses the domain).
    pub fn host(&self) -> &str {
        self.web.host.as_deref().unwrap_or(&self.domain)
    }

    /// The names the ACME certificate covers: `[acme] names`, else the mail host's name.
    pub fn acme_names(&self) -> Vec<String> {
        match &self.acme {
            Some(a) if !a.names.is_empty() => a.names.clone(),
            _ => vec![self.host().to_owned()],
        }
    }

    /// The owner's address, `user@domain`.
    pub fn owner_address(&self) -> String {
        format!("{}@{}", self.user, self.domain)
    }

    /// The config lookup of issues 2 and 3: `--config PATH`, else `./letterbox.toml`, else
    /// `./letterbox-data/letterbox.toml`, else `/etc/letterbox/letterbox.toml`.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        let local = PathBuf::from(FILE_NAME);
        let embedded = Path::new(EMBEDDED_DIR).join(FILE_NAME);
        [local, embedded, PathBuf::from(SYSTEM_PATH)].into_iter().find(|p| p.is_file())
    }

    /// Finds and loads the config, or says where it looked.
    pub fn load_from(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match Self::locate(explicit) {
            Some(p) => Self::load(&p),
            None => Err(ConfigError(format!(
                "no config: pass --config PATH, or create ./{FILE_NAME}, ./{EMBEDDED_DIR}/{FILE_NAME} or {SYSTEM_PATH} (letterbox init)"
            ))),
        }
    }

    /// Reads and validates one file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display();
        let meta = std::fs::metadata(path).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        if meta.len() > toml::MAX_CONFIG_BYTES as u64 {
            return Err(ConfigError(format!("{name}: file too large")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{name}: {e}")))?;
        Self::parse(path, &text)
    }

    /// Validates `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let entries = toml::parse(text).map_err(|e| ConfigError(format!("{name}:{e}")))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        Builder { file: name, base, entries }.build()
    }
}

/// `i` of a `fetch[i]` section (an element of the `[[fetch]]` array of tables).
fn fetch_index(section: &str) -> Option<usize> {
    section.strip_prefix("fetch[")?.strip_suffix(']')?.parse().ok()
}

struct Builder {
    file: String,
    base: PathBuf,
    entries: Vec<Entry>,
}

impl Builder {
    fn err(&self, e: &Entry, msg: &str) -> ConfigError {
        let key = if e.section.is_empty() { e.key.clone() } else { format!("{}.{}", e.section, e.key) };
        ConfigError(format!("{}:{}: {}: {}", self.file, e.line, key, msg))
    }

    fn build(&self) -> Result<Config, ConfigError> {
        let mut c = Config {
            path: PathBuf::from(&self.file),
            domain: String::new(),
            aliases: Vec::new(),
            user: String::new(),
            data_dir: PathBuf::new(),
            password_hash: None,
            allow_plaintext_auth: false,
            loopback_plaintext: true,
            hide_client_ip: false,
            subaddress_folders: true,
            apop_secret: None,
            run_as: None,
            listen: Listen::default(),
            tls: None,
            dkim: Dkim::default(),
            limits: Limits::default(),
            outbound: Outbound::default(),
            checks: Checks::default(),
            web: Web::default(),
            acme: None,
            fetch: Vec::new(),
        };
        let (mut cert, mut key, mut have_data_dir) = (None, None, false);
        let mut drafts: Vec<fetch::Draft> = Vec::new();
        for e in &self.entries {
            if let Some(i) = fetch_index(&e.section) {
                drafts.resize_with(drafts.len().max(i + 1), fetch::Draft::default);
                let d = drafts.get_mut(i).ok_or_else(|| self.err(e, "bad [[fetch]] table"))?;
                fetch::apply(d, e, &self.base, |m| self.err(e, m))?;
                continue;
            }
            match (e.section.as_str(), e.key.as_str()) {
                ("", "domain") => c.domain = self.domain(e)?,
                ("", "aliases") => {
                    c.aliases = self.strings(e)?;
                    for a in &c.aliases {
                        if !valid_local_part(a) {
                            return Err(self.err(e, &format!("{a:?} is not a valid local part")));
                        }
                    }
                }
                ("", "user") => {
                    c.user = self.string(e)?;
                    if !valid_local_part(&c.user) {
                        return Err(self.err(e, "not a valid login name (letters, digits, . _ -)"));
                    }
                }
                ("", "data_dir") => {
                    c.data_dir = self.path(e)?;
                    have_data_dir = true;
                }
                ("", "password_hash") => c.password_hash = Some(self.string(e)?),
                ("", "allow_plaintext_auth") => c.allow_plaintext_auth = self.boolean(e)?,
                ("", "loopback_plaintext") => c.loopback_plaintext = self.boolean(e)?,
                ("", "hide_client_ip") => c.hide_client_ip = self.boolean(e)?,
                ("", "subaddress_folders") => c.subaddress_folders = self.boolean(e)?,
                ("", "apop_secret") => c.apop_secret = Some(self.string(e)?),
                ("", "run_as") => c.run_as = Some(self.string(e)?),
                ("listen", k) => {
                    let addrs = self.addrs(e)?;
                    match k {
                        "smtp" => c.listen.smtp = addrs,
                        "submission" => c.listen.submission = addrs,
                        "submissions" => c.listen.submissions = addrs,
                        "imap" => c.listen.imap = addrs,
                        "imaps" => c.listen.imaps = addrs,
                        "pop3" => c.listen.pop3 = addrs,
                        "pop3s" => c.listen.pop3s = addrs,
                        "managesieve" => c.listen.managesieve = addrs,
                        "http" => c.listen.http = addrs,
                        "https" => c.listen.https = addrs,
                        _ => return Err(self.err(e, "unknown key")),
                    }
                }
                ("tls", "cert") => cert = Some(self.path(e)?),
                ("tls", "key") => key = Some(self.path(e)?),
                ("dkim", "selector") => c.dkim.selector = self.selector(e)?,
                ("limits", _) => self.limit(&mut c.limits, e)?,
                ("outbound", _) => outbound::apply(&mut c.outbound, e, &self.base, |m| self.err(e, m))?,
                ("checks", _) => checks::apply(&mut c.checks, e, |m| self.err(e, m))?,
                ("web", _) => web::apply(&mut c.web, e, |m| self.err(e, m))?,
                ("acme", _) => {
                    acme::apply(c.acme.get_or_insert_with(Acme::default), e, &self.base, |m| self.err(e, m))?
                }
                _ => return Err(self.err(e, "unknown key")),
            }
        }
        for (k, missing) in [("domain", c.domain.is_empty()), ("user", c.user.is_empty()), ("data_dir", !have_data_dir)]
        {
            if missing {
                return Err(ConfigError(format!("{}: {}: required key missing", self.file, k)));
            }
        }
        outbound::validate(&c.outbound, &self.file)?;
        if let Some(a) = &c.acme {
            acme::validate(a, &self.file)?;
        }
        c.fetch = self.accounts(drafts)?;
        c.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(Tls { cert, key }),
            (None, None) => None,
            _ => return Err(ConfigError(format!("{}: tls: both cert and key are required", self.file))),
        };
        if c.acme.is_some() && c.tls.is_none() {
            return Err(ConfigError(format!(
                "{}: acme: needs [tls] cert and key (the issued certificate goes there)",
                self.file
            )));
        }
        Ok(c)
    }

    /// The `[[fetch]]` accounts: each complete, names unique, at most `ACCOUNTS_MAX`.
    fn accounts(&self, drafts: Vec<fetch::Draft>) -> Result<Vec<fetch::Account>, ConfigError> {
        if drafts.len() > fetch::ACCOUNTS_MAX {
            return Err(ConfigError(format!("{}: more than {} [[fetch]] accounts", self.file, fetch::ACCOUNTS_MAX)));
        }
        let mut out: Vec<fetch::Account> = Vec::new();
        for (i, d) in drafts.into_iter().enumerate() {
            let a = d.finish(&format!("{}: fetch[{i}]", self.file))?;
            if out.iter().any(|o| o.name == a.name) {
                return Err(ConfigError(format!("{}: fetch[{i}].name: {:?} used twice", self.file, a.name)));
            }
            out.push(a);
        }
        Ok(out)
    }

    fn string(&self, e: &Entry) -> Result<String, ConfigError> {
        match &e.value {
            Value::Str(s) => Ok(s.clone()),
            v => Err(self.err(e, &format!("expected a string, found {}", v.kind()))),
        }
    }

    fn boolean(&self, e: &Entry) -> Result<bool, ConfigError> {
        match &e.value {
            Value::Bool(b) => Ok(*b),
            v => Err(self.err(e, &format!("expected a boolean, found {}", v.kind()))),
        }
    }

    fn strings(&self, e: &Entry) -> Result<Vec<String>, ConfigError> {
        match &e.value {
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s.clone()),
                    v => Err(self.err(e, &format!("expected strings, found {}", v.kind()))),
                })
                .collect(),
            v => Err(self.err(e, &format!("expected an array of strings, found {}", v.kind()))),
        }
    }

    fn domain(&self, e: &Entry) -> Result<String, ConfigError> {
        let d = self.string(e)?.to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if ok {
            Ok(d)
        } else {
            Err(self.err(e, "not a valid domain name"))
        }
    }

    /// RFC 6376 §3.1: `selector = sub-domain *( "." sub-domain )`, kept lowercase.
    fn selector(&self, e: &Entry) -> Result<String, ConfigError> {
        let s = self.string(e)?.to_ascii_lowercase();
        let label_ok =
            |l: &str| !l.is_empty() && !l.starts_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if s.len() <= SELECTOR_MAX && s.split('.').all(label_ok) {
            Ok(s)
        } else {
            Err(self.err(e, "not a valid selector (DNS labels of letters, digits and -, at most 59 octets)"))
        }
    }

    fn path(&self, e: &Entry) -> Result<PathBuf, ConfigError> {
        let s = self.string(e)?;
        if s.is_empty() {
            return Err(self.err(e, "empty path"));
        }
        Ok(self.base.join(s))
    }

    fn addrs(&self, e: &Entry) -> Result<Vec<SocketAddr>, ConfigError> {
        self.strings(e)?
            .iter()
            .map(|s| s.parse().map_err(|_| self.err(e, &format!("{s:?} is not an address:port"))))
            .collect()
    }

    fn limit(&self, l: &mut Limits, e: &Entry) -> Result<(), ConfigError> {
        let n = match &e.value {
            Value::Int(n) if *n >= 0 => *n as u64,
            Value::Int(_) => return Err(self.err(e, "must not be negative")),
            v => return Err(self.err(e, &format!("expected an integer, found {}", v.kind()))),
        };
        let small = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match e.key.as_str() {
            "message_size" => l.message_size = n,
            "spool_memory" => l.spool_memory = small(n),
            "free_space_reserve" => l.free_space_reserve = n,
            "connections" => l.connections = small(n),
            "connections_per_ip" => l.connections_per_ip = small(n),
            "recipients" => l.recipients = small(n.max(1)),
            "smtp_line" => l.smtp_line = small(n.max(1000)),
            "imap_line" => l.imap_line = small(n.max(1024)),
            "imap_literal" => l.imap_literal = n,
            "imap_literal_prelogin" => l.imap_literal_prelogin = n,
            "smtp_command_timeout" => l.smtp_command_timeout = n,
            "smtp_session_timeout" => l.smtp_session_timeout = n,
            "imap_idle_timeout" => l.imap_idle_timeout = n,
            "imap_prelogin_timeout" => l.imap_prelogin_timeout = n,
            "pop3_timeout" => l.pop3_timeout = n,
            "tls_handshake_timeout" => l.tls_handshake_timeout = n,
            "http_timeout" => l.http_timeout = n.max(1),
            "write_timeout" => l.write_timeout = n.max(1),
            "auth_failures_lockout" => l.auth_failures_lockout = u32::try_from(n).unwrap_or(u32::MAX),
            "compact_threshold" => l.compact_threshold = n,
            "quota_storage" => l.quota_storage = n,
            "quota_messages" => l.quota_messages = n,
            _ => return Err(self.err(e, "unknown key")),
        }
        Ok(())
    }
}

/// RFC 5321 `Dot-string` local parts as the owner may name them (no quoting, ≤ 64 octets).
pub fn valid_local_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Rewrites the top-level `key = value` line of a config text (or inserts it before the first
/// table), keeping every other line and comment as it was. Used by `passwd`.
pub fn set_top_level_key(text: &str, key: &str, quoted_value: &str) -> String {
    let new_line = format!("{key} = {quoted_value}");
    let mut out = Vec::new();
    let (mut done, mut in_table) = (false, false);
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') && !done {
            out.push(new_line.clone());
            done = true;
        }
        in_table |= t.starts_with('[');
        let is_key = !in_table && t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('='));
        if is_key && !done {
            out.push(new_line.clone());
            done = true;
        } else if !is_key {
            out.push(line.to_owned());
        }
    }
    if !done {
        out.push(new_line);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/x/letterbox.toml"), text)
    }

    #[test]
    fn minimal_config_resolves_paths() {
        let c = cfg("domain = \"Example.ORG\"\nuser = \"alice\"\ndata_dir = \"data\"\n").unwrap();
        assert_eq!(c.domain, "example.org");
        assert_eq!(c.data_dir, PathBuf::from("/etc/x/data"));
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = cfg("domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[limits]\nbogus = 1\n").unwrap_err();
        assert_eq!(e.0, "/etc/x/letterbox.toml:5: limits.bogus: unknown key");
        let e = cfg("domain = 5\n").unwrap_err();
        assert!(e.0.contains(":1: domain: expected a string"), "{}", e.0);
        let e = cfg("domain = \"a.b\"\nuser = \"u\"\n").unwrap_err();
        assert!(e.0.contains("data_dir: required key missing"), "{}", e.0);
    }

    #[test]
    fn listen_and_tls() {
        let c = cfg("domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[listen]\nsmtp = [\"127.0.0.1:2525\"]\nimap = []\nmanagesieve = [\"0.0.0.0:4190\"]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
        assert_eq!(c.listen.smtp.len(), 1);
        assert_eq!(c.listen.managesieve, ["0.0.0.0:4190".parse().unwrap()]);
        assert_eq!(c.tls.unwrap().key, PathBuf::from("/etc/x/k.pem"));
        assert!(cfg("domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[listen]\nsmtp = [\"x\"]\n").is_err());
    }

    #[test]
    fn outbound_keys() {
        let base = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[outbound]\n";
        let c = cfg(base).unwrap();
        assert_eq!(c.outbound, Outbound::default());
        let t = format!("{base}relay = \"smtp.provider.net:587\"\nrelay_tls = \"implicit\"\nrelay_user = \"me@p.net\"\nrelay_password_file = \"relay.secret\"\nresolver = \"127.0.0.1:53\"\nmx_port = 2525\nca_file = \"ca.pem\"\n");
        let o = cfg(&t).unwrap().outbound;
        assert_eq!(o.relay, Some(("smtp.provider.net".into(), 587)));
        assert_eq!(o.relay_tls, RelayTls::Implicit);
        assert_eq!(o.relay_password_file, Some(PathBuf::from("/etc/x/relay.secret")));
        assert_eq!((o.mx_port, o.resolver), (2525, Some("127.0.0.1:53".parse().unwrap())));
        let e = cfg(&format!("{base}bogus = 1\n")).unwrap_err();
        assert!(e.0.ends_with(":5: outbound.bogus: unknown key"), "{}", e.0);
        let e = cfg(&format!("{base}relay = \"mx.p.net:25\"\nrelay_tls = \"none\"\n")).unwrap_err();
        assert!(e.0.contains("loopback"), "{}", e.0);
        assert!(cfg(&format!("{base}relay = \"127.0.0.1:2525\"\nrelay_tls = \"none\"\n")).is_ok());
        assert!(cfg(&format!("{base}relay = \"nope\"\n")).is_err());
        assert!(cfg(&format!("{base}mx_port = 0\n")).is_err());
        assert!(cfg(&format!("{base}relay_user = \"x\"\n")).is_err());
    }

    #[test]
    fn checks_keys() {
        let base = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[checks]\n";
        let c = cfg(base).unwrap().checks;
        assert_eq!(c, Checks::default());
        assert_eq!((c.spf, c.dkim, c.dmarc), (checks::BUILT_IN, checks::BUILT_IN, checks::BUILT_IN));
        assert!(!c.greylist && c.dnsbl.is_empty() && c.dnsbl_action == DnsblAction::Reject);
        let t = format!("{base}spf = false\ndkim = false\ndmarc = false\ndnsbl = [\"zen.spamhaus.org\", \"B.Barracudacentral.ORG.\"]\ngreylist = true\ndnsbl_action = \"junk\"\n");
        let c = cfg(&t).unwrap().checks;
        assert!(!c.spf && !c.dkim && !c.dmarc && c.greylist);
        assert_eq!(c.dnsbl, ["zen.spamhaus.org", "b.barracudacentral.org"]);
        assert_eq!(c.dnsbl_action, DnsblAction::Junk);
        let e = cfg(&format!("{base}spf = true\nbogus = 1\n")).unwrap_err();
        assert_eq!(e.0, "/etc/x/letterbox.toml:6: checks.bogus: unknown key");
        let e = cfg(&format!("{base}greylist = \"yes\"\n")).unwrap_err();
        assert_eq!(e.0, "/etc/x/letterbox.toml:5: checks.greylist: expected a boolean, found a string");
        let e = cfg(&format!("{base}dnsbl_action = \"tag\"\n")).unwrap_err();
        assert!(e.0.ends_with(":5: checks.dnsbl_action: expected \"reject\" or \"junk\""), "{}", e.0);
        let e = cfg(&format!("{base}dnsbl = [\"zen spamhaus.org\"]\n")).unwrap_err();
        assert!(e.0.contains(":5: checks.dnsbl: \"zen spamhaus.org\" is not a DNS zone name"), "{}", e.0);
        let long = format!("[\"{}.org\"]", "a".repeat(checks::DNSBL_ZONE_MAX));
        let nine = format!("[{}]", ["\"x.org\""; checks::DNSBL_MAX + 1].join(", "));
        for bad in ["\"zen.spamhaus.org\"", "[1]", "[\"\"]", "[\"org\"]", "[\"a..org\"]", "[\"-a.org\"]", &long, &nine]
        {
            assert!(cfg(&format!("{base}dnsbl = {bad}\n")).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_without_the_feature_are_refused_only_when_turned_on() {
        let on = Checks { greylist: true, ..Checks::default() };
        let off = Checks { spf: false, dkim: false, dmarc: false, ..Checks::default() };
        if checks::BUILT_IN {
            assert_eq!((on.unsupported(), Checks::default().unsupported()), (None, None));
        } else {
            assert_eq!(Checks::default().unsupported(), None, "the defaults start without the feature");
            assert_eq!(on.unsupported(), Some("greylist"));
            assert_eq!(Checks { dnsbl: vec!["x.org".into()], ..off.clone() }.unsupported(), Some("dnsbl"));
        }
        assert_eq!(off.unsupported(), None);
    }

    #[test]
    fn relay_password_file_needs_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lbx-relaypw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("relay.secret");
        std::fs::write(&p, "s3cret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Outbound { relay_password_file: Some(p.clone()), ..Outbound::default() };
        assert!(o.relay_password().unwrap_err().0.contains("0600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(o.relay_password().unwrap().as_deref(), Some("s3cret"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dkim_selector() {
        let base = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n";
        assert_eq!(cfg(base).unwrap().dkim.selector, "lb1");
        let c = cfg(&format!("{base}[dkim]\nselector = \"Mail2024.x\"\n")).unwrap();
        assert_eq!(c.dkim.selector, "mail2024.x");
        for bad in ["\"\"", "\"a;b\"", "\"a..b\"", "\"-a\"", "1"] {
            assert!(cfg(&format!("{base}[dkim]\nselector = {bad}\n")).is_err(), "{bad}");
        }
        let e = cfg(&format!("{base}[dkim]\nkey = \"x\"\n")).unwrap_err();
        assert!(e.0.ends_with(":5: dkim.key: unknown key"), "{}", e.0);
    }

    /// BAD-INPUTS 91: names that would break a zone file or an XML document are refused at
    /// load (the display name, free text, is escaped where written instead).
    #[test]
    fn web_keys() {
        let base = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n";
        let c = cfg(base).unwrap();
        assert_eq!((c.web.clone(), c.host()), (Web::default(), "a.b"));
        let c =
            cfg(&format!("{base}[web]\nhost = \"MX.A.b.\"\ndisplay_name = \"<A & B>\"\nmta_sts_mode = \"enforce\"\n"))
                .unwrap();
        assert_eq!(
            (c.host(), c.web.display_name.as_deref(), c.web.mta_sts_mode),
            ("mx.a.b", Some("<A & B>"), StsMode::Enforce)
        );
        for bad in [
            "host = \"mx.a.b. IN A 1.2.3.4\"",
            "host = \"a;b\"",
            "host = \"a\\\"b\"",
            "host = \"<a>\"",
            "host = \"a..b\"",
            "host = \"-a.b\"",
            "host = \"\"",
            "display_name = \"a\\nb\"",
            "display_name = \"\"",
            "mta_sts_mode = \"none\"",
            "host = 1",
            "bogus = \"x\"",
        ] {
            assert!(cfg(&format!("{base}[web]\n{bad}\n")).is_err(), "{bad}");
        }
        for bad in ["\"a\\\"b.org\"", "\"a;b.org\"", "\"a b.org\"", "\"<a>.org\"", "\"a&b.org\""] {
            assert!(cfg(&format!("domain = {bad}\nuser = \"u\"\ndata_dir = \"d\"\n")).is_err(), "{bad}");
        }
        assert!(cfg(&format!("{base}[web]\ndisplay_name = \"{}\"\n", "x".repeat(65))).is_err());
    }

    #[test]
    fn acme_keys() {
        let base = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
        let c = cfg(base).unwrap();
        assert_eq!((c.acme.clone(), c.acme_names()), (None, vec!["a.b".to_owned()]));
        let t = format!(
            "{base}[acme]\ndirectory = \"https://ca/dir\"\ncontact = \"mailto:o@a.b\"\nnames = [\"MX.a.b\", \"mx.a.b\", \"autoconfig.a.b\"]\nchallenge = \"http-01\"\nca_file = \"ca.pem\"\n"
        );
        let c = cfg(&t).unwrap();
        let a = c.acme.clone().unwrap();
        assert_eq!(a.directory, "https://ca/dir");
        assert_eq!(a.contact.as_deref(), Some("mailto:o@a.b"));
        assert_eq!(c.acme_names(), vec!["mx.a.b".to_owned(), "autoconfig.a.b".to_owned()]);
        assert_eq!(a.challenge, AcmeChallenge::Http01);
        assert!(a.ca_file.unwrap().ends_with("ca.pem"));
        let c =
            cfg(&format!("{base}[acme]\ndirectory = \"https://ca/dir\"\ncontact = \"\"\nca_file = \"\"\n")).unwrap();
        let a = c.acme.unwrap();
        assert_eq!((a.contact, a.ca_file, a.challenge), (None, None, AcmeChallenge::TlsAlpn01));
        for bad in [
            "directory = \"http://ca/dir\"",
            "directory = \"\"",
            "contact = \"o@a.b\"",
            "contact = \"mailto:a@b, mailto:c@d\"",
            "names = []",
            "names = [\"bad name\"]",
            "names = [\"nodot\"]",
            "names = \"a.b\"",
            "challenge = \"dns-01\"",
            "bogus = 1",
        ] {
            assert!(cfg(&format!("{base}[acme]\ndirectory = \"https://ca/d\"\n{bad}\n")).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=acme::NAMES_MAX).map(|i| format!("\"h{i}.a.b\"")).collect();
        assert!(cfg(&format!("{base}[acme]\ndirectory = \"https://ca/d\"\nnames = [{}]\n", many.join(","))).is_err());
        assert!(cfg(&format!("{base}[acme]\ncontact = \"\"\n")).unwrap_err().0.contains("acme.directory"));
        let no_tls = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[acme]\ndirectory = \"https://ca/d\"\n";
        assert!(cfg(no_tls).unwrap_err().0.contains("acme: needs [tls]"));
    }

    #[test]
    fn set_key_replaces_or_inserts() {
        let t = "domain = \"a\"\npassword_hash = \"old\"\n[tls]\ncert = \"c\"\n";
        let n = set_top_level_key(t, "password_hash", "\"new\"");
        assert_eq!(n, "domain = \"a\"\npassword_hash = \"new\"\n[tls]\ncert = \"c\"\n");
        let n = set_top_level_key("domain = \"a\"\n[tls]\n", "password_hash", "\"h\"");
        assert_eq!(n, "domain = \"a\"\npassword_hash = \"h\"\n[tls]\n");
    }
}
