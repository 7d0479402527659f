//! Short soak (issue 8; the 10-minute form is scripts/soak.sh): the real server under steady
//! mixed load (SMTP in, IMAP FETCH/STORE/EXPUNGE, POP3 RETR/DELE; scripts/soak.py) for
//! LETTERBOX_SOAK_SECONDS (default 25). RSS after warm-up and at the end differ by little
//! (memory is bounded per session and per message, so steady load must not grow it), no
//! client sees an error, and once every client has closed the server holds exactly the
//! file descriptors it held idle.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;

#[test]
fn steady_mixed_load_keeps_rss_flat_and_leaks_no_fds() {
    if under_emulator() {
        eprintln!("SKIPPED steady_mixed_load_keeps_rss_flat_and_leaks_no_fds: RSS under an emulator measures qemu");
        return;
    }
    let secs = std::env::var("LETTERBOX_SOAK_SECONDS").unwrap_or_else(|_| "25".into());
    let mut srv = Server::start("soak", "", "");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/soak.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&secs)
        .arg(srv.pid().to_string())
        .env("LB_SMTP", srv.smtp.to_string())
        .env("LB_IMAP", srv.imap.to_string())
        .env("LB_POP3", srv.pop3.to_string())
        .env("LB_USER", "alice")
        .env("LB_PASS", PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "soak.py failed; server log:\n{}", srv.log_text());
    let line = stdout.lines().rfind(|l| l.starts_with("SOAK ")).expect("SOAK line");
    let kv: HashMap<&str, u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap_or(0)))
        .collect();
    let v = |k: &str| kv.get(k).copied().unwrap_or(0);
    assert!(v("smtp") >= 20 && v("imap") >= 5 && v("pop3") >= 3, "too little load: {line}");
    assert_eq!(v("errors"), 0, "client errors under steady load: {line}\n{stderr}");
    let growth = v("rss_end").saturating_sub(v("rss_start"));
    let margin = (v("rss_start") / 4).max(2048);
    assert!(growth <= margin, "RSS grew {growth} KiB (margin {margin} KiB) under steady load: {line}");
    assert_eq!(v("fd_end"), v("fd_idle"), "file descriptors leaked: {line}");
    srv.stop();
    check_clean(&srv.home);
}
