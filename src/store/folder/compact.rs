//! Compaction (DESIGN.md §2, property 8): the folder rewritten without expunged messages
//! and superseded records into `NAME.lbx.compact`, synced, renamed over the folder file,
//! directory synced; UIDs, flags and MODSEQs survive. Also the index save (a cache).

use super::*;

impl Folder {
    /// Writes the index now (best effort: it is a cache).
    pub fn save_index(&mut self) {
        if !self.readonly
            && self.state.track_entries
            && index::save(&index::path_for(&self.path), &self.state, self.ino).is_ok()
        {
            self.unindexed = 0;
        }
    }

    /// Rewrites the folder without expunged messages and superseded records.
    pub fn compact(&mut self) -> Result<(u64, u64)> {
        if self.poisoned {
            return Err(Error::new(ErrorKind::Io, "folder handle poisoned"));
        }
        self.lock()?;
        let r = self.catch_up_locked().and_then(|()| self.compact_locked());
        self.unlock();
        let (before, after, new_file) = r?;
        self.file = new_file;
        self.drop_meta_window();
        self.ino = self.file.metadata()?.ino();
        let history = std::mem::take(&mut self.state.expunge_log);
        let floor = self.state.expunge_floor;
        self.state = State::new(true);
        self.catch_up_unlocked()?;
        // The expunge history survives in this handle and, through the index, in every
        // other handle that reloads the new file.
        self.state.keep_expunge_history(history, floor);
        self.save_index();
        Ok((before, after))
    }

    pub(super) fn compact_locked(&mut self) -> Result<(u64, u64, File)> {
        let tmp = compact_path(&self.path);
        let out = OpenOptions::new().read(true).write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let st = &self.state;
        let mut head = format::SIGNATURE.to_vec();
        head.extend(
            FolderHeader {
                uidvalidity: st.uidvalidity,
                uidnext: st.uidnext,
                modseq: st.highest_modseq,
                created: st.created,
            }
            .encode(),
        );
        for (i, k) in st.keywords.iter().enumerate() {
            head.extend(format::encode_keyword(i as u8, k));
        }
        out.write_all_at(&head, 0)?;
        let mut pos = head.len() as u64;
        // Summaries computed after delivery move into the records (issue 13).
        let mut cache =
            metacache::path_for(&self.path).exists().then(|| MetaCache::open(&self.path, st.uidvalidity, st.created));
        for e in &st.entries {
            pos += self.copy_message(e, &out, pos, cache.as_mut())?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            crate::sys::fsync_dir(dir)?;
        }
        // Folded: a crash before this only leaves redundant entries.
        if cache.is_some() {
            let _ = std::fs::remove_file(metacache::path_for(&self.path));
        }
        self.metacache = None;
        Ok((st.end, pos, out))
    }

    /// Copies one message record with its current flags and MODSEQ into `out` at `pos`,
    /// with the meta kept in `cache` if the record has none.
    pub(super) fn copy_message(&self, e: &Entry, out: &File, pos: u64, cache: Option<&mut MetaCache>) -> Result<u64> {
        let mut fixed_b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut fixed_b, e.record_offset() + HEADER_LEN as u64)?;
        let mut fixed =
            MessageFixed::decode(&fixed_b).ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))?;
        fixed.flags = e.flags;
        fixed.modseq = e.modseq;
        let mut meta = vec![0u8; e.meta_len() as usize];
        self.file.read_exact_at(&mut meta, e.record_offset() + (HEADER_LEN + MESSAGE_FIXED) as u64)?;
        if meta.is_empty() {
            meta = cache.and_then(|c| c.get(e.uid)).unwrap_or_default();
            fixed.meta_len = meta.len() as u32;
        }
        let prefix = fixed
            .encode_record_prefix(&meta, u64::from(e.size))
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))?;
        out.write_all_at(&prefix, pos)?;
        let mut reader = BufReader::with_capacity(IO_BUF, &self.file);
        reader.seek(SeekFrom::Start(e.body_offset()))?;
        copy_into(&mut reader.take(u64::from(e.size)), out, pos + prefix.len() as u64, u64::from(e.size))?;
        Ok(prefix.len() as u64 + u64::from(e.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lbx-saved-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// A MESSAGE record as a writer with save date `saved` (0: a writer before the field).
    fn record(uid: u32, saved: u32, body: &[u8]) -> Vec<u8> {
        let fixed = MessageFixed {
            uid,
            modseq: u64::from(uid),
            date: 978_307_200,
            body_crc: crc32c(body),
            saved,
            ..Default::default()
        };
        let mut r = fixed.encode_record_prefix(b"", body.len() as u64).unwrap_or_default();
        r.extend_from_slice(body);
        r
    }

    fn saved(f: &Folder, uid: u32) -> Option<i64> {
        f.entry(uid).and_then(|e| f.saved_of(&e).ok()).flatten()
    }

    #[test]
    fn appends_stamp_the_save_date_and_compaction_keeps_every_one() {
        let d = dir("compact");
        let path = d.join("INBOX.lbx");
        let mut bytes = format::SIGNATURE.to_vec();
        bytes.extend(FolderHeader { uidvalidity: 1, uidnext: 1, modseq: 0, created: 0 }.encode());
        bytes.extend(record(1, 0, b"Subject: old\r\n\r\nsaved before the field\r\n"));
        bytes.extend(record(2, 1_000_000_000, b"Subject: x\r\n\r\nexpunged\r\n"));
        bytes.extend(record(3, 1_000_000_123, b"Subject: kept\r\n\r\nsaved in 2001\r\n"));
        std::fs::write(&path, &bytes).unwrap();
        let mut f = Folder::open(&path).unwrap();
        let (before, body) = (crate::util::unix_now(), b"Subject: new\r\n\r\nnow\r\n");
        let mut spool = Spool::new(&d, 1 << 20);
        spool.write(body).unwrap();
        let msg =
            NewMessage { body: spool, date: 978_307_200, flags: 0, keywords: Vec::new(), meta: Vec::new(), attrs: 0 };
        assert_eq!(f.append(&mut [msg]).unwrap(), vec![4]);
        let after = crate::util::unix_now();
        let new = saved(&f, 4).unwrap_or(0);
        assert!((before..=after).contains(&new), "{before} <= {new} <= {after}");
        assert_eq!(f.entry(4).map(|e| e.date), Some(978_307_200), "the INTERNALDATE is not the save date");
        let want = [(1, None), (3, Some(1_000_000_123)), (4, Some(new))];
        f.expunge(&[2]).unwrap();
        let (was, now) = f.compact().unwrap();
        assert!(now < was, "compaction had work: {was} -> {now}");
        for (uid, s) in want {
            assert_eq!(saved(&f, uid), s, "uid {uid} after compaction");
        }
        let f = Folder::open(&path).unwrap();
        for (uid, s) in want {
            assert_eq!(saved(&f, uid), s, "uid {uid} reopened");
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
