//! The session's side of the store's answers: the driver reports each write the core asked
//! for (APPEND and MULTIAPPEND, STORE, EXPUNGE, COPY/MOVE, the mailbox operations) once it
//! is durable, and the core answers the command: RFC 4315 APPENDUID/COPYUID, RFC 7162
//! §3.1.3 MODIFIED, RFC 5530 response codes.

use super::*;

impl Session {
    /// The driver's answer to `AppendEnded`: `(uidvalidity, uid)` of the new message.
    pub fn append_done(&mut self, result: Result<(u32, u32), StoreError>) {
        self.append_all_done(result.map(|(validity, uid)| (validity, vec![uid])));
    }

    /// The driver's answer to `Store`: new flags and the folder's keyword list.
    pub fn store_done(&mut self, result: Result<(Vec<FlagUpdate>, Vec<String>), StoreError>) {
        self.store_done_with(result, Vec::new());
    }

    /// As `store_done`, with the UIDs an UNCHANGEDSINCE store skipped because their MODSEQ
    /// was higher (RFC 7162 §3.1.3).
    pub fn store_done_with(&mut self, result: Result<(Vec<FlagUpdate>, Vec<String>), StoreError>, modified: Vec<u32>) {
        let Pending::Store { tag, uid, silent, fetch, conditional } =
            std::mem::replace(&mut self.pending, Pending::None)
        else {
            return;
        };
        let mut buf = Vec::new();
        let ok = result.is_ok();
        let mut code = String::new();
        if let (Ok((updates, keywords)), Some(sel)) = (result, self.selected.as_mut()) {
            sel.set_keywords(keywords, &mut buf);
            // RFC 7162 §3.1.3: a silent (also UNCHANGEDSINCE) STORE still reports the new
            // MODSEQs of a CONDSTORE session, without FLAGS.
            let report = match (silent, fetch.is_some()) {
                (_, true) => Report::Never,
                (true, _) => Report::Silent,
                _ => Report::Always { uid },
            };
            sel.update_flags(&updates, report, &mut buf);
            code = modseq_code(sel, &updates, &modified, uid);
            #[cfg(feature = "imap-context")]
            sel.live.mark(updates.iter().map(|u| u.uid));
        }
        self.raw(buf);
        let text = match (fetch, ok) {
            (Some(job), true) => {
                self.pending = Pending::Fetch { tag, job, done: "OK FETCH completed".into() };
                return;
            }
            (_, true) if conditional && code.starts_with("[MODIFIED") => format!("OK {code}Conditional STORE failed"),
            (_, true) => format!("OK {code}STORE completed"),
            (_, false) => "NO [UNAVAILABLE] Flags could not be changed".to_owned(),
        };
        // Live searches (RFC 5267) are brought up to date before the tagged reply.
        match self.selected.as_ref().is_some_and(|s| s.has_live()) {
            true => self.pending = Pending::Finish { tag, text, refresh: false },
            false => self.tagged(&tag, &text),
        }
    }

    /// The driver's answer to `Expunge`: the UIDs actually removed.
    pub fn expunge_done(&mut self, result: Result<Vec<u32>, StoreError>) {
        let Pending::Expunge { tag, close } = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        let mut buf = Vec::new();
        match (result, self.selected.as_mut()) {
            (Ok(_), _) if close => {
                self.deselect();
                return self.tagged(&tag, "OK CLOSE completed");
            }
            (Ok(uids), Some(sel)) => sel.expunge(&uids, &mut buf),
            (Ok(_), None) => {}
            (Err(_), _) => return self.tagged(&tag, "NO [UNAVAILABLE] Expunge failed"),
        }
        self.raw(buf);
        // Messages another session expunged meanwhile (their \Deleted is read from the
        // store) are reported too, before the tagged OK (RFC 3501 §6.4.3).
        self.finish(tag, "OK EXPUNGE completed");
    }

    /// Answer to [`Event::Copy`]: the target's UIDVALIDITY and (source, new) UID pairs.
    pub fn copy_done(&mut self, result: Result<(u32, Vec<(u32, u32)>), StoreError>) {
        let Pending::Copy { tag, mv } = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        let (validity, pairs) = match result {
            Ok(r) => r,
            Err(e) => return self.tagged(&tag, store_error(e, true)),
        };
        let cmd = if mv { "MOVE" } else { "COPY" };
        if pairs.is_empty() {
            return self.tagged(&tag, &format!("OK {cmd} completed"));
        }
        let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let code = format!("COPYUID {validity} {} {}", uid_list(&src), uid_list(&dst));
        // A copy into the selected folder is announced (EXISTS) before the tagged OK, through
        // the same deferred refresh as APPEND; UIDs expunged here are not reported again.
        if !mv {
            self.pending = Pending::Finish { tag, text: format!("OK [{code}] COPY completed"), refresh: true };
            return;
        }
        // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
        self.untagged(&format!("OK [{code}] Moved"));
        let mut buf = Vec::new();
        if let Some(sel) = self.selected.as_mut() {
            sel.expunge(&src, &mut buf);
        }
        self.raw(buf);
        self.pending = Pending::Finish { tag, text: "OK MOVE completed".into(), refresh: true };
    }

    /// The driver's answer to [`Event::Mailbox`].
    pub fn mailbox_done(&mut self, result: Result<(), StoreError>) {
        let Pending::Mailbox { tag, done, created } = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        match result {
            Ok(()) => match created {
                Some(name) => self.pending = Pending::Created { tag, name },
                None => self.tagged(&tag, done),
            },
            Err(e) => self.tagged(&tag, store_error(e, false)),
        }
    }
}

/// UIDs as a compact IMAP set in the given order (`1:3,7`), for COPYUID (RFC 4315 §3).
fn uid_list(uids: &[u32]) -> String {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(u) => last.1 = u,
            _ => out.push((u, u)),
        }
    }
    super::super::types::format_ranges(&out)
}

/// The response code of a STORE's tagged OK: `[MODIFIED set] ` for UNCHANGEDSINCE
/// failures (UIDs or sequence numbers, RFC 7162 §3.1.3), else `[HIGHESTMODSEQ n] ` when
/// changes by others with lower MODSEQs are still unreported (RFC 7162 §3.2, Section 6),
/// else nothing. Advances the view's HIGHESTMODSEQ when nothing is missing.
fn modseq_code(sel: &mut Selected, updates: &[FlagUpdate], modified: &[u32], uid: bool) -> String {
    let top = updates.iter().map(|u| u.modseq).max().unwrap_or(0);
    if top == sel.highest_modseq.saturating_add(1) {
        sel.highest_modseq = top;
    }
    if !modified.is_empty() {
        let mut ids: Vec<u32> = match uid {
            true => modified.to_vec(),
            false => modified.iter().filter_map(|&u| sel.seq_of(u)).collect(),
        };
        ids.sort_unstable();
        ids.dedup();
        return format!("[MODIFIED {}] ", uid_list(&ids));
    }
    match top > sel.highest_modseq && sel.condstore {
        true => format!("[HIGHESTMODSEQ {}] ", sel.highest_modseq),
        false => String::new(),
    }
}
