//! Fuzz target: recovery. A valid folder with two messages, followed by arbitrary bytes
//! (a torn or corrupt tail, garbage records), is opened: it must never panic, must keep the
//! two committed messages byte-identical, and UIDs must ascend.
#![no_main]
use letterbox::store::{Folder, NewMessage, Store};
use letterbox::util::Spool;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // /dev/shm keeps the fsyncs cheap so the fuzzer explores more inputs per second.
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("lb-fuzz-recovery-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let path = store.folder_path("INBOX").unwrap();
    {
        let mut f = store.open_folder("INBOX").unwrap();
        for body in [&b"Subject: a\r\n\r\none\r\n"[..], b"Subject: b\r\n\r\ntwo\r\n"] {
            let mut sp = Spool::new(&store.tmp_dir(), 1 << 20);
            sp.write(body).unwrap();
            f.append(&mut [NewMessage { body: sp, date: 0, flags: 0, keywords: vec![], meta: vec![], attrs: 0 }]).unwrap();
        }
    }
    let _ = std::fs::remove_file(dir.join("INBOX.idx"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(data);
    std::fs::write(&path, &bytes).unwrap();
    if let Ok(f) = Folder::open(&path) {
        let e = f.entries();
        assert!(e.windows(2).all(|w| w[0].uid < w[1].uid));
        assert!(e.len() >= 2);
        assert_eq!(f.body(&e[0]).unwrap(), b"Subject: a\r\n\r\none\r\n");
        assert_eq!(f.body(&e[1]).unwrap(), b"Subject: b\r\n\r\ntwo\r\n");
    }
    let _ = std::fs::remove_dir_all(&dir);
});
