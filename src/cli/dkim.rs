//! `letterbox dkim`: makes the Ed25519 DKIM key when there is none, loads an RSA key the
//! owner put beside it, and prints the DNS TXT records to publish (RFC 6376 §3.6.2.1), one
//! zone-file line per key, RSA first. Key layout: `mailauth::keys`. With `--sign` it signs
//! the message on stdin instead (RFC 6376 §5) and writes it to stdout with the
//! DKIM-Signature fields in front: the same `Signer` outbound delivery calls.

use std::io::{self, Read, Write};

use crate::config::Config;
use crate::mailauth::dkim_sign::Signer;
use crate::mailauth::keys::{self, KeyError, KeySet};
use crate::util::{exit, Spool};

/// Read size for `--sign`: the signer takes any chunk size; 64 KiB is one pipe buffer.
const CHUNK: usize = 64 * 1024;

pub(super) fn dkim(c: &Config, sign: bool) -> i32 {
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
        let rsa = dir.join(format!("{selector}.rsa.pem"));
        eprintln!(
            "letterbox: no RSA key; for one, run: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {0}; chmod 600 {0}",
            rsa.display()
        );
    }
    if sign {
        return sign_stdin(c, &set);
    }
    for k in &set.keys {
        println!("{}", k.zone_line(&c.domain));
    }
    exit::OK
}

/// Streams stdin through the signer into a spool (RAM, then a file in `DATA/tmp`), then
/// writes the signature fields and the message.
fn sign_stdin(c: &Config, set: &KeySet) -> i32 {
    let mut signer = Signer::new(&set.keys, &c.domain, crate::util::unix_now().max(0) as u64);
    let mut spool = Spool::new(&c.data_dir.join("tmp"), c.limits.spool_memory);
    let mut buf = vec![0; CHUNK];
    let mut input = io::stdin().lock();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return failed("reading the message", &e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        signer.update(chunk);
        if let Err(e) = spool.write(chunk) {
            return failed("spooling the message", &e);
        }
        if spool.len() > c.limits.message_size {
            eprintln!("letterbox: the message is larger than limits.message_size");
            return exit::DATAERR;
        }
    }
    let fields = match signer.finish() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("letterbox: not signed: {e}");
            return exit::DATAERR;
        }
    };
    let mut out = io::stdout().lock();
    let written = out
        .write_all(fields.concat().as_bytes())
        .and_then(|()| spool.reader())
        .and_then(|mut r| io::copy(&mut r, &mut out))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => exit::OK,
        Err(e) => failed("writing the message", &e),
    }
}

fn failed(what: &str, e: &io::Error) -> i32 {
    eprintln!("letterbox: {what}: {e}");
    exit::TEMPFAIL
}

fn report(e: &KeyError) -> i32 {
    eprintln!("letterbox: {e}");
    match e {
        KeyError::Io(..) => exit::CANTCREAT,
        KeyError::Permissions(..) | KeyError::Invalid(..) => exit::CONFIG,
    }
}
