//! `letterbox dkim`: makes the Ed25519 DKIM key when there is none, loads an RSA key the
//! owner put beside it, and prints the DNS TXT records to publish (RFC 6376 §3.6.2.1), one
//! zone-file line per key, RSA first. Key layout: `mailauth::keys`.

use crate::config::Config;
use crate::mailauth::keys::{self, KeyError, KeySet};
use crate::util::exit;

pub(super) fn dkim(c: &Config) -> i32 {
    let selector = &c.dkim.selector;
    let (set, created) = match KeySet::load_or_create(&c.data_dir, selector) {
        Ok(r) => r,
        Err(e) => return report(&e),
    };
    let dir = c.data_dir.join(keys::DIR);
    if created {
        eprintln!("letterbox: created {}", dir.join(format!("{selector}.ed25519.pk8")).display());
    }
    if !set.keys.iter().any(|k| k.algorithm() == "rsa-sha256") {
        // Gmail and others verify RSA only (RFC 8463 is not universal yet): say how to add one.
        eprintln!(
            "letterbox: no RSA key; for one, run: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {} && chmod 600 it",
            dir.join(format!("{selector}.rsa.pem")).display()
        );
    }
    for k in &set.keys {
        println!("{}", k.zone_line(&c.domain));
    }
    exit::OK
}

fn report(e: &KeyError) -> i32 {
    eprintln!("letterbox: {e}");
    match e {
        KeyError::Io(..) => exit::CANTCREAT,
        KeyError::Permissions(..) | KeyError::Invalid(..) => exit::CONFIG,
    }
}
