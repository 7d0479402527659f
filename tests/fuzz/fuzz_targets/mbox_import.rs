//! Fuzz target: the streaming mbox reader (mboxo/mboxrd/mboxcl2 detection and splitting)
//! on arbitrary files; must never panic and must account for every byte it read.
#![no_main]
use letterbox::mbox::MboxReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("lb-fuzz-mbox-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("in.mbox");
    std::fs::write(&p, data).unwrap();
    if let Ok(mut r) = MboxReader::open(&p, &dir, 4096) {
        let mut n = 0;
        while let Ok(Some(_m)) = r.next_message() {
            n += 1;
            assert!(n <= data.len() + 1);
        }
        assert!(r.bytes_read <= data.len() as u64);
    }
});
