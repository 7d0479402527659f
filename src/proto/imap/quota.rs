//! RFC 9208 QUOTA: one quota root, `""`, for the whole (single-user) store, with the
//! STORAGE (§5.1, units of 1024 octets) and MESSAGE (§5.2) resources. Limits are the
//! configured `quota_storage` / `quota_messages` (0: none) and, for STORAGE, the device's
//! real free space on top of what is used (a router's flash fills up): the smaller is
//! reported and enforced. GETQUOTA and GETQUOTAROOT (§4.2-§4.3) answer; SETQUOTA (§4.1)
//! is refused (limits live in the config file). APPEND and COPY that would pass a limit
//! get `NO [OVERQUOTA]` (§4.3, RFC 5530 §3) before any byte is stored.

use std::fmt::Write as _;

use super::api::{Mailstore, StoreError};
use super::parser::{Command, P, R};
use super::session::{store_error, Session};
use super::types::Tag;

/// What the store holds now, over every selectable folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub messages: u64,
}

/// The limits in force (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub bytes: Option<u64>,
    pub messages: Option<u64>,
}

/// RFC 9208 §4.1-§4.3: `getquota = "GETQUOTA" SP quota-root-name`, `getquotaroot =
/// "GETQUOTAROOT" SP mailbox`, `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`
/// (parsed only as far as needed to refuse it), after the command name.
pub fn command(p: &mut P, name: &[u8]) -> R<Command> {
    p.sp()?;
    let arg = p.astring()?;
    match name {
        b"GETQUOTA" => Ok(Command::GetQuota(arg)),
        b"GETQUOTAROOT" => Ok(Command::GetQuotaRoot(arg)),
        _ => {
            p.sp()?;
            p.skip_value(0)?;
            Ok(Command::SetQuota)
        }
    }
}

/// Bytes and messages of every selectable folder.
pub fn usage(store: &mut dyn Mailstore) -> Result<Usage, StoreError> {
    let mut u = Usage::default();
    for f in store.folders()? {
        if f.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")) {
            continue;
        }
        let snap = store.peek(&f.name)?;
        u.bytes = u.bytes.saturating_add(snap.size);
        u.messages = u.messages.saturating_add(snap.uids.len() as u64);
    }
    Ok(u)
}

impl Session {
    /// The configured limits, STORAGE capped by what is used plus the device's free space.
    pub(super) fn quota_limits(&self, used: Usage, store: &mut dyn Mailstore) -> QuotaLimits {
        let configured = Some(self.policy.quota_storage).filter(|&n| n > 0);
        let device = store.free_space().map(|free| used.bytes.saturating_add(free));
        let bytes = match (configured, device) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        QuotaLimits { bytes, messages: Some(self.policy.quota_messages).filter(|&n| n > 0) }
    }

    /// `* QUOTA "" (STORAGE used limit MESSAGE used limit)` (RFC 9208 §5.1-§5.2, §7.2.2);
    /// an unlimited resource is left out.
    fn quota_line(&mut self, store: &mut dyn Mailstore) -> Result<(), StoreError> {
        let used = usage(store)?;
        let lim = self.quota_limits(used, store);
        let mut items = Vec::new();
        if let Some(l) = lim.bytes {
            items.push(format!("STORAGE {} {}", used.bytes.div_ceil(1024), l / 1024));
        }
        if let Some(l) = lim.messages {
            items.push(format!("MESSAGE {} {l}", used.messages));
        }
        self.untagged(&format!("QUOTA \"\" ({})", items.join(" ")));
        Ok(())
    }

    /// RFC 9208 §4.2 GETQUOTA: only the root `""` exists.
    pub(super) fn getquota(&mut self, tag: Tag, root: &[u8], store: &mut dyn Mailstore) {
        if !root.is_empty() {
            return self.tagged(&tag, "NO [NONEXISTENT] No such quota root");
        }
        match self.quota_line(store) {
            Ok(()) => self.tagged(&tag, "OK GETQUOTA completed"),
            Err(e) => self.tagged(&tag, store_error(e, false)),
        }
    }

    /// RFC 9208 §4.3 GETQUOTAROOT: every folder is under `""`.
    pub(super) fn getquotaroot(&mut self, tag: Tag, raw: &[u8], store: &mut dyn Mailstore) {
        let name = match self.mailbox(raw) {
            Ok(n) => n,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        match store.folders() {
            Ok(fs) if fs.iter().any(|f| f.name == name.as_str()) => {}
            Ok(_) => return self.tagged(&tag, "NO [NONEXISTENT] No such mailbox"),
            Err(e) => return self.tagged(&tag, store_error(e, false)),
        }
        let mut line = b"* QUOTAROOT ".to_vec();
        self.put_name(&mut line, &self.wire_name(name.as_str()));
        line.extend_from_slice(b" \"\"\r\n");
        self.raw(line);
        match self.quota_line(store) {
            Ok(()) => self.tagged(&tag, "OK GETQUOTAROOT completed"),
            Err(e) => self.tagged(&tag, store_error(e, false)),
        }
    }

    /// Would `bytes` more in `messages` more messages pass a limit? The text of the NO.
    pub(super) fn over_quota(&self, bytes: u64, messages: u64, store: &mut dyn Mailstore) -> Option<String> {
        let configured = self.policy.quota_storage > 0 || self.policy.quota_messages > 0;
        let used = match configured {
            true => usage(store).ok()?,
            // Without a configured quota only the device's free space counts: no need to
            // add up the folders.
            false => Usage::default(),
        };
        let lim = self.quota_limits(used, store);
        let over_bytes = lim.bytes.is_some_and(|l| used.bytes.saturating_add(bytes) > l);
        let over_msgs = lim.messages.is_some_and(|l| used.messages.saturating_add(messages) > l);
        let mut text = String::from("NO [OVERQUOTA] ");
        let _ = write!(text, "{}", if over_msgs { "Message quota exceeded" } else { "Storage quota exceeded" });
        (over_bytes || over_msgs).then_some(text)
    }
}
