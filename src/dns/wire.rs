//! DNS message codec, sans-IO: RFC 1035 §4.1 (header, question, resource records), §4.1.4
//! name compression (decoding only), RFC 3596 AAAA, RFC 6891 EDNS(0) OPT in queries.
//!
//! Decoding is bounded and total: every read is checked against the message, a name is at
//! most [`NAME_MAX`] octets with at most [`POINTER_HOPS_MAX`] compression pointers (a pointer
//! loop ends there), and at most [`RECORDS_MAX`] records are decoded (RFC 1035 allows 65,535
//! per section; a hostile server may claim that many). Record types we do not use are kept
//! as their type number only, never their bytes. Names are lower-cased ASCII in
//! presentation form without the final dot; a label with a dot or a byte outside printable
//! ASCII is written in RFC 1035 §5.1 `\DDD` form, so one name has one spelling.

use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire.
pub const NAME_MAX: usize = 255;
/// Compression pointers followed in one name (a loop or a chain longer than this is garbage).
pub const POINTER_HOPS_MAX: usize = 32;
/// Records decoded from one message, all sections together (the rest is ignored).
pub const RECORDS_MAX: usize = 64;
/// TXT character-strings kept per record, and bytes per TXT record (SPF/DKIM/DMARC fit).
pub const TXT_BYTES_MAX: usize = 8 * 1024;
/// RFC 6891 §6.2.5: the UDP payload size we advertise (the DNS flag day 2020 value).
pub const EDNS_UDP_SIZE: u16 = 1232;
/// RFC 1035 §4.2.1: a message over UDP without EDNS is at most 512 octets.
pub const UDP_PLAIN_MAX: usize = 512;

/// Record types used by mail (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 6891 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rtype {
    A,
    Ns,
    Cname,
    Soa,
    Ptr,
    Mx,
    Txt,
    Aaaa,
    Opt,
    Other(u16),
}

impl Rtype {
    pub fn code(self) -> u16 {
        match self {
            Rtype::A => 1,
            Rtype::Ns => 2,
            Rtype::Cname => 5,
            Rtype::Soa => 6,
            Rtype::Ptr => 12,
            Rtype::Mx => 15,
            Rtype::Txt => 16,
            Rtype::Aaaa => 28,
            Rtype::Opt => 41,
            Rtype::Other(n) => n,
        }
    }

    pub fn from_code(n: u16) -> Rtype {
        match n {
            1 => Rtype::A,
            2 => Rtype::Ns,
            5 => Rtype::Cname,
            6 => Rtype::Soa,
            12 => Rtype::Ptr,
            15 => Rtype::Mx,
            16 => Rtype::Txt,
            28 => Rtype::Aaaa,
            41 => Rtype::Opt,
            n => Rtype::Other(n),
        }
    }
}

/// RFC 1035 §4.1.1 RCODE values we act on (RFC 6895 §2.3 for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    Other(u8),
}

impl Rcode {
    fn from_code(n: u8) -> Rcode {
        match n {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            n => Rcode::Other(n),
        }
    }
}

/// Decoded RDATA of the types mail needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, PTR and NS: one name.
    Name(String),
    Mx {
        preference: u16,
        exchange: String,
    },
    /// RFC 1035 §3.3.14: the character-strings of one record, concatenated (RFC 7208 §3.3,
    /// RFC 6376 §3.6.2.2 join them without spaces).
    Txt(Vec<u8>),
    /// RFC 2308 §5: MINIMUM bounds the negative-caching TTL.
    Soa {
        minimum: u32,
    },
    /// A type we do not decode (its bytes are skipped).
    Skipped,
}

/// One resource record (RFC 1035 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: Rtype,
    pub ttl: u32,
    pub data: Rdata,
}

/// Which section a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub truncated: bool,
    pub rcode: Rcode,
    /// The question, when the message has exactly one (RFC 1035 §4.1.2).
    pub question: Option<(String, Rtype)>,
    pub records: Vec<(Section, Record)>,
}

/// Why bytes are not a DNS message we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The message ends inside a field.
    Short,
    /// A name over 255 octets, a label type we do not know, or a pointer loop.
    BadName,
    /// A name given to `query` is not a valid domain name.
    BadQuery,
}

/// RFC 1035 §4.1.1 header flags of a recursive query: RD.
const FLAG_RD: u16 = 0x0100;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const CLASS_IN: u16 = 1;

/// Encodes a recursive query for `name` (presentation form, a final dot optional) with an
/// EDNS(0) OPT record advertising [`EDNS_UDP_SIZE`] (RFC 6891 §6.1.2).
pub fn query(id: u16, name: &str, rtype: Rtype) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(32 + name.len());
    for v in [id, FLAG_RD, 1, 0, 0, 1] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    encode_name(&mut out, name)?;
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, CLASS = UDP payload size, TTL = extended RCODE/flags 0, no data.
    out.push(0);
    out.extend_from_slice(&Rtype::Opt.code().to_be_bytes());
    out.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(out)
}

/// RFC 1035 §3.1 labels of `name`: 1-63 octets each, 255 in all; `\.` and `\DDD` escapes
/// as written by [`decode`] are accepted so every decoded name can be queried again.
fn encode_name(out: &mut Vec<u8>, name: &str) -> Result<(), WireError> {
    let name = without_final_dot(name);
    let start = out.len();
    if !name.is_empty() {
        for label in split_labels(name)? {
            let len = u8::try_from(label.len()).ok().filter(|l| (1..=63).contains(l)).ok_or(WireError::BadQuery)?;
            out.push(len);
            out.extend_from_slice(&label);
        }
    }
    out.push(0);
    if out.len() - start > NAME_MAX {
        return Err(WireError::BadQuery);
    }
    Ok(())
}

/// `name` without the final dot of an absolute name, unless that dot is an escaped `\.`
/// (found by the fuzzer: `k\.` is the one label "k.").
pub fn without_final_dot(name: &str) -> &str {
    match name.strip_suffix('.') {
        Some(rest) if rest.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 0 => rest,
        _ => name,
    }
}

/// A name as [`decode`] writes it: lower case, no final dot.
pub fn normalize(name: &str) -> String {
    without_final_dot(name).to_ascii_lowercase()
}

/// Splits a presentation-form name at unescaped dots, undoing `\c` and `\DDD`.
fn split_labels(name: &str) -> Result<Vec<Vec<u8>>, WireError> {
    let mut labels = vec![Vec::new()];
    let mut bytes = name.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'.' => labels.push(Vec::new()),
            b'\\' => {
                let c = bytes.next().ok_or(WireError::BadQuery)?;
                let v = if c.is_ascii_digit() {
                    let d: Vec<u8> = [Some(c), bytes.next(), bytes.next()].into_iter().flatten().collect();
                    let s = std::str::from_utf8(&d).map_err(|_| WireError::BadQuery)?;
                    s.parse::<u8>().map_err(|_| WireError::BadQuery)?
                } else {
                    c
                };
                labels.last_mut().ok_or(WireError::BadQuery)?.push(v);
            }
            b => labels.last_mut().ok_or(WireError::BadQuery)?.push(b),
        }
    }
    Ok(labels)
}

/// A bounds-checked reader over a whole message (names point back into it).
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Short)?;
        let b = self.msg.get(self.pos..end).ok_or(WireError::Short)?;
        self.pos = end;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }

    /// RFC 1035 §4.1.4: a name of labels, possibly ending in a pointer to an earlier one.
    fn name(&mut self) -> Result<String, WireError> {
        let mut out = String::new();
        let mut wire_len = 1usize;
        let mut at = self.pos;
        let mut hops = 0usize;
        let mut resume: Option<usize> = None;
        loop {
            let len = *self.msg.get(at).ok_or(WireError::Short)?;
            match len >> 6 {
                0 if len == 0 => break,
                0 => {
                    let label = self.msg.get(at + 1..at + 1 + usize::from(len)).ok_or(WireError::Short)?;
                    wire_len += 1 + label.len();
                    if wire_len > NAME_MAX {
                        return Err(WireError::BadName);
                    }
                    push_label(&mut out, label);
                    at += 1 + usize::from(len);
                }
                3 => {
                    let low = *self.msg.get(at + 1).ok_or(WireError::Short)?;
                    hops += 1;
                    if hops > POINTER_HOPS_MAX {
                        return Err(WireError::BadName);
                    }
                    resume.get_or_insert(at + 2);
                    at = usize::from(len & 0x3f) << 8 | usize::from(low);
                }
                // 01 and 10: RFC 6891 §5 retired extended label types.
                _ => return Err(WireError::BadName),
            }
        }
        self.pos = resume.unwrap_or(at + 1);
        Ok(out)
    }
}

/// Appends one label in presentation form (lower-cased; `.`, `\` and non-printables escaped).
fn push_label(out: &mut String, label: &[u8]) {
    if !out.is_empty() {
        out.push('.');
    }
    for &b in label {
        match b.to_ascii_lowercase() {
            b'.' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            c @ 0x21..=0x7e => out.push(char::from(c)),
            c => out.push_str(&format!("\\{c:03}")),
        }
    }
}

/// Decodes a response (or any message) from its bytes.
pub fn decode(msg: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader { msg, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let mut question = None;
    for i in 0..counts[0] {
        let name = r.name()?;
        let rtype = Rtype::from_code(r.u16()?);
        r.u16()?; // class
        if i == 0 && counts[0] == 1 {
            question = Some((name, rtype));
        }
    }
    let mut records = Vec::new();
    let sections = [(Section::Answer, counts[1]), (Section::Authority, counts[2]), (Section::Additional, counts[3])];
    'all: for (section, n) in sections {
        for _ in 0..n {
            if records.len() >= RECORDS_MAX {
                break 'all;
            }
            records.push((section, record(&mut r)?));
        }
    }
    Ok(Message {
        id,
        is_response: flags & FLAG_QR != 0,
        truncated: flags & FLAG_TC != 0,
        rcode: Rcode::from_code((flags & 0x0f) as u8),
        question,
        records,
    })
}

/// RFC 1035 §4.1.3 one resource record.
fn record(r: &mut Reader<'_>) -> Result<Record, WireError> {
    let name = r.name()?;
    let rtype = Rtype::from_code(r.u16()?);
    r.u16()?; // class (for OPT: the peer's UDP size)
    let ttl = r.u32()?;
    let len = usize::from(r.u16()?);
    let start = r.pos;
    let end = start.checked_add(len).filter(|&e| e <= r.msg.len()).ok_or(WireError::Short)?;
    let data = rdata(r, rtype, len)?;
    if r.pos > end {
        return Err(WireError::Short);
    }
    r.pos = end;
    // RFC 2181 §8: a TTL with the top bit set is treated as zero.
    let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
    Ok(Record { name, rtype, ttl, data })
}

fn rdata(r: &mut Reader<'_>, rtype: Rtype, len: usize) -> Result<Rdata, WireError> {
    Ok(match rtype {
        Rtype::A if len == 4 => {
            let b = r.bytes(4)?;
            Rdata::A(Ipv4Addr::from(<[u8; 4]>::try_from(b).map_err(|_| WireError::Short)?))
        }
        Rtype::Aaaa if len == 16 => {
            let b = r.bytes(16)?;
            Rdata::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(b).map_err(|_| WireError::Short)?))
        }
        Rtype::Cname | Rtype::Ptr | Rtype::Ns => Rdata::Name(r.name()?),
        Rtype::Mx => Rdata::Mx { preference: r.u16()?, exchange: r.name()? },
        Rtype::Txt => Rdata::Txt(txt(r.bytes(len)?)),
        Rtype::Soa => {
            r.name()?;
            r.name()?;
            r.bytes(16)?; // serial, refresh, retry, expire
            Rdata::Soa { minimum: r.u32()? }
        }
        _ => {
            r.bytes(len)?;
            Rdata::Skipped
        }
    })
}

/// RFC 1035 §3.3.14 `<character-string>`s joined, at most [`TXT_BYTES_MAX`] bytes.
fn txt(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len().min(TXT_BYTES_MAX));
    while let Some((&n, rest)) = b.split_first() {
        let take = usize::from(n).min(rest.len());
        let room = TXT_BYTES_MAX.saturating_sub(out.len());
        out.extend_from_slice(rest.get(..take.min(room)).unwrap_or(&[]));
        b = rest.get(take..).unwrap_or(&[]);
    }
    out
}

/// Encodes a response (tests and the fuzz round trip): `records` go into the answer section,
/// names uncompressed.
pub fn encode_response(id: u16, question: (&str, Rtype), rcode: u8, tc: bool, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = FLAG_QR | FLAG_RD | 0x0080 | if tc { FLAG_TC } else { 0 } | u16::from(rcode & 0x0f);
    let n = u16::try_from(records.len()).unwrap_or(u16::MAX);
    for v in [id, flags, 1, n, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let _ = encode_name(&mut out, question.0);
    out.extend_from_slice(&question.1.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    for rec in records.iter().take(usize::from(n)) {
        let _ = encode_name(&mut out, &rec.name);
        out.extend_from_slice(&rec.rtype.code().to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&rec.ttl.to_be_bytes());
        let mut data = Vec::new();
        match &rec.data {
            Rdata::A(a) => data.extend_from_slice(&a.octets()),
            Rdata::Aaaa(a) => data.extend_from_slice(&a.octets()),
            Rdata::Name(n) => {
                let _ = encode_name(&mut data, n);
            }
            Rdata::Mx { preference, exchange } => {
                data.extend_from_slice(&preference.to_be_bytes());
                let _ = encode_name(&mut data, exchange);
            }
            Rdata::Txt(t) => {
                for chunk in t.chunks(255) {
                    data.push(chunk.len() as u8);
                    data.extend_from_slice(chunk);
                }
            }
            Rdata::Soa { minimum } => {
                data.extend_from_slice(&[0, 0]);
                data.extend_from_slice(&[0; 16]);
                data.extend_from_slice(&minimum.to_be_bytes());
            }
            Rdata::Skipped => {}
        }
        out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, rtype: Rtype, data: Rdata) -> Record {
        Record { name: name.into(), rtype, ttl: 300, data }
    }

    #[test]
    fn query_is_rfc1035_with_edns() {
        let q = query(0x1234, "Example.ORG.", Rtype::Mx).unwrap();
        let want: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07Example\x03ORG\x00\x00\x0f\x00\x01\
                            \x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";
        assert_eq!(q, want);
        let m = decode(&q).unwrap();
        assert_eq!(m.question, Some(("example.org".into(), Rtype::Mx)));
        assert!(!m.is_response);
    }

    #[test]
    fn bad_query_names() {
        assert_eq!(query(1, &"a".repeat(64), Rtype::A), Err(WireError::BadQuery));
        assert_eq!(query(1, "a..b", Rtype::A), Err(WireError::BadQuery));
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(query(1, &long, Rtype::A), Err(WireError::BadQuery));
        assert!(query(1, "", Rtype::Ns).is_ok(), "the root");
    }

    #[test]
    fn every_record_type_round_trips() {
        let records = vec![
            rec("example.org", Rtype::Mx, Rdata::Mx { preference: 10, exchange: "mail.example.org".into() }),
            rec("mail.example.org", Rtype::A, Rdata::A(Ipv4Addr::new(192, 0, 2, 1))),
            rec("mail.example.org", Rtype::Aaaa, Rdata::Aaaa("2001:db8::1".parse().unwrap())),
            rec("www.example.org", Rtype::Cname, Rdata::Name("example.org".into())),
            rec("example.org", Rtype::Txt, Rdata::Txt([b'x'; 600].to_vec())),
            rec("example.org", Rtype::Soa, Rdata::Soa { minimum: 60 }),
            rec("a\\.b.example.org", Rtype::Ptr, Rdata::Name("x\\000y.example".into())),
        ];
        let msg = encode_response(7, ("example.org", Rtype::Mx), 0, false, &records);
        let m = decode(&msg).unwrap();
        assert!(m.is_response && !m.truncated && m.rcode == Rcode::NoError && m.id == 7);
        let got: Vec<Record> = m.records.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, records);
    }

    #[test]
    fn compression_pointers_and_loops() {
        // Answer name is a pointer to the question name at offset 12.
        let mut msg = encode_response(1, ("mx.example.org", Rtype::A), 0, false, &[]);
        msg[7] = 1; // ANCOUNT 1
        msg.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01");
        let m = decode(&msg).unwrap();
        assert_eq!(m.records[0].1.name, "mx.example.org");
        assert_eq!(m.records[0].1.data, Rdata::A(Ipv4Addr::new(10, 0, 0, 1)));
        // A pointer to itself, and a pointer past the end.
        let mut looped = msg.clone();
        let at = looped.len() - 16;
        looped[at] = 0xc0 | ((at >> 8) as u8);
        looped[at + 1] = at as u8;
        assert_eq!(decode(&looped), Err(WireError::BadName));
        let mut past = msg.clone();
        past[at + 1] = 0xff;
        assert_eq!(decode(&past), Err(WireError::Short));
    }

    #[test]
    fn claimed_counts_are_bounded_and_truncation_is_seen() {
        let r = rec("example.org", Rtype::A, Rdata::A(Ipv4Addr::LOCALHOST));
        let msg = encode_response(1, ("example.org", Rtype::A), 0, true, &vec![r; 200]);
        let m = decode(&msg).unwrap();
        assert!(m.truncated);
        assert_eq!(m.records.len(), RECORDS_MAX);
        // 65,535 answers claimed, none present.
        let mut lie = encode_response(1, ("example.org", Rtype::A), 3, false, &[]);
        lie[6] = 0xff;
        lie[7] = 0xff;
        assert_eq!(decode(&lie), Err(WireError::Short));
        lie[6] = 0;
        lie[7] = 0;
        assert_eq!(decode(&lie).unwrap().rcode, Rcode::NxDomain);
    }

    /// The fuzz target's property: what decodes, re-encodes to the same records.
    fn round_trip(msg: &[u8]) {
        let Ok(m) = decode(msg) else { return };
        let (qname, qtype) = m.question.clone().unwrap_or_else(|| ("example.org".into(), Rtype::A));
        let records: Vec<Record> = m.records.iter().map(|(_, r)| r.clone()).collect();
        let again = decode(&encode_response(m.id, (&qname, qtype), 0, false, &records)).unwrap();
        let back: Vec<Record> = again.records.into_iter().map(|(_, r)| r).collect();
        assert_eq!(back.len(), records.len());
        for (a, b) in back.iter().zip(&records) {
            assert_eq!((&a.name, a.rtype), (&b.name, b.rtype));
            if b.data != Rdata::Skipped {
                assert_eq!(a.data, b.data);
            }
        }
    }

    #[test]
    fn fuzz_regressions_round_trip() {
        // dns_message crash-ec2008f9: an OPT record named by a label holding a NUL.
        round_trip(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07e\x00\x00\x00\x00\x00\x11\x03k\x00.\x00\x00\x00\x00\x01\x00\x00)\x04\x14\x00\x00\x00\x00\x00\x00\x00\xd0\x00\x00\x00\x00\x00\x00");
    }

    #[test]
    fn every_prefix_of_a_message_decodes_or_errs_without_panic() {
        let records = vec![rec("example.org", Rtype::Mx, Rdata::Mx { preference: 5, exchange: "a.example".into() })];
        let msg = encode_response(9, ("example.org", Rtype::Mx), 0, false, &records);
        for n in 0..msg.len() {
            assert!(decode(&msg[..n]).is_err(), "prefix {n}");
        }
    }
}
