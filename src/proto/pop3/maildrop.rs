//! The maildrop snapshot taken at login (RFC 1939 §4: message numbers are fixed for the
//! session) with deletion marks (§5 DELE, RSET) and unique-id listings (§7 UIDL).

/// One message as the driver lists it at login: its store uid and stored size in octets
/// (CRLF form, before byte-stuffing, RFC 1939 §5 "exact size").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgInfo {
    pub uid: u32,
    pub size: u64,
}

/// Why a message number does not name a live message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgError {
    NoSuch,
    Deleted,
}

#[derive(Debug)]
pub struct Maildrop {
    msgs: Vec<MsgInfo>,
    deleted: Vec<bool>,
    uidvalidity: u32,
}

impl Maildrop {
    pub fn new(msgs: Vec<MsgInfo>, uidvalidity: u32) -> Maildrop {
        let deleted = vec![false; msgs.len()];
        Maildrop { msgs, deleted, uidvalidity }
    }

    /// Message `n` (1-based) if it exists and is not marked deleted.
    pub fn get(&self, n: u32) -> Result<MsgInfo, MsgError> {
        let i = index(n)?;
        match (self.msgs.get(i), self.deleted.get(i)) {
            (Some(_), Some(true)) => Err(MsgError::Deleted),
            (Some(m), _) => Ok(*m),
            (None, _) => Err(MsgError::NoSuch),
        }
    }

    pub fn delete(&mut self, n: u32) -> Result<(), MsgError> {
        self.get(n)?;
        if let Some(flag) = self.deleted.get_mut(index(n)?) {
            *flag = true;
        }
        Ok(())
    }

    pub fn reset(&mut self) {
        self.deleted.iter_mut().for_each(|d| *d = false);
    }

    /// Count and total size of messages not marked deleted (STAT, §5).
    pub fn stat(&self) -> (usize, u64) {
        self.live().fold((0, 0), |(n, size), (_, _, m)| (n + 1, size.saturating_add(m.size)))
    }

    /// `(index, number, info)` of live messages from index `from` (0-based) on.
    pub fn live_from(&self, from: usize) -> impl Iterator<Item = (usize, u32, MsgInfo)> + '_ {
        (from..self.msgs.len()).filter_map(move |i| match (self.msgs.get(i), self.deleted.get(i)) {
            (Some(m), Some(false)) => Some((i, number(i), *m)),
            _ => None,
        })
    }

    /// Uids marked deleted, for the commit at QUIT (§6).
    pub fn deleted_uids(&self) -> Vec<u32> {
        self.msgs.iter().zip(&self.deleted).filter(|(_, &d)| d).map(|(m, _)| m.uid).collect()
    }

    /// RFC 1939 §7 unique-id: 16 hex digits from uidvalidity and uid, stable across
    /// sessions as long as the store keeps both.
    pub fn unique_id(&self, uid: u32) -> String {
        format!("{:08x}{uid:08x}", self.uidvalidity)
    }

    fn live(&self) -> impl Iterator<Item = (usize, u32, MsgInfo)> + '_ {
        self.live_from(0)
    }
}

/// Message number 1.. to vector index; 0 names no message.
fn index(n: u32) -> Result<usize, MsgError> {
    let i = n.checked_sub(1).ok_or(MsgError::NoSuch)?;
    usize::try_from(i).map_err(|_| MsgError::NoSuch)
}

/// Vector index to message number; a snapshot never holds more than u32::MAX messages
/// because the store's uids are u32, so saturation never shows.
fn number(i: usize) -> u32 {
    u32::try_from(i).map_or(u32::MAX, |n| n.saturating_add(1))
}
