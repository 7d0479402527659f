//! A remote MX that answers EHLO with a 10 MB reply line (BAD-INPUTS: "a peer that sends a
//! 10 MB reply line"): the outbound client fails the session as a temporary protocol error
//! as soon as the line passes `REPLY_LINE_MAX`, and its memory does not grow with the line.
//! Alone in its test binary so that this process's peak RSS (VmHWM) measures the client only.
#![cfg(feature = "outbound")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use letterbox::net::smtp_client::{deliver, Roots, Target, TlsPolicy, CONNECT_TIMEOUT};
use letterbox::proto::smtp::client::{Envelope, Status, Timeouts};

/// This process's peak resident set in KiB.
fn vm_hwm_kib() -> u64 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    st.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_megabyte_reply_line_keeps_memory_bounded() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/smtp_peer.py");
    let mut child = Command::new("python3").arg(script).arg("bigline").stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    out.read_line(&mut port).unwrap();
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port.trim().parse::<u16>().unwrap())),
        server_name: "localhost".into(),
        tls: TlsPolicy::None,
        relay: false,
        helo_name: "client.example.net".into(),
        auth: None,
        timeouts: Timeouts::default(),
        connect_timeout: CONNECT_TIMEOUT,
    };
    let msg = b"Subject: x\r\n\r\nbody\r\n".to_vec();
    let env = Envelope {
        mail_from: "a@example.org".into(),
        rcpts: vec!["b@example.net".into()],
        size: 20,
        eight_bit: false,
        smtputf8: false,
    };
    let before = vm_hwm_kib();
    let report = smol::block_on(deliver(target, &Roots::empty(), env, &mut smol::io::Cursor::new(msg)));
    let grown = vm_hwm_kib().saturating_sub(before);
    let _ = child.kill();
    let _ = child.wait();
    // The line is 10,485,760 bytes; buffering it would add at least that much. Under an
    // emulator (scripts/qemu-runner) VmHWM is qemu's, translation cache included: skip.
    let emulated = std::env::var("LETTERBOX_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty());
    assert!(emulated || grown < 4096, "peak RSS grew by {grown} KiB while reading a 10 MB reply line");
    assert_eq!(report.outcome.rcpts[0].status, Status::Temporary, "{report:?}");
    let error = report.outcome.error.unwrap_or_default();
    assert!(error.contains("reply line too long"), "{error}");
    eprintln!("VmHWM grew by {grown} KiB");
}
