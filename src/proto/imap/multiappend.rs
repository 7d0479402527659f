//! RFC 3502 MULTIAPPEND: `append = "APPEND" SP mailbox 1*append-message` (§6.3.11 of RFC
//! 3501 extended). The framer announces each message after the first with
//! [`Frame::AppendNext`](super::framer::Frame); every message is one more
//! [`Event::AppendStarted`] of the same command, and the one `AppendEnded` at its end commits
//! them all at once (§6.3.11: "If the server fails to append any of the messages, it MUST
//! NOT append any of them"). An error in any message aborts the whole command.

use super::api::{Event, Mailstore, StoreError};
use super::reader::{Bad, Flag, P, R};
use super::session::{Pending, Session};

/// Messages in one APPEND: each may hold an open spool file in the driver until the commit.
pub const APPEND_MESSAGES_MAX: usize = 64;

/// The APPEND in progress: its folder and how many messages it has announced.
#[derive(Debug, Clone, Default)]
pub struct MultiAppend {
    pub folder: String,
    pub count: usize,
    /// Bytes announced so far (RFC 9208 quota checks count the whole command).
    pub bytes: u64,
}

/// The options of one more message: `append-opts SP append-data` (RFC 3502 §6, RFC 6855 §4
/// UTF8 form), parsed from the line after the previous literal.
#[derive(Debug, PartialEq, Eq)]
pub struct NextMessage {
    pub flags: Vec<Flag>,
    pub date: Option<i64>,
    pub utf8: bool,
}

/// RFC 3502 §6 `append-message = append-opts SP append-data` with its leading SP:
/// `SP [flag-list SP] [date-time SP] ("{" number ["+"] "}" / "UTF8" SP "(~{" ...)` CRLF.
pub fn next_message(line: &[u8]) -> R<NextMessage> {
    let mut p = P::new(line);
    p.sp()?;
    let (flags, date, utf8) = super::parser::append_opts(&mut p)?;
    super::parser::literal_header_only(&mut p)?;
    Ok(NextMessage { flags, date, utf8 })
}

/// `uid-set` of RFC 4315 §4 for consecutive runs: `4:6,9`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(u) => *last = u,
            _ => runs.push((u, u)),
        }
    }
    let text: Vec<String> =
        runs.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}:{b}") }).collect();
    text.join(",")
}

impl Session {
    /// The first message of an APPEND was accepted into `folder`.
    pub(super) fn multiappend_begin(&mut self, folder: &str, size: u64) {
        self.multi = MultiAppend { folder: folder.to_owned(), count: 1, bytes: size };
    }

    /// One more message was announced (RFC 3502): accept it into the same command, or abort
    /// the command (nothing is appended) and refuse its literal.
    pub(super) fn append_next(&mut self, line: &[u8], size: u64, store: &mut dyn Mailstore) {
        let Pending::AppendData(tag) = &self.pending else {
            return self.framer.reject_append();
        };
        let tag = tag.clone();
        let bytes = self.multi.bytes.saturating_add(size);
        let quota = self.over_quota(bytes, self.multi.count as u64 + 1, store);
        let checked = match quota {
            Some(text) => Err(text),
            None => self.check_next(line, size),
        };
        let (flags, keywords, date) = match checked {
            Ok(ok) => ok,
            Err(text) => {
                self.pending = Pending::None;
                self.out.push_back(Event::AppendAborted);
                self.framer.reject_append();
                return self.tagged(&tag, &text);
            }
        };
        if self.framer.accept_append() {
            self.raw(b"+ Ready for literal data\r\n".to_vec());
        }
        self.multi.count += 1;
        self.multi.bytes = bytes;
        let folder = self.multi.folder.clone();
        self.out.push_back(Event::AppendStarted { folder, flags, keywords, date, size });
    }

    /// The checks of one more message: count, size, syntax, flags.
    fn check_next(&self, line: &[u8], size: u64) -> Result<(u32, Vec<String>, Option<i64>), String> {
        if self.multi.count >= APPEND_MESSAGES_MAX {
            return Err("NO [LIMIT] Too many messages in one APPEND".into());
        }
        if size > self.policy.message_max {
            return Err("NO [TOOBIG] Message too large".into());
        }
        let next = next_message(line).map_err(|Bad(text)| format!("BAD {text}"))?;
        if next.utf8 && !self.utf8 {
            return Err("BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT".into());
        }
        let (flags, keywords) = super::commands::split_flags(&next.flags).ok_or("BAD Invalid keyword")?;
        Ok((flags, keywords, next.date))
    }

    /// The driver's answer to `AppendEnded` for all the messages of the command: the
    /// folder's UIDVALIDITY and the new UIDs in order (RFC 4315 §3 APPENDUID `uid-set`).
    pub fn append_all_done(&mut self, result: Result<(u32, Vec<u32>), StoreError>) {
        let Pending::AppendCommit(tag) = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        let text = match result {
            Ok((validity, uids)) if !uids.is_empty() => {
                format!("OK [APPENDUID {validity} {}] APPEND completed", uid_set(&uids))
            }
            Ok(_) => super::session::store_error(StoreError::Io, true).to_owned(),
            Err(e) => super::session::store_error(e, true).to_owned(),
        };
        self.pending = Pending::Finish { tag, text, refresh: true };
    }
}
