//! DKIM signing keys in the data directory, and the DNS records that publish them
//! (RFC 6376 §3.6.1, RFC 8463 §4.2).
//!
//! Layout, for `[dkim] selector = "S"` (default `lb1`):
//!
//! | file | key | DNS name (selector) |
//! |---|---|---|
//! | `DATA/dkim/S.ed25519.pk8` | Ed25519, PKCS#8 DER (v1 or v2) | `S._domainkey.DOMAIN` |
//! | `DATA/dkim/S.rsa.pem` | RSA 2048–8192 bits, PEM `PRIVATE KEY` (PKCS#8, as `openssl genpkey` writes) or `RSA PRIVATE KEY` (PKCS#1) | `S-rsa._domainkey.DOMAIN` |
//!
//! The two keys need two selectors: RFC 6376 §3.6.2.2 leaves several TXT records at one
//! name undefined. `letterbox dkim` creates the Ed25519 key when it is missing (ring cannot
//! make RSA keys; the owner runs `openssl genpkey -algorithm RSA -pkeyopt
//! rsa_keygen_bits:2048 -out DATA/dkim/S.rsa.pem`). Key files must be private to their
//! owner (no group or other permission bits): a key others could read is refused, as
//! OpenSSH refuses such identity files. New files are mode 0600 in a 0700 folder, written to
//! a temporary name, synced, linked into place (never over an existing key) and the folder
//! synced (DESIGN.md §2.4).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair};

use crate::auth::base64;
pub use crate::dns::zonefile::{txt_strings, TXT_STRING_MAX};

/// The folder under the data directory.
pub const DIR: &str = "dkim";
/// Largest key file read: an 8192-bit RSA PEM is ~6.4 KB.
pub const KEY_FILE_MAX: u64 = 16 * 1024;
/// Suffix that makes the RSA key's selector differ from the Ed25519 one.
pub const RSA_SELECTOR_SUFFIX: &str = "-rsa";

/// Why the keys could not be used.
#[derive(Debug)]
pub enum KeyError {
    Io(PathBuf, io::Error),
    /// Group or others may access the file (its mode is given).
    Permissions(PathBuf, u32),
    /// Not a key this module can use (the reason is given).
    Invalid(PathBuf, &'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            KeyError::Permissions(p, m) => write!(
                f,
                "{}: mode {:03o} lets others read the key; refusing it (chmod 600 it, or replace the key if it leaked)",
                p.display(),
                m & 0o777
            ),
            KeyError::Invalid(p, why) => write!(f, "{}: {why}", p.display()),
        }
    }
}

impl std::error::Error for KeyError {}

/// A private key of one algorithm.
pub enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// One signing key and the selector it is published under.
pub struct Key {
    pub selector: String,
    pub pair: KeyPairKind,
}

impl Key {
    /// An Ed25519 key from PKCS#8 DER (v1 as openssl writes it, or v2 as ring does).
    pub fn ed25519_from_pkcs8(selector: &str, der: &[u8]) -> Option<Key> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?;
        Some(Key { selector: selector.to_owned(), pair: KeyPairKind::Ed25519(pair) })
    }

    /// An RSA key from PEM text (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn rsa_from_pem(selector: &str, pem: &[u8]) -> Result<Key, &'static str> {
        let (label, der) = pem_decode(pem).ok_or("not a PEM private key")?;
        let pair = match label {
            PemLabel::Pkcs8 => RsaKeyPair::from_pkcs8(&der),
            PemLabel::Pkcs1 => RsaKeyPair::from_der(&der),
        };
        // ring signs with 2048 to 8192-bit keys only (RFC 8301 §3.2 asks for >= 1024).
        let pair = pair.map_err(|_| "not an RSA private key of 2048 to 8192 bits")?;
        Ok(Key { selector: format!("{selector}{RSA_SELECTOR_SUFFIX}"), pair: KeyPairKind::Rsa(pair) })
    }

    /// The `a=` tag value (RFC 6376 §3.3, RFC 8463 §3).
    pub fn algorithm(&self) -> &'static str {
        match self.pair {
            KeyPairKind::Rsa(_) => "rsa-sha256",
            KeyPairKind::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// Signs the header hash input (RFC 6376 §3.7): RSASSA-PKCS1-v1_5 over SHA-256 of it
    /// (§3.3.1), or PureEd25519 over its SHA-256 digest (RFC 8463 §3).
    pub fn sign(&self, data: &[u8]) -> Option<Vec<u8>> {
        match &self.pair {
            KeyPairKind::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut sig).ok()?;
                Some(sig)
            }
            KeyPairKind::Ed25519(pair) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, data);
                Some(pair.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }

    /// The TXT record value: `k=rsa` with the SubjectPublicKeyInfo (RFC 6376 §3.6.1), or
    /// `k=ed25519` with the raw 32-octet key (RFC 8463 §4.2), base64.
    pub fn record(&self) -> String {
        match &self.pair {
            KeyPairKind::Rsa(pair) => {
                let spki = rsa_spki(pair.public().as_ref());
                format!("v=DKIM1; k=rsa; p={}", base64::encode(&spki, true))
            }
            KeyPairKind::Ed25519(pair) => {
                format!("v=DKIM1; k=ed25519; p={}", base64::encode(pair.public_key().as_ref(), true))
            }
        }
    }

    /// The record as one zone-file line: `S._domainkey.DOMAIN. IN TXT "…" "…"`.
    pub fn zone_line(&self, domain: &str) -> String {
        format!("{}._domainkey.{}. IN TXT {}", self.selector, domain, txt_strings(&self.record()))
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 3279
/// §2.3.1): SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { 0 unused, key } }.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    const ALGORITHM: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut inner = ALGORITHM.to_vec();
    inner.extend(der_tlv(0x03, &bits));
    der_tlv(0x30, &inner)
}

/// One DER type-length-value (X.690 §8.1.3: definite length, short or long form).
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

enum PemLabel {
    Pkcs8,
    Pkcs1,
}

/// The first private-key block of a PEM text (RFC 7468 §2, §10, §11): label and DER.
fn pem_decode(pem: &[u8]) -> Option<(PemLabel, Vec<u8>)> {
    let text = std::str::from_utf8(pem).ok()?;
    let (label, rest) = [("PRIVATE KEY", PemLabel::Pkcs8), ("RSA PRIVATE KEY", PemLabel::Pkcs1)]
        .into_iter()
        .find_map(|(name, label)| text.split_once(&format!("-----BEGIN {name}-----")).map(|(_, r)| (label, r)))?;
    let (body, _) = rest.split_once("-----END ")?;
    let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    Some((label, base64::decode(&b64).ok()?))
}

/// The keys found for a selector: RSA first (it is the signature every verifier checks).
pub struct KeySet {
    pub keys: Vec<Key>,
}

impl KeySet {
    /// Loads the keys present; none is not an error (nothing is signed then).
    pub fn load(data_dir: &Path, selector: &str) -> Result<KeySet, KeyError> {
        let dir = data_dir.join(DIR);
        let mut keys = Vec::new();
        let rsa = dir.join(format!("{selector}.rsa.pem"));
        if let Some(pem) = read_private(&rsa)? {
            keys.push(Key::rsa_from_pem(selector, &pem).map_err(|why| KeyError::Invalid(rsa, why))?);
        }
        let ed = dir.join(format!("{selector}.ed25519.pk8"));
        if let Some(der) = read_private(&ed)? {
            keys.push(
                Key::ed25519_from_pkcs8(selector, &der).ok_or(KeyError::Invalid(ed, "not an Ed25519 PKCS#8 key"))?,
            );
        }
        Ok(KeySet { keys })
    }

    /// Loads the keys, first creating the Ed25519 key if it is missing; says whether it did.
    pub fn load_or_create(data_dir: &Path, selector: &str) -> Result<(KeySet, bool), KeyError> {
        let path = data_dir.join(DIR).join(format!("{selector}.ed25519.pk8"));
        let created = match std::fs::symlink_metadata(&path) {
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_ed25519(&path)?,
            Err(e) => return Err(KeyError::Io(path, e)),
        };
        Ok((Self::load(data_dir, selector)?, created))
    }
}

/// Reads a key file if it exists, refusing one that group or others may access.
fn read_private(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let io_err = |e| KeyError::Io(path.to_path_buf(), e);
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let meta = f.metadata().map_err(io_err)?;
    if meta.mode() & 0o077 != 0 {
        return Err(KeyError::Permissions(path.to_path_buf(), meta.mode()));
    }
    if meta.len() > KEY_FILE_MAX {
        return Err(KeyError::Invalid(path.to_path_buf(), "file too large for a key"));
    }
    let mut data = Vec::new();
    f.take(KEY_FILE_MAX).read_to_end(&mut data).map_err(io_err)?;
    Ok(Some(data))
}

/// Generates an Ed25519 key and puts it at `path` atomically; false when another process
/// put one there first (its key is kept).
fn create_ed25519(path: &Path) -> Result<bool, KeyError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyError::Invalid(path.to_path_buf(), "the random generator failed"))?;
    write_new_private(path, doc.as_ref()).map_err(|e| KeyError::Io(path.to_path_buf(), e))
}

/// Writes `data` to a temporary file (0600), syncs it, links it to `path` unless that
/// exists, and syncs the folder (made 0700 if missing).
fn write_new_private(path: &Path, data: &[u8]) -> io::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let written = f.write_all(data).and_then(|()| f.sync_all());
    // A link fails if `path` exists, so a key is never replaced (a rename would replace it).
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    });
    let removed = std::fs::remove_file(&tmp);
    let created = linked?;
    removed?;
    crate::sys::fsync_dir(dir)?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = der_tlv(0x04, &[0; 300]);
        assert_eq!(long.get(..4), Some(&[0x04, 0x82, 0x01, 0x2c][..]));
        assert_eq!(long.len(), 304);
    }

    #[test]
    fn ed25519_record_is_the_raw_public_key() {
        // RFC 8032 §7.1 test 1 (the key of RFC 8463 Appendix A) as PKCS#8 v1.
        let mut der =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend(base64::decode(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap());
        let k = Key::ed25519_from_pkcs8("brisbane", &der).unwrap();
        assert_eq!(k.record(), "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        assert_eq!(
            k.zone_line("football.example.com"),
            "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""
        );
    }

    #[test]
    fn garbage_pem_is_refused() {
        assert!(Key::rsa_from_pem("s", b"not a key").is_err());
        assert!(Key::rsa_from_pem("s", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
    }
}
