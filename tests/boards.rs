//! Board files and the configs `scripts/flash.sh` writes for them (issue: boards).
//!
//! Also shows how an integration test starts the binary so that it works under
//! `cargo test --target <cross triple>` too: the test itself runs under the qemu runner from
//! `.cargo/config.toml`, but a child it spawns is started by the host kernel, which cannot run
//! an ARM binary (binfmt_misc is not registered here: "Exec format error"). The runner,
//! `scripts/qemu-runner`, therefore exports `LETTERBOX_TEST_RUNNER` (e.g. `qemu-aarch64-static`
//! or `qemu-arm-static -cpu arm1176`), and tests start the binary through
//! `common::letterbox` / `common::letterbox_argv`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::letterbox;
use letterbox::config::Config;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn boards() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("boards"))
        .expect("boards/")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

fn has_tools() -> bool {
    ["bash", "python3"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().map(|o| o.status.success()).unwrap_or(false))
}

#[test]
fn every_board_has_a_file() {
    let b = boards();
    for want in ["openwrt-aarch64", "openwrt-armv7", "openwrt-mipsel", "raspberry-pi-64", "raspberry-pi-zero", "x86_64"]
    {
        assert!(b.iter().any(|n| n == want), "boards/{want}.toml missing");
    }
}

#[test]
fn default_configs_pass_the_config_contract() {
    if !has_tools() {
        eprintln!("skipped: bash or python3 missing");
        return;
    }
    for board in boards() {
        let out = Command::new("bash")
            .arg(repo().join("scripts/flash.sh"))
            .args([&board, "--print-config", "--domain", "mail.example.net"])
            .output()
            .expect("run flash.sh");
        assert!(out.status.success(), "{board}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let cfg = Config::parse(Path::new("/etc/letterbox/letterbox.toml"), &text)
            .unwrap_or_else(|e| panic!("{board}: default config rejected: {e}\n{text}"));
        assert_eq!(cfg.domain, "mail.example.net", "{board}");
        assert!(!cfg.listen.smtp.is_empty(), "{board}: no smtp listener");
        let l = &cfg.limits;
        // A board's worst case (every connection spooling a full in-RAM buffer) stays small.
        assert!(
            l.connections * l.spool_memory <= 64 * 1024 * 1024,
            "{board}: {} connections x {} bytes spool is too much RAM",
            l.connections,
            l.spool_memory
        );
        assert!(l.connections_per_ip <= l.connections, "{board}");
        if board.starts_with("openwrt-") {
            assert_eq!(cfg.run_as.as_deref(), Some("letterbox"), "{board}: procd needs run_as");
            assert!(l.message_size <= 32 * 1024 * 1024, "{board}: message_size too big for a router");
        }
    }
}

#[test]
fn the_binary_starts_under_the_runner() {
    let out = letterbox().output().expect("spawn letterbox");
    // Whatever the CLI prints today, the process must have run and exited, not crashed
    // (a signal gives no exit code; qemu reports an illegal instruction that way too).
    assert!(out.status.code().is_some(), "letterbox died: {:?}", out.status);
}
