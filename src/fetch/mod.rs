//! Pulling mail from the owner's other accounts (issue 17, the fetchmail role): the sans-IO
//! IMAP ([`imap`], RFC 3501 + RFC 2177 IDLE + RFC 4315 UID EXPUNGE) and POP3 ([`pop3`],
//! RFC 1939 + RFC 2449 + RFC 2595 + RFC 5034) client cores, and the account's durable
//! state ([`state`]). The driver with sockets, TLS and the store is `net::fetch`.
//!
//! # Exactly once across a crash
//! A message pulled is stored with a `Received:` field on top naming the account and a
//! remote id ([`imap_token`], [`pop3_token`]: account, remote folder, UIDVALIDITY and UID for IMAP; account and
//! UIDL for POP3). Pulling one message is four durable steps:
//! 1. the *intent* (`DATA/fetch/NAME.intent`: local folder, token, the state change) is
//!    written and synced;
//! 2. the message is appended to the store (its own durable commit);
//! 3. the state (`DATA/fetch/NAME.state`) is replaced with the change applied, atomically;
//! 4. the intent is removed. Only then is the message deleted remotely (`keep = false`).
//!
//! On start, a left-over intent is *settled* ([`settle`]): if one of the newest
//! [`SETTLE_SCAN`] messages of its folder carries its token, the append landed and the
//! state change is applied; otherwise it did not and the message is pulled again. So a
//! crash at any point neither loses a message (nothing remote is deleted before step 3)
//! nor stores it twice (the state, or the settled intent, covers every stored message).
//!
//! # UIDVALIDITY
//! A remote folder whose UIDVALIDITY changed (RFC 3501 §2.3.1.1) is logged and pulled
//! again from UID 1, with one rule against duplicates: a message among the UIDs that
//! existed at the change (below the UIDNEXT of then, kept in the state, so the rule still
//! holds in a session after a crash) whose Message-ID and size match a message this account
//! already stored in its local folder ([`stored_identity`] on the local side,
//! [`message_id`] on the pulled one) is not stored again. Those messages are downloaded
//! once more to learn their Message-ID (a rare event; a header-only fetch would save the
//! bandwidth).

pub mod imap;
pub mod pop3;
pub mod state;

use std::io;

use crate::store::{Folder, Store};

/// Newest messages of the intent's folder looked at when settling: other deliveries
/// (SMTP) may land after ours before the crash, never many in the milliseconds between.
pub const SETTLE_SCAN: usize = 256;
/// Bytes read from the top of a stored message to find our `Received:` field.
pub const RECEIVED_PEEK: usize = 1024;
pub use crate::config::fetch::valid_name;

/// The remote id of an IMAP message: `NAME/FOLDER/UIDVALIDITY/UID`, the folder's bytes
/// outside `[A-Za-z0-9.]` as `%XX` (a token is one atom of the `Received:` field).
pub fn imap_token(account: &str, folder: &str, uidvalidity: u32, uid: u32) -> String {
    let mut f = String::new();
    for b in folder.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' {
            f.push(char::from(b));
        } else {
            f.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{account}/{f}/{uidvalidity}/{uid}")
}

/// The remote id of a POP3 message: `NAME/UIDL` (a UIDL is 0x21-0x7E, RFC 1939 §7).
pub fn pop3_token(account: &str, uidl: &str) -> String {
    format!("{account}/{uidl}")
}

/// The trace field put on top of a pulled message (RFC 5321 §4.4 form: `from`, `by`,
/// `with`, `id`).
pub fn received(server: &str, by: &str, protocol: &str, token: &str, date: &str) -> String {
    format!("Received: from {server} by {by} with {protocol} id {token}\r\n\t(letterbox fetch); {date}\r\n")
}

/// Whether `top` (the first bytes of a stored message) is a message we stored for `token`.
pub fn carries(top: &[u8], token: &str) -> bool {
    let needle = format!(" id {token}\r\n");
    top.starts_with(b"Received: ") && memchr::memmem::find(top, needle.as_bytes()).is_some()
}

/// Bytes of a message's top searched for its Message-ID (the header field is near the top
/// in practice; a message with a larger header before it simply is not matched).
pub const HEADER_PEEK: usize = 16 * 1024;

/// The `Message-ID:` value (RFC 5322 §3.6.4) in the header at the top of `msg`, if found
/// in it (folded values are joined).
pub fn message_id(msg: &[u8]) -> Option<String> {
    header_value(msg, b"message-id:")
}

/// The address of the first `Return-Path:` field (RFC 5321 §4.4: the envelope sender the
/// remote's MTA recorded), without brackets; what the owner's rules see as the sender.
pub fn return_path(msg: &[u8]) -> Option<String> {
    let v = header_value(msg, b"return-path:")?;
    let a = v.trim_start_matches('<').trim_end_matches('>');
    (!a.is_empty() && a.len() <= 256 && !a.contains(['<', '>'])).then(|| a.to_owned())
}

/// The first field named `name` (lowercase, with the colon), unfolded, white space removed.
fn header_value(msg: &[u8], name: &[u8]) -> Option<String> {
    let end = memchr::memmem::find(msg, b"\r\n\r\n").unwrap_or(msg.len());
    let header = msg.get(..end)?;
    let mut lines = header.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).peekable();
    let n = name.len();
    while let Some(l) = lines.next() {
        let Some(v) = l.get(..n).filter(|x| x.eq_ignore_ascii_case(name)).and(l.get(n..)) else { continue };
        let mut value = v.to_vec();
        while let Some(next) = lines.next_if(|n| n.first().is_some_and(|b| *b == b' ' || *b == b'\t')) {
            value.extend_from_slice(next);
        }
        let v = String::from_utf8_lossy(&value).split_whitespace().collect::<String>();
        return (!v.is_empty()).then_some(v);
    }
    None
}

/// For a stored message that `account` pulled (its top `top`, its stored size): the
/// remote message's Message-ID and size (the stored size without our `Received:`).
pub fn stored_identity(top: &[u8], size: u64, account: &str) -> Option<(String, u64)> {
    let first = top.get(..memchr::memmem::find(top, b"\r\n")?)?;
    let ours = format!(" id {account}/");
    if !top.starts_with(b"Received: from ") || memchr::memmem::find(first, ours.as_bytes()).is_none() {
        return None;
    }
    let tail = memchr::memmem::find(top, b"\r\n\t(letterbox fetch); ")?;
    let end = tail + 2 + memchr::memmem::find(top.get(tail + 2..)?, b"\r\n")? + 2;
    let rest = top.get(end..)?;
    Some((message_id(rest)?, size.checked_sub(end as u64)?))
}

/// Settles a left-over intent: true when its message is in the store (the append landed).
pub fn settle(store: &Store, intent: &state::Intent) -> io::Result<bool> {
    let folder = match store.open_folder(&intent.folder) {
        Ok(f) => f,
        Err(e) if e.kind == crate::store::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    Ok(newest_carry(&folder, &intent.token))
}

fn newest_carry(folder: &Folder, token: &str) -> bool {
    let mut top = vec![0u8; RECEIVED_PEEK];
    folder.entries().iter().rev().take(SETTLE_SCAN).any(|e| {
        let n = folder.read_body(e, 0, &mut top).unwrap_or(0);
        carries(top.get(..n).unwrap_or_default(), token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_received() {
        assert_eq!(imap_token("isp", "Old Mail/x", 7, 9), "isp/Old%20Mail%2Fx/7/9");
        let r = received("imap.isp.example", "me.example", "IMAP", "isp/INBOX/7/9", "date");
        assert!(carries(r.as_bytes(), "isp/INBOX/7/9"));
        assert!(!carries(r.as_bytes(), "isp/INBOX/7/90"));
        assert!(!carries(r.as_bytes(), "isp/INBOX/7/"));
        assert!(valid_name("isp-2") && !valid_name("a/b") && !valid_name(""));
        let m = b"Subject: x\r\nMessage-Id:\r\n <a@b>\r\n\r\nMessage-ID: <no@no>\r\n";
        assert_eq!(message_id(m).as_deref(), Some("<a@b>"));
        assert_eq!(message_id(b"Subject: x\r\n\r\n"), None);
        let stored = [r.as_bytes(), &m[..]].concat();
        assert_eq!(stored_identity(&stored, stored.len() as u64, "isp"), Some(("<a@b>".into(), m.len() as u64)));
        assert_eq!(stored_identity(&stored, stored.len() as u64, "other"), None);
        assert_eq!(stored_identity(m, m.len() as u64, "isp"), None);
    }
}
