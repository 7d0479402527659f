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

use crate::store::INBOX;

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
    pub keywords: Vec<String>,
    /// The folder may be missing and is created first (the Junk folder, "created on first
    /// use", issue 15).
    pub create: bool,
}

/// The folder and keywords for a message (see the module docs for the rules).
pub fn target(f: &Facts<'_>) -> Target {
    if f.junk {
        return Target { folder: f.junk_folder.to_owned(), keywords: vec![JUNK_KEYWORD.to_owned()], create: true };
    }
    let detail = f
        .details
        .iter()
        .flatten()
        .filter(|_| f.detail_folders)
        .find(|d| !d.is_empty() && !d.eq_ignore_ascii_case(INBOX) && (f.folder_exists)(d));
    match detail {
        Some(d) => Target { folder: d.clone(), keywords: Vec::new(), create: false },
        None => Target { folder: INBOX.to_owned(), keywords: Vec::new(), create: false },
    }
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
        let inbox = Target { folder: "INBOX".into(), keywords: vec![], create: false };
        // No detail, or a detail naming no folder: INBOX.
        assert_eq!(target(&facts(&[None], false, true, &exists)), inbox);
        assert_eq!(target(&facts(&[d("travel")], false, true, &exists)), inbox);
        // The first detail that names a folder.
        let shop = Target { folder: "shop".into(), keywords: vec![], create: false };
        assert_eq!(target(&facts(&[None, d("travel"), d("shop"), d("lists")], false, true, &exists)), shop);
        // Turned off: INBOX.
        assert_eq!(target(&facts(&[d("shop")], false, false, &exists)), inbox);
        // Junk wins over the detail, with the keyword, and the folder is made if missing.
        let junk = Target { folder: "Spam".into(), keywords: vec!["$Junk".into()], create: true };
        assert_eq!(target(&facts(&[d("shop")], true, true, &exists)), junk);
        // "+inbox" and an empty detail are INBOX, not a folder lookup.
        let any = |_: &str| true;
        assert_eq!(target(&facts(&[d(""), d("InBox")], false, true, &any)), inbox);
    }
}
