//! Fuzz target: the meta cache (`NAME.mcx`, `store::metacache`) and the meta section
//! decoder (`MimeSummary::from_meta`) on untrusted bytes. A folder with three messages
//! stored without a summary gets a meta cache made from the input: the input as the whole
//! file (mode 0), or a valid file header followed by entries whose lengths and CRCs are
//! fixed up so the fuzzer reaches the meta decoder (mode 1). Reading, decoding and
//! re-encoding every summary, caching new ones and compacting (which folds the cache into
//! the records) must never panic, and the three messages survive byte for byte.
#![no_main]
use letterbox::mime::MimeSummary;
use letterbox::store::{metacache, Folder, NewMessage, Store};
use letterbox::util::Spool;
use libfuzzer_sys::fuzz_target;

const BODIES: [&[u8]; 3] = [b"Subject: a\r\n\r\none\r\n", b"Subject: b\r\n\r\ntwo\r\n", b"Subject: c\r\n\r\nthree\r\n"];

/// The input cut into three entries for UIDs 1..=3 with valid headers.
fn entries(rest: &[u8], uidvalidity: u32, created: i64) -> Vec<u8> {
    let mut out = metacache::encode_file_header(uidvalidity, created).to_vec();
    let third = rest.len() / 3;
    for (i, chunk) in [&rest[..third], &rest[third..2 * third], &rest[2 * third..]].iter().enumerate() {
        out.extend(metacache::encode_entry(i as u32 + 1, chunk));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // Any bytes as a meta section: decode, and what decodes re-encodes to something that
    // decodes again.
    if let Some(s) = MimeSummary::from_meta(rest) {
        assert!(MimeSummary::from_meta(&s.to_meta()).is_some());
    }
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("lb-fuzz-mcx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let path = store.folder_path("INBOX").unwrap();
    let (v, created) = {
        let mut f = store.open_folder("INBOX").unwrap();
        for body in BODIES {
            let mut sp = Spool::new(&store.tmp_dir(), 1 << 20);
            sp.write(body).unwrap();
            f.append(&mut [NewMessage { body: sp, date: 0, flags: 0, keywords: vec![], meta: vec![], attrs: 0 }]).unwrap();
        }
        (f.uidvalidity(), f.state().created)
    };
    let file = if mode % 2 == 0 { rest.to_vec() } else { entries(rest, v, created) };
    std::fs::write(metacache::path_for(&path), &file).unwrap();
    let mut f = Folder::open(&path).unwrap();
    for e in f.entries().to_vec() {
        let meta = f.summary_meta(&e).unwrap();
        let s = MimeSummary::from_meta(&meta).unwrap_or_else(|| MimeSummary::parse(&f.body(&e).unwrap()));
        f.cache_meta(e.uid, &s.to_meta());
    }
    f.compact().unwrap();
    let f = Folder::open(&path).unwrap();
    let e = f.entries();
    assert_eq!(e.len(), 3);
    for (i, body) in BODIES.iter().enumerate() {
        assert_eq!(f.body(&e[i]).unwrap(), *body);
    }
    let _ = std::fs::remove_dir_all(&dir);
});
