//! The one delivery step (DESIGN.md §5, issue 16): where an arriving message is stored,
//! decided from what is known about it — the local recipients' subaddresses (RFC 5233
//! `user+detail`), the inbound checks' verdict (issue 15: DMARC quarantine, a DNSBL in tag
//! mode), the folders that exist — and, once the owner's Sieve script runs here, its
//! actions. Sans-IO: facts in, one [`Target`] out; the driver stores it in one durable step.
//!
//! Rules without a script (issue 16): a message the checks judged junk goes to the folder
//! with the `\Junk` special use (RFC 6154) and gets the `$Junk` keyword (the keyword mail
//! clients use for "marked as spam"); otherwise `user+detail@domain` goes to folder `detail`
//! when it exists and `subaddress_folders` is on (the first recipient's detail that names a
//! folder wins: one copy per message, as Postfix's `recipient_delimiter` with a single
//! mailbox gives); otherwise INBOX.
//!
//! With an active Sieve script (RFC 5228), [`plan`] turns the script's [`crate::sieve::Outcome`]
//! into a [`Plan`]: the folders to store in with their flags (RFC 5232), the addresses to
//! redirect to, a vacation reply to consider (RFC 5230) and a rejection (RFC 5429). `keep`
//! goes to INBOX, or to the junk folder when the checks say junk (a script does not turn the
//! spam verdict off); a `fileinto` of a folder that does not exist, without `:create`, is
//! kept in INBOX with a log line (RFC 5228 §4.1 leaves the failure to the implementation;
//! Pigeonhole does the same); the same folder named twice is stored once (§4.1).

#[cfg(feature = "sieve")]
pub mod vacation;

use crate::store::INBOX;

/// System flags a script may set (RFC 5232 §2), with the store's flag bits (RFC 3501 §2.3.2;
/// `\Recent` cannot be set).
#[cfg(feature = "sieve")]
const SYSTEM_FLAGS: [(&str, u32); 5] =
    [("\\seen", 1), ("\\answered", 1 << 1), ("\\flagged", 1 << 2), ("\\deleted", 1 << 3), ("\\draft", 1 << 4)];

/// The field a redirected copy carries (Pigeonhole's name, so loops through a Dovecot
/// server are caught too; the interpreter drops a redirect to an address it names).
pub const REDIRECTED_FROM: &str = "X-Sieve-Redirected-From";

/// The keyword a junk verdict sets (Thunderbird, Apple Mail and K-9 read it).
pub const JUNK_KEYWORD: &str = "$Junk";

/// What the delivery step knows about one message.
pub struct Facts<'a> {
    /// The `+detail` of each local recipient, in RCPT order (`None`: no detail).
    pub details: &'a [Option<String>],
    /// The inbound checks say junk (DMARC quarantine, DNSBL tag mode).
    pub junk: bool,
    /// The folder with `\Junk` (the special-use map; "Junk" by default).
    pub junk_folder: &'a str,
    /// Config `subaddress_folders`.
    pub detail_folders: bool,
    /// Whether a folder of this name exists.
    pub folder_exists: &'a dyn Fn(&str) -> bool,
}

/// Where to store the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub folder: String,
    /// System flag bits (the store's flag word).
    pub flags: u32,
    pub keywords: Vec<String>,
    /// The folder may be missing and is created first (the Junk folder, "created on first
    /// use", issue 15).
    pub create: bool,
}

/// The folder and keywords for a message (see the module docs for the rules).
pub fn target(f: &Facts<'_>) -> Target {
    if f.junk {
        return junk_target(f);
    }
    let detail = f
        .details
        .iter()
        .flatten()
        .filter(|_| f.detail_folders)
        .find(|d| !d.is_empty() && !d.eq_ignore_ascii_case(INBOX) && (f.folder_exists)(d));
    match detail {
        Some(d) => Target { folder: d.clone(), flags: 0, keywords: Vec::new(), create: false },
        None => inbox(),
    }
}

fn inbox() -> Target {
    Target { folder: INBOX.to_owned(), flags: 0, keywords: Vec::new(), create: false }
}

fn junk_target(f: &Facts<'_>) -> Target {
    Target { folder: f.junk_folder.to_owned(), flags: 0, keywords: vec![JUNK_KEYWORD.to_owned()], create: true }
}

/// What the delivery step does with one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Folders to store in, each once; empty after `discard` (or a rejection).
    pub stores: Vec<Target>,
    /// Addresses to send the message on to (through the outbound queue).
    pub redirects: Vec<String>,
    /// A vacation reply to consider (RFC 3834 rules and the once-per-period state are the
    /// driver's: `sieve::vacation_allowed`, `store::vacation`).
    #[cfg(feature = "sieve")]
    pub vacation: Option<crate::sieve::Vacation>,
    /// `reject`/`ereject` (RFC 5429): refuse at SMTP time; nothing is stored.
    pub reject: Option<String>,
    /// Lines for the log (script errors, dropped actions).
    pub log: Vec<String>,
}

/// The plan without a script: one [`target`].
pub fn plan_default(f: &Facts<'_>) -> Plan {
    Plan { stores: vec![target(f)], ..Plan::default() }
}

/// The plan for a script's outcome (see the module docs).
#[cfg(feature = "sieve")]
pub fn plan(f: &Facts<'_>, outcome: &crate::sieve::Outcome) -> Plan {
    use crate::sieve::Action;
    let mut p = Plan::default();
    for e in &outcome.errors {
        p.log.push(format!("sieve error, kept in INBOX: {e}"));
    }
    p.log.extend(outcome.notes.iter().map(|n| format!("sieve: {n}")));
    for a in &outcome.actions {
        match a {
            Action::Keep { flags } => {
                let t = if f.junk { junk_target(f) } else { inbox() };
                add_store(&mut p, t, flags);
            }
            Action::FileInto { mailbox, flags, create, .. } => {
                let inbox_named = mailbox.eq_ignore_ascii_case(INBOX);
                if inbox_named || *create || (f.folder_exists)(mailbox) {
                    let folder = if inbox_named { INBOX.to_owned() } else { mailbox.clone() };
                    add_store(&mut p, Target { folder, flags: 0, keywords: Vec::new(), create: *create }, flags);
                } else {
                    p.log.push(format!("sieve: fileinto {mailbox:?}: no such folder, kept in INBOX"));
                    add_store(&mut p, inbox(), flags);
                }
            }
            Action::Redirect { address, .. } => {
                if !p.redirects.iter().any(|r| r.eq_ignore_ascii_case(address)) {
                    p.redirects.push(address.clone());
                }
            }
            Action::Discard => {}
            Action::Reject(reason) | Action::Ereject(reason) => p.reject = Some(reason.clone()),
            Action::Vacation(v) => p.vacation = Some(v.clone()),
        }
    }
    p
}

#[cfg(feature = "sieve")]
/// Adds a store of `t` with the script's `flags`, unless the folder is already stored in
/// (RFC 5228 §4.1: one copy per folder; the interpreter already merged repeats of one action).
fn add_store(p: &mut Plan, mut t: Target, flags: &[String]) {
    if p.stores.iter().any(|s| s.folder == t.folder) {
        return;
    }
    for flag in flags {
        let lower = flag.to_ascii_lowercase();
        match SYSTEM_FLAGS.iter().find(|(n, _)| *n == lower) {
            Some((_, bit)) => t.flags |= bit,
            None if flag.starts_with('\\') => {}
            None if valid_keyword(flag) => {
                if !t.keywords.iter().any(|k| k.eq_ignore_ascii_case(flag)) {
                    t.keywords.push(flag.clone());
                }
            }
            None => p.log.push(format!("sieve: flag {flag:?} is not an IMAP keyword, not set")),
        }
    }
    p.stores.push(t);
}

#[cfg(feature = "sieve")]
/// RFC 3501 `flag-keyword = atom`: no specials, controls or spaces.
fn valid_keyword(k: &str) -> bool {
    !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic() && !b"(){%*\"]\\".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(details: &'a [Option<String>], junk: bool, on: bool, exists: &'a dyn Fn(&str) -> bool) -> Facts<'a> {
        Facts { details, junk, junk_folder: "Spam", detail_folders: on, folder_exists: exists }
    }

    #[test]
    fn junk_then_existing_detail_folder_then_inbox() {
        let exists = |n: &str| n == "shop" || n == "lists";
        let d = |s: &str| Some(s.to_owned());
        let inbox = Target { folder: "INBOX".into(), flags: 0, keywords: vec![], create: false };
        // No detail, or a detail naming no folder: INBOX.
        assert_eq!(target(&facts(&[None], false, true, &exists)), inbox);
        assert_eq!(target(&facts(&[d("travel")], false, true, &exists)), inbox);
        // The first detail that names a folder.
        let shop = Target { folder: "shop".into(), flags: 0, keywords: vec![], create: false };
        assert_eq!(target(&facts(&[None, d("travel"), d("shop"), d("lists")], false, true, &exists)), shop);
        // Turned off: INBOX.
        assert_eq!(target(&facts(&[d("shop")], false, false, &exists)), inbox);
        // Junk wins over the detail, with the keyword, and the folder is made if missing.
        let junk = Target { folder: "Spam".into(), flags: 0, keywords: vec!["$Junk".into()], create: true };
        assert_eq!(target(&facts(&[d("shop")], true, true, &exists)), junk);
        // "+inbox" and an empty detail are INBOX, not a folder lookup.
        let any = |_: &str| true;
        assert_eq!(target(&facts(&[d(""), d("InBox")], false, true, &any)), inbox);
    }

    #[cfg(feature = "sieve")]
    fn planned(script: &str, junk: bool) -> Plan {
        let exists = |n: &str| n == "lists";
        let f = facts(&[], junk, true, &exists);
        let limits = crate::sieve::Limits::default();
        let s = crate::sieve::parse(script.as_bytes(), &limits).expect("script parses");
        let msg = crate::sieve::MessageView::parse(b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n");
        let env =
            crate::sieve::Envelope { from: "a@b.example".into(), to: "me@x.example".into(), ..Default::default() };
        plan(&f, &crate::sieve::run(&s, &msg, &env, &limits, 0))
    }

    #[cfg(feature = "sieve")]
    #[test]
    fn a_script_outcome_becomes_stores_with_flags_redirects_and_rejects() {
        let t = |folder: &str, flags: u32, kw: &[&str], create: bool| Target {
            folder: folder.into(),
            flags,
            keywords: kw.iter().map(|k| k.to_string()).collect(),
            create,
        };
        // fileinto an existing folder with flags (system flags as bits, unknown system flags
        // dropped); the same folder twice is stored once, the last action's flags (Pigeonhole).
        let p = planned(
            "require [\"fileinto\", \"imap4flags\"]; fileinto \"lists\"; fileinto :flags [\"\\\\Seen\", \"$label1\", \"\\\\Bogus\"] \"lists\";",
            false,
        );
        assert_eq!(p.stores, vec![t("lists", 1, &["$label1"], false)]);
        // A missing folder without :create is kept in INBOX with a log line; with :create, made.
        let p = planned("require \"fileinto\"; fileinto \"nope\";", false);
        assert_eq!(p.stores, vec![t("INBOX", 0, &[], false)]);
        assert!(p.log.iter().any(|l| l.contains("no such folder")), "{:?}", p.log);
        let p = planned("require [\"fileinto\", \"mailbox\"]; fileinto :create \"new\";", false);
        assert_eq!(p.stores, vec![t("new", 0, &[], true)]);
        // keep with a junk verdict goes to the junk folder; discard stores nothing.
        assert_eq!(planned("keep;", true).stores, vec![t("Spam", 0, &["$Junk"], true)]);
        assert!(planned("discard;", false).stores.is_empty());
        // redirect (deduplicated) without :copy cancels the keep; with :copy it stays.
        let p = planned("redirect \"x@y.example\"; redirect \"X@y.example\";", false);
        assert_eq!((p.redirects.len(), p.stores.len()), (1, 0));
        let p = planned("require \"copy\"; redirect :copy \"x@y.example\";", false);
        assert_eq!(p.stores, vec![t("INBOX", 0, &[], false)]);
        // reject and vacation reach the plan.
        let p = planned("require \"reject\"; reject \"go away\";", false);
        assert_eq!((p.reject.as_deref(), p.stores.len()), (Some("go away"), 0));
        let p = planned("require \"vacation\"; vacation \"away\";", false);
        assert_eq!(p.vacation.map(|v| v.reason), Some("away".to_string()));
    }
}
