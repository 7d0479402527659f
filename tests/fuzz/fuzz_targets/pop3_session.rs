//! Fuzz target: the POP3 core on arbitrary bytes, with a small maildrop and every driver
//! callback answered; must never panic.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use letterbox::proto::pop3::{AuthOutcome, Event, MsgInfo, PeerInfo, Pop3Policy, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = Arc::new(Pop3Policy::new(true, 600_000));
    let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), is_tls: false, tls_available: true };
    let mut s = Session::new(policy, peer, 0);
    let mut rest = data;
    for _ in 0..(data.len() + 16) {
        while let Some(ev) = s.poll(1) {
            match ev {
                Event::CheckCredentials { .. } => {
                    s.auth_result(AuthOutcome::Ok);
                    let msgs = (1..=3).map(|uid| MsgInfo { uid, size: 100 }).collect();
                    s.open_maildrop(msgs, 7);
                }
                Event::StartTls => s.tls_started(),
                Event::SendMessage { .. } => s.message_sent(),
                Event::Commit { .. } => s.commit_result(true),
                Event::Close => return,
                Event::Reply(_) => {}
            }
        }
        if rest.is_empty() {
            return;
        }
        let n = s.feed(rest);
        rest = &rest[n..];
    }
});
