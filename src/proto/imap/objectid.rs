//! RFC 8474 OBJECTID: `MAILBOXID` (§4: the `[MAILBOXID (id)]` response code of CREATE and
//! SELECT/EXAMINE, §4.2 the STATUS item), `EMAILID` and `THREADID` (§5: FETCH items, §6
//! SEARCH keys). Every id is derived from what the store already keeps, so the store format
//! is unchanged:
//!
//! * **MAILBOXID** `"F"` + 16 hex digits of a hash of the folder's UIDVALIDITY and its
//!   creation time ([`Snapshot::created`]), both in the folder file's HEADER record. RENAME
//!   gives the same file (same inode, a hard link, see `store::Store::rename_all`) a new
//!   name, so both stay and the id survives RENAME (§4.1: "MUST NOT change"). DELETE then
//!   CREATE makes a new file with a new UIDVALIDITY (strictly increasing within the server
//!   process) and creation time, so a new id. RENAME INBOX moves INBOX's file to the new
//!   name (which keeps INBOX's id) and starts a new INBOX that keeps the UIDVALIDITY but
//!   gets a new creation time, so INBOX gets a new id (§4.1). Two folders created in the
//!   same second by two processes could draw the same UIDVALIDITY and so the same id.
//! * **EMAILID** `"M"` + 8 hex digits of the body's CRC-32C (kept in each MESSAGE record,
//!   [`Mailstore::body_crc`]) + 10 of its size. COPY and MOVE copy the bytes, so a copy has
//!   the same id (§5.1 "SHOULD"); identical content shares one id, which §5.1 allows; two
//!   different messages of the same size collide with chance 2^-32.
//! * **THREADID** `"T"` + 16 hex digits of a hash of the thread's root Message-ID: the first
//!   id of References, else of In-Reply-To, else the message's own Message-ID (from the
//!   stored MIME summary, as THREAD=REFERENCES reads them); `NIL` when the message has none
//!   of them (§5.2 allows NIL).
//!
//! The hash is 64-bit FNV-1a: fixed by its definition, so ids stay the same across releases
//! (std's hasher does not promise that). It is not keyed: a sender can choose a Message-ID
//! that lands in another thread's THREADID, which only groups messages in a client's view.

use super::api::{Mailstore, MsgMeta, Snapshot, StoreError};
use super::reader::{Bad, P, R};
use crate::mime::MimeSummary;

/// RFC 8474 §7 `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
pub const OBJECTID_MAX: usize = 255;
/// Bytes of one Message-ID hashed for THREADID (RFC 5322 ids are short; a longer one is
/// cut, still deterministic).
pub const THREAD_ROOT_MAX: usize = 998;

/// 64-bit FNV-1a over `parts` in order (see the module doc for why this hash).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The MAILBOXID of the folder `snap` was taken of.
pub fn mailbox_id(snap: &Snapshot) -> String {
    let h = fnv1a(&[b"mailbox", &snap.uidvalidity.to_le_bytes(), &snap.created.to_le_bytes()]);
    format!("F{h:016x}")
}

/// The EMAILID of message `m` of `folder`.
pub fn email_id(store: &mut dyn Mailstore, folder: &str, m: &MsgMeta) -> Result<String, StoreError> {
    let crc = store.body_crc(folder, m.uid)?;
    Ok(format!("M{crc:08x}{:010x}", m.size & 0xFF_FFFF_FFFF))
}

/// The THREADID of a message with summary `mime`, `None` for NIL.
pub fn thread_id(mime: &MimeSummary) -> Option<String> {
    let root = thread_root(mime)?;
    let cut = root.get(..THREAD_ROOT_MAX).unwrap_or(root);
    Some(format!("T{:016x}", fnv1a(&[b"thread", cut.as_bytes()])))
}

/// The thread's root Message-ID: first of References, else of In-Reply-To, else own.
fn thread_root(mime: &MimeSummary) -> Option<&str> {
    let env = mime.parts.first().and_then(|p| p.envelope.as_ref());
    let field = |name: &str| {
        let fields = mime.header_fields.as_deref().unwrap_or(&[]);
        fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    };
    first_id(field("references"))
        .or_else(|| first_id(env.and_then(|e| e.in_reply_to.as_deref()).or_else(|| field("in-reply-to"))))
        .or_else(|| first_id(env.and_then(|e| e.message_id.as_deref()).or_else(|| field("message-id"))))
}

/// The first id of a field value, if any.
fn first_id(v: Option<&str>) -> Option<&str> {
    v.and_then(|v| msg_ids(v).next())
}

/// The ids between `<` and `>` in a field value (RFC 5322 §3.6.4 `msg-id`).
fn msg_ids(v: &str) -> impl Iterator<Item = &str> {
    v.split('<').skip(1).filter_map(|s| s.split_once('>')).map(|(id, _)| id.trim()).filter(|id| !id.is_empty())
}

/// RFC 8474 §7 `objectid` (the argument of SEARCH EMAILID / THREADID).
pub fn objectid(p: &mut P) -> R<String> {
    let id = p.atom()?;
    let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    if id.is_empty() || id.len() > OBJECTID_MAX || !id.iter().all(ok) {
        return Err(Bad("Bad object id"));
    }
    Ok(String::from_utf8_lossy(id).into_owned())
}

/// `EMAILID (id)` of a FETCH response.
pub fn fetch_email_id(
    store: &mut dyn Mailstore,
    folder: &str,
    m: &MsgMeta,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let id = email_id(store, folder, m)?;
    out.extend_from_slice(format!("EMAILID ({id})").as_bytes());
    Ok(())
}

/// `THREADID (id)` or `THREADID NIL` of a FETCH response.
pub fn fetch_thread_id(mime: &MimeSummary, out: &mut Vec<u8>) {
    match thread_id(mime) {
        Some(id) => out.extend_from_slice(format!("THREADID ({id})").as_bytes()),
        None => out.extend_from_slice(b"THREADID NIL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_vector() {
        // FNV-1a 64 of "a" (the published test vector).
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn objectid_syntax() {
        let mut p = P::new(b"M0123abcd_-");
        assert_eq!(objectid(&mut p).ok().as_deref(), Some("M0123abcd_-"));
        let long = vec![b'a'; 10 * 1024];
        assert!(objectid(&mut P::new(&long)).is_err());
        assert!(objectid(&mut P::new(b"a.b")).is_err());
    }

    #[test]
    fn mailbox_id_depends_on_created() {
        let a = Snapshot { uidvalidity: 7, created: 100, ..Snapshot::default() };
        let b = Snapshot { uidvalidity: 7, created: 101, ..Snapshot::default() };
        assert_ne!(mailbox_id(&a), mailbox_id(&b));
        assert_eq!(mailbox_id(&a), mailbox_id(&a.clone()));
        assert_eq!(mailbox_id(&a).len(), 17);
    }
}
