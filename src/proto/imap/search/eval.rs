//! SEARCH evaluation against one message (RFC 3501 §6.4.4; RFC 5032, RFC 8514, RFC 7162
//! §3.1.5 keys): flags, dates and sizes from the message table, header keys from the stored
//! fields (RFC 2047 decoded), BODY and TEXT over the decoded text streamed in bounded
//! chunks, and the RFC 5322 §3.3 date parsing the date keys and SORT share.

use super::*;

/// One message under evaluation; MIME and header are fetched at most once.
pub struct Candidate<'a> {
    pub folder: &'a str,
    pub seq: u32,
    pub meta: MsgMeta,
    pub keywords: &'a [String],
    /// Normalized ranges for `*` resolution are computed by the caller.
    pub max_seq: u32,
    pub max_uid: u32,
    mime: Option<MimeSummary>,
    /// [`MimeSummary::header_fields`], fetched alone when the summary is not needed.
    fields: Option<Option<Vec<(String, String)>>>,
    header: Option<Vec<u8>>,
    /// The save date ([`Mailstore::save_date`], else the INTERNALDATE), read once.
    saved: Option<i64>,
    /// Message bytes read by BODY/TEXT so far (the step budget, [`SEARCH_STEP_BYTES`]).
    pub scanned: u64,
}

impl<'a> Candidate<'a> {
    pub fn new(folder: &'a str, seq: u32, meta: MsgMeta, keywords: &'a [String], max: (u32, u32)) -> Self {
        Candidate {
            folder,
            seq,
            meta,
            keywords,
            max_seq: max.0,
            max_uid: max.1,
            mime: None,
            fields: None,
            header: None,
            saved: None,
            scanned: 0,
        }
    }

    /// Does the message match `key`? (Recursion is bounded by SEARCH_DEPTH_MAX.)
    pub fn matches(&mut self, key: &SearchKey, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        let m = self.meta;
        Ok(match key {
            SearchKey::All => true,
            SearchKey::Recent => m.recent,
            SearchKey::Flag(bit, set) => (m.flags & bit != 0) == *set,
            SearchKey::Keyword(kw, set) => self.has_keyword(kw) == *set,
            SearchKey::Internal(k, day) => date_cmp(*k, m.internal_date.div_euclid(86_400), *day),
            // RFC 5032 §3: YOUNGER n is an age of at most n seconds, OLDER n more than n.
            SearchKey::Age { older, secs, now } => (m.internal_date < now - i64::from(*secs)) == *older,
            SearchKey::Sent(k, day) => self.sent_day(store)?.is_some_and(|d| date_cmp(*k, d, *day)),
            SearchKey::Saved(k, day) => date_cmp(*k, self.save_date(store)?.div_euclid(86_400), *day),
            SearchKey::Larger(n) => m.size > *n,
            SearchKey::Smaller(n) => m.size < *n,
            SearchKey::Modseq(n) => m.modseq >= *n,
            SearchKey::Header(f, v) => self.header_match(f, v, store)?,
            SearchKey::Body(s) => self.scan(s, true, store)?,
            SearchKey::Text(s) => self.scan(s, false, store)?,
            SearchKey::Seq(set) => SequenceSet::contains(&set.normalize(self.max_seq, false), self.seq),
            SearchKey::Uid(set) => SequenceSet::contains(&set.normalize(self.max_uid, false), m.uid),
            SearchKey::Ranges { uid, ranges } => SequenceSet::contains(ranges, if *uid { m.uid } else { self.seq }),
            #[cfg(feature = "objectid")]
            SearchKey::EmailId(id) => super::super::objectid::email_id(store, self.folder, &m)? == *id,
            #[cfg(feature = "objectid")]
            SearchKey::ThreadId(id) => {
                super::super::objectid::thread_id(self.mime(store)?).as_deref() == Some(id.as_str())
            }
            SearchKey::Not(k) => !self.matches(k, store)?,
            SearchKey::Or(a, b) => self.matches(a, store)? || self.matches(b, store)?,
            SearchKey::And(keys) => {
                for k in keys {
                    if !self.matches(k, store)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }

    fn has_keyword(&self, kw: &str) -> bool {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(kw))
            .is_some_and(|i| i < flag::KEYWORDS_MAX && self.meta.flags & (1 << (i as u32 + flag::KEYWORD_SHIFT)) != 0)
    }

    fn mime(&mut self, store: &mut dyn Mailstore) -> Result<&MimeSummary, StoreError> {
        if self.mime.is_none() {
            self.mime = Some(store.mime(self.folder, self.meta.uid)?);
        }
        self.mime.as_ref().ok_or(StoreError::Io)
    }

    /// RFC 8514: the save date, the INTERNALDATE where the store has none (module doc).
    fn save_date(&mut self, store: &mut dyn Mailstore) -> Result<i64, StoreError> {
        if let Some(t) = self.saved {
            return Ok(t);
        }
        let t = store.save_date(self.folder, self.meta.uid)?.unwrap_or(self.meta.internal_date);
        self.saved = Some(t);
        Ok(t)
    }

    fn sent_day(&mut self, store: &mut dyn Mailstore) -> Result<Option<i64>, StoreError> {
        let mime = self.mime(store)?;
        let date = mime.parts.first().and_then(|p| p.envelope.as_ref()).and_then(|e| e.date.clone());
        Ok(date.as_deref().and_then(rfc5322_day))
    }

    fn header_match(&mut self, field: &str, value: &str, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        // Issue 13: the fields stored with the summary answer without reading the message.
        if SEARCH_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field)) {
            if self.fields.is_none() {
                self.fields = Some(match &self.mime {
                    Some(m) => m.header_fields.clone(),
                    None => store.header_fields(self.folder, self.meta.uid)?,
                });
            }
            if let Some(Some(stored)) = &self.fields {
                return Ok(field_match(stored, field, value));
            }
        }
        if self.header.is_none() {
            let len = self.mime(store)?.parts.first().map_or(0, |p| p.header_len);
            self.header = Some(read_range(store, self.folder, self.meta.uid, 0, len.min(SEARCH_HEADER_MAX))?);
        }
        Ok(field_match(&fields(self.header.as_deref().unwrap_or(&[])), field, value))
    }

    /// BODY (`body_only`) or TEXT: the decoded text of the message (see the module doc).
    fn scan(&mut self, needle: &str, body_only: bool, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        let mut m = FoldMatcher::new(needle);
        if m.found() {
            return Ok(true);
        }
        self.mime(store)?;
        let mime = self.mime.take().unwrap_or_default();
        let found = self.scan_parts(&mime, &mut m, body_only, store);
        self.mime = Some(mime);
        found
    }

    fn scan_parts(
        &mut self,
        mime: &MimeSummary,
        m: &mut FoldMatcher,
        body_only: bool,
        store: &mut dyn Mailstore,
    ) -> Result<bool, StoreError> {
        for (i, part) in mime.parts.iter().enumerate() {
            // Header blocks: the root's for TEXT, an encapsulated message's always.
            let root = i == 0;
            let nested = part.parent.and_then(|q| mime.part(q)).is_some_and(|q| q.mime_type == "message");
            if (root && !body_only) || (!root && nested) {
                let len = part.header_len.min(SEARCH_HEADER_MAX);
                let header = read_range(store, self.folder, self.meta.uid, part.header_offset, len)?;
                self.scanned += len;
                m.reset();
                m.push(&decode_rfc2047(&header));
            }
            if let Some(name) = file_name(part) {
                m.reset();
                m.push(&name);
            }
            let leaf =
                part.mime_type == "text" || (part.mime_type == "multipart" && mime.children(i as u32).next().is_none());
            if leaf && !m.found() {
                m.reset();
                self.scan_body(part, m, store)?;
            }
            if m.found() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Streams one text part's body through its decoders into `m`, [`SCAN_CHUNK`] at a time.
    fn scan_body(&mut self, part: &Part, m: &mut FoldMatcher, store: &mut dyn Mailstore) -> Result<(), StoreError> {
        let mut text = TextStream::for_part(part);
        let mut buf = vec![0u8; SCAN_CHUNK];
        let (mut off, end) = (part.body_offset, part.body_offset.saturating_add(part.body_len));
        while off < end {
            let want = usize::try_from(end - off).unwrap_or(SCAN_CHUNK).min(SCAN_CHUNK);
            let n = store.read(self.folder, self.meta.uid, off, buf.get_mut(..want).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            self.scanned += n as u64;
            off += n as u64;
            if m.push(text.push(buf.get(..n).unwrap_or_default())) {
                return Ok(());
            }
        }
        m.push(text.finish());
        Ok(())
    }
}

/// An attachment's file name: Content-Disposition `filename` or Content-Type `name`
/// (RFC 2183 §2.3, RFC 2046 §4.5.1), RFC 2231 / RFC 2047 decoded.
fn file_name(part: &Part) -> Option<String> {
    let disposition = part.disposition.as_ref().and_then(|(_, params)| param_rfc2231(params, "filename"));
    disposition.or_else(|| param_rfc2231(&part.params, "name"))
}

/// Does an occurrence of `field` among `fields` contain `value` (RFC 3501 §6.4.4 HEADER,
/// FROM, TO, CC, BCC, SUBJECT), compared by RFC 5051 simple case folding?
fn field_match(fields: &[(String, String)], field: &str, value: &str) -> bool {
    let needle = charset::fold(value);
    let has = |s: &str| charset::fold(s).contains(&needle);
    // RFC 2047 encoded words are matched decoded as well, so `SEARCH CHARSET UTF-8
    // SUBJECT café` finds `Subject: =?UTF-8?Q?caf=C3=A9?=` (found by tests/imap_e2e.rs
    // imaplib_every_command: non-ASCII subjects were unsearchable).
    let is_address = ["from", "to", "cc", "bcc", "sender", "reply-to"].iter().any(|f| f.eq_ignore_ascii_case(field));
    fields.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(field)
            && (has(v)
                || has(&decode_rfc2047(v.as_bytes()))
                // Addresses also match in their normalized form (comments, spaces and
                // quoting removed), as the ENVELOPE shows them.
                || (is_address && super::super::encode::parse_addresses(v).iter().any(|a| has(&a.display()))))
    })
}

/// Reads `len` bytes from `offset` (bounded by the callers' caps).
pub fn read_range(
    store: &mut dyn Mailstore,
    folder: &str,
    uid: u32,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut got = 0;
    while got < out.len() {
        let n = store.read(folder, uid, offset + got as u64, out.get_mut(got..).unwrap_or(&mut []))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    out.truncate(got);
    Ok(out)
}

fn date_cmp(k: DateKey, have: i64, want: i64) -> bool {
    match k {
        DateKey::Before => have < want,
        DateKey::On => have == want,
        DateKey::Since => have >= want,
    }
}

/// The day of an RFC 5322 §3.3 `date-time` (`[day-of-week ","] day month year time zone`),
/// in the sender's zone as RFC 3501 §6.4.4 SENTON compares dates "disregarding time".
pub fn rfc5322_day(s: &str) -> Option<i64> {
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    civil_day(&mut s.split_ascii_whitespace())
}

/// The day number of the next three words, `day month year` (RFC 5322 §3.3, with §4.3's
/// two- and three-digit years), without allocating (SORT and THREAD parse one per message).
pub fn civil_day<'a>(w: &mut impl Iterator<Item = &'a str>) -> Option<i64> {
    let d: u32 = w.next()?.parse().ok()?;
    let mon = w.next()?.as_bytes().get(..3)?;
    let months = [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let m = months.iter().position(|x| mon.eq_ignore_ascii_case(*x))? as u32 + 1;
    let mut y: i64 = w.next()?.parse().ok()?;
    if y < 50 {
        y += 2000;
    } else if y < 1000 {
        y += 1900;
    }
    ((1..=31).contains(&d)).then(|| crate::datetime::days_from_civil(y, m, d))
}
