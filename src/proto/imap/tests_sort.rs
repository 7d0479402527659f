//! Unit tests: ESEARCH and SEARCHRES (RFC 4731, RFC 5182), SORT and SORT=DISPLAY
//! (RFC 5256, RFC 5957) and THREAD (RFC 5256) against the in-memory store.

use std::sync::Arc;

use super::api::{Event, ImapPolicy, PeerInfo};
use super::search::{SEARCH_STEP_BYTES, SUMMARY_COST};
use super::session::Session;
use super::sort::{base_subject, rfc5322_time};
use super::tests::H;

/// A message with the given header fields and a body of `size` bytes.
fn msg(fields: &str, size: usize) -> Vec<u8> {
    let mut m = fields.replace('\n', "\r\n").into_bytes();
    m.extend_from_slice(b"\r\n");
    m.extend(std::iter::repeat_n(b'x', size));
    m.extend_from_slice(b"\r\n");
    m
}

/// H's three messages (1-3) plus `msgs` (4...), INBOX selected.
fn harness(msgs: &[Vec<u8>]) -> H {
    let mut h = H::new();
    for (i, m) in msgs.iter().enumerate() {
        h.store.deliver("INBOX", m, 0, 1_200_000_000 + i as i64 * 60);
    }
    h.select();
    h
}

fn first_line(out: &str) -> &str {
    out.lines().next().unwrap_or("")
}

#[test]
fn esearch_return_options() {
    let mut h = harness(&[]);
    let out = h.run(b"a SEARCH RETURN (MIN MAX COUNT ALL) ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") MIN 1 MAX 3 COUNT 3 ALL 1:3\r\na OK SEARCH completed\r\n");
    // RFC 4731 §3.1: RETURN () is ALL.
    let out = h.run(b"b UID SEARCH RETURN () NOT SEEN\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"b\") UID ALL 1,3\r\nb OK SEARCH completed\r\n");
    // No match: only COUNT 0 is said.
    let out = h.run(b"c SEARCH RETURN (MIN MAX COUNT ALL) KEYWORD nothing\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"c\") COUNT 0\r\nc OK SEARCH completed\r\n");
    let out = h.run(b"d SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT hello\r\n");
    assert_eq!(first_line(&out), "* ESEARCH (TAG \"d\") COUNT 1");
    // Unknown options and a huge RETURN list are BAD (BAD-INPUTS 103).
    assert!(h.run(b"e SEARCH RETURN (PARTIAL) ALL\r\n").starts_with("e BAD"));
    let huge = format!("f SEARCH RETURN ({}) ALL\r\n", vec!["MIN"; 5000].join(" "));
    assert!(h.run(huge.as_bytes()).starts_with("f BAD"));
    assert!(h.run(b"g NOOP\r\n").contains("g OK"));
}

#[test]
fn esearch_with_modseq() {
    let mut h = harness(&[]);
    let out = h.run(b"a SEARCH RETURN (ALL) MODSEQ 2\r\n");
    assert!(out.contains("* ESEARCH (TAG \"a\") ALL 2:3 MODSEQ 3\r\n"), "{out}");
}

#[test]
fn searchres_saves_and_reuses_the_result() {
    let mut h = harness(&[]);
    // RFC 5182 §2.1: `$` before any SAVE is empty; FETCH $ says nothing.
    assert_eq!(h.run(b"a FETCH $ (FLAGS)\r\n"), "a OK FETCH completed\r\n");
    assert_eq!(h.run(b"b SEARCH $\r\n"), "* SEARCH\r\nb OK SEARCH completed\r\n");
    // SAVE alone: no ESEARCH response.
    assert_eq!(h.run(b"c SEARCH RETURN (SAVE) NOT SEEN\r\n"), "c OK SEARCH completed\r\n");
    let out = h.run(b"d FETCH $ (UID)\r\n");
    assert_eq!(out, "* 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\nd OK FETCH completed\r\n");
    let out = h.run(b"e UID FETCH $ (FLAGS)\r\n");
    assert!(out.starts_with("* 1 FETCH (UID 1 FLAGS ()"), "{out}");
    assert_eq!(h.run(b"f SEARCH $ FLAGGED\r\n"), "* SEARCH 3\r\nf OK SEARCH completed\r\n");
    assert_eq!(h.run(b"f2 SEARCH OR $ SEEN\r\n"), "* SEARCH 1 2 3\r\nf2 OK SEARCH completed\r\n");
    let out = h.run(b"g STORE $ +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(out, "g OK STORE completed\r\n");
    assert_eq!(h.run(b"h SEARCH DELETED\r\n"), "* SEARCH 1 3\r\nh OK SEARCH completed\r\n");
    // Expunged messages drop out of `$`; the others keep it by UID.
    let out = h.run(b"i UID EXPUNGE 1\r\n");
    assert!(out.contains("* 1 EXPUNGE\r\n"), "{out}");
    assert_eq!(h.run(b"j FETCH $ (UID)\r\n"), "* 2 FETCH (UID 3)\r\nj OK FETCH completed\r\n");
    let out = h.run(b"k COPY $ Archive\r\n");
    assert!(out.contains("k OK [COPYUID"), "{out}");
    // SELECT resets it (§2.1).
    h.run(b"l SELECT INBOX\r\n");
    assert_eq!(h.run(b"m FETCH $ (UID)\r\n"), "m OK FETCH completed\r\n");
}

#[test]
fn searchres_with_min_max_and_reset_on_unselect() {
    let mut h = harness(&[]);
    // §2.4: SAVE with MIN and MAX only keeps those two.
    let out = h.run(b"a SEARCH RETURN (SAVE MIN MAX) ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") MIN 1 MAX 3\r\na OK SEARCH completed\r\n");
    assert_eq!(h.run(b"b SEARCH $\r\n"), "* SEARCH 1 3\r\nb OK SEARCH completed\r\n");
    let out = h.run(b"c SEARCH RETURN (SAVE COUNT) SEEN\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"c\") COUNT 1\r\nc OK SEARCH completed\r\n");
    assert_eq!(h.run(b"d UID SEARCH UID $\r\n"), "* SEARCH 2\r\nd OK SEARCH completed\r\n");
    h.run(b"e UNSELECT\r\n");
    h.run(b"f EXAMINE INBOX\r\n");
    assert_eq!(h.run(b"g SEARCH $\r\n"), "* SEARCH\r\ng OK SEARCH completed\r\n");
}

#[test]
fn base_subject_rfc5256_2_1() {
    let cases = [
        ("Hello", "Hello", false),
        ("Re: Hello", "Hello", true),
        ("RE:  re:Fwd: Hello  ", "Hello", true),
        ("[list] Re: [other] Hello", "Hello", true),
        ("Re[2]: Hello (fwd)", "Hello", true),
        ("[fwd: Re: Hello]", "Hello", true),
        ("[Fwd: [list] hi (fwd)]", "hi", true),
        ("[only-a-blob]", "[only-a-blob]", false),
        ("=?ISO-8859-1?Q?Re=3A_caf=E9?=", "café", true),
        ("Re:", "", true),
        ("Refund", "Refund", false),
        ("   ", "", false),
    ];
    for (raw, want, reply) in cases {
        assert_eq!(base_subject(raw), (want.to_owned(), reply), "{raw}");
    }
    // Thousands of leaders: linear work, bounded rounds (BAD-INPUTS 101).
    let deep = format!("{}x", "Re: Fwd: [a] ".repeat(5000));
    let (s, reply) = base_subject(&deep);
    assert!(reply && s.len() < deep.len());
}

#[test]
fn sent_dates_in_utc() {
    assert_eq!(rfc5322_time("Tue, 1 Jul 2003 10:52:37 +0200"), Some(1_057_049_557));
    assert_eq!(rfc5322_time("1 Jul 2003 08:52 GMT"), Some(1_057_049_520));
    assert_eq!(rfc5322_time("Tue, 1 Jul 2003 03:52:37 PDT"), Some(1_057_056_757));
    assert_eq!(rfc5322_time("not a date"), None);
    assert_eq!(rfc5322_time("1 Jul 2003 25:00 +0000"), None);
}

fn sort_msgs() -> Vec<Vec<u8>> {
    vec![
        msg("From: \"Zed\" <aaa@x>\nTo: zz@x\nCc: m@x\nSubject: Re: beta\nDate: Wed, 2 Jul 2003 10:00:00 +0000", 10),
        msg("From: bbb@x\nTo: \"Ann\" <yy@x>\nSubject: alpha\nDate: Wed, 2 Jul 2003 09:00:00 -0300", 300),
        msg("From: =?UTF-8?Q?=C3=89mile?= <ccc@x>\nTo: aa@x\nSubject: [list] Beta\n", 50),
    ]
}

#[test]
fn sort_by_each_key() {
    let mut h = harness(&sort_msgs());
    let sort = |h: &mut H, c: &str| {
        let out = h.run(format!("s SORT ({c}) UTF-8 ALL\r\n").as_bytes());
        assert!(out.ends_with("s OK SORT completed\r\n"), "{c}: {out}");
        first_line(&out).trim_start_matches("* SORT").trim().to_owned()
    };
    // 1 SIMPLE (alice, subject Hello, 2003-07-01 08:52:37Z), 2 MULTI (a@b, multi, no Date),
    // 3 NESTED (x@y, fwd), then 4-6 above.
    assert_eq!(sort(&mut h, "ARRIVAL"), "1 2 3 4 5 6");
    assert_eq!(sort(&mut h, "REVERSE ARRIVAL"), "6 5 4 3 2 1");
    assert_eq!(sort(&mut h, "SUBJECT"), "5 4 6 3 1 2");
    assert_eq!(sort(&mut h, "SUBJECT REVERSE DATE"), "5 6 4 3 1 2");
    assert_eq!(sort(&mut h, "FROM"), "2 4 1 5 6 3");
    // Display names casemapped (RFC 5051): A@B, ALICE, BBB@X, E\u{301}MILE, X@Y, ZED.
    assert_eq!(sort(&mut h, "DISPLAYFROM"), "2 1 5 6 3 4");
    assert_eq!(sort(&mut h, "TO"), "2 3 6 1 5 4");
    assert_eq!(sort(&mut h, "DISPLAYTO"), "2 3 6 5 1 4");
    assert_eq!(sort(&mut h, "CC"), "1 2 3 5 6 4");
    // 5 is 09:00 -0300, after 4 at 10:00 UTC; without Date the arrival counts (2, 3, 6).
    assert_eq!(sort(&mut h, "DATE"), "1 2 4 5 3 6");
    assert_eq!(sort(&mut h, "SIZE"), "4 6 1 3 5 2");
    // The same order from the sizes FETCH reports.
    let out = h.run(b"f FETCH 1:6 (RFC822.SIZE)\r\n");
    let mut sizes: Vec<(u64, usize)> = out
        .lines()
        .filter_map(|l| l.split("RFC822.SIZE ").nth(1)?.trim_end_matches(')').parse().ok())
        .enumerate()
        .map(|(i, n)| (n, i + 1))
        .collect();
    sizes.sort();
    let by_fetch: Vec<String> = sizes.iter().map(|(_, i)| i.to_string()).collect();
    assert_eq!(by_fetch.join(" "), "4 6 1 3 5 2");
    assert_eq!(sort(&mut h, "REVERSE SIZE"), "2 5 3 1 6 4");
    let out = h.run(b"u UID SORT (REVERSE ARRIVAL) US-ASCII SUBJECT beta\r\n");
    assert_eq!(out, "* SORT 6 4\r\nu OK SORT completed\r\n");
    assert_eq!(h.run(b"v SORT (SIZE) UTF-8 KEYWORD none\r\n"), "* SORT\r\nv OK SORT completed\r\n");
    assert!(h.run(b"w SORT (COLOR) UTF-8 ALL\r\n").starts_with("w BAD"));
    assert!(h.run(b"x SORT (DATE) ALL\r\n").starts_with("x NO [BADCHARSET"));
    assert!(h.run(b"y SORT DATE UTF-8 ALL\r\n").starts_with("y BAD"));
    // `$` inside SORT (RFC 5182 §2.2).
    h.run(b"z SEARCH RETURN (SAVE) SUBJECT beta\r\n");
    assert_eq!(h.run(b"z2 SORT (REVERSE SIZE) UTF-8 $\r\n"), "* SORT 6 4\r\nz2 OK SORT completed\r\n");
}

fn thread_msgs() -> Vec<Vec<u8>> {
    vec![
        // 4: a root; 5 replies to it; 6 replies to 5 (References chain); 7 replies to a
        // message we do not have (dummy) that itself replied to 4.
        msg("Subject: plan\nMessage-ID: <a@x>\nDate: 2 Jul 2003 10:00 +0000", 1),
        msg("Subject: Re: plan\nMessage-ID: <b@x>\nIn-Reply-To: <a@x>\nDate: 2 Jul 2003 11:00 +0000", 1),
        msg("Subject: Re: plan\nMessage-ID: <c@x>\nReferences: <a@x> <b@x>\nDate: 2 Jul 2003 12:00 +0000", 1),
        msg("Subject: Re: plan\nMessage-ID: <d@x>\nReferences: <a@x> <gone@x>\nDate: 2 Jul 2003 13:00 +0000", 1),
        // 8: no references but the same base subject as 4: gathered under it (step 5).
        msg("Subject: Re: plan\nMessage-ID: <e@x>\nDate: 2 Jul 2003 14:00 +0000", 1),
        // 9, 10: a reference cycle (each claims the other as parent).
        msg("Subject: loop one\nMessage-ID: <l1@x>\nReferences: <l2@x>\nDate: 3 Jul 2003 10:00 +0000", 1),
        msg("Subject: loop two\nMessage-ID: <l2@x>\nReferences: <l1@x>\nDate: 3 Jul 2003 11:00 +0000", 1),
    ]
}

#[test]
fn thread_references() {
    let mut h = harness(&thread_msgs());
    let out = h.run(b"t THREAD REFERENCES UTF-8 ALL\r\n");
    // 1, 2 (no Date: arrival 2003-07-01 08:53:20Z) and 3 (2004) are alone. 9 came first
    // and hangs under <l2@x>, which is 10; 10's link under 9 would close a cycle and is
    // refused (step 1B), so 10 is the parent.
    assert_eq!(out, "* THREAD (1)(2)(4 (5 6)(7)(8))(10 9)(3)\r\nt OK THREAD completed\r\n");
    let out = h.run(b"u UID THREAD REFERENCES UTF-8 SUBJECT plan\r\n");
    assert_eq!(out, "* THREAD (4 (5 6)(7)(8))\r\nu OK THREAD completed\r\n");
    assert_eq!(h.run(b"v THREAD REFERENCES UTF-8 KEYWORD x\r\n"), "* THREAD\r\nv OK THREAD completed\r\n");
    assert!(h.run(b"w THREAD JWZ UTF-8 ALL\r\n").starts_with("w BAD"));
}

#[test]
fn thread_orderedsubject() {
    let mut h = harness(&thread_msgs());
    let out = h.run(b"t THREAD ORDEREDSUBJECT UTF-8 ALL\r\n");
    // Base subjects: FWD (3), HELLO (1), LOOP ONE (9), LOOP TWO (10), MULTI (2),
    // PLAN (4-8); threads by their first message's date.
    assert_eq!(out, "* THREAD (1)(2)(4 (5)(6)(7)(8))(9)(10)(3)\r\nt OK THREAD completed\r\n");
    let out = h.run(b"u THREAD ORDEREDSUBJECT UTF-8 OR SUBJECT hello SUBJECT loop\r\n");
    assert_eq!(out, "* THREAD (1)(9)(10)\r\nu OK THREAD completed\r\n");
    let out = h.run(b"v THREAD ORDEREDSUBJECT UTF-8 4:5\r\n");
    assert_eq!(out, "* THREAD (4 5)\r\nv OK THREAD completed\r\n");
}

#[test]
fn thread_survives_pathological_references() {
    // A chain of 3,000 replies, each referencing every earlier one (cut to the last
    // REFS_PER_MESSAGE_MAX), and a message with 10,000 references (BAD-INPUTS 101).
    let mut msgs = Vec::new();
    for i in 0..3000 {
        let refs: String = (i.max(64) - 64..i).map(|j| format!("<{j}@c> ")).collect();
        msgs.push(msg(&format!("Subject: Re: chain\nMessage-ID: <{i}@c>\nReferences: {refs}"), 0));
    }
    let many: String = (0..10_000).map(|j| format!("<m{j}@z>")).collect::<Vec<_>>().join(" ");
    msgs.push(msg(&format!("Subject: many\nMessage-ID: <many@z>\nReferences: {many}"), 0));
    let mut h = harness(&msgs);
    let out = h.run(b"t THREAD REFERENCES UTF-8 ALL\r\n");
    assert!(out.ends_with("t OK THREAD completed\r\n"));
    // The chain is one thread nested 3,000 deep, written without recursion.
    let chain: String = (4..3004).map(|n| n.to_string()).collect::<Vec<_>>().join(" ");
    assert!(out.contains(&format!("({chain})")), "{}", out.len());
    let out = h.run(b"u SORT (SUBJECT) UTF-8 ALL\r\n");
    assert!(out.ends_with("u OK SORT completed\r\n"));
}

#[test]
fn huge_sort_criteria_and_return_lists_are_bad() {
    let mut h = harness(&[]);
    let crit = vec!["REVERSE DATE"; 5000].join(" ");
    let out = h.run(format!("a SORT ({crit}) UTF-8 ALL\r\n").as_bytes());
    assert_eq!(out, "a BAD Too many sort criteria\r\n");
    let out = h.run(format!("b SEARCH RETURN ({}) ALL\r\n", ["SAVE"; 9].join(" ")).as_bytes());
    assert_eq!(out, "b BAD Too many RETURN options\r\n");
    // Within the caps both work, and `$` is still empty: a BAD SAVE saved nothing.
    let out = h.run(format!("c SORT ({}) UTF-8 $\r\n", ["SIZE"; 18].join(" ")).as_bytes());
    assert_eq!(out, "* SORT\r\nc OK SORT completed\r\n");
    assert!(h.run(b"d THREAD REFERENCES UTF-8 ALL\r\n").ends_with("d OK THREAD completed\r\n"));
}

#[test]
fn within_older_younger_rfc5032() {
    // "Now" is the time of the command: the driver's clock base plus `now_ms`, first 100 s
    // after message 2 arrived (1,057,049,600).
    let mut h = H::new();
    let policy = ImapPolicy { unix_base_ms: 1_057_049_700_000, ..ImapPolicy::default() };
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: true };
    h.s = Session::new(Arc::new(policy), peer, 0);
    h.run(b"");
    h.select();
    assert_eq!(h.run(b"a SEARCH YOUNGER 100\r\n"), "* SEARCH 2 3\r\na OK SEARCH completed\r\n");
    assert_eq!(h.run(b"b SEARCH OLDER 100\r\n"), "* SEARCH 1\r\nb OK SEARCH completed\r\n");
    assert_eq!(h.run(b"c SEARCH YOUNGER 143\r\n"), "* SEARCH 1 2 3\r\nc OK SEARCH completed\r\n");
    assert_eq!(h.run(b"d UID SEARCH NOT YOUNGER 99\r\n"), "* SEARCH 1 2\r\nd OK SEARCH completed\r\n");
    h.now += 60_000;
    h.run(b"n NOOP\r\n");
    assert_eq!(h.run(b"e SEARCH OLDER 100\r\n"), "* SEARCH 1 2\r\ne OK SEARCH completed\r\n");
    assert!(h.run(b"f SEARCH OLDER 0\r\n").starts_with("f BAD"));
    assert!(h.run(b"g SEARCH YOUNGER x\r\n").starts_with("g BAD"));
}

#[test]
fn savedate_rfc8514() {
    // A store without save dates (MemStore without `save_clock`, records older than the
    // field): SAVEDATE and the SAVED* keys fall back to the INTERNALDATE.
    let mut h = harness(&[]);
    let out = h.run(b"a FETCH 1 (SAVEDATE INTERNALDATE)\r\n");
    let want = "* 1 FETCH (SAVEDATE \"01-Jul-2003 08:52:37 +0000\" INTERNALDATE \"01-Jul-2003 08:52:37 +0000\")\r\n";
    assert_eq!(out, format!("{want}a OK FETCH completed\r\n"));
    assert_eq!(h.run(b"b SEARCH SAVEDSINCE 2-Jul-2003\r\n"), "* SEARCH 3\r\nb OK SEARCH completed\r\n");
    assert_eq!(h.run(b"c SEARCH SAVEDON 1-Jul-2003\r\n"), "* SEARCH 1 2\r\nc OK SEARCH completed\r\n");
    assert_eq!(h.run(b"d SEARCH SAVEDBEFORE 1-Jul-2003\r\n"), "* SEARCH\r\nd OK SEARCH completed\r\n");
    assert_eq!(h.run(b"e SEARCH SAVEDATESUPPORTED\r\n"), "* SEARCH 1 2 3\r\ne OK SEARCH completed\r\n");
    assert!(h.run(b"f CAPABILITY\r\n").contains(" WITHIN SAVEDATE "));
}

#[test]
fn sort_and_thread_read_summaries_in_yielding_steps() {
    // 1,000 messages: their summaries are read as the search finds them, SUMMARY_COST
    // each against the step budget, so other sessions get the executor between steps.
    let msgs: Vec<Vec<u8>> = (0..1000).map(|i| msg(&format!("Subject: s{}\nMessage-ID: <{i}@y>", i % 7), 5)).collect();
    let mut h = harness(&msgs);
    let per_step = SEARCH_STEP_BYTES / SUMMARY_COST;
    for cmd in ["SORT (SUBJECT) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "SORT (SIZE) UTF-8 ALL"] {
        h.s.feed(format!("s {cmd}\r\n").as_bytes());
        let mut yields = 0;
        while let Some(ev) = h.s.poll(0, &mut h.store) {
            match ev {
                Event::Reply(b) if b.starts_with(b"s OK") => break,
                Event::Yield => yields += 1,
                _ => {}
            }
        }
        // SIZE needs no summary: one step (the message-count step) covers the folder.
        let want = if cmd.contains("SIZE") { 0 } else { 1003 / per_step };
        assert_eq!(yields, want, "{cmd}");
    }
}

#[test]
fn esort_rfc5267() {
    let mut h = harness(&sort_msgs());
    // SIZE order is 4 6 1 3 5 2 (sort_by_each_key).
    let out = h.run(b"a SORT RETURN (MIN MAX COUNT ALL) (SIZE) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") MIN 4 MAX 2 COUNT 6 ALL 4,6,1,3,5,2\r\na OK SORT completed\r\n");
    let out = h.run(b"b UID SORT RETURN () (ARRIVAL) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"b\") UID ALL 1:6\r\nb OK SORT completed\r\n");
    let out = h.run(b"c SORT RETURN (COUNT) (SIZE) UTF-8 KEYWORD none\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"c\") COUNT 0\r\nc OK SORT completed\r\n");
    // RFC 5182 with ESORT: SAVE alone answers nothing; MIN with SAVE keeps the first sorted.
    assert_eq!(h.run(b"d SORT RETURN (SAVE) (SIZE) UTF-8 LARGER 150\r\n"), "d OK SORT completed\r\n");
    assert_eq!(h.run(b"e SEARCH $\r\n"), "* SEARCH 1 2 3 5\r\ne OK SEARCH completed\r\n");
    assert_eq!(h.run(b"e2 SEARCH LARGER 150\r\n"), "* SEARCH 1 2 3 5\r\ne2 OK SEARCH completed\r\n");
    let out = h.run(b"f SORT RETURN (SAVE MIN) (REVERSE SIZE) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"f\") MIN 2\r\nf OK SORT completed\r\n");
    assert_eq!(h.run(b"g FETCH $ (UID)\r\n"), "* 2 FETCH (UID 2)\r\ng OK FETCH completed\r\n");
    // RFC 5267 CONTEXT=SORT PARTIAL: the same order as ALL, cut to positions 2..=3.
    let all = h.run(b"h SORT RETURN (ALL) (REVERSE SIZE) UTF-8 ALL\r\n");
    assert_eq!(all, "* ESEARCH (TAG \"h\") ALL 2,5,3,1,6,4\r\nh OK SORT completed\r\n");
    let out = h.run(b"i SORT RETURN (PARTIAL 2:3) (REVERSE SIZE) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"i\") PARTIAL (2:3 5,3)\r\ni OK SORT completed\r\n");
    assert!(h.run(b"j SORT RETURN (PARTIAL 1) (SIZE) UTF-8 ALL\r\n").starts_with("j BAD"));
}

#[test]
fn long_sort_thread_and_esearch_lines_come_in_bounded_replies() {
    // 8,000 messages, every other one \Seen: ESEARCH ALL of those is 4,000 single numbers.
    let mut h = H::new();
    for i in 0..8000u32 {
        let seen = if i % 2 == 0 { super::api::flag::SEEN } else { 0 };
        h.store.deliver("INBOX", &msg(&format!("Subject: s{i}"), 0), seen, 1_200_000_000);
    }
    h.select();
    for cmd in ["SORT (REVERSE ARRIVAL) UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL", "SEARCH RETURN (ALL) SEEN"] {
        h.s.feed(format!("s {cmd}\r\n").as_bytes());
        let (mut text, mut most) = (Vec::new(), 0);
        while let Some(ev) = h.s.poll(0, &mut h.store) {
            if let Event::Reply(b) = ev {
                most = most.max(b.len());
                text.extend_from_slice(&b);
                if text.ends_with(b" completed\r\n") {
                    break;
                }
            }
        }
        assert!(most <= super::OUTPUT_CHUNK, "{cmd}: a reply of {most} bytes");
        assert!(text.len() > super::OUTPUT_CHUNK, "{cmd}: {} bytes in all", text.len());
        assert_eq!(text.iter().filter(|&&c| c == b'\n').count(), 2, "{cmd}: one line and the tagged OK");
    }
}

#[test]
fn crafted_reference_chains_spend_a_bounded_walk() {
    use super::thread::{references, write, Info, WALK_BUDGET};
    // A chain 3,000 deep under a missing root <r>, then 3,000 messages whose 64 references
    // alternate (deepest, <r>): every (deepest -> r) link would close a cycle, and each
    // check walks the whole chain. Unbounded that is ~290 M steps; the budget caps it.
    let id = |i: usize| format!("{i}@c");
    let mut infos: Vec<Info> = (0..3000)
        .map(|i| Info {
            id: i as u32 + 1,
            seq: i as u32 + 1,
            date: i as i64,
            message_id: Some(id(i)),
            refs: if i == 0 { vec!["r".into()] } else { vec!["r".into(), id(i - 1)] },
            ..Info::default()
        })
        .collect();
    for i in 3000..6000 {
        let refs = (0..64).map(|k| if k % 2 == 0 { id(2999) } else { "r".into() }).collect();
        infos.push(Info { id: i as u32 + 1, seq: i as u32 + 1, date: i as i64, refs, ..Info::default() });
    }
    let f = references(&infos);
    assert_eq!(f.walks_left(), 0, "the budget of {WALK_BUDGET} steps was spent, not exceeded");
    let mut out = Vec::new();
    write(&f, &infos, &mut out);
    let text = String::from_utf8_lossy(&out);
    let mut got: Vec<u32> = text.replace(['(', ')'], " ").split_whitespace().filter_map(|n| n.parse().ok()).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=6000).collect::<Vec<u32>>());
}
