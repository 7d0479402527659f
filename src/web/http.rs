//! A small HTTP/1.1 server core, sans-IO: the request parser (RFC 9112 §2.1 message format,
//! §3 request line, §5 header fields, §6.3 message body length) and the response encoder
//! (§4 status line). Only what the fixed documents of [`super::site`] need: `GET`, `HEAD`
//! and `POST` with a `Content-Length` body of at most [`BODY_MAX`]; no chunked uploads
//! (411), one request per connection (`Connection: close`, §9.6). Every part of a request
//! is bounded by a named limit and refused with the status RFC 9110 §15 names for it.

use std::fmt;

/// Longest request line (method, target, version): the longest URL served is the
/// Thunderbird autoconfig path with `?emailaddress=` and a 254-octet address, well under
/// 1 KiB; RFC 9112 §3 recommends supporting 8000 octets, which no client of ours sends.
pub const REQUEST_LINE_MAX: usize = 2048;
/// Request line and header section together: browsers send about 1 KiB of headers (cookies
/// are not ours to receive), Outlook and the ACME CAs less.
pub const HEAD_MAX: usize = 8192;
/// Header fields per request: browsers send about 15.
pub const HEADERS_MAX: usize = 48;
/// Largest request body: only the autodiscover POST has one (its own bound).
pub const BODY_MAX: usize = super::autodiscover::MAX_REQUEST;

/// The methods served (RFC 9110 §9.3.1, §9.3.2, §9.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

/// A parsed request; the target is split into its path and query (RFC 9112 §3.2.1
/// origin-form), both still percent-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    /// The `Host` field without its port, lowercased (RFC 9110 §7.2).
    pub host: Option<String>,
    pub body: Vec<u8>,
}

/// A response status (RFC 9110 §15) with its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    LengthRequired,
    ContentTooLarge,
    UriTooLong,
    HeadersTooLarge,
    NotImplemented,
    ServiceUnavailable,
    VersionNotSupported,
}

impl Status {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::LengthRequired => 411,
            Status::ContentTooLarge => 413,
            Status::UriTooLong => 414,
            Status::HeadersTooLarge => 431,
            Status::NotImplemented => 501,
            Status::ServiceUnavailable => 503,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase (RFC 9110 §15; RFC 6585 §5 for 431).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::LengthRequired => "Length Required",
            Status::ContentTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.reason())
    }
}

/// Parses the request at the start of `buf`: `Ok(None)` while it is incomplete (read more),
/// `Err(status)` as soon as it cannot become valid (answer with that status and close).
pub fn parse(buf: &[u8]) -> Result<Option<Request>, Status> {
    let Some(line_end) = find_crlf(buf, REQUEST_LINE_MAX) else {
        return if buf.len() >= REQUEST_LINE_MAX { Err(Status::UriTooLong) } else { Ok(None) };
    };
    // The request line is judged as soon as it is in: HTTP/0.9 and garbage wait for nothing.
    let line = buf.get(..line_end).ok_or(Status::BadRequest)?;
    let (method, target, http11) = request_line(line)?;
    let Some(head_end) = find_head_end(buf) else {
        return if buf.len() >= HEAD_MAX { Err(Status::HeadersTooLarge) } else { Ok(None) };
    };
    // The field lines with their CRLFs (none when the empty line follows the request line).
    let fields = buf.get(line_end + 2..head_end + 2).unwrap_or(&[]);
    let head = header_section(fields)?;
    let length = body_length(&head, method)?;
    if http11 && head.hosts == 0 {
        return Err(Status::BadRequest); // RFC 9112 §3.2: an HTTP/1.1 request names its host
    }
    let body_start = head_end + 4;
    let Some(body) = buf.get(body_start..body_start + length) else { return Ok(None) };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    };
    Ok(Some(Request { method, path, query, host: head.host, body: body.to_vec() }))
}

/// Index of the first CRLF within `limit` bytes.
fn find_crlf(buf: &[u8], limit: usize) -> Option<usize> {
    let window = buf.get(..limit.min(buf.len()))?;
    memchr::memmem::find(window, b"\r\n")
}

/// Index of the empty line ending the header section (RFC 9112 §2.1), within [`HEAD_MAX`].
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let window = buf.get(..HEAD_MAX.min(buf.len()))?;
    memchr::memmem::find(window, b"\r\n\r\n")
}

/// RFC 9112 §3: `method SP request-target SP HTTP-version`; the target in origin-form
/// (§3.2.1) of visible ASCII. HTTP/1.0 and 1.1 are served; other versions are 505, and a
/// line that is not HTTP at all (an HTTP/0.9 `GET /`, TLS bytes) is 400. The flag is true
/// for HTTP/1.1.
fn request_line(line: &[u8]) -> Result<(Method, &str, bool), Status> {
    let text = std::str::from_utf8(line).map_err(|_| Status::BadRequest)?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    let minor = version.strip_prefix("HTTP/1.").ok_or_else(|| version_error(version))?;
    if minor != "0" && minor != "1" {
        return Err(Status::VersionNotSupported);
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::BadRequest);
    }
    Ok((method_of(method)?, target, minor == "1"))
}

/// A well-formed version other than 1.x is 505; anything else is not HTTP (400).
fn version_error(version: &str) -> Status {
    let digits = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit());
    match version.strip_prefix("HTTP/").and_then(|v| v.split_once('.')) {
        Some((major, minor)) if digits(major) && digits(minor) => Status::VersionNotSupported,
        _ => Status::BadRequest,
    }
}

/// RFC 9110 §9.1: methods are case-sensitive tokens; a known one we do not serve is 405
/// (by the router, which knows the `Allow` set), an unknown one 501.
fn method_of(m: &str) -> Result<Method, Status> {
    match m {
        "GET" => Ok(Method::Get),
        "HEAD" => Ok(Method::Head),
        "POST" => Ok(Method::Post),
        "PUT" | "DELETE" | "OPTIONS" | "PATCH" | "CONNECT" | "TRACE" => Err(Status::MethodNotAllowed),
        _ if !m.is_empty() && m.bytes().all(is_tchar) => Err(Status::NotImplemented),
        _ => Err(Status::BadRequest),
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the header section says that matters here.
#[derive(Default)]
struct Head {
    host: Option<String>,
    hosts: usize,
    content_length: Option<usize>,
    chunked: bool,
}

/// RFC 9112 §5: `field-name ":" OWS field-value OWS` lines; no obs-fold (§5.2: 400).
fn header_section(fields: &[u8]) -> Result<Head, Status> {
    let mut head = Head::default();
    if fields.is_empty() {
        return Ok(head);
    }
    let fields = fields.strip_suffix(b"\n").unwrap_or(fields);
    for (n, line) in fields.split(|&b| b == b'\n').enumerate() {
        if n >= HEADERS_MAX {
            return Err(Status::HeadersTooLarge);
        }
        let line = line.strip_suffix(b"\r").ok_or(Status::BadRequest)?;
        field(line, &mut head)?;
    }
    if head.hosts > 1 {
        return Err(Status::BadRequest); // RFC 9112 §3.2: more than one Host
    }
    Ok(head)
}

/// One field line, recorded in `head` when it is one of the fields we read.
fn field(line: &[u8], head: &mut Head) -> Result<(), Status> {
    let colon = memchr::memchr(b':', line).ok_or(Status::BadRequest)?;
    let name = line.get(..colon).ok_or(Status::BadRequest)?;
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Status::BadRequest); // also a space before the colon (§5.1)
    }
    let raw = line.get(colon + 1..).ok_or(Status::BadRequest)?;
    if raw.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(Status::BadRequest); // RFC 9110 §5.5: CR, LF, NUL are invalid
    }
    let value = String::from_utf8_lossy(raw);
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    match name.to_ascii_lowercase().as_slice() {
        b"host" => {
            head.hosts += 1;
            head.host = Some(host_of(value)?);
        }
        b"content-length" => head.content_length = Some(content_length(value, head.content_length)?),
        b"transfer-encoding" => head.chunked = true,
        _ => {}
    }
    Ok(())
}

/// RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, lowercased, without the port; a bracketed
/// IPv6 literal keeps its brackets.
fn host_of(value: &str) -> Result<String, Status> {
    let host = match value.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
        None => value.split(':').next().unwrap_or_default().to_owned(),
    };
    let ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if ok {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(Status::BadRequest)
    }
}

/// RFC 9112 §6.3: `Content-Length = 1*DIGIT`; a repeated field must agree (else 400).
fn content_length(value: &str, before: Option<usize>) -> Result<usize, Status> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Status::BadRequest);
    }
    // Longer than any body we take: too large, whatever its exact value.
    let n = if value.len() > 9 { usize::MAX } else { value.parse().map_err(|_| Status::BadRequest)? };
    match before {
        Some(b) if b != n => Err(Status::BadRequest),
        _ => Ok(n),
    }
}

/// The body's length (RFC 9112 §6.3): a transfer coding is refused (411: send a length),
/// and only `POST` may carry a body, of at most [`BODY_MAX`].
fn body_length(head: &Head, method: Method) -> Result<usize, Status> {
    if head.chunked {
        return Err(Status::LengthRequired);
    }
    let n = head.content_length.unwrap_or(0);
    match method {
        Method::Post if head.content_length.is_none() => Err(Status::LengthRequired),
        Method::Post if n > BODY_MAX => Err(Status::ContentTooLarge),
        Method::Get | Method::Head if n > 0 => Err(Status::ContentTooLarge),
        _ => Ok(n),
    }
}

/// A complete response: status, content type, body and any extra header lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra `Name: value` fields (`Allow`, `Content-Disposition`, `Cache-Control`).
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: Status, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.as_bytes().to_vec())
    }

    pub fn new(status: Status, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, content_type, body, headers: Vec::new() }
    }

    /// The error answer for `status`: its reason as text.
    pub fn error(status: Status) -> Response {
        Response::text(status, &format!("{status}\n"))
    }

    /// Adds a header field.
    pub fn with(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The bytes on the wire (RFC 9112 §4, §6.2): status line, `Date` (RFC 9110 §6.6.1,
    /// `date` is an IMF-fixdate), length, `Connection: close`, then the body unless the
    /// request was `HEAD` (RFC 9110 §9.3.2: same fields, no content).
    pub fn encode(&self, date: &str, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nDate: {date}\r\nServer: letterbox\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out += &format!("{name}: {value}\r\n");
        }
        out += "\r\n";
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// RFC 9110 §5.6.7 IMF-fixdate of `unix_secs`: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn imf_fixdate(unix_secs: u64) -> String {
    let d = crate::datetime::rfc5322(unix_secs);
    // rfc5322 writes `Sun, 6 Nov 1994 08:49:37 +0000`: two-digit day, GMT zone.
    let mut parts: Vec<&str> = d.split(' ').collect();
    let day = parts.get(1).map(|d| format!("{d:0>2}")).unwrap_or_default();
    if let Some(p) = parts.get_mut(1) {
        *p = &day;
    }
    if let Some(z) = parts.last_mut() {
        *z = "GMT";
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Option<Request>, Status> {
        parse(s.as_bytes())
    }

    #[test]
    fn get_with_query_and_host() {
        let r = req("GET /mail/config-v1.1.xml?emailaddress=a%40b.org HTTP/1.1\r\nHost: Autoconfig.Example.org:8080\r\nUser-Agent: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/mail/config-v1.1.xml");
        assert_eq!(r.query.as_deref(), Some("emailaddress=a%40b.org"));
        assert_eq!(r.host.as_deref(), Some("autoconfig.example.org"));
        let r = req("HEAD / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!((r.method, r.host), (Method::Head, None));
        let r = req("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.host.as_deref(), Some("[::1]"));
    }

    #[test]
    fn incomplete_until_the_body_is_in() {
        let full = "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..full.len() {
            assert_eq!(req(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(req(full).unwrap().unwrap().body, b"hello");
    }

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn responses_close_and_head_has_no_body() {
        let r = Response::text(Status::Ok, "hi").with("Allow", "GET".into());
        let full = String::from_utf8(r.encode("D", false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\nDate: D\r\n"), "{full}");
        assert!(full.contains("Content-Length: 2\r\nConnection: close\r\n") && full.contains("Allow: GET\r\n"));
        assert!(full.ends_with("\r\n\r\nhi"));
        let head = r.encode("D", true);
        assert!(head.ends_with(b"\r\n\r\n"));
    }

    /// BAD-INPUTS 108: every malformed or oversized request gets its status, never a panic.
    #[test]
    fn hostile_http_requests() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(REQUEST_LINE_MAX));
        assert_eq!(req(&long_line), Err(Status::UriTooLong));
        assert_eq!(req(&"a".repeat(REQUEST_LINE_MAX + 5)), Err(Status::UriTooLong));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(HEADERS_MAX + 1));
        assert_eq!(req(&many), Err(Status::HeadersTooLarge));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(HEAD_MAX));
        assert_eq!(req(&huge), Err(Status::HeadersTooLarge));
        let cases: &[(&str, Status)] = &[
            ("GET /\r\n\r\n", Status::BadRequest),
            ("GET /\r\n", Status::BadRequest),
            ("GET / HTTP/2.0\r\n\r\n", Status::VersionNotSupported),
            ("GET / HTTP/1.2\r\n\r\n", Status::VersionNotSupported),
            ("GET / FOO\r\n\r\n", Status::BadRequest),
            ("GET  / HTTP/1.1\r\n\r\n", Status::BadRequest),
            ("GET http://x/ HTTP/1.1\r\n\r\n", Status::BadRequest),
            ("GET /a\x00b HTTP/1.1\r\n\r\n", Status::BadRequest),
            ("PUT / HTTP/1.1\r\n\r\n", Status::MethodNotAllowed),
            ("BREW / HTTP/1.1\r\n\r\n", Status::NotImplemented),
            ("G(T / HTTP/1.1\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nX : y\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", Status::BadRequest),
            ("GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", Status::ContentTooLarge),
            ("POST / HTTP/1.1\r\n\r\n", Status::LengthRequired),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Status::LengthRequired),
            ("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", Status::ContentTooLarge),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", Status::ContentTooLarge),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Status::BadRequest),
            ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Status::BadRequest),
        ];
        for (text, status) in cases {
            assert_eq!(req(text), Err(*status), "{text:?}");
        }
        assert_eq!(parse(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), Err(Status::BadRequest));
        let edge = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {BODY_MAX}\r\n\r\n{}", "x".repeat(BODY_MAX));
        assert_eq!(req(&edge).unwrap().unwrap().body.len(), BODY_MAX);
    }

    /// Random byte flips, inserts and cuts of valid requests (a fuzzer's moves, in-tree):
    /// never a panic, and a parsed request always keeps the invariants.
    #[test]
    fn mutated_requests_never_panic() {
        let seeds: [&[u8]; 3] = [
            b"GET /mail/config-v1.1.xml?emailaddress=a%40b.org HTTP/1.1\r\nHost: a.b\r\nAccept: */*\r\n\r\n",
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            b"HEAD / HTTP/1.0\r\n\r\n",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        for round in 0..20_000 {
            let mut m = seeds[round % seeds.len()].to_vec();
            for _ in 0..1 + next(4) {
                let at = next(m.len() + 1);
                match next(3) {
                    0 if at < m.len() => m[at] = next(256) as u8,
                    1 => m.insert(at, b"\r\n: /%.\x00 "[next(9)]),
                    _ => m.truncate(at.max(1)),
                }
            }
            if let Ok(Some(r)) = parse(&m) {
                assert!(r.body.len() <= BODY_MAX && r.path.starts_with('/'), "{m:?}");
            }
        }
    }
}
