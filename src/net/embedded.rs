//! The embedded default of issue 3: `letterbox serve` with no config anywhere creates
//! `./letterbox-data/` holding a letterbox.toml that listens on 127.0.0.1 only (SMTP 2525,
//! IMAP 1143, IMAPS 1993, POP3 1110, POP3S 1995,
//! ManageSieve 4190), a self-signed certificate and a random
//! owner password printed once (only its hash is stored). Later runs find and reuse it.
//! The inbound checks are off there: nothing from the internet reaches a loopback listener.

use std::path::{Path, PathBuf};

use crate::auth::{hash_password, Secret};
use crate::config::{self, Config, ConfigError};

/// Finds the config (issue 2/3 lookup order) or creates the embedded default.
pub fn load_or_create(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    if let Some(p) = Config::locate(explicit) {
        return Config::load(&p);
    }
    let dir = PathBuf::from(config::EMBEDDED_DIR);
    let path =
        create(&dir, "localhost", &default_user()).map_err(|e| ConfigError(format!("{}: {e}", dir.display())))?;
    Config::load(&path)
}

fn default_user() -> String {
    std::env::var("USER").ok().filter(|u| config::valid_local_part(u) && u != "root").unwrap_or_else(|| "owner".into())
}

/// A random password of 16 letters and digits from the OS RNG.
pub fn random_password() -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut raw = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| std::io::Error::other("no randomness"))?;
    Ok(raw.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

/// Writes DIR/letterbox.toml for loopback use, a certificate and a password hash.
pub fn create(dir: &Path, domain: &str, user: &str) -> std::io::Result<PathBuf> {
    crate::store::create_private_dir(dir)?;
    let password = random_password()?;
    let hash = hash_password(&Secret::from(password.as_str()));
    super::tls::write_self_signed(
        &[domain.to_owned(), "localhost".into()],
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
    )?;
    let q = config::toml::quote;
    let text = format!(
        "# letterbox embedded default: loopback only, unprivileged ports.\n\
         domain = {}\n\
         aliases = [\"postmaster\"]\n\
         user = {}\n\
         data_dir = \"mail\"\n\
         password_hash = {}\n\
         \n\
         [listen]\n\
         smtp  = [\"127.0.0.1:2525\"]\n\
         submission  = [\"127.0.0.1:1587\"]\n\
         submissions = [\"127.0.0.1:1465\"]\n\
         imap  = [\"127.0.0.1:1143\"]\n\
         imaps = [\"127.0.0.1:1993\"]\n\
         pop3  = [\"127.0.0.1:1110\"]\n\
         pop3s = [\"127.0.0.1:1995\"]\n\
         managesieve = [\"127.0.0.1:4190\"]\n\
         http  = [\"127.0.0.1:1080\"]\n\
         https = [\"127.0.0.1:1443\"]\n\
         \n\
         [tls]\n\
         cert = \"cert.pem\"\n\
         key  = \"key.pem\"\n\
         \n\
         # Loopback only: no mail from the internet arrives here to be judged.\n\
         [checks]\n\
         spf = false\n\
         dkim = false\n\
         dmarc = false\n",
        q(domain),
        q(user),
        q(&hash)
    );
    let text = super::without_absent_protocols(text);
    let path = dir.join(config::FILE_NAME);
    super::tls::write_private(&path, text.as_bytes())?;
    println!("letterbox: created {} (loopback only)", path.display());
    println!("letterbox: owner login: {user}  password: {password}  (shown once; change it with letterbox passwd)");
    Ok(path)
}
