//! The write path of a folder: appends (group commit), flag changes (RFC 3501 §6.4.6,
//! RFC 7162 UNCHANGEDSINCE) and expunges, each under the folder lock and acknowledged
//! only after its sync returned (DESIGN.md §2, properties 1, 4, 5 and 7).

use super::*;

/// Most pairs written into one FLAGS or EXPUNGE record.
const MAX_PAIRS: usize = 1 << 20;

impl Folder {
    /// Runs `write` under the lock at the end of the file, then syncs. On a write error the
    /// partial bytes are cut off again so nothing torn stays behind.
    pub(super) fn write_locked<T>(&mut self, write: impl FnOnce(&mut Self, u64) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(Error::new(ErrorKind::Io, "folder handle poisoned by an earlier sync failure"));
        }
        if self.readonly {
            return Err(Error::new(ErrorKind::ReadOnly, "folder is on a read-only file system"));
        }
        self.lock()?;
        let mut start = 0;
        let r = self.catch_up_locked().and_then(|()| {
            start = self.state.end;
            let r = write(self, start);
            if r.is_err() {
                let _ = self.file.set_len(start);
            }
            r
        });
        self.unlock();
        let v = r?;
        if let Err(e) = crate::store::fault::sync(&self.file, start) {
            self.poisoned = true;
            return Err(e.into());
        }
        if self.unindexed >= INDEX_REWRITE_RECORDS.max(self.state.entries.len() as u64 / 8) {
            self.save_index();
        }
        Ok(v)
    }

    /// Writes `bytes` at `pos` and applies the records it holds (written by us, so valid).
    pub(super) fn write_records(&mut self, pos: u64, bytes: &[u8]) -> Result<()> {
        crate::store::fault::write_at(&self.file, bytes, pos)?;
        let mut off = 0usize;
        while let Some(rec) = bytes.get(off..) {
            if rec.is_empty() {
                break;
            }
            let h = format::decode_header(rec).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let payload = rec.get(HEADER_LEN..).unwrap_or(&[]);
            let covered =
                format::covered_len(&h, payload).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let cov = payload.get(..covered).unwrap_or(&[]);
            self.state
                .apply(pos + off as u64, &h, cov)
                .map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            off += h.total() as usize;
        }
        Ok(())
    }

    /// Keyword bit for `name`, writing a KEYWORD record into `out` when new (RFC 3501 §2.3.2).
    pub(super) fn keyword_bit(&mut self, name: &str, pending: &mut Vec<String>, out: &mut Vec<u8>) -> Result<u32> {
        let all = self.state.keywords.iter().chain(pending.iter());
        if let Some(i) = all.clone().position(|k| k.eq_ignore_ascii_case(name)) {
            return Ok(1 << (5 + i));
        }
        let i = self.state.keywords.len() + pending.len();
        if i >= format::MAX_KEYWORDS || name.is_empty() || name.len() > 128 {
            return Err(Error::new(ErrorKind::TooMany, "too many keywords in this folder"));
        }
        out.extend(format::encode_keyword(i as u8, name));
        pending.push(name.to_owned());
        Ok(1 << (5 + i))
    }

    /// Appends messages durably (one lock, one sync for the batch); returns their UIDs.
    pub fn append(&mut self, msgs: &mut [NewMessage]) -> Result<Vec<u32>> {
        self.write_locked(|f, start| f.append_locked(msgs, start))
    }

    pub(super) fn append_locked(&mut self, msgs: &mut [NewMessage], start: u64) -> Result<Vec<u32>> {
        let mut buf = Vec::new();
        let mut pending = Vec::new();
        let mut flag_words = Vec::with_capacity(msgs.len());
        for m in msgs.iter() {
            let mut w = m.flags & format::SYSTEM_FLAGS;
            for k in &m.keywords {
                w |= self.keyword_bit(k, &mut pending, &mut buf)?;
            }
            flag_words.push(w);
        }
        let mut pos = start;
        if !buf.is_empty() {
            self.write_records(pos, &buf)?;
            pos += buf.len() as u64;
            buf.clear();
        }
        let mut uids = Vec::with_capacity(msgs.len());
        let saved = save_stamp();
        for (m, flags) in msgs.iter_mut().zip(flag_words) {
            let uid = self.state.uidnext;
            if uid == u32::MAX {
                return Err(Error::new(ErrorKind::TooMany, "UIDs exhausted: compact into a new folder"));
            }
            let fixed = MessageFixed {
                uid,
                flags,
                date: m.date,
                modseq: self.state.next_modseq(),
                meta_len: m.meta.len() as u32,
                body_crc: m.body.crc(),
                attrs: m.attrs,
                saved,
            };
            let mut rec = fixed
                .encode_record_prefix(&m.meta, m.body.len())
                .filter(|_| m.meta.len() <= format::MAX_META as usize)
                .ok_or_else(|| Error::new(ErrorKind::TooBig, "message too large"))?;
            let prefix_len = rec.len();
            match m.body.in_memory() {
                Some(b) => rec.extend_from_slice(b),
                None => {
                    crate::store::fault::write_at(&self.file, &rec, pos)?;
                    let body_at = pos + prefix_len as u64;
                    let n = m.body.len();
                    copy_into(&mut m.body.reader()?, &self.file, body_at, n)?;
                    rec.clear();
                }
            }
            if !rec.is_empty() {
                crate::store::fault::write_at(&self.file, &rec, pos)?;
            }
            let h = format::decode_header(&fixed_header_bytes(&fixed, &m.meta, m.body.len())?)
                .map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let mut covered = fixed.encode().to_vec();
            covered.extend_from_slice(&m.meta);
            self.state.apply(pos, &h, &covered).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            pos += h.total();
            uids.push(uid);
        }
        Ok(uids)
    }

    /// Changes flags of the given UIDs (absent UIDs are skipped); one FLAGS record, one sync.
    /// Returns (uid, new flags, modseq) for every message whose flags changed.
    pub fn store_flags(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        system: u32,
        keywords: &[String],
    ) -> Result<Vec<FlagChange>> {
        self.store_flags_unless(uids, op, system, keywords, None).map(|(changed, _)| changed)
    }

    /// `store_flags` with RFC 7162 §3.1.3 UNCHANGEDSINCE: under the lock, messages whose
    /// MODSEQ is above `unchanged_since` are left alone and returned second; every other
    /// listed message gets the new MODSEQ (a FLAGS record) even if its flags stay the same.
    pub fn store_flags_unless(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        system: u32,
        keywords: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)> {
        self.write_locked(|f, start| {
            let mut buf = Vec::new();
            let mut pending = Vec::new();
            let mut bits = system & format::SYSTEM_FLAGS;
            for k in keywords {
                bits |= match op {
                    FlagOp::Remove => match f.state.keywords.iter().position(|x| x.eq_ignore_ascii_case(k)) {
                        Some(i) => 1 << (5 + i),
                        None => 0,
                    },
                    _ => f.keyword_bit(k, &mut pending, &mut buf)?,
                };
            }
            let modseq = f.state.next_modseq();
            let mut changes = Vec::new();
            let mut modified = Vec::new();
            for &uid in uids {
                let Some(e) = f.state.find(uid).ok().and_then(|i| f.state.entries.get(i)) else { continue };
                if unchanged_since.is_some_and(|n| e.modseq > n) {
                    modified.push(uid);
                    continue;
                }
                let new = match op {
                    FlagOp::Add => e.flags | bits,
                    FlagOp::Remove => e.flags & !bits,
                    FlagOp::Replace => bits,
                };
                if new != e.flags || unchanged_since.is_some() {
                    changes.push((uid, new));
                }
            }
            for chunk in changes.chunks(MAX_PAIRS) {
                buf.extend(format::encode_flags(modseq, chunk));
            }
            if !buf.is_empty() {
                f.write_records(start, &buf)?;
            }
            Ok((changes.into_iter().map(|(u, fl)| (u, fl, modseq)).collect(), modified))
        })
    }

    /// Expunges the given UIDs that exist; returns them in ascending order.
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        self.write_locked(|f, start| {
            let mut gone: Vec<u32> = uids.iter().copied().filter(|&u| f.state.find(u).is_ok()).collect();
            gone.sort_unstable();
            gone.dedup();
            let ranges = crate::util::to_ranges(&gone);
            let modseq = f.state.next_modseq();
            let mut buf = Vec::new();
            for chunk in ranges.chunks(MAX_PAIRS) {
                buf.extend(format::encode_expunge(modseq, chunk));
            }
            if !buf.is_empty() {
                f.write_records(start, &buf)?;
            }
            Ok(gone)
        })
    }
}

/// The save date of records written now (RFC 8514): Unix seconds, clamped into the
/// format's `saved:4` (0 only if the clock reads before 1970: then it is "unknown").
fn save_stamp() -> u32 {
    u32::try_from(crate::util::unix_now().max(0)).unwrap_or(u32::MAX)
}

/// The record header, encoded, for a MESSAGE with this fixed part (used to apply our own
/// appends without re-reading them).
pub(super) fn fixed_header_bytes(fixed: &MessageFixed, meta: &[u8], body_len: u64) -> Result<Vec<u8>> {
    fixed.encode_record_prefix(meta, body_len).ok_or_else(|| Error::new(ErrorKind::TooBig, "message too large"))
}
