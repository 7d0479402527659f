//! The HTTP/1.1 client side the ACME client needs (RFC 9112): a request writer and a bounded,
//! sans-IO response parser: status line (§4), header fields (§5; the ones ACME reads:
//! Replay-Nonce, Location, Content-Type, Retry-After, Link), and a body framed by
//! Content-Length (§6.3) or the chunked coding (§7.1), or read to the close. One request per
//! connection (`Connection: close`): a renewal every few weeks needs nothing more.

/// Status line plus header fields: ACME servers send well under 2 KiB.
pub const HEAD_MAX: usize = 16 * 1024;
/// Header fields kept from one response.
pub const HEADERS_MAX: usize = 64;
/// Largest body: a PEM chain of three certificates is ~6 KiB and JSON is bounded by
/// `json::DOC_MAX`; 256 KiB refuses a server streaming garbage.
pub const BODY_MAX: usize = 256 * 1024;
/// Chunk-size lines and chunked framing overhead kept while decoding.
const CHUNK_LINE_MAX: usize = 1024;

/// One parsed response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Field names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first field named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Over `HEAD_MAX`, `HEADERS_MAX` or `BODY_MAX`.
    TooLarge,
    /// Not HTTP/1.x, or a framing error.
    Malformed(&'static str),
    /// The connection closed before the response was whole.
    Truncated,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::TooLarge => f.write_str("HTTP response over the size limits"),
            HttpError::Malformed(w) => write!(f, "malformed HTTP response: {w}"),
            HttpError::Truncated => f.write_str("HTTP response cut short"),
        }
    }
}

/// The bytes of one request (`body` `Some` makes it a POST of `application/jose+json`,
/// RFC 8555 §6.2).
pub fn request(method: &str, host: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: letterbox-acme\r\n");
    r.push_str("Accept: */*\r\nConnection: close\r\n");
    if let Some(b) = body {
        r.push_str(&format!("Content-Type: application/jose+json\r\nContent-Length: {}\r\n", b.len()));
    }
    r.push_str("\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body.unwrap_or_default().as_bytes());
    out
}

/// Collects a response's bytes within the limits; `parse` says when it is whole.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buf: Vec<u8>,
}

impl ResponseReader {
    /// Takes bytes read; an error once they can no longer be a response within the limits.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Response>, HttpError> {
        if self.buf.len() + data.len() > HEAD_MAX + BODY_MAX + CHUNK_LINE_MAX {
            return Err(HttpError::TooLarge);
        }
        self.buf.extend_from_slice(data);
        parse(&self.buf, false)
    }

    /// The connection closed: the response as read, or why it is not one.
    pub fn finish(&self) -> Result<Response, HttpError> {
        parse(&self.buf, true)?.ok_or(HttpError::Truncated)
    }
}

/// Parses `buf` as one response; `Ok(None)` = more bytes needed. `eof`: the peer closed.
pub fn parse(buf: &[u8], eof: bool) -> Result<Option<Response>, HttpError> {
    // Not an HTTP/1.x answer at all: said at once, not after the close.
    let prefix = buf.len().min(7);
    if buf.get(..prefix) != b"HTTP/1.".get(..prefix) {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() > HEAD_MAX { Err(HttpError::TooLarge) } else { Ok(None) };
    };
    if end > HEAD_MAX {
        return Err(HttpError::TooLarge);
    }
    let head = std::str::from_utf8(buf.get(..end).unwrap_or_default()).map_err(|_| HttpError::Malformed("head"))?;
    let mut lines = head.split("\r\n");
    let status = status_line(lines.next().unwrap_or_default())?;
    let headers = fields(lines)?;
    let rest = buf.get(end + 4..).unwrap_or_default();
    let mut r = Response { status, headers, body: Vec::new() };
    let body = if r.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        chunked(rest)?
    } else if let Some(len) = r.header("content-length") {
        let len: usize = len.parse().map_err(|_| HttpError::Malformed("content-length"))?;
        if len > BODY_MAX {
            return Err(HttpError::TooLarge);
        }
        rest.get(..len).map(<[u8]>::to_vec)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Some(Vec::new())
    } else {
        (rest.len() <= BODY_MAX).then(|| eof.then(|| rest.to_vec())).ok_or(HttpError::TooLarge)?
    };
    match body {
        Some(b) => {
            r.body = b;
            Ok(Some(r))
        }
        None if eof => Err(HttpError::Truncated),
        None => Ok(None),
    }
}

/// RFC 9112 §4 `status-line = HTTP-version SP status-code SP [reason-phrase]`.
fn status_line(line: &str) -> Result<u16, HttpError> {
    let rest = line.strip_prefix("HTTP/1.").ok_or(HttpError::Malformed("status line"))?;
    let code = rest.get(2..5).filter(|_| rest.get(1..2) == Some(" ")).ok_or(HttpError::Malformed("status line"))?;
    // The SP before the reason is required; a server leaving the reason out entirely passes.
    if !matches!(rest.get(5..6), None | Some(" ")) {
        return Err(HttpError::Malformed("status line"));
    }
    code.parse().ok().filter(|c| (100..600).contains(c)).ok_or(HttpError::Malformed("status code"))
}

/// RFC 9112 §5 `field-line = field-name ":" OWS field-value OWS`; no obsolete folding.
fn fields<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<(String, String)>, HttpError> {
    let mut out = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':').ok_or(HttpError::Malformed("header field"))?;
        let token = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(HttpError::Malformed("header field name"));
        }
        if out.len() >= HEADERS_MAX {
            return Err(HttpError::TooLarge);
        }
        out.push((k.to_ascii_lowercase(), v.trim_matches([' ', '\t']).to_owned()));
    }
    Ok(out)
}

/// RFC 9112 §7.1 chunked body: `Ok(None)` until the last chunk and the trailer are in.
fn chunked(mut rest: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = memchr::memmem::find(rest, b"\r\n") else {
            return if rest.len() > CHUNK_LINE_MAX { Err(HttpError::Malformed("chunk size")) } else { Ok(None) };
        };
        let line =
            std::str::from_utf8(rest.get(..eol).unwrap_or_default()).map_err(|_| HttpError::Malformed("chunk"))?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HttpError::Malformed("chunk size"));
        }
        let size = usize::from_str_radix(hex, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        rest = rest.get(eol + 2..).unwrap_or_default();
        if size == 0 {
            // The trailer section ends with an empty line; its fields are not used.
            return Ok(memchr::memmem::find(rest, b"\r\n").map(|_| body));
        }
        if body.len() + size > BODY_MAX {
            return Err(HttpError::TooLarge);
        }
        let Some(data) = rest.get(..size) else { return Ok(None) };
        match rest.get(size..size + 2) {
            None | Some(b"\r") => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(HttpError::Malformed("chunk end")),
        }
        body.extend_from_slice(data);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_chunked_and_close_framing() {
        let r =
            b"HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation: https://x/acct/1\r\nContent-Length: 2\r\n\r\n{}";
        let resp = parse(r, false).unwrap().unwrap();
        assert_eq!((resp.status, resp.header("replay-nonce"), resp.body.as_slice()), (201, Some("abc"), &b"{}"[..]));
        assert_eq!(parse(&r[..r.len() - 1], false), Ok(None));
        assert_eq!(parse(&r[..r.len() - 1], true), Err(HttpError::Truncated));
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(c, false).unwrap().unwrap().body, b"abcde");
        for i in 0..c.len() {
            assert_eq!(parse(&c[..i], false), Ok(None), "{i}");
        }
        let e = b"HTTP/1.0 200 OK\r\n\r\nto the end";
        assert_eq!(parse(e, false), Ok(None));
        assert_eq!(parse(e, true).unwrap().unwrap().body, b"to the end");
        let req = request("POST", "ca:14000", "/n", Some("{}"));
        assert!(req.ends_with(b"Content-Length: 2\r\n\r\n{}"));
    }

    #[test]
    fn garbage_and_oversized_responses_are_errors() {
        assert_eq!(parse(b"220 smtp", false), Err(HttpError::Malformed("not HTTP/1.x")));
        assert_eq!(parse(b"HTTP/1", false), Ok(None));
        for bad in [
            &b"SMTP 220 hi\r\n\r\n"[..],
            b"HTTP/1.1 99 x\r\n\r\n",
            b"HTTP/1.1 2000\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
        ] {
            assert!(parse(bad, true).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let huge = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY_MAX + 1);
        assert_eq!(parse(huge.as_bytes(), false), Err(HttpError::TooLarge));
        let chunks = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n", BODY_MAX + 1);
        assert_eq!(parse(chunks.as_bytes(), false), Err(HttpError::TooLarge));
        let many: String = (0..=HEADERS_MAX).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes(), false), Err(HttpError::TooLarge));
        let mut r = ResponseReader::default();
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\nX: "), Ok(None));
        assert_eq!(r.feed(&vec![b'a'; HEAD_MAX]), Err(HttpError::TooLarge));
        let mut r = ResponseReader::default();
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(None));
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = r.feed(&[b'x'; 8192]) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(HttpError::TooLarge));
    }
}
