//! Fuzz target: the ManageSieve core (RFC 5804) on arbitrary bytes, every driver callback
//! answered (logins succeed, the store answers by request, alternating refusals); must never
//! panic.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use letterbox::proto::managesieve::{Answer, Event, Failure, Policy, Request, Session};
use letterbox::proto::{AuthOutcome, PeerInfo};
use libfuzzer_sys::fuzz_target;

fn answer(r: Request, n: usize) -> Result<Answer, Failure> {
    if n % 3 == 2 {
        return Err([Failure::NotFound, Failure::Active, Failure::Exists, Failure::Quota][n % 4]);
    }
    Ok(match r {
        Request::List => Answer::List(vec![("a\"b".into(), true), ("c".into(), false)]),
        Request::Get(_) => Answer::Script((n % 2 == 0).then(|| b"keep;\r\n".to_vec())),
        Request::HaveSpace { size, .. } => Answer::Space(size < 100),
        _ => Answer::Done,
    })
}

fuzz_target!(|data: &[u8]| {
    let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), is_tls: false, tls_available: true };
    let mut s = Session::new(Arc::new(Policy::new(false, true)), peer, 0);
    let mut rest = data;
    let mut n = 0;
    for _ in 0..(data.len() + 16) {
        while let Some(ev) = s.poll(1) {
            n += 1;
            match ev {
                Event::CheckCredentials { .. } => s.auth_result(AuthOutcome::Ok),
                Event::StartTls => s.tls_started(),
                Event::Script(r) => s.script_done(answer(r, n)),
                Event::Close => return,
                Event::Reply(_) => {}
            }
        }
        if rest.is_empty() {
            return;
        }
        let taken = s.feed(rest);
        rest = &rest[taken..];
    }
});
