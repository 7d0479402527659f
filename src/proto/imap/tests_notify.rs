//! RFC 5465 NOTIFY transcripts against the in-memory store: SET STATUS, STATUS for other
//! folders on change, LIST for names and subscriptions, the selected folder between
//! commands, BADEVENT, NONE, and the limits (BAD-INPUTS 116).

use super::tests::{H, SIMPLE};
use super::NOTIFY_CHECK_MS;

/// Time passes (the driver's tick) and the session is polled with no input.
fn tick(h: &mut H) -> String {
    h.now += NOTIFY_CHECK_MS;
    h.run(b"")
}

#[test]
fn capability_and_set_status_reports_each_folder_once() {
    let mut h = H::new();
    h.login();
    assert!(h.run(b"a CAPABILITY\r\n").contains(" NOTIFY"));
    let out = h.run(b"b NOTIFY SET STATUS (MAILBOXES Archive (MessageNew MessageExpunge))\r\n");
    assert_eq!(out, "* STATUS \"Archive\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 1001)\r\nb OK NOTIFY completed\r\n");
    let out = h.run(b"c NOTIFY SET STATUS (MAILBOXES Archive (FlagChange))\r\n");
    assert!(out.starts_with("* STATUS \"Archive\" (UIDVALIDITY 1001 HIGHESTMODSEQ "), "{out}");
    // Without STATUS nothing is said at SET time.
    assert_eq!(h.run(b"d NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n"), "d OK NOTIFY completed\r\n");
    assert_eq!(tick(&mut h), "", "nothing changed");
}

#[test]
fn delivery_to_another_folder_gives_status_between_commands_and_in_idle() {
    let mut h = H::new();
    h.select();
    h.run(b"a NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge))\r\n");
    h.store.deliver("Archive", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "* STATUS \"Archive\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1001)\r\n");
    assert_eq!(tick(&mut h), "", "reported once");
    // The selected folder: EXISTS between commands, no STATUS for it.
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    let out = tick(&mut h);
    assert!(out.starts_with("* 4 EXISTS\r\n") && !out.contains("STATUS"), "{out}");
    assert!(h.run(b"i IDLE\r\n").starts_with("+ idling"));
    h.store.deliver("Archive/2024", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "* STATUS \"Archive/2024\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1002)\r\n");
    assert_eq!(h.run(b"DONE\r\n"), "i OK IDLE terminated\r\n");
    // NONE: nothing more.
    assert_eq!(h.run(b"n NOTIFY NONE\r\n"), "n OK NOTIFY completed\r\n");
    h.store.deliver("Archive", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "");
}

#[test]
fn selected_delayed_waits_for_noop() {
    let mut h = H::new();
    h.select();
    h.run(b"a NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))\r\n");
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "", "nothing for the selected folder between commands");
    assert!(h.run(b"n NOOP\r\n").starts_with("* 4 EXISTS\r\n"));
}

#[test]
fn selected_none_silences_the_selected_folder() {
    let mut h = H::new();
    h.select();
    h.run(b"a NOTIFY SET (SELECTED NONE) (PERSONAL (MessageNew MessageExpunge))\r\n");
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "", "no EXISTS and no STATUS for the selected folder");
    // Without a SELECTED group the selected folder is one of PERSONAL's.
    h.run(b"b NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n");
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "* STATUS \"INBOX\" (MESSAGES 5 UIDNEXT 6 UIDVALIDITY 1000)\r\n");
}

#[test]
fn not_due_before_the_check_interval() {
    let mut h = H::new();
    h.login();
    h.run(b"a NOTIFY SET (INBOXES (MessageNew MessageExpunge))\r\n");
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    h.store.deliver("Archive", SIMPLE, 0, 1_100_000_000);
    assert_eq!(h.run(b""), "", "checked at most every NOTIFY_CHECK_MS");
    assert_eq!(tick(&mut h), "* STATUS \"INBOX\" (MESSAGES 4 UIDNEXT 5 UIDVALIDITY 1000)\r\n", "INBOXES only");
}

#[test]
fn mailbox_names_and_subscriptions_as_list() {
    let mut h = H::new();
    h.login();
    h.run(b"a NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))\r\n");
    h.store.create("New", None).unwrap();
    assert_eq!(tick(&mut h), "* LIST () \"/\" \"New\"\r\n");
    h.store.delete("Archive/2024").unwrap();
    assert_eq!(tick(&mut h), "* LIST (\\NonExistent) \"/\" \"Archive/2024\"\r\n");
    h.store.subscribe("New", true).unwrap();
    assert_eq!(tick(&mut h), "* LIST (\\Subscribed) \"/\" \"New\"\r\n");
    h.store.subscribe("New", false).unwrap();
    assert_eq!(tick(&mut h), "* LIST () \"/\" \"New\"\r\n");
}

#[test]
fn unsupported_events_are_badevent() {
    let mut h = H::new();
    h.login();
    for cmd in [
        &b"a NOTIFY SET (PERSONAL (AnnotationChange))\r\n"[..],
        b"a NOTIFY SET (PERSONAL (Bogus))\r\n",
        b"a NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge))\r\n",
    ] {
        let out = h.run(cmd);
        assert!(out.starts_with("a NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"), "{out}");
    }
    assert!(h.run(b"b NOTIFY SET (ELSEWHERE (MessageNew))\r\n").starts_with("b BAD"));
    assert!(h.run(b"c NOTIFY SET\r\n").starts_with("c BAD"));
    assert!(h.run(b"d NOTIFY\r\n").starts_with("d BAD"));
}

#[test]
fn notify_set_with_1000_mailboxes_is_refused() {
    let mut h = H::new();
    h.login();
    let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
    let cmd = format!("a NOTIFY SET (MAILBOXES ({}) (MessageNew MessageExpunge))\r\n", names.join(" "));
    let out = h.run(cmd.as_bytes());
    assert!(out.starts_with("a BAD Too many mailboxes"), "{out}");
    let groups = "(INBOXES NONE) ".repeat(super::NOTIFY_GROUPS_MAX + 1);
    let out = h.run(format!("b NOTIFY SET {}\r\n", groups.trim_end()).as_bytes());
    assert!(out.starts_with("b BAD Too many event groups"), "{out}");
    // Within the limits it works.
    let cmd = format!("c NOTIFY SET (MAILBOXES ({}) (MessageNew MessageExpunge))\r\n", names[..100].join(" "));
    assert_eq!(h.run(cmd.as_bytes()), "c OK NOTIFY completed\r\n");
}

#[test]
fn notification_flood_overflows_and_stops() {
    let mut h = H::new();
    h.login();
    h.run(b"a NOTIFY SET (PERSONAL (MailboxName))\r\n");
    for i in 0..=super::NOTIFY_LINES_MAX {
        h.store.create(&format!("F{i}"), None).unwrap();
    }
    let out = tick(&mut h);
    assert!(out.ends_with("* OK [NOTIFICATIONOVERFLOW] Too many changes, notifications stopped\r\n"), "{out}");
    assert!(out.lines().count() <= super::NOTIFY_LINES_MAX + 2, "bounded: {}", out.lines().count());
    h.store.create("Another", None).unwrap();
    assert_eq!(tick(&mut h), "", "stopped as after NOTIFY NONE");
}

#[test]
fn too_many_watched_folders_overflow() {
    let mut h = H::new();
    h.login();
    // INBOX, Archive, Archive/2024, Entwürfe and these: one more than NOTIFY_WATCH_MAX.
    for i in 0..super::NOTIFY_WATCH_MAX - 3 {
        h.store.create(&format!("F{i}"), None).unwrap();
    }
    let out = h.run(b"a NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n");
    assert!(out.starts_with("a NO [NOTIFICATIONOVERFLOW]"), "{out}");
    // Within the limit at SET time, over it later: untagged overflow, then silence.
    assert_eq!(
        h.run(
            b"b NOTIFY SET (MAILBOXES (F1 F2) (MessageNew MessageExpunge)) (SUBTREE F (MessageNew MessageExpunge))\r\n"
        ),
        "b OK NOTIFY completed\r\n"
    );
    let out = h.run(b"c NOTIFY SET (PERSONAL (FlagChange))\r\n");
    assert!(out.starts_with("c NO [NOTIFICATIONOVERFLOW]"), "{out}");
    h.store.delete("F0").unwrap();
    let out = h.run(b"d NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n");
    assert_eq!(out, "d OK NOTIFY completed\r\n");
    h.store.create("One-too-many", None).unwrap();
    let out = tick(&mut h);
    assert!(out.starts_with("* OK [NOTIFICATIONOVERFLOW]"), "{out}");
    h.store.deliver("INBOX", SIMPLE, 0, 1_100_000_000);
    assert_eq!(tick(&mut h), "");
}

#[test]
fn notify_needs_authentication() {
    let mut h = H::new();
    assert!(h.run(b"a NOTIFY NONE\r\n").starts_with("a BAD Command not valid"));
}
