//! The streaming FETCH job (RFC 3501 §6.4.5, §7.4.2; RFC 3516 BINARY; RFC 7162 MODSEQ):
//! one message's items after another, each section sent as a literal read through
//! [`Mailstore::read`] about [`OUTPUT_CHUNK`] bytes per `poll`, never whole.

use super::*;

#[derive(Debug)]
struct Stream {
    uid: u32,
    offset: u64,
    left: u64,
    /// A BINARY `literal8` (RFC 3516 §4.2): NUL bytes go out as they are.
    literal8: bool,
}

#[derive(Debug)]
struct Current {
    meta: MsgMeta,
    att: usize,
    mime: Option<MimeSummary>,
}

/// One FETCH in progress; see the module doc.
#[derive(Debug)]
pub struct FetchJob {
    atts: Vec<FetchAtt>,
    /// Normalized sequence-number ranges still to send, and the next number.
    ranges: Vec<(u32, u32)>,
    range: usize,
    next: u32,
    current: Option<Current>,
    stream: Option<Stream>,
    /// A BINARY section being decoded as it is sent.
    decode: Option<DecodeStream>,
    /// Batched lookups of the messages' flags, sizes and dates.
    cursor: MetaCursor,
    pub failed: bool,
    /// Some messages were skipped: expunged by another session and gone from the store
    /// (RFC 5530 EXPUNGEISSUED, as RFC 2180 §4.1.3 allows).
    pub gone: bool,
    /// RFC 7162 §3.1.4.1 CHANGEDSINCE: only messages with a higher MODSEQ.
    pub changed_since: Option<u64>,
    /// A BINARY item named a part whose encoding is unknown (RFC 3516 §4.3).
    pub unknown_cte: bool,
}

impl FetchJob {
    pub fn new(atts: Vec<FetchAtt>, ranges: Vec<(u32, u32)>) -> FetchJob {
        let next = ranges.first().map_or(0, |r| r.0);
        FetchJob {
            atts,
            ranges,
            range: 0,
            next,
            current: None,
            stream: None,
            decode: None,
            cursor: MetaCursor::default(),
            failed: false,
            gone: false,
            changed_since: None,
            unknown_cte: false,
        }
    }

    /// The next output chunk; `None` when the job is complete.
    pub fn step(&mut self, view: &Selected, store: &mut dyn Mailstore) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < OUTPUT_CHUNK {
            if self.decode.is_some() {
                self.pump_decoded(view, store, &mut out);
            } else if self.stream.is_some() {
                self.pump(view, store, &mut out);
            } else if let Some(cur) = self.current.as_mut() {
                match self.atts.get(cur.att).cloned() {
                    Some(att) => {
                        cur.att += 1;
                        out.push(if cur.att == 1 { b'(' } else { b' ' });
                        self.item(&att, view, store, &mut out);
                    }
                    None => {
                        out.extend_from_slice(b")\r\n");
                        self.current = None;
                    }
                }
            } else if !self.start_next(view, store, &mut out) {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn start_next(&mut self, view: &Selected, store: &mut dyn Mailstore, out: &mut Vec<u8>) -> bool {
        while let Some(&(a, b)) = self.ranges.get(self.range) {
            let seq = self.next.max(a);
            if seq > b {
                self.range += 1;
                self.next = 0;
                continue;
            }
            self.next = seq.saturating_add(1);
            if seq == u32::MAX {
                self.range += 1;
            }
            if view.uid(seq).is_none() {
                continue;
            }
            let Some(meta) = self.cursor.get(view, seq, store) else {
                self.gone = true;
                continue;
            };
            if self.changed_since.is_some_and(|n| meta.modseq <= n) {
                continue;
            }
            // RFC 9586 §3.3 UIDFETCH: the UID stands where the sequence number did.
            let _ = match view.uidonly {
                true => write!(out, "* {} UIDFETCH ", meta.uid),
                false => write!(out, "* {seq} FETCH "),
            };
            if self.atts.is_empty() {
                out.extend_from_slice(b"()\r\n");
                continue;
            }
            self.current = Some(Current { meta, att: 0, mime: None });
            return true;
        }
        false
    }

    /// Copies the next piece of the current section literal.
    fn pump(&mut self, view: &Selected, store: &mut dyn Mailstore, out: &mut Vec<u8>) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let room = (OUTPUT_CHUNK - out.len().min(OUTPUT_CHUNK)).max(1) as u64;
        let want = s.left.min(room) as usize;
        let start = out.len();
        out.resize(start + want, b' ');
        let got = store.read(&view.name, s.uid, s.offset, out.get_mut(start..).unwrap_or(&mut []));
        let n = match got {
            Err(StoreError::NoMessage) => {
                // Gone between lookup and read: the literal length is promised, pad it.
                self.gone = true;
                want
            }
            Ok(0) | Err(_) => {
                // The literal length is promised: pad with spaces and report failure.
                self.failed = true;
                want
            }
            Ok(n) => n.min(want),
        };
        out.truncate(start + n);
        if !s.literal8 {
            no_nul(out.get_mut(start..).unwrap_or_default());
        }
        s.offset += n as u64;
        s.left -= n as u64;
        if s.left == 0 {
            self.stream = None;
        }
    }

    /// Decodes the next piece of the current BINARY literal.
    fn pump_decoded(&mut self, view: &Selected, store: &mut dyn Mailstore, out: &mut Vec<u8>) {
        let Some(d) = self.decode.as_mut() else {
            return;
        };
        let room = (OUTPUT_CHUNK - out.len().min(OUTPUT_CHUNK)).max(1);
        if d.pump(store, &view.name, out, room).is_err() {
            self.failed = true;
        }
        if d.done() {
            self.decode = None;
        }
    }

    /// RFC 3516 §4.1-§4.2: `BINARY[part] ~{n}` (decoded) or `BINARY.SIZE[part] n`.
    fn binary(&mut self, b: &BinarySection, view: &Selected, store: &mut dyn Mailstore, out: &mut Vec<u8>) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let meta = cur.meta;
        let located = binary::locate(b, load_mime(cur, view, store, &mut self.failed), meta);
        out.extend_from_slice(b.response_name().as_bytes());
        out.push(b' ');
        let none: &[u8] = if b.size { b"0" } else { b"NIL" };
        let (offset, len, dec) = match located {
            Located::Part(offset, len, dec) => (offset, len, dec),
            Located::Missing => return out.extend_from_slice(none),
            Located::UnknownCte => {
                self.unknown_cte = true;
                return out.extend_from_slice(none);
            }
        };
        let total = match binary::decoded_len(store, (&view.name, meta.uid), offset, len, dec.clone()) {
            Ok(t) => t,
            Err(e) => {
                *(if e == StoreError::NoMessage { &mut self.gone } else { &mut self.failed }) = true;
                0
            }
        };
        if b.size {
            return out.extend_from_slice(total.to_string().as_bytes());
        }
        let (skip, send) = binary::partial_range(total, b.partial);
        out.extend_from_slice(format!("~{{{send}}}\r\n").as_bytes());
        if send == 0 {
            return;
        }
        match dec {
            CteDecoder::Identity => {
                self.stream = Some(Stream { uid: meta.uid, offset: offset + skip, left: send, literal8: true })
            }
            dec => self.decode = Some(DecodeStream::new(meta.uid, (offset, len), dec, skip, send)),
        }
    }

    fn item(&mut self, att: &FetchAtt, view: &Selected, store: &mut dyn Mailstore, out: &mut Vec<u8>) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let m = cur.meta;
        match att {
            FetchAtt::Uid => {
                let _ = write!(out, "UID {}", m.uid);
            }
            FetchAtt::Flags => {
                out.extend_from_slice(b"FLAGS ");
                encode::msg_flags(out, m.flags, m.recent, &view.keywords);
            }
            FetchAtt::InternalDate => {
                out.extend_from_slice(format!("INTERNALDATE {}", encode::date_time(m.internal_date)).as_bytes())
            }
            FetchAtt::SaveDate => match store.save_date(&view.name, m.uid) {
                Ok(t) => out.extend_from_slice(
                    format!("SAVEDATE {}", encode::date_time(t.unwrap_or(m.internal_date))).as_bytes(),
                ),
                Err(e) => {
                    // No date rather than a wrong one; the command ends NO (or EXPUNGEISSUED).
                    *(if e == StoreError::NoMessage { &mut self.gone } else { &mut self.failed }) = true;
                    out.extend_from_slice(b"SAVEDATE NIL");
                }
            },
            FetchAtt::Size => {
                let _ = write!(out, "RFC822.SIZE {}", m.size);
            }
            FetchAtt::Modseq => {
                let _ = write!(out, "MODSEQ ({})", m.modseq);
            }
            FetchAtt::Envelope | FetchAtt::Body | FetchAtt::BodyStructure => {
                let mime = load_mime(cur, view, store, &mut self.failed);
                match att {
                    FetchAtt::Envelope => {
                        out.extend_from_slice(b"ENVELOPE ");
                        let env = mime.parts.first().and_then(|p| p.envelope.clone()).unwrap_or_default();
                        encode::envelope(out, &env);
                    }
                    FetchAtt::Body => {
                        out.extend_from_slice(b"BODY ");
                        encode::body(out, mime, 0, false);
                    }
                    _ => {
                        out.extend_from_slice(b"BODYSTRUCTURE ");
                        encode::body(out, mime, 0, true);
                    }
                }
            }
            FetchAtt::Binary(b) => self.binary(b, view, store, out),
            FetchAtt::Preview => {
                let mime = load_mime(cur, view, store, &mut self.failed);
                out.extend_from_slice(b"PREVIEW ");
                match super::super::preview::preview(store, (&view.name, m.uid), mime) {
                    Ok(text) => encode::string(out, text.as_bytes()),
                    Err(_) => {
                        self.failed = true;
                        out.extend_from_slice(b"NIL");
                    }
                }
            }
            #[cfg(feature = "objectid")]
            FetchAtt::EmailId => {
                if super::super::objectid::fetch_email_id(store, &view.name, &m, out).is_err() {
                    self.failed = true;
                    out.extend_from_slice(b"EMAILID NIL");
                }
            }
            #[cfg(feature = "objectid")]
            FetchAtt::ThreadId => {
                let mime = load_mime(cur, view, store, &mut self.failed);
                super::super::objectid::fetch_thread_id(mime, out);
            }
            FetchAtt::Section(sec) => {
                let source = match sec.needs_mime() {
                    true => {
                        let mime = load_mime(cur, view, store, &mut self.failed).clone();
                        resolve(sec, &mime, m, &view.name, store)
                    }
                    false => Source::Range(0, m.size),
                };
                self.section(sec, source, m.uid, out);
            }
        }
    }

    /// Writes `NAME {len}\r\n` and starts streaming, or the bytes inline, or NIL.
    fn section(&mut self, sec: &BodySection, source: Source, uid: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(sec.response_name().as_bytes());
        out.push(b' ');
        match apply_partial(source, sec.partial) {
            Source::Nil => out.extend_from_slice(b"NIL"),
            Source::Bytes(mut b) => {
                out.extend_from_slice(format!("{{{}}}\r\n", b.len()).as_bytes());
                no_nul(&mut b);
                out.extend_from_slice(&b);
            }
            Source::Range(offset, len) => {
                out.extend_from_slice(format!("{{{len}}}\r\n").as_bytes());
                if len > 0 {
                    self.stream = Some(Stream { uid, offset, left: len, literal8: false });
                }
            }
        }
    }
}

/// A `literal` is `*CHAR8` (RFC 3501 §9): a NUL stored in a part that is not declared
/// `binary` (those are stored as base64, `crate::mime::binary`) is sent as 0x80, which keeps
/// the promised length, as Dovecot does. BINARY answers (`literal8`) send it as it is.
fn no_nul(bytes: &mut [u8]) {
    if memchr::memchr(0, bytes).is_some() {
        bytes.iter_mut().filter(|b| **b == 0).for_each(|b| *b = 0x80);
    }
}

fn load_mime<'a>(
    cur: &'a mut Current,
    view: &Selected,
    store: &mut dyn Mailstore,
    failed: &mut bool,
) -> &'a MimeSummary {
    if cur.mime.is_none() {
        let m = store.mime(&view.name, cur.meta.uid).unwrap_or_else(|_: StoreError| {
            *failed = true;
            MimeSummary::default()
        });
        cur.mime = Some(m);
    }
    cur.mime.get_or_insert_with(MimeSummary::default)
}
