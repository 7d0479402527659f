//! Store benchmark (issue 2), run by scripts/bench-store.sh: durable deliveries per second
//! with 1 writer, 8 independent writers (separate handles: the cross-process case) and 8 (and 16)
//! senders through the group-commit writer thread; bytes written per message; open time
//! and RAM per message for 100,000 and 1,000,000-message folders. Prints one line per
//! figure: `name value unit`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use letterbox::store::writer::Writer;
use letterbox::store::{NewMessage, Store};
use letterbox::util::Spool;

fn msg(store: &Store, size: usize, i: usize) -> NewMessage {
    let mut s = Spool::new(&store.tmp_dir(), 1 << 20);
    let mut body = format!("From: bench@example.net\r\nSubject: bench {i}\r\n\r\n").into_bytes();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\r\n");
    s.write(&body).unwrap();
    NewMessage { body: s, date: 1_700_000_000, flags: 0, keywords: vec![], meta: vec![], attrs: 0 }
}

fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("write_bytes: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn rss_kib(field: &str) -> u64 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    st.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fresh(dir: &Path) -> Store {
    let _ = std::fs::remove_dir_all(dir);
    Store::open(dir).unwrap()
}

fn one_writer(dir: &Path, n: usize) {
    let store = fresh(dir);
    let mut f = store.open_folder("INBOX").unwrap();
    let w0 = write_bytes();
    let t = Instant::now();
    for i in 0..n {
        f.append(&mut [msg(&store, 4096, i)]).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!("deliveries_1_writer {:.0} msg/s", n as f64 / secs);
    println!("bytes_written_per_4k_msg_1_writer {:.0} bytes", (write_bytes() - w0) as f64 / n as f64);
}

fn eight_handles(dir: &Path, n: usize) {
    let store = fresh(dir);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let store = &store;
            s.spawn(move || {
                let mut f = store.open_folder("INBOX").unwrap();
                for i in 0..n / 8 {
                    f.append(&mut [msg(store, 4096, i)]).unwrap();
                }
            });
        }
    });
    println!("deliveries_8_handles {:.0} msg/s", n as f64 / t.elapsed().as_secs_f64());
}

fn group_commit(dir: &Path, n: usize, writers: usize) {
    let store = fresh(dir);
    let w = Writer::spawn(store.clone()).unwrap();
    let w0 = write_bytes();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let (store, w) = (&store, w.clone());
            s.spawn(move || {
                for i in 0..n / writers {
                    w.append_blocking("INBOX", msg(store, 4096, i)).unwrap();
                }
            });
        }
    });
    let n = n / writers * writers;
    println!("deliveries_{writers}_group_commit {:.0} msg/s", n as f64 / t.elapsed().as_secs_f64());
    println!("bytes_written_per_4k_msg_{writers}_group_commit {:.0} bytes", (write_bytes() - w0) as f64 / n as f64);
}

/// Builds a folder of `n` small messages in large batches (fast), then measures opens.
fn scale(dir: &Path, n: usize) {
    let store = fresh(dir);
    {
        let mut f = store.open_folder("INBOX").unwrap();
        let mut i = 0;
        while i < n {
            let k = (n - i).min(20_000);
            let mut batch: Vec<NewMessage> = (0..k).map(|j| msg(&store, 600, i + j)).collect();
            f.append(&mut batch).unwrap();
            i += k;
        }
        f.save_index();
    }
    // Measure in a child process so RSS is only the open folder.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe).arg("--open").arg(dir).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("{}_{n} {}", line.split(' ').next().unwrap_or(""), line.split_once(' ').map_or("", |x| x.1));
    }
}

fn open_child(dir: &Path) {
    let before = rss_kib("VmRSS:");
    let store = Store::open(dir).unwrap();
    let t = Instant::now();
    let f = store.open_folder("INBOX").unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let n = f.entries().len();
    let after = rss_kib("VmHWM:");
    println!("open_with_index_ms {ms:.1} ms");
    println!("rss_after_open_kib {after} KiB");
    println!("ram_bytes_per_message {:.1} bytes", (after.saturating_sub(before) * 1024) as f64 / n as f64);
    drop(f);
    let _ = std::fs::remove_file(dir.join("INBOX.idx"));
    let t = Instant::now();
    let f = store.open_folder("INBOX").unwrap();
    println!("open_rebuild_ms {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    assert_eq!(f.entries().len(), n);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--open") {
        open_child(Path::new(&args[i + 1]));
        return;
    }
    let base = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("letterbox-bench-store"));
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() {
        one_writer(&base, n);
        eight_handles(&base, n);
    }
    // 8 writers is the figure; 16 is an SMTP server with more sessions than that.
    for writers in [8, 16] {
        group_commit(&base, n, writers);
    }
    let sizes = std::env::var("BENCH_SCALE").unwrap_or_else(|_| "100000,1000000".into());
    for s in sizes.split(',').filter_map(|s| s.parse().ok()) {
        scale(&base, s);
    }
    let _ = std::fs::remove_dir_all(&base);
}
