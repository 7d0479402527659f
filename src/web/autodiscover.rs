//! The autodiscover request (Outlook's POX request schema 2006): the client POSTs
//! `<Autodiscover><Request><EMailAddress>addr</EMailAddress>…` and this module extracts the
//! address. Not a general XML parser: a bounded scan over at most [`MAX_REQUEST`] bytes of
//! UTF-8 that refuses every markup declaration (`<!DOCTYPE`, `<!ENTITY`, CDATA, comments),
//! so no entity is ever defined or expanded (XML 1.0 §4.2; the "billion laughs" cannot
//! start), and refuses any `&` in the address instead of decoding references.

use std::fmt;

/// Largest request body: the real request is about 350 bytes; 4 KiB leaves room for
/// namespaces and whitespace and bounds the work per request.
pub const MAX_REQUEST: usize = 4096;
/// Longest address (RFC 5321 §4.5.3.1.3 path limit minus the angle brackets).
pub const MAX_ADDRESS: usize = 254;

/// Why a request has no usable address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Over [`MAX_REQUEST`] bytes.
    TooLarge,
    /// Not UTF-8 (XML 1.0 §4.3.3: without a BOM or declaration, the encoding is UTF-8).
    NotUtf8,
    /// A markup declaration, CDATA section or comment (`<!`): never processed.
    Declaration,
    /// No `EMailAddress` element with text in it.
    NoAddress,
    /// The element's text is not a plain `local@domain` address.
    BadAddress,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::TooLarge => "request too large",
            RequestError::NotUtf8 => "request is not UTF-8",
            RequestError::Declaration => "request has a markup declaration",
            RequestError::NoAddress => "request names no EMailAddress",
            RequestError::BadAddress => "EMailAddress is not an address",
        })
    }
}

impl std::error::Error for RequestError {}

/// The text of the first `EMailAddress` element (any namespace prefix), trimmed and checked.
pub fn email_address(body: &[u8]) -> Result<&str, RequestError> {
    if body.len() > MAX_REQUEST {
        return Err(RequestError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
    if text.contains("<!") {
        return Err(RequestError::Declaration);
    }
    let content = element_text(text, "EMailAddress").ok_or(RequestError::NoAddress)?;
    let address = content.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if address.is_empty() {
        return Err(RequestError::NoAddress);
    }
    if plain_address(address) {
        Ok(address)
    } else {
        Err(RequestError::BadAddress)
    }
}

/// The character data between `<name>` (or `<prefix:name …>`) and the next tag, which must
/// close it. XML 1.0 §3.1 start tag, §2.4 character data.
fn element_text<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = rest.get(open + 1..)?;
        let end = after.find('>')?;
        let tag = after.get(..end)?;
        rest = after.get(end + 1..)?;
        if tag_name(tag) != Some(name) || tag.ends_with('/') {
            continue;
        }
        let close = rest.find('<')?;
        let closing = rest.get(close + 1..)?.strip_prefix('/')?;
        let closing_name = closing.split('>').next().map(str::trim_end);
        let local = closing_name.map(|n| n.rsplit(':').next().unwrap_or(n));
        return (local == Some(name)).then(|| rest.get(..close)).flatten();
    }
    None
}

/// The local name of a start tag's text (`a:EMailAddress x="y"` → `EMailAddress`); `None` for
/// end tags and processing instructions.
fn tag_name(tag: &str) -> Option<&str> {
    if tag.starts_with('/') || tag.starts_with('?') {
        return None;
    }
    let qname = tag.split(|c: char| c.is_ascii_whitespace() || c == '/').next()?;
    qname.rsplit(':').next()
}

/// `local@domain` with one `@`, ≤ [`MAX_ADDRESS`] octets, no spaces, controls, quotes,
/// markup or `&` (an address worth answering for; RFC 5321 §4.1.2 in its common form).
fn plain_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else { return false };
    let bad = |c: char| c.is_control() || c.is_whitespace() || "<>&\"'()[]\\,;:@".contains(c);
    a.len() <= MAX_ADDRESS
        && !local.is_empty()
        && !local.chars().any(bad)
        && crate::config::web::host_name(domain).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\r\n  <Request>\r\n    <EMailAddress>alice@example.org</EMailAddress>\r\n    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n  </Request>\r\n</Autodiscover>\r\n";

    #[test]
    fn outlook_request() {
        assert_eq!(email_address(REQUEST.as_bytes()), Ok("alice@example.org"));
        let prefixed = "<a:Autodiscover xmlns:a=\"x\"><a:Request><a:EMailAddress >\n bob@Example.ORG \n</a:EMailAddress></a:Request></a:Autodiscover>";
        assert_eq!(email_address(prefixed.as_bytes()), Ok("bob@Example.ORG"));
    }

    /// BAD-INPUTS 90: huge bodies, entity bombs, missing and odd addresses.
    #[test]
    fn hostile_autodiscover_requests() {
        let mut huge = REQUEST.as_bytes().to_vec();
        huge.resize(MAX_REQUEST + 1, b' ');
        assert_eq!(email_address(&huge), Err(RequestError::TooLarge));
        let mut edge = REQUEST.as_bytes().to_vec();
        edge.resize(MAX_REQUEST, b' ');
        assert_eq!(email_address(&edge), Ok("alice@example.org"));
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><Autodiscover><Request><EMailAddress>&lol2;@example.org</EMailAddress></Request></Autodiscover>";
        assert_eq!(email_address(bomb.as_bytes()), Err(RequestError::Declaration));
        let external = "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a><EMailAddress>x@y.z</EMailAddress></a>";
        assert_eq!(email_address(external.as_bytes()), Err(RequestError::Declaration));
        let cdata = "<a><EMailAddress><![CDATA[x@y.z]]></EMailAddress></a>";
        assert_eq!(email_address(cdata.as_bytes()), Err(RequestError::Declaration));
        let entity = "<a><EMailAddress>x&amp;y@example.org</EMailAddress></a>";
        assert_eq!(email_address(entity.as_bytes()), Err(RequestError::BadAddress));
        for missing in [
            "",
            "<a/>",
            "<a><EMailAddress/></a>",
            "<a><EMailAddress>  </EMailAddress></a>",
            "<EMailAddress>x@y.z",
            "<EMailAddress>x@y.z</Other>",
            "<EMailAddress",
            "<EMailAddressX>x@y.z</EMailAddressX>",
        ] {
            assert_eq!(email_address(missing.as_bytes()), Err(RequestError::NoAddress), "{missing}");
        }
        for odd in [
            "nobody",
            "@example.org",
            "a@",
            "a b@example.org",
            "a@b@example.org",
            "a@exa mple.org",
            "\"q\"@example.org",
            "a@-x.org",
            "a\u{0}@example.org",
            &format!("{}@example.org", "a".repeat(250)),
        ] {
            let body = format!("<a><EMailAddress>{odd}</EMailAddress></a>");
            assert_eq!(email_address(body.as_bytes()), Err(RequestError::BadAddress), "{odd:?}");
        }
        assert_eq!(email_address(b"<a><EMailAddress>\xff@x.org</EMailAddress></a>"), Err(RequestError::NotUtf8));
    }
}
