//! Unit tests: the interpreter (RFC 5228 §2.10 implicit keep, §4-§5), the extensions, the
//! `:matches` matcher, vacation rules and the run-time limits.

use super::{glob, parse, run, vacation_allowed, Action, Envelope, Limits, MessageView, Outcome};

const MSG: &[u8] = b"From: Bob <bob+lists@ex.org>\r\nTo: me@home.org, \"X, Y\" <xy@ex.net>\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?= [dev] hi\r\nDate: Tue, 1 Dec 2026 23:30:00 -0200\r\nX-Score: 12\r\n\r\nbody text\r\n";

fn go_with(src: &str, limits: &Limits) -> Outcome {
    let s = parse(src.as_bytes(), limits).unwrap_or_else(|e| panic!("{src}: {e}"));
    let env = Envelope {
        from: "bob+lists@ex.org".into(),
        to: "me@home.org".into(),
        original_to: "me+shop@home.org".into(),
        folders: vec!["Junk".into()],
        zone_minutes: 0,
    };
    run(&s, &MessageView::parse(MSG), &env, limits, 1_796_500_000)
}

fn go(src: &str) -> Vec<Action> {
    let o = go_with(src, &Limits::default());
    assert!(o.errors.is_empty(), "{src}: {:?}", o.errors);
    o.actions
}

fn keep(flags: &[&str]) -> Action {
    Action::Keep { flags: flags.iter().map(|s| s.to_string()).collect() }
}

#[test]
fn implicit_keep_and_its_cancellation() {
    assert_eq!(go(""), vec![keep(&[])]);
    assert_eq!(go("discard;"), vec![Action::Discard]);
    assert_eq!(go("require \"copy\"; redirect :copy \"a@b.c\";").last(), Some(&keep(&[])));
    assert_eq!(go("redirect \"a@b.c\";"), vec![Action::Redirect { address: "a@b.c".into(), copy: false }]);
    assert_eq!(go("require \"fileinto\"; fileinto \"INBOX\"; keep;"), vec![keep(&[])]);
    assert_eq!(go("if true { stop; } discard;"), vec![keep(&[])]);
}

#[test]
fn header_address_and_envelope_tests() {
    assert_eq!(go("if header :contains \"subject\" \"grüße\" { discard; }"), vec![Action::Discard], "RFC 2047 decoded");
    assert_eq!(
        go("if address :domain \"to\" \"EX.NET\" { discard; }"),
        vec![Action::Discard],
        "quoted comma in display name"
    );
    assert_eq!(go("require \"subaddress\"; if address :detail \"from\" \"lists\" { discard; }"), vec![Action::Discard]);
    assert_eq!(
        go("require \"subaddress\"; if address :detail \"to\" \"\" { discard; }"),
        vec![keep(&[])],
        "no detail, no match"
    );
    assert_eq!(
        go("require [\"envelope\", \"subaddress\"]; if envelope :detail \"to\" \"shop\" { discard; }"),
        vec![Action::Discard]
    );
    assert_eq!(
        go("require \"relational\"; if address :count \"eq\" [\"to\"] \"2\" { discard; }"),
        vec![Action::Discard]
    );
}

#[test]
fn matches_captures_are_leftmost_and_escapes_work() {
    assert_eq!(glob("*@*.*", "a.b@c.d.e", false), Some(vec!["a.b".into(), "c".into(), "d.e".into()]));
    assert_eq!(glob("a?c*", "abcdef", false), Some(vec!["b".into(), "def".into()]));
    assert_eq!(glob("\\*x", "*x", false), Some(vec![]));
    assert_eq!(glob("\\*x", "ax", false), None);
    assert_eq!(glob("A*", "abc", true), Some(vec!["bc".into()]));
    assert_eq!(glob("A*", "abc", false), None);
    assert_eq!(glob("*ab*ab", "ab", false), None, "segments may not overlap");
    assert_eq!(glob("ü?", "üß", false), Some(vec!["ß".into()]), "? is one character");
    let a = go(
        "require [\"variables\", \"fileinto\"]; if header :matches \"subject\" \"*[*]*\" { fileinto \"${2}-${1}\"; }",
    );
    assert_eq!(a, vec![Action::FileInto { mailbox: "dev-Grüße ".into(), flags: vec![], create: false, copy: false }]);
}

/// BAD-INPUTS 88: a pattern built to make a backtracking matcher explode stays linear.
#[test]
fn backtracking_matches_pattern_is_fast() {
    let value = "a".repeat(4000);
    let pattern = "*a".repeat(1000) + "b";
    let t = std::time::Instant::now();
    assert_eq!(glob(&pattern, &value, false), None);
    assert!(glob(&("*a".repeat(1000) + "*"), &value, true).is_some());
    let q = "?*".repeat(1000) + "b";
    assert_eq!(glob(&q, &value, false), None);
    assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn relational_and_numeric_comparator() {
    let pre = "require [\"relational\", \"comparator-i;ascii-numeric\"];";
    assert_eq!(
        go(&format!("{pre} if header :value \"gt\" :comparator \"i;ascii-numeric\" \"x-score\" \"9\" {{ discard; }}")),
        vec![Action::Discard]
    );
    assert_eq!(
        go(&format!("{pre} if header :value \"gt\" \"x-score\" \"9\" {{ discard; }}")),
        vec![keep(&[])],
        "casemap: \"12\" < \"9\""
    );
    assert_eq!(
        go(&format!("{pre} if header :is :comparator \"i;ascii-numeric\" \"subject\" \"x\" {{ discard; }}")),
        vec![Action::Discard],
        "both infinite"
    );
}

#[test]
fn imap4flags_and_variables() {
    let a = go("require [\"imap4flags\", \"fileinto\"]; addflag [\"\\\\Seen\", \"a\"]; removeflag \"A\"; fileinto :flags \"x y x\" \"Junk\";");
    assert_eq!(
        a,
        vec![Action::FileInto {
            mailbox: "Junk".into(),
            flags: vec!["x".into(), "y".into()],
            create: false,
            copy: false
        }]
    );
    assert_eq!(
        go("require \"imap4flags\"; addflag \"\\\\Seen\";"),
        vec![keep(&["\\Seen"])],
        "implicit keep takes the internal flags"
    );
    let a = go("require [\"variables\", \"imap4flags\"]; set :upper \"v\" \"ab\"; set \"w\" \"${v}${unknown}-${v}\"; addflag \"${w}\";");
    assert_eq!(a, vec![keep(&["AB-AB"])]);
    assert_eq!(
        go("require \"variables\"; set :length \"n\" \"äbc\"; if string :is \"${n}\" \"3\" { discard; }"),
        vec![Action::Discard]
    );
}

#[test]
fn date_body_mailbox_reject_and_vacation() {
    assert_eq!(
        go("require \"date\"; if date :is \"date\" \"date\" \"2026-12-02\" { discard; }"),
        vec![Action::Discard],
        "converted to UTC"
    );
    assert_eq!(
        go("require \"date\"; if date :originalzone :is \"date\" \"zone\" \"-0200\" { discard; }"),
        vec![Action::Discard]
    );
    assert_eq!(go("require \"date\"; if currentdate :is \"year\" \"2026\" { discard; }"), vec![Action::Discard]);
    assert_eq!(go("require \"body\"; if body :contains \"TEXT\" { discard; }"), vec![Action::Discard]);
    assert_eq!(go("require \"mailbox\"; if mailboxexists [\"Junk\", \"INBOX\"] { discard; }"), vec![Action::Discard]);
    assert_eq!(go("require \"ereject\"; ereject \"no\";"), vec![Action::Ereject("no".into())]);
    let o = go_with("require [\"reject\", \"fileinto\"]; fileinto \"Junk\"; reject \"no\";", &Limits::default());
    assert_eq!((o.actions, o.errors.len()), (vec![keep(&[])], 1), "RFC 5429 §2.3 conflict");
    let a = go("require \"vacation\"; vacation :days 100 :subject \"s\" \"r\";");
    let Some(Action::Vacation(v)) = a.first() else { panic!("{a:?}") };
    assert_eq!((v.seconds, v.subject.as_deref(), v.handle.as_str()), (60 * 86400, Some("s"), "rs"));
}

#[test]
fn vacation_follows_rfc_3834() {
    let own = vec!["me@home.org".to_string()];
    let h = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        [("To", "Me <me@home.org>")].iter().chain(extra).map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    assert!(vacation_allowed(&h(&[]), "bob@ex.org", &own));
    assert!(!vacation_allowed(&h(&[]), "", &own));
    assert!(!vacation_allowed(&h(&[]), "me@home.org", &own));
    assert!(!vacation_allowed(&h(&[]), "MAILER-DAEMON@ex.org", &own));
    assert!(!vacation_allowed(&h(&[]), "owner-list@ex.org", &own));
    assert!(!vacation_allowed(&h(&[]), "list-request@ex.org", &own));
    assert!(!vacation_allowed(&h(&[("List-Id", "<a.b>")]), "bob@ex.org", &own));
    assert!(!vacation_allowed(&h(&[("Precedence", "Bulk")]), "bob@ex.org", &own));
    assert!(!vacation_allowed(&h(&[("Auto-Submitted", "auto-replied")]), "bob@ex.org", &own));
    assert!(vacation_allowed(&h(&[("Auto-Submitted", "no")]), "bob@ex.org", &own));
    assert!(!vacation_allowed(&[("To".into(), "other@ex.org".into())], "bob@ex.org", &own), "not addressed to us");
}

/// BAD-INPUTS 89: a redirect loop or action flood stops at its limit with an implicit keep.
#[test]
fn redirect_floods_and_too_many_actions_end_in_implicit_keep() {
    let redirects: String = (0..5).map(|i| format!("redirect \"r{i}@ex.net\";")).collect();
    let o = go_with(&redirects, &Limits::default());
    assert_eq!((o.actions, o.errors.len()), (vec![keep(&[])], 1));
    assert!(go("redirect \"a@b.c\"; redirect \"A@B.C\";").len() == 1, "a repeated redirect is done once");
    let files: String = (0..40).map(|i| format!("fileinto :copy \"f{i}\";")).collect();
    let o = go_with(&format!("require [\"fileinto\", \"copy\"]; {files}"), &Limits::default());
    assert!(o.errors.first().is_some_and(|e| e.contains("actions")), "{:?}", o.errors);
    assert!(go_with("redirect \"not an address\";", &Limits::default()).errors.len() == 1);
}

/// BAD-INPUTS 89: variables that double in size, too many variables, a CPU-heavy script.
#[test]
fn runaway_variables_and_step_budget_are_bounded() {
    let limits = Limits::default();
    let doubling: String = (0..40).map(|_| "set \"a\" \"${a}${a}\";").collect();
    let o = go_with(&format!("require \"variables\"; set \"a\" \"x\"; {doubling} if string :is \"${{a}}\" \"${{a}}\" {{ set :length \"n\" \"${{a}}\"; }} if string :is \"${{n}}\" \"4096\" {{ discard; }}"), &limits);
    assert_eq!(o.actions, vec![Action::Discard], "truncated at variable_bytes_max");
    let many: String = (0..200).map(|i| format!("set \"v{i}\" \"x\";")).collect();
    assert_eq!(go_with(&format!("require \"variables\"; {many}"), &limits).errors.len(), 1);
    let heavy: String = (0..3000).map(|_| "if header :contains \"subject\" \"zzz\" { discard; }\n").collect();
    let small = Limits { steps_max: 1000, ..Limits::default() };
    let o = go_with(&heavy, &Limits { script_bytes_max: 1 << 20, ..small });
    assert!(o.errors.first().is_some_and(|e| e.contains("steps")), "{:?}", o.errors);
    assert_eq!(o.actions, vec![keep(&[])]);
}

/// Issue 16 figure: time of a 50-rule script over one message (printed, not asserted).
#[test]
fn fifty_rule_script_timing() {
    let rules: String = (0..50)
        .map(|i| format!("if anyof (header :contains \"subject\" \"word{i}\", address :domain \"from\" \"d{i}.example\") {{ fileinto \"f{i}\"; stop; }}\n"))
        .collect();
    let src = format!("require \"fileinto\";\n{rules}");
    let s = parse(src.as_bytes(), &Limits::default()).unwrap();
    let env = Envelope::default();
    let n = 2000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let msg = MessageView::parse(MSG);
        assert_eq!(run(&s, &msg, &env, &Limits::default(), 0).actions, vec![keep(&[])]);
    }
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!("sieve: 50-rule script over one message: {:?} per message ({build} build)", t.elapsed() / n);
}

/// BAD-INPUTS 89: a message that comes back after our own redirect is not sent on again
/// (RFC 5228 §4.2 loop control, Pigeonhole's header); it stays in INBOX.
#[test]
fn redirect_loop_is_broken_by_the_redirected_from_header() {
    let limits = Limits::default();
    let s =
        parse(b"require [\"fileinto\", \"copy\"]; redirect \"a@b.c\"; fileinto :copy \"Junk\";".as_slice(), &limits)
            .unwrap_or_else(|e| panic!("{e}"));
    let env = Envelope { to: "me@home.org".into(), ..Envelope::default() };
    let looped = b"From: x@y.z\r\nX-Sieve-Redirected-From: Me <ME@home.org>\r\n\r\nhi\r\n";
    let o = run(&s, &MessageView::parse(looped), &env, &limits, 0);
    assert_eq!(
        o.actions,
        vec![Action::FileInto { mailbox: "Junk".into(), flags: vec![], create: false, copy: true }, keep(&[])]
    );
    assert_eq!(o.notes.len(), 1);
    let other = b"From: x@y.z\r\nX-Sieve-Redirected-From: other@home.org\r\n\r\nhi\r\n";
    let o = run(&s, &MessageView::parse(other), &env, &limits, 0);
    assert_eq!(o.actions.first(), Some(&Action::Redirect { address: "a@b.c".into(), copy: false }));
}
