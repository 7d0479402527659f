//! What a script sees of a message: header fields (RFC 5322 §2.2, unfolded), decoded from
//! RFC 2047 encoded words on demand (RFC 5228 §2.7.2), addresses (RFC 5322 §3.4) split into
//! parts (RFC 5228 §2.7.4, RFC 5233 subaddress), the text of the body parts for `body`
//! (RFC 5173, transfer encodings of RFC 2045 §6 undone, bounded by [`BODY_BYTES_MAX`]), and
//! RFC 5322 §3.3 dates for `date` (RFC 5260). Also the envelope and delivery context.

use crate::mime::{fields, MimeSummary, HEADER_BYTES_MAX};

/// Body text handed to `body` tests, over all parts: a bound on RAM and CPU per message
/// (a long body beyond this is not searched).
pub const BODY_BYTES_MAX: usize = 1024 * 1024;

/// The message under evaluation.
#[derive(Debug, Clone)]
pub struct MessageView<'a> {
    raw: &'a [u8],
    fields: Vec<(String, String)>,
    body_at: usize,
    /// The whole message's size (`raw` may be only its first bytes).
    size: u64,
}

/// One body part for `body :content` / `:text`: its lowercased `type/subtype` and text.
#[derive(Debug, Clone)]
pub struct BodyPart {
    pub content_type: String,
    pub text: String,
}

impl<'a> MessageView<'a> {
    /// Splits the header (at most `mime::HEADER_BYTES_MAX` bytes) from the body.
    pub fn parse(raw: &'a [u8]) -> MessageView<'a> {
        let end = memchr::memmem::find(raw, b"\r\n\r\n").map(|i| (i + 2, i + 4));
        let end = end.or_else(|| memchr::memmem::find(raw, b"\n\n").map(|i| (i + 1, i + 2)));
        let (hdr_end, body_at) = end.unwrap_or((raw.len(), raw.len()));
        let header = raw.get(..hdr_end.min(HEADER_BYTES_MAX)).unwrap_or(&[]);
        MessageView { raw, fields: fields(header), body_at, size: raw.len() as u64 }
    }

    /// A view of the first bytes of a message of `size` octets (the delivery step reads
    /// at most the header and [`BODY_BYTES_MAX`] of the body, never the whole message).
    pub fn parse_prefix(raw: &'a [u8], size: u64) -> MessageView<'a> {
        MessageView { size: size.max(raw.len() as u64), ..MessageView::parse(raw) }
    }

    /// All header fields, unfolded, raw (not RFC 2047-decoded).
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Raw values of the fields named `name` (case-insensitive), in order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// Values of `name`, RFC 2047-decoded.
    pub fn header_decoded(&self, name: &str) -> Vec<String> {
        self.header(name).into_iter().map(decode_words).collect()
    }

    /// RFC 5228 §5.9: the message size in octets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// RFC 5173 `:raw`: the body as it is, up to [`BODY_BYTES_MAX`].
    pub fn body_raw(&self) -> String {
        let body = self.raw.get(self.body_at..).unwrap_or(&[]);
        String::from_utf8_lossy(body.get(..body.len().min(BODY_BYTES_MAX)).unwrap_or(&[])).into_owned()
    }

    /// RFC 5173 §5.1: the leaf parts with transfer encodings undone, up to
    /// [`BODY_BYTES_MAX`] together.
    pub fn body_parts(&self) -> Vec<BodyPart> {
        let summary = MimeSummary::parse(self.raw);
        let mut budget = BODY_BYTES_MAX;
        let mut out = Vec::new();
        for (i, p) in summary.parts.iter().enumerate() {
            let leaf = summary.children(i as u32).next().is_none() && p.mime_type != "multipart";
            if !leaf || budget == 0 {
                continue;
            }
            let start = usize::try_from(p.body_offset).unwrap_or(usize::MAX);
            let len = usize::try_from(p.body_len).unwrap_or(0);
            let body = self.raw.get(start..start.saturating_add(len)).unwrap_or(&[]);
            let mut text = transfer_decode(body, p.encoding.as_deref().unwrap_or(""));
            text.truncate(budget);
            budget -= text.len();
            let content_type = format!("{}/{}", p.mime_type, p.subtype);
            out.push(BodyPart { content_type, text: String::from_utf8_lossy(&text).into_owned() });
        }
        out
    }
}

/// The SMTP envelope and the delivery context a run needs.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// MAIL FROM, without angle brackets; empty for `<>`.
    pub from: String,
    /// RCPT TO as delivered (the owner's address).
    pub to: String,
    /// The original recipient, with its `+detail` if any (RFC 5233 applies to it).
    pub original_to: String,
    /// Folders that exist, for `mailboxexists` (RFC 5490 §3.1). A `fileinto` without `:create`
    /// to a folder missing at delivery is the delivery step's to resolve (keep in INBOX).
    pub folders: Vec<String>,
    /// The local time zone as minutes east of UTC (RFC 5260 §4.1 default zone).
    pub zone_minutes: i32,
}

/// RFC 2045 §6.7/§6.8: quoted-printable and base64 undone (the streaming decoders SEARCH
/// uses, `mime::decode`); others as they are.
fn transfer_decode(body: &[u8], encoding: &str) -> Vec<u8> {
    use crate::mime::decode::{Base64Decoder, QpDecoder};
    let mut out = Vec::with_capacity(body.len());
    match encoding.to_ascii_lowercase().as_str() {
        "base64" => {
            let mut d = Base64Decoder::default();
            d.push(body, &mut out);
            d.finish(&mut out);
        }
        "quoted-printable" => {
            let mut d = QpDecoder::default();
            d.push(body, &mut out);
            d.finish(&mut out);
        }
        _ => out.extend_from_slice(body),
    }
    out
}

/// RFC 2047 §4-§6 encoded words decoded in every charset `crate::charset` knows, whitespace
/// between adjacent encoded words dropped (§6.2); anything else left as it is.
pub fn decode_words(v: &str) -> String {
    crate::charset::decode_rfc2047(v.as_bytes())
}

/// RFC 5322 §3.4: the addr-specs of an address list (display names, comments and group
/// names dropped). Bounded by the field size.
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut angle) = (0u32, false, false);
    let mut cur = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                cur.push(c);
                cur.extend(chars.next());
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                cur.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '<' if !quoted => {
                angle = true;
                cur.clear();
            }
            '>' if !quoted && angle => angle = false,
            ':' if !quoted && !angle => cur.clear(),
            ',' | ';' if !quoted && !angle => push_addr(&mut out, &mut cur),
            c => cur.push(c),
        }
    }
    push_addr(&mut out, &mut cur);
    out
}

fn push_addr(out: &mut Vec<String>, cur: &mut String) {
    let a = cur.trim();
    if !a.is_empty() {
        out.push(a.split_whitespace().collect::<Vec<_>>().join(""));
    }
    cur.clear();
}

/// RFC 5228 §2.7.4 and RFC 5233 §4: the part of `addr` named by `tag`;
/// `None` when `:detail` asks for a detail the address does not have.
pub fn address_part(addr: &str, tag: &str) -> Option<String> {
    let (local, domain) = match addr.rfind('@') {
        Some(i) => (addr.get(..i).unwrap_or(""), addr.get(i + 1..).unwrap_or("")),
        None => (addr, ""),
    };
    match tag {
        ":localpart" => Some(local.to_owned()),
        ":domain" => Some(domain.to_owned()),
        ":user" => Some(local.split_once('+').map_or(local, |(u, _)| u).to_owned()),
        ":detail" => local.split_once('+').map(|(_, d)| d.to_owned()),
        _ => Some(addr.to_owned()),
    }
}

/// A date and time with its zone (minutes east of UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since the Unix epoch (UTC).
    pub unix: i64,
    /// Zone offset the date was written in.
    pub zone: i32,
}

/// RFC 5322 §3.3 `date-time` (obsolete zone names UT/GMT/EST.. of §4.3 included).
pub fn parse_date(s: &str) -> Option<DateTime> {
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    let mut w = s.split_whitespace();
    let day: u32 = w.next()?.parse().ok()?;
    let mon = w.next()?.get(..3)?.to_ascii_lowercase();
    let month = crate::datetime::MONTHS.iter().position(|m| m.eq_ignore_ascii_case(&mon))? as u32 + 1;
    let mut year: i64 = w.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let mut hms = w.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m) = (hms.next()??, hms.next()??);
    let sec = hms.next().flatten().unwrap_or(0);
    let zone = zone_offset(w.next().unwrap_or("+0000"))?;
    if !(1..=31).contains(&day)
        || !(1..=9999).contains(&year)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    let days = crate::datetime::days_from_civil(year, month, day);
    Some(DateTime { unix: days * 86400 + h * 3600 + m * 60 + sec - i64::from(zone) * 60, zone })
}

/// `+hhmm` / `-hhmm` (RFC 5322 §3.3) or an obsolete name (§4.3), as minutes east of UTC.
pub fn zone_offset(z: &str) -> Option<i32> {
    let named = [
        ("ut", 0),
        ("gmt", 0),
        ("z", 0),
        ("edt", -4),
        ("est", -5),
        ("cdt", -5),
        ("cst", -6),
        ("mdt", -6),
        ("mst", -7),
        ("pdt", -7),
        ("pst", -8),
    ];
    if let Some((_, h)) = named.iter().find(|(n, _)| z.eq_ignore_ascii_case(n)) {
        return Some(h * 60);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = z.get(1..5).filter(|d| d.len() == 4 && d.bytes().all(|b| b.is_ascii_digit()))?;
    let (h, m): (i32, i32) = (digits.get(..2)?.parse().ok()?, digits.get(2..)?.parse().ok()?);
    Some(sign * (h * 60 + m))
}

/// RFC 5260 §4.2: the named date part of `t` shown in zone `zone` (minutes east).
pub fn date_part(unix: i64, zone: i32, part: &str) -> Option<String> {
    let local = unix.checked_add(i64::from(zone) * 60)?;
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (y, mo, d) = crate::datetime::civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let z = format!("{}{:02}{:02}", if zone < 0 { '-' } else { '+' }, zone.abs() / 60, zone.abs() % 60);
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => format!("{y:04}"),
        "month" => format!("{mo:02}"),
        "day" => format!("{d:02}"),
        "date" => format!("{y:04}-{mo:02}-{d:02}"),
        "julian" => (days + 40587).to_string(),
        "hour" => format!("{h:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{s:02}"),
        "time" => format!("{h:02}:{mi:02}:{s:02}"),
        "iso8601" => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}:{}", z.get(..3)?, z.get(3..)?),
        "std11" => {
            let wd = crate::datetime::DAYS.get(days.rem_euclid(7) as usize)?;
            let mon = crate::datetime::MONTHS.get((mo as usize).checked_sub(1)?)?;
            format!("{wd}, {d:02} {mon} {y:04} {h:02}:{mi:02}:{s:02} {z}")
        }
        "zone" => z,
        "weekday" => ((days + 4).rem_euclid(7)).to_string(),
        _ => return None,
    })
}
