//! DKIM signing (issue 14) end to end: `letterbox dkim` makes, reuses and prints keys, and
//! messages signed by `mailauth::dkim_sign::Signer` with those keys verify in dkimpy
//! (Debian's python3-dkim, for /usr/bin/python3) against the exact TXT records the command
//! printed, joined as a DNS client joins the strings. Altered messages must fail there.
//! The RSA key is made with `openssl genpkey`, as the owner would. Messages are signed
//! through the library (fed in odd-sized chunks) and by the binary (`letterbox dkim --sign`).
#![cfg(feature = "outbound")]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Home;
use letterbox::mailauth::dkim_sign::Signer;
use letterbox::mailauth::keys::KeySet;

fn dkim(home: &Home) -> Output {
    home.run(&["dkim"], b"")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "letterbox dkim failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A zone-file line `NAME. IN TXT "a" "b"` as (name without the dot, the strings joined).
fn parse_zone_line(line: &str) -> (String, String) {
    let (name, rest) = line.split_once(". IN TXT ").unwrap_or_else(|| panic!("not a TXT line: {line:?}"));
    let mut value = String::new();
    let mut strings = 0;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                strings += 1;
                let mut s = String::new();
                loop {
                    match chars.next().expect("unterminated string") {
                        '"' => break,
                        '\\' => s.push(chars.next().unwrap()),
                        c => s.push(c),
                    }
                }
                assert!(s.len() <= 255, "a TXT string over 255 octets");
                value.push_str(&s);
            }
            ' ' => {}
            c => panic!("unexpected {c:?} in {line:?}"),
        }
    }
    assert!(strings >= 1);
    (name.to_owned(), value)
}

fn records(out: &str) -> Vec<(String, String)> {
    out.lines().map(parse_zone_line).collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The RSA public key as openssl prints it (SubjectPublicKeyInfo DER, base64).
fn openssl_public(key: &Path) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl pkey -in '{}' -pubout -outform DER | base64 -w0", key.display()))
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn dkim_command_creates_reuses_and_picks_up_rsa() {
    let home = Home::new("dkim-cmd");
    let first = dkim(&home);
    let out1 = stdout(&first);
    assert!(String::from_utf8_lossy(&first.stderr).contains("created"), "{}", String::from_utf8_lossy(&first.stderr));
    let recs = records(&out1);
    assert_eq!(recs.len(), 1, "{out1}");
    assert_eq!(recs[0].0, "lb1._domainkey.example.org");
    assert!(recs[0].1.starts_with("v=DKIM1; k=ed25519; p="), "{out1}");
    let ed = home.data().join("dkim/lb1.ed25519.pk8");
    assert_eq!(mode(&ed), 0o600);
    assert_eq!(mode(&home.data().join("dkim")), 0o700);
    assert!(std::fs::read_dir(home.data().join("dkim")).unwrap().count() == 1, "a temporary file was left");

    // A second run reuses the key: the same record, nothing created.
    let second = dkim(&home);
    assert_eq!(stdout(&second), out1);
    assert!(!String::from_utf8_lossy(&second.stderr).contains("created"));

    // An RSA key from openssl: both records, RSA first, its value split into strings.
    let rsa = home.data().join("dkim/lb1.rsa.pem");
    common::make_rsa(&rsa);
    let out2 = stdout(&dkim(&home));
    let recs = records(&out2);
    assert_eq!(recs.len(), 2, "{out2}");
    assert_eq!(recs[0].0, "lb1-rsa._domainkey.example.org");
    assert_eq!(recs[0].1, format!("v=DKIM1; k=rsa; p={}", openssl_public(&rsa)));
    assert!(out2.lines().next().unwrap().matches("\" \"").count() >= 1, "long value not split: {out2}");
    assert_eq!(out2.lines().nth(1).unwrap(), out1.trim_end());

    // The same key in PKCS#1 form (`openssl rsa -traditional`) gives the same record.
    let o = Command::new("openssl").arg("rsa").arg("-in").arg(&rsa).args(["-traditional", "-out"]).arg(&rsa).output();
    assert!(o.unwrap().status.success());
    assert!(std::fs::read_to_string(&rsa).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    assert_eq!(stdout(&dkim(&home)), out2);

    // A key others may read is refused (exit 78, EX_CONFIG), and so is a key of another kind.
    for (path, bad) in [(&rsa, 0o644), (&ed, 0o640)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bad)).unwrap();
        let o = dkim(&home);
        assert_eq!(o.status.code(), Some(78), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&path.display().to_string()) && err.contains("chmod 600"), "{err}");
        assert!(o.stdout.is_empty());
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A message without From is not signed (RFC 6376 §5.4): EX_DATAERR, nothing written.
    let o = home.run(&["dkim", "--sign"], b"Subject: no From\r\n\r\nbody\r\n");
    assert_eq!(o.status.code(), Some(65), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    std::fs::write(&rsa, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    assert_eq!(dkim(&home).status.code(), Some(78));
}

#[test]
fn dkim_command_uses_the_configured_selector() {
    let home = Home::with_config("dkim-sel", "[dkim]\nselector = \"mail2026\"\n");
    let recs = records(&stdout(&dkim(&home)));
    assert_eq!(recs[0].0, "mail2026._domainkey.example.org");
    assert!(home.data().join("dkim/mail2026.ed25519.pk8").is_file());
}

/// A home with both keys; returns it and the records `letterbox dkim` printed.
fn home_with_keys(name: &str) -> (Home, BTreeMap<String, String>) {
    let home = Home::new(name);
    stdout(&dkim(&home));
    common::make_rsa(&home.data().join("dkim/lb1.rsa.pem"));
    let recs = records(&stdout(&dkim(&home))).into_iter().collect();
    (home, recs)
}

/// Signs `msg` fed in chunks cycling through `sizes`; returns the signed message.
fn sign(keys: &KeySet, msg: &[u8], sizes: &[usize], now: u64) -> Vec<u8> {
    let mut s = Signer::new(&keys.keys, "example.org", now);
    let (mut at, mut i) = (0, 0);
    while at < msg.len() {
        let n = sizes[i % sizes.len()].min(msg.len() - at);
        s.update(&msg[at..at + n]);
        (at, i) = (at + n, i + 1);
    }
    let fields = s.finish().unwrap();
    assert_eq!(fields.len(), 2);
    assert!(fields[0].contains("a=rsa-sha256") && fields[1].contains("a=ed25519-sha256"));
    // Over-signing: each test message has one From, and h= lists it twice. (dkimpy adds
    // From to h= itself when verifying, so the `.from.bad` cases fail there either way.)
    for f in &fields {
        let h = f.replace("\r\n ", "").split("h=").nth(1).unwrap().split(';').next().unwrap().to_owned();
        assert_eq!(h.split(':').filter(|n| *n == "from").count(), 2, "{f}");
    }
    let mut out = fields.concat().into_bytes();
    out.extend_from_slice(msg);
    out
}

/// dkimpy's verdict on signature 0 (RSA) and 1 (Ed25519) of each file, one line per file.
fn dkimpy(records: &BTreeMap<String, String>, files: &[PathBuf]) -> Vec<String> {
    let recs: Vec<String> = records.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
    let script = format!(
        "import sys, dkim\n\
         recs = {{{}}}\n\
         def dns(name, timeout=5):\n\
         \x20   return recs.get(name.decode().rstrip('.'), '').encode() or None\n\
         def check(msg, i):\n\
         \x20   try:\n\
         \x20       return dkim.DKIM(msg).verify(idx=i, dnsfunc=dns)\n\
         \x20   except dkim.DKIMException as e:\n\
         \x20       print(path, i, e, file=sys.stderr)\n\
         \x20       return False\n\
         for path in sys.argv[1:]:\n\
         \x20   msg = open(path, 'rb').read()\n\
         \x20   print(' '.join(str(check(msg, i)) for i in (0, 1)))\n",
        recs.join(", ")
    );
    let o = Command::new("/usr/bin/python3").arg("-c").arg(script).args(files).output().expect("/usr/bin/python3");
    assert!(o.status.success(), "dkimpy: {}", String::from_utf8_lossy(&o.stderr));
    eprintln!("dkimpy:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn test_messages() -> Vec<(&'static str, Vec<u8>)> {
    let plain = b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\n\
Date: Fri, 04 Dec 2026 02:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob.\r\n\r\n-- \r\nAlice\r\n"
        .to_vec();
    let mut folded = b"From: Alice <alice@example.org>\r\nTo: ".to_vec();
    for i in 0..40 {
        folded.extend_from_slice(format!("r{i}@example.net,\r\n\t").as_bytes());
    }
    folded
        .extend_from_slice(b"last@example.net\r\nCc:   c@example.net  \r\nSubject: A long\r\n   folded \t subject\r\n");
    folded.extend_from_slice(b"References:");
    for i in 0..60 {
        folded.extend_from_slice(format!("\r\n <thread-{i}@example.org>").as_bytes());
    }
    folded.extend_from_slice(b"\r\nIn-Reply-To: <thread-59@example.org>\r\nX-Unsigned: x\r\n\r\nbody\r\n");
    let eight = "From: Jörg <joerg@example.org>\r\nTo: b@example.net\r\nSubject: Grüße\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nnaïve café \u{1F600}\r\n"
        .as_bytes()
        .iter()
        .copied()
        .chain(*b"latin-1 \xe9\xff\r\n")
        .collect();
    let trailing = b"From: a@example.org\r\nSubject: blank lines\r\n\r\ntext  \t\r\n\r\n\r\n \r\n\r\n".to_vec();
    let unterminated = b"From: a@example.org\r\nSubject: no final CRLF\r\n\r\nfirst\r\nlast line".to_vec();
    let empty = b"From: a@example.org\r\nSubject: empty body\r\n\r\n".to_vec();
    let mut big = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
    let line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ  \t \r\n";
    while big.len() < 5 << 20 {
        big.extend_from_slice(line);
    }
    vec![
        ("plain", plain),
        ("folded", folded),
        ("8bit", eight),
        ("trailing", trailing),
        ("unterminated", unterminated),
        ("empty", empty),
        ("5mb", big),
    ]
}

/// Replaces the first `from` after the signatures with `to`.
fn alter(signed: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let start = signed.windows(7).position(|w| w.eq_ignore_ascii_case(b"\r\nfrom:")).unwrap();
    let at = start + signed[start..].windows(from.len()).position(|w| w == from).expect("pattern");
    [&signed[..at], to, &signed[at + from.len()..]].concat()
}

#[test]
fn signatures_verify_in_dkimpy_and_alterations_fail() {
    let (home, recs) = home_with_keys("dkim-verify");
    let keys = KeySet::load(&home.data(), "lb1").unwrap();
    let now = letterbox::util::unix_now() as u64;
    let dir = home.dir.join("msgs");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut files, mut names) = (Vec::new(), Vec::new());
    let mut save = |name: String, bytes: &[u8]| {
        let p = dir.join(&name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
        names.push(name);
    };
    for (name, msg) in test_messages() {
        let signed = sign(&keys, &msg, &[1, 3, 1000, 4093, 65537], now);
        // Deterministic signatures (RSASSA-PKCS1-v1_5, Ed25519): chunking changes nothing.
        assert!(sign(&keys, &msg, &[usize::MAX], now) == signed, "{name}: chunking changed the signature");
        save(format!("{name}.ok"), &signed);
        // The binary signs with the same Signer: `letterbox dkim --sign` (stdin to stdout).
        let o = home.run(&["dkim", "--sign"], &msg);
        assert!(o.status.success(), "dkim --sign: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stdout.ends_with(&msg) && o.stdout.starts_with(b"DKIM-Signature: v=1; a=rsa-sha256;"), "{name}");
        save(format!("{name}.bin.ok"), &o.stdout);
        save(
            format!("{name}.relayed.ok"),
            &[&b"Received: from relay by mx; Fri, 4 Dec 2026 02:00:01 +0000\r\n"[..], &signed].concat(),
        );
        save(format!("{name}.subject.bad"), &alter(&signed, b"Subject: ", b"Subject: Re: "));
        save(format!("{name}.from.bad"), &[&b"From: mallory@evil.example\r\n"[..], &signed].concat());
        let body_at = signed.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        if body_at < signed.len() {
            let mut b = signed.clone();
            let i = body_at + (signed.len() - body_at) / 2;
            b[i] = if b[i] == b'x' { b'y' } else { b'x' };
            save(format!("{name}.body.bad"), &b);
        } else {
            save(format!("{name}.body.bad"), &[&signed[..], b"appended\r\n"].concat());
        }
    }
    let verdicts = dkimpy(&recs, &files);
    assert_eq!(verdicts.len(), names.len());
    for (name, v) in names.iter().zip(&verdicts) {
        let want = if name.ends_with(".ok") { "True True" } else { "False False" };
        assert_eq!(v, want, "{name}: dkimpy says {v} (RSA, Ed25519)");
    }
}
