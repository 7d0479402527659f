//! Fuzz target: the folder index (a cache file, `store::index`) is untrusted input. A valid
//! folder with three messages gets an index built from the fuzz input: either the input as
//! the whole file, or the folder's real index with the input's bytes patched in at an offset
//! and both CRCs recomputed (so the fuzzer gets past them to the postcard head and the entry
//! table). Opening the folder, reading every entry it lists and appending one more message
//! must never panic nor allocate what the file cannot hold, and the three committed
//! messages must survive: rebuilt without the index, the folder holds them byte for byte.
#![no_main]
use letterbox::store::{index, Folder, NewMessage, Store};
use letterbox::util::{crc32c, Spool};
use libfuzzer_sys::fuzz_target;

const BODIES: [&[u8]; 3] = [b"Subject: a\r\n\r\none\r\n", b"Subject: b\r\n\r\ntwo\r\n", b"Subject: c\r\n\r\nthree\r\n"];

fn append(f: &mut Folder, store: &Store, body: &[u8]) {
    let mut sp = Spool::new(&store.tmp_dir(), 1 << 20);
    sp.write(body).unwrap();
    let _ = f.append(&mut [NewMessage { body: sp, date: 0, flags: 0, keywords: vec![], meta: vec![], attrs: 0 }]);
}

/// Recomputes the head and entry-table CRCs of an index laid out as
/// `"LBIX" version:4 head_len:4 head head_crc:4 entries entries_crc:4`.
fn fix_crcs(idx: &mut [u8]) {
    let Some(len) = idx.get(8..12).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize) else { return };
    let head_end = 12 + len;
    if idx.len() < head_end + 8 {
        return;
    }
    let crc = crc32c(&idx[12..head_end]).to_le_bytes();
    idx[head_end..head_end + 4].copy_from_slice(&crc);
    let table_end = idx.len() - 4;
    let crc = crc32c(&idx[head_end + 4..table_end]).to_le_bytes();
    idx[table_end..].copy_from_slice(&crc);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // /dev/shm keeps the fsyncs cheap so the fuzzer explores more inputs per second.
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("lb-fuzz-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let path = store.folder_path("INBOX").unwrap();
    {
        let mut f = store.open_folder("INBOX").unwrap();
        for body in BODIES {
            append(&mut f, &store, body);
        }
        f.save_index();
    }
    let idx_path = index::path_for(&path);
    let idx = match mode % 2 {
        0 => rest.to_vec(),
        _ => {
            let mut idx = std::fs::read(&idx_path).unwrap();
            if let Some((at, patch)) = rest.split_first_chunk::<2>() {
                let at = u16::from_le_bytes(*at) as usize % (idx.len() + 1);
                let end = (at + patch.len()).min(idx.len());
                idx[at..end].copy_from_slice(&patch[..end - at]);
                fix_crcs(&mut idx);
            }
            idx
        }
    };
    std::fs::write(&idx_path, &idx).unwrap();
    if let Ok(mut f) = Folder::open(&path) {
        for e in f.entries().to_vec() {
            let _ = f.body(&e);
        }
        append(&mut f, &store, b"Subject: d\r\n\r\nfour\r\n");
    }
    // Whatever the index said, the committed messages survive: rebuilt without the index
    // the folder opens and holds the three first, byte for byte. (An index whose CRCs are
    // right but whose counters lie, which only a tampered data directory has, can still make
    // that append collide with a record on disk; recovery then sets the colliding record
    // aside. `index::load` refuses the lies it can check cheaply.)
    let _ = std::fs::remove_file(&idx_path);
    let f = Folder::open(&path).unwrap();
    let e = f.entries();
    assert!(e.len() >= 3 && e.windows(2).all(|w| w[0].uid < w[1].uid));
    for (i, body) in BODIES.iter().enumerate() {
        assert_eq!(f.body(&e[i]).unwrap(), *body);
    }
    let _ = std::fs::remove_dir_all(&dir);
});
