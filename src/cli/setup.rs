//! `init` (a commented config, the data directory, a self-signed certificate) and `passwd`
//! (PBKDF2 hash into the config, atomically).

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use crate::config::{self, Config};
use crate::store;
use crate::util::exit;

use super::InitArgs;

/// The commented config `init` writes (every key present, optional ones commented).
pub fn config_template(domain: &str, user: &str, data_dir: &str, password_hash: &str) -> String {
    let q = config::toml::quote;
    let l = config::Limits::default();
    let c = config::Checks::default();
    let text = format!(
        "# letterbox configuration. Paths are relative to this file's folder.\n\
         domain = {}        # mail for <user>@<domain> and <alias>@<domain> is the owner's\n\
         aliases = [\"postmaster\"]  # extra local parts delivered to the owner\n\
         user = {}          # the owner's login name (POP3/IMAP)\n\
         data_dir = {}      # folders live here, created mode 0700\n\
         password_hash = {} # set with: letterbox passwd\n\
         # allow_plaintext_auth = false  # allow passwords without TLS off loopback (don't)\n\
         # hide_client_ip = false    # mail you send: Received without your device's address\n\
         # subaddress_folders = true # mail for you+shop@ goes to folder \"shop\" when it exists\n\
         # run_as = \"letterbox\"      # drop root to this user after binding ports\n\
         \n\
         [listen]                       # addresses per protocol; [] disables one\n\
         smtp  = [\"0.0.0.0:25\"]\n\
         submission  = [\"0.0.0.0:587\"]   # phones and laptops send here (STARTTLS, then AUTH)\n\
         submissions = [\"0.0.0.0:465\"]   # the same over implicit TLS (RFC 8314)\n\
         imap  = [\"0.0.0.0:143\"]\n\
         imaps = [\"0.0.0.0:993\"]\n\
         pop3  = [\"0.0.0.0:110\"]\n\
         pop3s = [\"0.0.0.0:995\"]\n\
         managesieve = [\"0.0.0.0:4190\"]  # mail apps edit the Sieve rules here (RFC 5804)\n\
         http  = [\"0.0.0.0:80\"]      # ACME http-01, client autoconfig, the help page at /\n\
         https = [\"0.0.0.0:443\"]     # autoconfig, autodiscover, the MTA-STS policy\n\
         \n\
         [tls]\n\
         cert = \"cert.pem\"              # PEM chain (self-signed by init; replace with a real one)\n\
         key  = \"key.pem\"\n\
         \n\
         [dkim]\n\
         selector = \"lb1\"               # keys live in the data directory; `letterbox dkim` makes/prints them\n\
         \n\
         [limits]                       # defaults shown; boards override for their RAM\n\
         # message_size = {}\n\
         # spool_memory = {}\n\
         # free_space_reserve = {}\n\
         # connections = {}\n\
         # connections_per_ip = {}\n\
         # recipients = {}\n\
         # smtp_command_timeout = {}\n\
         # smtp_session_timeout = {}\n\
         # imap_idle_timeout = {}\n\
         # pop3_timeout = {}\n\
         # write_timeout = {}            # seconds a client may stop reading before it is cut\n\
         # auth_failures_lockout = {}\n\
         # compact_threshold = {}\n\
         \n\
         [outbound]                     # mail to other domains (submission after AUTH, sendmail)\n\
         # relay = \"smtp.provider.net:587\"  # absent: each recipient domain's MX directly\n\
         # relay_tls = \"starttls\"          # \"starttls\" | \"implicit\" | \"none\" (loopback relay only)\n\
         # relay_user = \"me@provider.net\"\n\
         # relay_password_file = \"relay.secret\"  # mode 0600 or stricter\n\
         # resolver = \"127.0.0.1:53\"       # default: the first nameserver of /etc/resolv.conf\n\
         # mx_port = 25\n\
         # ca_file = \"ca.pem\"              # default: the system bundle\n\
         \n\
         # [checks]                     # inbound mail (SMTP port 25); defaults shown\n\
         # spf = {}                   # RFC 7208 on MAIL FROM and HELO\n\
         # dkim = {}                  # RFC 6376 signatures (RFC 8463 ed25519 too)\n\
         # dmarc = {}                 # RFC 7489: p=reject refused, p=quarantine to Junk\n\
         # dnsbl = []                   # blocklist zones, e.g. [\"zen.spamhaus.org\"]; [] = off\n\
         # dnsbl_action = \"reject\"      # \"reject\" (554 at RCPT) | \"junk\" (file into Junk)\n\
         # greylist = false             # RFC 6647: first-time senders wait 5 min; SPF/DKIM-aligned skip it\n",
        q(domain),
        q(user),
        q(data_dir),
        q(password_hash),
        l.message_size,
        l.spool_memory,
        l.free_space_reserve,
        l.connections,
        l.connections_per_ip,
        l.recipients,
        l.smtp_command_timeout,
        l.smtp_session_timeout,
        l.imap_idle_timeout,
        l.pop3_timeout,
        l.write_timeout,
        l.auth_failures_lockout,
        l.compact_threshold,
        c.spf,
        c.dkim,
        c.dmarc,
    );
    crate::net::without_absent_protocols(text)
}

pub(super) fn init(a: &InitArgs) -> i32 {
    let path = a.dir.join(config::FILE_NAME);
    if path.exists() {
        eprintln!("letterbox: {} exists; not overwriting it", path.display());
        return exit::CANTCREAT;
    }
    let domain = a.domain.clone().unwrap_or_else(default_domain);
    let user = a
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| config::valid_local_part(u))
        .unwrap_or_else(|| "owner".into());
    let password = match crate::net::embedded::random_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("letterbox: {e}");
            return exit::SOFTWARE;
        }
    };
    let hash = crate::auth::hash_password(&crate::auth::Secret::from(password.as_str()));
    let text = config_template(&domain, &user, "data", &hash);
    // Validate what we are about to write, so init never leaves a config that fails to load.
    if let Err(e) = Config::parse(&path, &text) {
        eprintln!("letterbox: {e}");
        return exit::USAGE;
    }
    let names = [domain.clone(), format!("mail.{domain}"), "localhost".to_owned()];
    let r = store::create_private_dir(&a.dir)
        .and_then(|()| write_new(&path, text.as_bytes()))
        .and_then(|()| store::create_private_dir(&a.dir.join("data")))
        .and_then(|()| crate::net::tls::write_self_signed(&names, &a.dir.join("cert.pem"), &a.dir.join("key.pem")));
    match r {
        Ok(()) => {
            println!("wrote {}; data directory {}", path.display(), a.dir.join("data").display());
            println!("owner login: {user}  password: {password}  (shown once; change it with letterbox passwd)");
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: {}: {e}", path.display());
            exit::CANTCREAT
        }
    }
}

pub(super) fn passwd(cfg: Option<&Path>) -> i32 {
    let Some(path) = Config::locate(cfg) else {
        eprintln!("letterbox: no config found (pass --config PATH)");
        return exit::CONFIG;
    };
    if let Err(e) = Config::load(&path) {
        eprintln!("letterbox: {e}");
        return exit::CONFIG;
    }
    let pw = if io::stdin().is_terminal() {
        let a = crate::sys::read_password_tty("New password: ");
        let b = crate::sys::read_password_tty("Again: ");
        match (a, b) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                eprintln!("letterbox: the passwords differ; nothing changed");
                return 1;
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("letterbox: reading the password: {e}");
                return 1;
            }
        }
    } else {
        let mut line = String::new();
        if io::stdin().read_line(&mut line).is_err() {
            eprintln!("letterbox: cannot read the password from stdin");
            return 1;
        }
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if pw.len() < 8 || pw.len() > 1024 {
        eprintln!("letterbox: the password must have 8 to 1024 characters; nothing changed");
        return 1;
    }
    let hash = crate::auth::hash_password(&crate::auth::Secret::from(pw.as_str()));
    let r = std::fs::read_to_string(&path).and_then(|text| {
        let new = config::set_top_level_key(&text, "password_hash", &config::toml::quote(&hash));
        let tmp = path.with_extension("toml.new");
        crate::net::tls::write_private(&tmp, new.as_bytes())?;
        std::fs::rename(&tmp, &path)?;
        crate::sys::fsync_dir(path.parent().unwrap_or(Path::new(".")))
    });
    match r {
        Ok(()) => {
            println!("password changed in {} (send SIGHUP to a running server to apply it)", path.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: {}: {e}", path.display());
            1
        }
    }
}

pub(super) fn default_domain() -> String {
    std::fs::read_to_string("/etc/mailname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_ascii_lowercase())
        .ok()
        .filter(|s| s.contains('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        .unwrap_or_else(|| "example.org".into())
}

pub(super) fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template loads, and its commented `[checks]` table, uncommented, states the
    /// defaults.
    #[test]
    fn template_checks_section_states_the_defaults() {
        let text = config_template("example.org", "alice", "data", "h");
        let path = Path::new("/etc/x/letterbox.toml");
        assert_eq!(Config::parse(path, &text).unwrap().checks, config::Checks::default());
        let start = text.find("# [checks]").expect("a [checks] section");
        let (head, tail) = text.split_at(start);
        let tail: String = tail.lines().map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l))).collect();
        assert!(tail.starts_with("[checks]"), "{tail}");
        let c = Config::parse(path, &format!("{head}{tail}")).unwrap().checks;
        assert_eq!(c, config::Checks::default());
        let on = config::checks::BUILT_IN;
        assert_eq!((c.spf, c.dkim, c.dmarc, c.greylist), (on, on, on, false));
        assert!(tail.contains(&format!("spf = {on} ")), "{tail}");
    }
}
