//! DKIM signing benchmark (issue 14): time to sign one message of 4 KiB and of 1 MiB with
//! Ed25519, RSA-2048 (key made by `openssl genpkey`, skipped without openssl) and both,
//! fed in 64 KiB chunks as a spool reader would. Verification (issue 15): time to verify a
//! message of 4 KiB and of 100 KiB carrying both signatures (RSA-2048 and Ed25519, key
//! records served by a `dns::Zone`, so DNS is excluded), and one without any signature.
//! Prints one line per figure: `name value unit`.
//! Run: `cargo bench --bench dkim` (release profile).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use letterbox::dns::{Rdata, Zone};
use letterbox::mailauth::canon::{BodyCanon, Canon};
use letterbox::mailauth::dkim_sign::Signer;
use letterbox::mailauth::dkim_verify::{self, DkimResult, Verifier};
use letterbox::mailauth::keys::{Key, KeySet};

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: A <a@example.org>\r\nTo: b@example.net\r\nSubject: bench\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again.  \r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m.truncate(size - 2);
    m.extend_from_slice(b"\r\n");
    m
}

fn time_per_message(keys: &[Key], msg: &[u8]) -> f64 {
    let rounds = (8 << 20) / msg.len() + 4;
    let start = Instant::now();
    for _ in 0..rounds {
        let mut s = Signer::new(keys, "example.org", 1_700_000_000);
        for chunk in msg.chunks(64 * 1024) {
            s.update(chunk);
        }
        assert_eq!(s.finish().map(|v| v.len()), Ok(keys.len()));
    }
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// Microseconds to verify `msg` (fed in 64 KiB chunks); every one of its `signatures` must pass.
fn verify_per_message(zone: &Zone, msg: &[u8], signatures: usize) -> f64 {
    let rounds = (8 << 20) / msg.len() + 4;
    let start = Instant::now();
    for _ in 0..rounds {
        let mut v = Verifier::new();
        for chunk in msg.chunks(64 * 1024) {
            v.push(chunk);
        }
        let sigs = smol::block_on(dkim_verify::verify(&v.finish(), zone, 1_700_000_000));
        assert_eq!(sigs.len(), signatures);
        assert!(sigs.iter().all(|s| s.result == DkimResult::Pass), "{sigs:?}");
    }
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// The verification figures for 4 KiB and 100 KiB messages signed with `keys`.
fn verify_bench(keys: &[Key]) {
    let mut zone = Zone::default();
    for k in keys {
        zone.add(&format!("{}._domainkey.example.org", k.selector), Rdata::Txt(k.record().into_bytes()));
    }
    for size in [4 * 1024, 100 * 1024] {
        let msg = message(size);
        println!("dkim_verify_unsigned_{}k {:.1} us", size / 1024, verify_per_message(&zone, &msg, 0));
        let mut s = Signer::new(keys, "example.org", 1_700_000_000);
        s.update(&msg);
        let mut signed = s.finish().expect("signed").concat().into_bytes();
        signed.extend_from_slice(&msg);
        println!(
            "dkim_verify_rsa2048_ed25519_{}k {:.1} us",
            size / 1024,
            verify_per_message(&zone, &signed, keys.len())
        );
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("letterbox-bench-dkim-{}", std::process::id()));
    let data = PathBuf::from(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let (KeySet { keys: mut ed }, _) = KeySet::load_or_create(&data, "lb1").expect("ed25519 key");
    let rsa_path = data.join("dkim/lb1.rsa.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&rsa_path)
        .output()
        .is_ok_and(|o| o.status.success());
    let mut sets: Vec<(&str, Vec<Key>)> = Vec::new();
    if made {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&rsa_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let both = KeySet::load(&data, "lb1").expect("keys").keys;
        let rsa = KeySet::load(&data, "lb1").expect("keys").keys.into_iter().take(1).collect();
        sets.push(("rsa2048", rsa));
        sets.push(("both", both));
    }
    sets.insert(0, ("ed25519", std::mem::take(&mut ed)));
    for size in [4 * 1024, 1024 * 1024] {
        let msg = message(size);
        // The floor: SHA-256 alone over the message, and relaxed canonicalization alone.
        let rounds = (64 << 20) / size;
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, &msg));
        }
        println!("sha256_only_{}k {:.1} us", size / 1024, start.elapsed().as_secs_f64() * 1e6 / rounds as f64);
        let start = Instant::now();
        for _ in 0..rounds / 8 {
            let mut n = 0;
            let mut c = BodyCanon::new(Canon::Relaxed);
            c.feed(&msg, &mut |b| n += b.len());
            std::hint::black_box(c.finish(&mut |b| n += b.len()) + n as u64);
        }
        println!(
            "relaxed_canon_only_{}k {:.1} us",
            size / 1024,
            start.elapsed().as_secs_f64() * 1e6 / (rounds / 8) as f64
        );
        for (name, keys) in &sets {
            println!("dkim_sign_{name}_{}k {:.1} us", size / 1024, time_per_message(keys, &msg));
        }
    }
    if let Some((_, both)) = sets.iter().find(|(name, _)| *name == "both") {
        verify_bench(both);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
