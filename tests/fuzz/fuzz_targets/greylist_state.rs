//! Fuzz target: the greylist state file (`mailauth::greylist`, issue 15) is untrusted input,
//! and the table's decisions follow RFC 6647's rules whatever the sequence of attempts.
//! The input is decoded as a state file: anything decoded holds at most `ENTRIES_MAX`
//! entries and re-encodes to the very same bytes (the format has one spelling). Then the
//! input drives a sequence of attempts (4 bytes each: client, sender, recipient, seconds
//! since the last attempt, which may go back) against the decoded table, checking the invariants (bounded
//! table, a deferral never asks for more than `DELAY`, an encode/decode round trip keeps the
//! table), and, from an empty table, against a model of the rules written from the module
//! doc: first sight defers `DELAY`, an early retry defers for the rest, a retry within
//! `WINDOW` passes, a passed triplet passes for `PASSED_MAX_AGE` after its last pass.
#![no_main]
use std::collections::HashMap;
use std::net::IpAddr;

use letterbox::mailauth::greylist::{Decision, Greylist, Triplet, DELAY, ENTRIES_MAX, PASSED_MAX_AGE, WINDOW};
use libfuzzer_sys::fuzz_target;

/// Clients and the network each belongs to (IPv4 /24, IPv6 /64, mapped = IPv4).
const CLIENTS: [(&str, u8); 8] = [
    ("192.0.2.1", 0),
    ("192.0.2.254", 0),
    ("::ffff:192.0.2.9", 0),
    ("192.0.3.1", 1),
    ("2001:db8::1", 2),
    ("2001:db8::ffff:1", 2),
    ("2001:db8:0:1::1", 3),
    ("10.0.0.1", 4),
];
/// Senders and their identity after case-folding and VERP folding.
const SENDERS: [(&str, u8); 8] = [
    ("alice@example.org", 0),
    ("Alice@EXAMPLE.org", 0),
    ("alice+list@example.org", 0),
    ("bob@example.org", 1),
    ("", 2),
    ("bounce-123@l.example", 3),
    ("bounce-98765@l.example", 3),
    ("bounce-x@l.example", 4),
];
const RCPTS: [(&str, u8); 4] = [("me@home.example", 0), ("ME@home.example", 0), ("you@home.example", 1), ("", 2)];

/// The rules of the module doc, for tables that never fill.
#[derive(Default)]
struct Model(HashMap<(u8, u8, u8), (u64, Option<u64>)>);

impl Model {
    fn check(&mut self, k: (u8, u8, u8), now: u64) -> Decision {
        let defer = Decision::Defer { retry_in_secs: DELAY };
        let Some((first, pass)) = self.0.get_mut(&k) else {
            self.0.insert(k, (now, None));
            return defer;
        };
        let expired = match pass {
            None => now.saturating_sub(*first) > WINDOW,
            Some(p) => now.saturating_sub(*p) > PASSED_MAX_AGE,
        };
        if expired {
            (*first, *pass) = (now, None);
            return defer;
        }
        let waited = now.saturating_sub(*first);
        if pass.is_none() && waited < DELAY {
            return Decision::Defer { retry_in_secs: DELAY - waited };
        }
        *pass = Some(pass.map_or(now, |p| p.max(now)));
        Decision::Pass
    }
}

fuzz_target!(|data: &[u8]| {
    let decoded = Greylist::decode(data);
    if let Ok(g) = &decoded {
        assert!(g.len() <= ENTRIES_MAX);
        assert_eq!(g.encode(), data, "one spelling per table");
    }
    let modelled = decoded.as_ref().map_or(true, Greylist::is_empty);
    let mut g = decoded.unwrap_or_default();
    let mut model = Model::default();
    let mut now: u64 = 1_700_000_000;
    for op in data.chunks_exact(4) {
        let (c, s, r) = (CLIENTS[op[0] as usize % 8], SENDERS[op[1] as usize % 8], RCPTS[op[2] as usize % 4]);
        // Steps from a second to six months, so every boundary is crossed; the table keeps
        // Unix seconds as u32, so the clock stops at 2106 here (the model knows no such end).
        // Bit 7 of the recipient byte turns the clock back (NTP stepping a router's clock).
        let step = u64::from(op[3] & 0x3f) << (6 * u32::from(op[3] >> 6));
        now = if op[2] & 0x80 != 0 { now.saturating_sub(step) } else { (now + step).min(u64::from(u32::MAX)) };
        let ip: IpAddr = c.0.parse().unwrap();
        let d = g.check(&Triplet { ip, sender: s.0, rcpt: r.0 }, now);
        if let Decision::Defer { retry_in_secs } = d {
            assert!((1..=DELAY).contains(&retry_in_secs), "{retry_in_secs}");
        }
        if modelled {
            assert_eq!(d, model.check((c.1, s.1, r.1), now), "{c:?} {s:?} {r:?} at {now}");
        }
        assert!(g.len() <= ENTRIES_MAX);
    }
    let bytes = g.encode();
    let back = Greylist::decode(&bytes).expect("an encoded table decodes");
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.len(), g.len());
});
