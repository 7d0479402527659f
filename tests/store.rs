//! Store acceptance tests (issue 2): crash at every byte, kill -9 during deliveries,
//! concurrent writers, mbox round trip through Python's mailbox module, disk full, index
//! rebuild, and compaction killed at random points. BAD-INPUTS 50–57 where they apply.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use letterbox::store::{FlagOp, Store};

/// Test 2 (BAD-INPUTS 52): N committed messages plus one being appended, cut at every
/// offset inside the last record, reopened: exactly N messages, byte-identical, check clean.
#[test]
fn crash_at_every_byte_of_the_last_record() {
    let home = Home::new("everybyte");
    let msgs: Vec<Vec<u8>> = (0..5).map(|i| message(&format!("m{i}"), 200 + i * 50)).collect();
    for m in &msgs {
        assert_eq!(home.deliver(m), 0);
    }
    let path = home.data().join("INBOX.lbx");
    let committed = file_len(&path);
    assert_eq!(home.deliver(&message("last", 300)), 0);
    let full = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(home.data().join("INBOX.idx"));
    for cut in committed..full.len() as u64 {
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        let got = contents(&home.store(), "INBOX");
        assert_eq!(got.len(), 5, "cut at {cut}");
        for (i, (uid, _, body)) in got.iter().enumerate() {
            assert_eq!(*uid, i as u32 + 1);
            assert_eq!(body, &msgs[i], "cut at {cut}");
        }
        assert_eq!(file_len(&path), committed, "torn tail truncated on open (cut {cut})");
        if cut % 37 == 0 || cut == committed {
            check_clean(&home);
        }
    }
    // After recovery a new delivery gets the next UID (6: the torn one was never acknowledged).
    assert_eq!(home.deliver(&message("again", 100)), 0);
    assert_eq!(contents(&home.store(), "INBOX").last().unwrap().0, 6);
}

/// Test 3 (BAD-INPUTS 51): ≥300 `deliver` processes, 8 in parallel, SIGKILLed at random
/// moments; every exit-0 delivery present and byte-identical, UIDs unique and ascending.
#[test]
fn kill_9_during_deliveries_loses_nothing_acknowledged() {
    if under_emulator() {
        // qemu-user can deadlock a child forked while other guest threads run (seen here:
        // forked copies of the test binary that never exec). These tests fork from 8 threads
        // at once; the store code is the same on every target and the native run covers them.
        eprintln!("SKIPPED under an emulator: parallel forks can hang qemu-user");
        return;
    }
    let home = Home::new("kill9");
    let seed = Rng::from_env(0x5eed_0003).0;
    let acked = std::sync::Mutex::new(Vec::<Vec<u8>>::new());
    let killed = std::sync::atomic::AtomicUsize::new(0);
    // Calibrate: kill moments spread over twice the time one delivery takes while 8 run.
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let home = &home;
            s.spawn(move || {
                for i in 0..4 {
                    assert_eq!(home.deliver(&message(&format!("cal{t}-{i}"), 60_000)), 0);
                }
            });
        }
    });
    let window = (t0.elapsed().as_micros() as u64 / 4 * 2).max(1000);
    eprintln!("kill window {window} µs");
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (home, acked, killed) = (&home, &acked, &killed);
            s.spawn(move || {
                let mut rng = Rng(seed ^ ((t + 1) * 0x9E37_79B9));
                for i in 0..40 {
                    let msg = message(&format!("t{t}-{i}"), 500 + rng.below(120_000) as usize);
                    let mut child = home
                        .cmd(&["deliver"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    let mut stdin = child.stdin.take().unwrap();
                    let m2 = msg.clone();
                    let w = std::thread::spawn(move || {
                        use std::io::Write;
                        let _ = stdin.write_all(&m2);
                    });
                    std::thread::sleep(Duration::from_micros(rng.below(window)));
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    let _ = w.join();
                    if status.success() {
                        acked.lock().unwrap().push(msg);
                    } else {
                        killed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    let killed = killed.into_inner();
    eprintln!("{} acknowledged, {} killed", acked.len(), killed);
    assert!(killed > 20 && !acked.is_empty(), "the test must both kill and complete deliveries");
    let got = contents(&home.store(), "INBOX");
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "UIDs ascend");
    let stored: HashMap<&[u8], usize> = got.iter().map(|(_, _, b)| (b.as_slice(), 1)).collect();
    for m in &acked {
        assert!(stored.contains_key(m.as_slice()), "acknowledged message missing");
    }
    for (_, _, b) in &got {
        assert!(b.starts_with(b"From: test@example.net\r\n") && b.ends_with(b"\r\n"), "torn message visible");
    }
    check_clean(&home);
}

/// Test 4 (BAD-INPUTS 55): 8 processes × 200 deliveries → UIDs 1..=1600, all present.
#[test]
fn concurrent_writers_get_unique_ascending_uids() {
    if under_emulator() {
        // qemu-user can deadlock a child forked while other guest threads run (seen here:
        // forked copies of the test binary that never exec). These tests fork from 8 threads
        // at once; the store code is the same on every target and the native run covers them.
        eprintln!("SKIPPED under an emulator: parallel forks can hang qemu-user");
        return;
    }
    let home = Home::new("concurrent");
    std::thread::scope(|s| {
        for t in 0..8 {
            let home = &home;
            s.spawn(move || {
                for i in 0..200 {
                    assert_eq!(home.deliver(&message(&format!("w{t}-{i}"), 300)), 0);
                }
            });
        }
    });
    let got = contents(&home.store(), "INBOX");
    assert_eq!(got.len(), 1600);
    let uids: Vec<u32> = got.iter().map(|g| g.0).collect();
    assert_eq!(uids, (1..=1600).collect::<Vec<u32>>());
    let mut subjects: Vec<&[u8]> = got.iter().map(|g| g.2.as_slice()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 1600, "every message distinct");
    check_clean(&home);
}

/// Test 5: import an mbox, export it, and compare with Python's mailbox.mbox reading both.
#[test]
fn mbox_round_trip_matches_python_mailbox() {
    let home = Home::new("mbox");
    let mut src = Vec::new();
    src.extend_from_slice(b"From alice@example.net Mon Jan  1 10:00:00 2024\nSubject: one\nStatus: RO\n\nhello\n>From quoted in body\n>>From double quoted\nFrom: not a separator (no space after From? it has one)\n\n");
    src.extend_from_slice(
        b"From bob@example.net Tue Jan  2 11:00:00 2024\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n\n",
    );
    src.extend_from_slice(b"From carol@example.net Wed Jan  3 12:00:00 2024\nSubject: 8bit \xe9\xff\nX-Status: AF\n\nna\xefve caf\xe9 \x80\x81\n\n");
    src.extend_from_slice(b"From dave@example.net Thu Jan  4 13:00:00 2024\nSubject: empty body\n\n\n");
    src.extend_from_slice(
        b"From erin@example.net Fri Jan  5 14:00:00 2024\nSubject: no final newline\n\nlast line without newline",
    );
    let orig = home.dir.join("orig.mbox");
    std::fs::write(&orig, &src).unwrap();
    let out = home.run(&["import", orig.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = contents(&home.store(), "INBOX");
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].1 & 1, 1, "Status: R imported as \\Seen");
    assert_eq!(got[2].1 & 6, 6, "X-Status: AF imported as \\Answered \\Flagged");
    assert!(got[0].2.windows(2).all(|w| w != b"\n\n"), "stored with CRLF");
    assert!(got[0].2.ends_with(
        b"From quoted in body\r\n>From double quoted\r\nFrom: not a separator (no space after From? it has one)\r\n"
    ));
    let exported = home.dir.join("out.mbox");
    let out = home.run(&["export", "--output", exported.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let py = "import mailbox,sys,hashlib\n\
              for p in sys.argv[1:]:\n\
              \x20   mb = mailbox.mbox(p, create=False)\n\
              \x20   keys = list(mb.keys())\n\
              \x20   print(len(keys), ' '.join(hashlib.sha256(mb.get_bytes(k)).hexdigest()[:16] for k in keys))\n";
    let out = Command::new("python3").arg("-c").arg(py).arg(&orig).arg(&exported).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("5 "), "python reads 5 messages: {}", lines[0]);
    assert_eq!(
        lines[0],
        lines[1],
        "same messages, same bytes\n{}",
        String::from_utf8_lossy(&std::fs::read(&exported).unwrap())
    );
}

/// Maildir import keeps flags from the `:2,` info and puts new/ messages in unseen.
#[test]
fn maildir_import_keeps_flags() {
    let home = Home::new("maildir");
    let md = home.dir.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    std::fs::write(md.join("cur/1000.a.host:2,FS"), b"Subject: a\n\nseen and flagged\n").unwrap();
    std::fs::write(md.join("new/1001.b.host"), b"Subject: b\n\nnew\n").unwrap();
    let out = home.run(&["import", md.to_str().unwrap(), "--folder", "Archive"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = contents(&home.store(), "Archive");
    assert_eq!(got.len(), 2);
    let a = got.iter().find(|g| g.2.starts_with(b"Subject: a")).unwrap();
    assert_eq!(a.1, 1 | 4);
    assert_eq!(a.2, b"Subject: a\r\n\r\nseen and flagged\r\n");
}

/// Test 6 (BAD-INPUTS 50): a 2 MiB tmpfs fills up: exit 75, earlier mail intact, check
/// clean, and delivery works again after space is freed. Needs root to mount.
#[test]
fn disk_full_gives_tempfail_and_recovers() {
    if letterbox::sys::euid() != 0 {
        eprintln!("SKIPPED disk_full_gives_tempfail_and_recovers: needs root to mount a tmpfs (CI runs as root)");
        return;
    }
    let home = Home::new("diskfull");
    std::fs::create_dir_all(home.data()).unwrap();
    let st = Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"]).arg(home.data()).status().unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(home.data());
    std::fs::write(home.data().join("ballast"), vec![1u8; 256 * 1024]).unwrap();
    let mut delivered = Vec::new();
    let mut code = 0;
    for i in 0..100 {
        let m = message(&format!("fill{i}"), 60_000);
        code = home.deliver(&m);
        if code != 0 {
            break;
        }
        delivered.push(m);
    }
    assert_eq!(code, 75, "disk full must be a temporary failure");
    assert!(delivered.len() > 10);
    let got = contents(&home.store(), "INBOX");
    assert_eq!(got.iter().map(|g| &g.2).collect::<Vec<_>>(), delivered.iter().collect::<Vec<_>>());
    check_clean(&home);
    std::fs::remove_file(home.data().join("ballast")).unwrap();
    assert_eq!(home.deliver(&message("after", 60_000)), 0);
    assert_eq!(contents(&home.store(), "INBOX").len(), delivered.len() + 1);
    check_clean(&home);
}

fn flagged_folder(home: &Home, n: usize) -> Vec<(u32, u32, Vec<u8>)> {
    for i in 0..n {
        assert_eq!(home.deliver(&message(&format!("x{i}"), 400)), 0);
    }
    let store = home.store();
    let mut f = store.open_folder("INBOX").unwrap();
    let odd: Vec<u32> = (1..=n as u32).filter(|u| u % 2 == 1).collect();
    f.store_flags(&odd, FlagOp::Add, 1 | 4, &["$Forwarded".into()]).unwrap();
    f.store_flags(&[2, 4], FlagOp::Add, 8, &[]).unwrap();
    f.expunge(&[2, 4]).unwrap();
    drop(f);
    contents(&store, "INBOX")
}

/// Test 7 (BAD-INPUTS 57): a deleted, truncated or corrupted index is rebuilt on open with
/// the same UIDs and flags.
#[test]
fn damaged_index_is_rebuilt() {
    let home = Home::new("index");
    let want = flagged_folder(&home, 20);
    assert_eq!(want.len(), 18);
    assert_eq!(want[0].1, 1 | 4 | (1 << 5));
    let idx = home.data().join("INBOX.idx");
    let good = std::fs::read(&idx).unwrap();
    let damage: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| std::fs::remove_file(&idx).unwrap()),
        Box::new(|| std::fs::write(&idx, &good[..good.len() / 2]).unwrap()),
        Box::new(|| {
            let mut b = good.clone();
            let at = b.len() - 40;
            b[at] ^= 0x55;
            std::fs::write(&idx, b).unwrap()
        }),
        Box::new(|| std::fs::write(&idx, b"garbage").unwrap()),
    ];
    for d in damage {
        d();
        assert_eq!(contents(&home.store(), "INBOX"), want);
        check_clean(&home);
    }
}

/// Test 8: compaction killed at random points in 50 runs: the folder always opens whole,
/// old or new, with UIDs and flags preserved.
#[test]
fn compaction_killed_at_random_points() {
    if under_emulator() {
        // qemu-user can deadlock a child forked while other guest threads run (seen here:
        // forked copies of the test binary that never exec). These tests fork from 8 threads
        // at once; the store code is the same on every target and the native run covers them.
        eprintln!("SKIPPED under an emulator: parallel forks can hang qemu-user");
        return;
    }
    let home = Home::new("compact");
    let want = flagged_folder(&home, 300);
    let mut rng = Rng::from_env(0x5eed_0008);
    let path = home.data().join("INBOX.lbx");
    let mut compacted = 0;
    for run in 0..50 {
        // Re-create reclaimable space each run so every compaction has work to do.
        if run % 10 == 0 {
            let store = home.store();
            let mut f = store.open_folder("INBOX").unwrap();
            let uids: Vec<u32> = f.entries().iter().map(|e| e.uid).collect();
            f.store_flags(&uids, FlagOp::Add, 2, &[]).unwrap();
            f.store_flags(&uids, FlagOp::Remove, 2, &[]).unwrap();
        }
        let before = file_len(&path);
        let mut child = home.cmd(&["compact"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(15_000)));
        let _ = child.kill();
        let _ = child.wait();
        if file_len(&path) < before {
            compacted += 1;
        }
        assert_eq!(contents(&home.store(), "INBOX"), want, "run {run}");
        let names = Store::open(&home.data()).unwrap().list().unwrap();
        assert_eq!(names, vec!["INBOX".to_string()]);
    }
    eprintln!("{compacted} of 50 compactions completed before the kill");
    check_clean(&home);
    let out = home.run(&["compact"], b"");
    assert!(out.status.success());
    assert_eq!(contents(&home.store(), "INBOX"), want);
    // After compaction new mail still gets fresh UIDs.
    assert_eq!(home.deliver(&message("post", 100)), 0);
    assert_eq!(contents(&home.store(), "INBOX").last().unwrap().0, 301);
}

/// `deliver` exit codes: 65 for non-messages, 73 over the size limit.
#[test]
fn deliver_exit_codes() {
    let home = Home::with_config("exitcodes", "[limits]\nmessage_size = 2000\n");
    assert_eq!(home.deliver(b""), 65);
    assert_eq!(home.deliver(b"Subject: x\n\nnul \0 here\n"), 65);
    assert_eq!(home.deliver(b"just text, no header\n\nbody\n"), 65);
    assert_eq!(home.deliver(&message("big", 5000)), 73);
    assert_eq!(home.deliver(b"From sender@x Mon Jan  1 00:00:00 2024\nSubject: ok\n\nbody\n"), 0);
    let out = home.run(&["deliver", "--from", "bob@example.net"], b"Subject: rp\n\nx\n");
    assert!(out.status.success());
    let got = contents(&home.store(), "INBOX");
    assert_eq!(got[0].2, b"Subject: ok\r\n\r\nbody\r\n");
    assert_eq!(got[1].2, b"Return-Path: <bob@example.net>\r\nSubject: rp\r\n\r\nx\r\n");
    let bad_cfg = Home::with_config("badcfg", "bogus = 1\n");
    let out = bad_cfg.run(&["deliver"], b"Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":5: bogus: unknown key"));
}

/// BAD-INPUTS 57: a bad record in the middle is skipped on open, reported by check, and
/// quarantined (never deleted) by check --repair.
#[test]
fn mid_file_damage_is_quarantined_by_repair() {
    let home = Home::new("middamage");
    for i in 0..6 {
        assert_eq!(home.deliver(&message(&format!("d{i}"), 500)), 0);
    }
    let path = home.data().join("INBOX.lbx");
    let mut b = std::fs::read(&path).unwrap();
    let third = contents(&home.store(), "INBOX")[2].2.clone();
    let at = b.windows(third.len()).position(|w| w == third.as_slice()).unwrap() + 100;
    b[at] ^= 0xff;
    std::fs::write(&path, &b).unwrap();
    let _ = std::fs::remove_file(home.data().join("INBOX.idx"));
    let got = contents(&home.store(), "INBOX");
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2, 4, 5, 6]);
    let out = home.run(&["check"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let out = home.run(&["check", "--repair"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let q = std::fs::read(home.data().join("INBOX.lbx.quarantine")).unwrap();
    assert!(q.len() >= third.len(), "damaged record kept in quarantine");
    check_clean(&home);
    assert_eq!(contents(&home.store(), "INBOX").len(), 5);
}

/// RENAME INBOX (RFC 3501 §6.3.5) through the library, then each on-disk state a crash can
/// leave (see `Store::rename_inbox`), recovered by the next `Store::open`: every message is
/// in exactly one folder and the two names never share a file.
#[test]
fn rename_inbox_and_recovery_of_each_interrupted_state() {
    use std::os::unix::fs::MetadataExt;
    let msgs: Vec<Vec<u8>> = (0..3).map(|i| message(&format!("r{i}"), 300)).collect();
    let setup = |name: &str| {
        let home = Home::new(name);
        for m in &msgs {
            assert_eq!(home.deliver(m), 0);
        }
        home
    };
    let bodies =
        |home: &Home, f: &str| -> Vec<Vec<u8>> { contents(&home.store(), f).into_iter().map(|(_, _, b)| b).collect() };
    let data = |home: &Home, f: &str| home.data().join(f);
    // The whole operation.
    let home = setup("rename-inbox-ok");
    let uv = home.store().open_folder("INBOX").unwrap().uidvalidity();
    home.store().rename_inbox("Old").unwrap();
    assert_eq!(bodies(&home, "Old"), msgs);
    assert!(bodies(&home, "INBOX").is_empty());
    assert_eq!(home.store().open_folder("Old").unwrap().uidvalidity(), uv);
    // The new INBOX goes on: same UIDVALIDITY, UIDs after the old ones, a higher MODSEQ.
    let (old, inbox) = (home.store().open_folder("Old").unwrap(), home.store().open_folder("INBOX").unwrap());
    assert_eq!(inbox.uidvalidity(), uv);
    assert_eq!(inbox.state().uidnext, old.state().uidnext);
    assert!(inbox.state().highest_modseq > old.state().highest_modseq);
    drop((old, inbox));
    assert_eq!(home.deliver(&msgs[0]), 0);
    let uids: Vec<u32> = home.store().open_folder("INBOX").unwrap().entries().iter().map(|e| e.uid).collect();
    assert_eq!(uids, vec![4]);
    assert!(!data(&home, "INBOX.rename").exists());
    assert_eq!(home.store().rename_inbox("Old").unwrap_err().kind, letterbox::store::ErrorKind::Exists);
    check_clean(&home);
    // Crash after step 1 (journal only): nothing moved.
    let home = setup("rename-inbox-journal");
    std::fs::write(data(&home, "INBOX.rename"), "Old").unwrap();
    assert_eq!(bodies(&home, "INBOX"), msgs);
    assert!(!home.store().list().unwrap().contains(&"Old".to_owned()));
    assert!(!data(&home, "INBOX.rename").exists());
    // Crash after step 2 (journal + link): finished, INBOX empty, Old has them once.
    let home = setup("rename-inbox-linked");
    std::fs::write(data(&home, "INBOX.rename"), "Old").unwrap();
    std::fs::hard_link(data(&home, "INBOX.lbx"), data(&home, "Old.lbx")).unwrap();
    let store = home.store();
    assert_eq!(bodies(&home, "Old"), msgs);
    assert!(bodies(&home, "INBOX").is_empty());
    let (old, inbox) = (store.open_folder("Old").unwrap(), store.open_folder("INBOX").unwrap());
    assert_eq!((inbox.uidvalidity(), inbox.state().uidnext), (old.uidvalidity(), 4));
    drop((old, inbox));
    let (a, b) =
        (std::fs::metadata(data(&home, "INBOX.lbx")).unwrap(), std::fs::metadata(data(&home, "Old.lbx")).unwrap());
    assert!(a.ino() != b.ino() && b.nlink() == 1, "names still share a file");
    assert!(!data(&home, "INBOX.rename").exists());
    drop(store);
    check_clean(&home);
    // Crash after step 3 (journal left): only the journal goes; a later delivery stays.
    let home = setup("rename-inbox-replaced");
    home.store().rename_inbox("Old").unwrap();
    assert_eq!(home.deliver(&msgs[0]), 0);
    std::fs::write(data(&home, "INBOX.rename"), "Old").unwrap();
    assert_eq!(bodies(&home, "INBOX"), vec![msgs[0].clone()]);
    assert_eq!(bodies(&home, "Old"), msgs);
    assert!(!data(&home, "INBOX.rename").exists());
}

/// RENAME of a folder with its inferiors (RFC 3501 §6.3.5) through the library, then each
/// on-disk state a crash can leave (see `Store::rename_all`), recovered by the next
/// `Store::open`: all pairs renamed or none, every message once, no two names on one file,
/// special-use attributes and subscriptions under the new names.
#[test]
fn rename_all_and_recovery_of_each_interrupted_state() {
    use std::os::unix::fs::MetadataExt;
    let names = [("Work", "Old"), ("Work/2025", "Old/2025"), ("Work/2026", "Old/2026")];
    let setup = |name: &str| {
        let home = Home::new(name);
        for (i, (from, _)) in names.iter().enumerate() {
            let out = home.run(&["deliver", "--folder", from], &message(&format!("{from}-{i}"), 200));
            assert!(out.status.success(), "{out:?}");
        }
        // An attribute on an inferior (RFC 6154): it must follow the folder.
        home.store().set_special_use(&[("\\Archive".into(), "Work/2025".into())]).unwrap();
        home.store().set_subscriptions(&["INBOX".into(), "Work/2026".into()]).unwrap();
        home
    };
    let expected = {
        let home = setup("rename-all-expected");
        let store = home.store();
        names.map(|(from, _)| contents(&store, from).into_iter().map(|(_, _, b)| b).collect::<Vec<_>>())
    };
    let moves: Vec<(String, String)> = names.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let data = |home: &Home, f: &str| home.data().join(format!("{}.lbx", f.replace('/', "%2F")));
    let bodies =
        |home: &Home, f: &str| -> Vec<Vec<u8>> { contents(&home.store(), f).into_iter().map(|(_, _, b)| b).collect() };
    let assert_renamed = |home: &Home| {
        let listed = home.store().list().unwrap();
        for (i, (from, to)) in names.iter().enumerate() {
            assert!(!listed.contains(&from.to_string()), "{from} still listed: {listed:?}");
            assert_eq!(bodies(home, to), expected[i], "{to}");
            assert_eq!(std::fs::metadata(data(home, to)).unwrap().nlink(), 1, "{to} shares its file");
        }
        assert!(!home.data().join("folders.rename").exists());
        assert_eq!(home.store().special_use(), vec![("\\Archive".to_owned(), "Old/2025".to_owned())]);
        assert_eq!(home.store().subscriptions(), vec!["INBOX".to_owned(), "Old/2026".to_owned()]);
        check_clean(home);
    };
    // The whole operation; a second one finds the targets there.
    let home = setup("rename-all-ok");
    home.store().rename_all(&moves).unwrap();
    assert_renamed(&home);
    let store = home.store();
    store.create("Work").unwrap();
    assert_eq!(store.rename("Work", "Old").unwrap_err().kind, letterbox::store::ErrorKind::Exists);
    assert_eq!(store.rename("Nope", "New").unwrap_err().kind, letterbox::store::ErrorKind::NotFound);
    // One target of the tree exists: refused before anything changes.
    let home = setup("rename-all-undo");
    std::fs::copy(data(&home, "Work"), data(&home, "Old/2026")).unwrap();
    let err = home.store().rename_all(&moves).unwrap_err();
    assert_eq!(err.kind, letterbox::store::ErrorKind::Exists);
    assert!(home.store().list().unwrap().contains(&"Work/2025".to_owned()));
    assert!(!data(&home, "Old").exists() && !data(&home, "Old/2025").exists());
    // Crash after the journal only: rolled forward on open.
    let write_journal = |home: &Home| {
        let text: String = names.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
        std::fs::write(home.data().join("folders.rename"), text).unwrap();
    };
    let home = setup("rename-all-journal");
    write_journal(&home);
    assert_renamed(&home);
    // Crash with one pair linked, the others not yet.
    let home = setup("rename-all-half-linked");
    write_journal(&home);
    std::fs::hard_link(data(&home, "Work"), data(&home, "Old")).unwrap();
    assert_renamed(&home);
    // Crash with every pair linked, one source already unlinked.
    let home = setup("rename-all-linked");
    write_journal(&home);
    for (a, b) in names {
        std::fs::hard_link(data(&home, a), data(&home, b)).unwrap();
    }
    std::fs::remove_file(data(&home, "Work")).unwrap();
    assert_renamed(&home);
    // Crash after every unlink (journal left): only the journal goes; a later folder of the
    // old name is not touched.
    let home = setup("rename-all-done");
    home.store().rename_all(&moves).unwrap();
    home.store().create("Work").unwrap();
    write_journal(&home);
    let listed = home.store().list().unwrap();
    assert!(!home.data().join("folders.rename").exists());
    assert!(listed.contains(&"Work".to_owned()) && bodies(&home, "Work").is_empty(), "{listed:?}");
    for (i, (_, to)) in names.iter().enumerate() {
        assert_eq!(bodies(&home, to), expected[i], "{to}");
    }
    check_clean(&home);
}

/// The index is a cache and untrusted input: a valid one is used as is, and one whose CRCs
/// are right but whose table does not fit the folder file (a message reaching past the
/// bytes covered, UIDs out of order) is rebuilt from the file instead of believed.
#[test]
fn index_is_used_when_valid_and_rebuilt_when_its_table_does_not_fit() {
    use letterbox::store::{index, Folder};
    use letterbox::util::crc32c;
    use std::os::unix::fs::MetadataExt;
    let home = Home::new("index-fit");
    for i in 0..3 {
        assert_eq!(home.deliver(&message(&format!("ix{i}"), 300)), 0);
    }
    let store = home.store();
    let path = store.folder_path("INBOX").unwrap();
    let want = Folder::open(&path).unwrap().entries().to_vec(); // Saves the index on drop.
    let idx_path = index::path_for(&path);
    let good = std::fs::read(&idx_path).unwrap();
    let load = |bytes: &[u8]| {
        std::fs::write(&idx_path, bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let ino = file.metadata().unwrap().ino();
        index::load(&idx_path, &file, ino, true)
    };
    assert_eq!(load(&good).expect("a valid index is used").entries, want);
    // Patches entry `n` at byte `at` (see the layout in `store::index`) and fixes the CRC.
    let patched = |n: usize, at: usize, value: u32| {
        let mut b = good.clone();
        let head_len = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
        let table = 12 + head_len + 4;
        let off = table + 32 * n + at;
        b[off..off + 4].copy_from_slice(&value.to_le_bytes());
        let end = b.len() - 4;
        let crc = crc32c(&b[table..end]).to_le_bytes();
        b[end..].copy_from_slice(&crc);
        b
    };
    assert!(load(&patched(1, 8, 1 << 31)).is_none(), "a 2 GiB message past the file's end believed");
    assert!(load(&patched(2, 0, 1)).is_none(), "UIDs out of order believed");
    assert!(load(&patched(0, 0, 1000)).is_none(), "a UID at or above UIDNEXT believed");
    // Opening through such an index still gives the real messages.
    std::fs::write(&idx_path, patched(1, 8, 1 << 31)).unwrap();
    assert_eq!(Folder::open(&path).unwrap().entries(), &want[..]);
    // A valid index whose last record is a FLAGS, then an EXPUNGE, is used as well.
    let mut f = Folder::open(&path).unwrap();
    f.store_flags(&[2], FlagOp::Add, 1, &[]).unwrap();
    f.save_index();
    let flagged = load(&std::fs::read(&idx_path).unwrap()).expect("an index ending at a FLAGS record is used");
    assert_eq!(flagged.entries, f.entries());
    f.expunge(&[1]).unwrap();
    f.save_index();
    let expunged = load(&std::fs::read(&idx_path).unwrap()).expect("an index ending at an EXPUNGE record is used");
    assert_eq!(expunged.entries, f.entries());
    assert_eq!(expunged.entries.len(), 2);
}
