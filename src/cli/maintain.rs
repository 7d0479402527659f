//! `check [--repair]` (verify every record, quarantine damage, never delete), `compact`
//! and `list`.

use std::io::Write;
use std::path::Path;

use crate::mbox;
use crate::store::{self, Folder, Store};
use crate::util::exit;

use super::report_err;

pub(super) fn check(s: &Store, repair: bool) -> i32 {
    let names = match s.list() {
        Ok(n) => n,
        Err(e) => return report_err("check", &e),
    };
    let mut damaged = false;
    for name in names {
        match check_folder(s, &name, repair) {
            Ok(ok) => damaged |= !ok,
            Err(e) => {
                println!("{name}: error: {e}");
                damaged = true;
            }
        }
    }
    i32::from(damaged)
}

/// One summary line per folder; Ok(false) when damage was found (and not repaired).
pub(super) fn check_folder(s: &Store, name: &str, repair: bool) -> store::Result<bool> {
    let path = s.folder_path(name)?;
    let v = Folder::verify(&path)?;
    let len = std::fs::metadata(&path)?.len();
    let torn = v.bad.first().is_some_and(|&(at, _)| tail_is_torn(&path, at, len));
    let mid_damage = !v.bad.is_empty() && !torn;
    let index_state = index_status(&path, &v);
    if repair && (!v.bad.is_empty() || index_state != "ok") {
        let _ = std::fs::remove_file(store::index::path_for(&path));
        let mut f = Folder::open(&path)?; // truncates torn tails, quarantines garbage tails
        if !f.state().damaged.is_empty() {
            quarantine_spans(&path, &f.state().damaged.clone())?;
            f.compact()?;
        }
        f.save_index();
        println!("{name}: repaired: {} messages", f.entries().len());
        return Ok(true);
    }
    let tail = if torn {
        format!(", uncommitted torn tail of {} bytes (cut on next write)", len - v.bad.first().map_or(len, |b| b.0))
    } else {
        String::new()
    };
    if mid_damage {
        println!(
            "{name}: DAMAGED at offset {} ({} records ok, {} messages); run check --repair",
            v.bad.first().map_or(0, |b| b.0),
            v.records,
            v.messages
        );
    } else {
        println!("{name}: ok: {} messages, {} records, index {index_state}{tail}", v.messages, v.records);
    }
    Ok(!mid_damage && index_state != "corrupt")
}

/// A bad region that is only an incomplete last record (what a crash leaves).
pub(super) fn tail_is_torn(path: &Path, at: u64, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut hb = [0u8; store::format::HEADER_LEN];
    if len - at < hb.len() as u64 {
        return true;
    }
    if f.read_exact_at(&mut hb, at).is_err() {
        return false;
    }
    store::format::decode_header(&hb).is_ok_and(|h| at + h.total() > len)
}

/// "ok", "missing", "stale" (valid for a prefix: replayed on open) or "corrupt".
pub(super) fn index_status(path: &Path, v: &store::folder::Verification) -> &'static str {
    let ip = store::index::path_for(path);
    if !ip.exists() {
        return "missing";
    }
    let Ok(file) = std::fs::File::open(path) else {
        return "corrupt";
    };
    let Ok(meta) = file.metadata() else {
        return "corrupt";
    };
    use std::os::unix::fs::MetadataExt;
    match store::index::load(&ip, &file, meta.ino(), true) {
        None => "stale",
        Some(st) => {
            if st.end == v.state.end && st.entries != v.state.entries {
                "corrupt"
            } else if st.end == v.state.end {
                "ok"
            } else {
                "stale"
            }
        }
    }
}

pub(super) fn quarantine_spans(path: &Path, spans: &[(u64, u64)]) -> store::Result<()> {
    use std::os::unix::fs::FileExt;
    let src = std::fs::File::open(path)?;
    let q = store::folder::quarantine_path(path);
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&q)?;
    for &(a, b) in spans {
        let mut buf = vec![0u8; (b - a).min(64 << 20) as usize];
        src.read_exact_at(&mut buf, a)?;
        out.write_all(&buf)?;
    }
    out.sync_all()?;
    println!("quarantined {} damaged spans into {}", spans.len(), q.display());
    Ok(())
}

pub(super) fn compact(s: &Store, only: Option<&str>) -> i32 {
    let names = match only {
        Some(n) => vec![n.to_owned()],
        None => match s.list() {
            Ok(n) => n,
            Err(e) => return report_err("compact", &e),
        },
    };
    for name in names {
        match s.open_folder(&name).and_then(|mut f| f.compact()) {
            Ok((before, after)) => println!("{name}: {before} -> {after} bytes"),
            Err(e) => return report_err(&format!("compact {name}"), &e),
        }
    }
    exit::OK
}

pub(super) fn list(s: &Store) -> i32 {
    let names = match s.list() {
        Ok(n) => n,
        Err(e) => return report_err("list", &e),
    };
    println!("{:<24} {:>9} {:>9} {:>12} {:>12}", "folder", "messages", "unseen", "bytes", "reclaimable");
    for name in names {
        match s.open_folder(&name) {
            Ok(f) => {
                let unseen = f.entries().iter().filter(|e| e.flags & mbox::SEEN == 0).count();
                let st = f.state();
                println!("{:<24} {:>9} {:>9} {:>12} {:>12}", name, f.entries().len(), unseen, st.end, st.reclaimable());
            }
            Err(e) => println!("{name:<24} error: {e}"),
        }
    }
    exit::OK
}
