//! DKIM verification (`mailauth::dkim_verify`) agrees with dkimpy (Debian's python3-dkim,
//! for /usr/bin/python3). tests/dkim/dkimpy_cases.py signs messages with `dkim.sign` (RSA
//! 1024/2048/4096 and 512 bits, Ed25519; every `c=`; with and without `l=`; several `h=`
//! sets, over-signing included; rsa-sha1), alters them in ways that must and must not break
//! a signature, and records `dkim.verify`'s verdict with the key records served from a dict.
//! Here the same records are served through `dns::Zone` and each message is fed to the
//! verifier in chunks of a size that varies by case.
//!
//! dkimpy's `verify` returns a bool for one signature (`idx`, the first by default); the
//! script asks it about each DKIM-Signature field of a message (some carry two). A verdict
//! agrees when letterbox says `pass` exactly when dkimpy says true — except rsa-sha1, which RFC 8301 §3.1 says verifiers MUST
//! NOT consider valid: there letterbox's `policy` with the rsa-sha1 reason stands for
//! dkimpy's true (and must be given only when dkimpy says true).
#![cfg(feature = "checks")]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use letterbox::auth::base64;
use letterbox::dns::{Rdata, Zone};
use letterbox::mailauth::dkim_verify::{verify, DkimResult, Signature, Verifier};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dkim/dkimpy_cases.py");

struct Case {
    name: String,
    /// dkimpy's verdict on each DKIM-Signature field, top down.
    dkimpy: Vec<bool>,
    msg: Vec<u8>,
}

fn generate() -> (Zone, Vec<Case>) {
    let dir: PathBuf = std::env::temp_dir().join(format!("letterbox-dkimv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("/usr/bin/python3").arg(SCRIPT).arg(&dir).output().expect("python3");
    assert!(out.status.success(), "dkimpy_cases.py: {}", String::from_utf8_lossy(&out.stderr));
    let mut zone = Zone::default();
    for line in std::fs::read_to_string(dir.join("keys.txt")).unwrap().lines() {
        let (name, record) = line.split_once('\t').unwrap();
        zone.add(name, Rdata::Txt(record.as_bytes().to_vec()));
    }
    let cases = std::fs::read_to_string(dir.join("cases.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let (name, ok, msg) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let dkimpy = ok.bytes().map(|b| b == b'1').collect();
            Case { name: name.to_owned(), dkimpy, msg: base64::decode(msg.as_bytes()).unwrap() }
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    (zone, cases)
}

fn check(msg: &[u8], chunk: usize, zone: &Zone, now: u64) -> Vec<Signature> {
    let mut v = Verifier::new();
    for part in msg.chunks(chunk) {
        v.push(part);
    }
    smol::block_on(verify(&v.finish(), zone, now))
}

/// letterbox's verdict in dkimpy's terms (module docs).
fn as_dkimpy(s: &Signature) -> bool {
    match s.result {
        DkimResult::Pass => true,
        DkimResult::Policy => s.reason.as_deref().is_some_and(|r| r.contains("rsa-sha1")),
        _ => false,
    }
}

#[test]
fn agrees_with_dkimpy() {
    let (zone, cases) = generate();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (mut verdicts, mut agree, mut passes, mut sha1) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let chunk = [1, 7, 64, 1000, usize::MAX][i % 5];
        let sigs = check(&case.msg, chunk, &zone, now);
        assert_eq!(sigs.len(), case.dkimpy.len(), "{}: signature count", case.name);
        for (n, (sig, &dkimpy)) in sigs.iter().zip(&case.dkimpy).enumerate() {
            verdicts += 1;
            if as_dkimpy(sig) == dkimpy {
                agree += 1;
            } else {
                disagreements.push(format!("{} (signature {n}): dkimpy {dkimpy} letterbox {sig:?}", case.name));
            }
            passes += usize::from(dkimpy);
            sha1 += usize::from(sig.algorithm == "rsa-sha1" && sig.result == DkimResult::Policy);
        }
    }
    println!(
        "dkimpy agreement: {agree}/{verdicts} signature verdicts in {} messages ({passes} dkimpy passes, {sha1} rsa-sha1 as policy)",
        cases.len()
    );
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
    assert!(cases.len() >= 200, "too few cases: {}", cases.len());
    assert!(passes >= 100 && verdicts - passes >= 100, "both verdicts must be well represented");
    assert!(sha1 > 0, "the rsa-sha1 cases must be there");
}

/// letterbox's own signer (issue 14) and verifier agree, in odd-sized chunks.
#[cfg(feature = "outbound")]
#[test]
fn letterbox_signatures_verify() {
    use letterbox::mailauth::dkim_sign::Signer;
    use letterbox::mailauth::keys::Key;
    // RFC 8032 §7.1 test 1 seed as PKCS#8 v1.
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend(base64::decode(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap());
    let keys = [Key::ed25519_from_pkcs8("lb1", &der).unwrap()];
    let mut zone = Zone::default();
    zone.add("lb1._domainkey.example.org", Rdata::Txt(keys[0].record().into_bytes()));
    let msg = b"From: A <a@example.org>\r\nTo: b@example.net\r\nSubject:  hi \r\n\r\n body \t\r\n\r\n";
    let mut s = Signer::new(&keys, "example.org", 1_700_000_000);
    s.update(msg);
    let mut signed = s.finish().unwrap().concat().into_bytes();
    signed.extend_from_slice(msg);
    for chunk in [1, 3, 50, 4096] {
        let sigs = check(&signed, chunk, &zone, 1_700_000_000);
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].result, DkimResult::Pass, "{sigs:?}");
    }
    // The From over-signing of the signer: a From added anywhere breaks it.
    let mut spoofed = b"From: m@example.com\r\n".to_vec();
    spoofed.extend_from_slice(&signed);
    assert_eq!(check(&spoofed, 64, &zone, 1_700_000_000)[0].result, DkimResult::Fail);
}
