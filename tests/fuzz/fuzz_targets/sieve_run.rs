//! Fuzz target: the Sieve interpreter (issue 16). The input is a script and a message split
//! at the first NUL; a script that parses runs over the message without panicking, within
//! the action and redirect limits, and a run with errors ends in a lone implicit keep.
#![no_main]
use letterbox::sieve::{parse, run, Action, Envelope, Limits, MessageView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (script, msg) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n"[..]),
    };
    let limits = Limits::default();
    let Ok(s) = parse(script, &limits) else { return };
    let env = Envelope { from: "a@b.c".into(), to: "me@home.org".into(), original_to: "me+x@home.org".into(), folders: vec!["Junk".into()], zone_minutes: 60 };
    let out = run(&s, &MessageView::parse(msg), &env, &limits, 1_796_500_000);
    assert!(out.actions.len() <= limits.actions_max + 1);
    assert!(out.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count() <= limits.redirects_max);
    if !out.errors.is_empty() {
        assert_eq!(out.actions, vec![Action::Keep { flags: vec![] }]);
    }
});
