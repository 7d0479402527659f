//! Fuzz target: the SMTP receiver core (command parser + DATA receiver) on arbitrary bytes
//! in arbitrary chunks; the first byte picks the chunk size (bits 0-5) and whether the
//! session is a submission listener with AUTH (bit 6; bit 7: credentials accepted). Must
//! never panic, and every body byte it hands out stays bounded per chunk.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use letterbox::proto::smtp::{Event, PeerInfo, Policy, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let policy = Arc::new(Policy {
        hostname: "mx.example.org".into(),
        domain: "example.org".into(),
        aliases: vec!["postmaster".into()],
        user: "alice".into(),
        max_message_size: 4096,
        max_recipients: 5,
        smtp_line: 1000,
        tls_available: true,
        command_timeout_ms: 300_000,
        session_timeout_ms: 1_800_000,
        submission: split & 0x40 != 0,
        allow_plaintext_auth: true,
        loopback_plaintext: true,
        relay_after_auth: true,
        hide_client_ip: split & 0x20 != 0,
        check_recipients: split & 0x10 != 0,
    });
    let mut verdicts = 0u32;
    let auth_ok = split & 0x80 != 0;
    let mut s = Session::new(policy, PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), is_tls: false }, 0);
    let chunk = usize::from(split % 64) + 1;
    let mut now = 0u64;
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        for _ in 0..64 {
            while let Some(ev) = s.poll(now) {
                match ev {
                    Event::MessageEnd => s.delivered(Ok(1)),
                    Event::StartTls => s.tls_started(letterbox::proto::smtp::TlsInfo { version: String::new(), cipher: String::new() }),
                    Event::MessageData(d) => assert!(d.len() <= 64 * 1024),
                    Event::CheckCredentials { .. } => s.auth_result(if auth_ok {
                        letterbox::proto::AuthOutcome::Ok
                    } else {
                        letterbox::proto::AuthOutcome::Bad
                    }),
                    Event::CheckRecipient(_) => {
                        verdicts += 1;
                        s.recipient_checked(match verdicts % 3 {
                            0 => letterbox::proto::smtp::RecipientVerdict::Accept,
                            1 => letterbox::proto::smtp::RecipientVerdict::Defer("grey\r\nlisted".into()),
                            _ => letterbox::proto::smtp::RecipientVerdict::Refuse("listed".into()),
                        })
                    }
                    Event::Close => return,
                    _ => {}
                }
            }
            let n = s.feed(rest);
            rest = &rest[n..];
            now += 1000;
            if rest.is_empty() {
                break;
            }
        }
    }
});
