//! SMTP replies: RFC 5321 §4.2 reply codes with RFC 3463 enhanced status codes (announced
//! as ENHANCEDSTATUSCODES, RFC 2034 §3: every 2xx/4xx/5xx reply except greeting and EHLO).
//! All reply texts live here, in one place; the client sees generic text only.

/// One fixed single-line reply: code, RFC 3463 enhanced code, text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: &'static str,
    pub text: &'static str,
}

const fn r(code: u16, enhanced: &'static str, text: &'static str) -> Reply {
    Reply { code, enhanced, text }
}

pub const OK: Reply = r(250, "2.0.0", "Ok");
pub const SENDER_OK: Reply = r(250, "2.1.0", "Sender ok");
pub const RCPT_OK: Reply = r(250, "2.1.5", "Recipient ok");
pub const BYE: Reply = r(221, "2.0.0", "Bye");
pub const TLS_GO: Reply = r(220, "2.0.0", "Ready to start TLS");
pub const HELP: Reply = r(214, "2.0.0", "See RFC 5321");
pub const VRFY: Reply = r(252, "2.5.2", "Cannot VRFY user, but will accept message");
pub const LINE_TOO_LONG: Reply = r(500, "5.5.2", "Line too long");
pub const UNRECOGNIZED: Reply = r(500, "5.5.1", "Command unrecognized");
pub const NOT_IMPLEMENTED: Reply = r(502, "5.5.1", "Command not implemented");
pub const SYNTAX: Reply = r(501, "5.5.4", "Syntax error in parameters");
pub const NUL_BYTE: Reply = r(501, "5.5.2", "NUL in command");
pub const BAD_HELO: Reply = r(501, "5.5.4", "Invalid EHLO/HELO hostname");
pub const NEED_HELO: Reply = r(503, "5.5.1", "Send EHLO/HELO first");
pub const NESTED_MAIL: Reply = r(503, "5.5.1", "Sender already specified");
pub const NEED_MAIL: Reply = r(503, "5.5.1", "Need MAIL first");
pub const NEED_RCPT: Reply = r(503, "5.5.1", "Need RCPT first");
pub const TLS_ACTIVE: Reply = r(503, "5.5.1", "TLS already active");
pub const NO_TLS: Reply = r(502, "5.5.1", "TLS not available");
pub const BAD_SENDER: Reply = r(501, "5.1.7", "Bad sender address syntax");
pub const BAD_RCPT: Reply = r(501, "5.1.3", "Bad recipient address syntax");
pub const LONG_SENDER: Reply = r(501, "5.1.7", "Sender address too long");
pub const LONG_RCPT: Reply = r(501, "5.1.3", "Recipient address too long");
pub const NON_ASCII: Reply = r(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
pub const UNKNOWN_USER: Reply = r(550, "5.1.1", "User unknown");
pub const RELAY_DENIED: Reply = r(550, "5.7.1", "Relay access denied");
pub const TOO_MANY_RCPTS: Reply = r(452, "4.5.3", "Too many recipients");
pub const TOO_BIG: Reply = r(552, "5.3.4", "Message size exceeds limit");
pub const BAD_PARAM: Reply = r(501, "5.5.4", "Invalid parameter value");
pub const UNKNOWN_PARAM: Reply = r(555, "5.5.4", "Unsupported parameter");
pub const BARE_NEWLINE: Reply = r(550, "5.5.2", "Bare CR or LF received");
pub const PIPELINING: Reply = r(554, "5.5.0", "Improper use of SMTP command pipelining");
pub const LOOP: Reply = r(554, "5.4.6", "Too many Received headers: mail loop");
pub const DATA_LINE_TOO_LONG: Reply = r(554, "5.6.0", "Message line too long");
/// RFC 4954 §6 and §4 replies of AUTH; RFC 6409 §4.3 / RFC 5321 §3.3 for submission.
pub const AUTH_OK: Reply = r(235, "2.7.0", "Authentication successful");
pub const AUTH_BAD: Reply = r(535, "5.7.8", "Authentication credentials invalid");
pub const AUTH_TEMP: Reply = r(454, "4.7.0", "Temporary authentication failure");
pub const AUTH_NEEDS_TLS: Reply = r(538, "5.7.11", "Encryption required for requested authentication mechanism");
pub const AUTH_REQUIRED: Reply = r(530, "5.7.0", "Authentication required");
pub const AUTH_NOT_ENABLED: Reply = r(503, "5.5.1", "Authentication not enabled");
pub const AUTH_AGAIN: Reply = r(503, "5.5.1", "Already authenticated");
pub const AUTH_IN_MAIL: Reply = r(503, "5.5.1", "AUTH not permitted during a mail transaction");
pub const AUTH_MECH: Reply = r(504, "5.5.4", "Unrecognized authentication type");
pub const AUTH_CANCELLED: Reply = r(501, "5.0.0", "Authentication cancelled");
pub const AUTH_BASE64: Reply = r(501, "5.5.2", "Cannot decode response");
pub const AUTH_LINE_TOO_LONG: Reply = r(500, "5.5.6", "Authentication exchange line is too long");
pub const NOT_YOUR_SENDER: Reply = r(553, "5.7.1", "Sender address not owned by the authenticated user");
pub const NO_RELAY_YET: Reply = r(550, "5.7.1", "Outbound mail is not available on this server");
pub const TEMP_FAIL: Reply = r(451, "4.3.0", "Temporary local error");
pub const NO_SPACE: Reply = r(452, "4.3.1", "Insufficient system storage");

/// 354 has no enhanced code (RFC 2034 §3 covers 2xx/4xx/5xx only).
pub const DATA_GO: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";

impl Reply {
    /// The wire form: `code SP enhanced SP text CRLF` (RFC 5321 §4.2, RFC 2034 §4).
    pub fn to_bytes(self) -> Vec<u8> {
        format!("{} {} {}\r\n", self.code, self.enhanced, self.text).into_bytes()
    }
}

/// A one-line reply whose text comes from a check (a DNSBL's name, a DMARC domain): CR,
/// LF and other control characters are dropped so it cannot break the reply, and it is cut
/// to [`REPLY_TEXT_MAX`] bytes (RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets).
pub fn line(code: u16, enhanced: &str, text: &str) -> Vec<u8> {
    let mut clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.len() > REPLY_TEXT_MAX {
        let mut cut = REPLY_TEXT_MAX;
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        clean.truncate(cut);
    }
    format!("{code} {enhanced} {clean}\r\n").into_bytes()
}

/// Longest reply text from [`line()`]: 512 octets less the code, enhanced code and CRLF.
pub const REPLY_TEXT_MAX: usize = 480;

/// 421 closing replies carry our hostname (RFC 5321 §4.2.2 `421 <domain>`).
pub fn closing(hostname: &str, enhanced: &str, text: &str) -> Vec<u8> {
    format!("421 {enhanced} {hostname} {text}\r\n").into_bytes()
}

/// RFC 5321 §4.2 greeting; no enhanced code (RFC 2034 §3).
pub fn greeting(hostname: &str) -> Vec<u8> {
    format!("220 {hostname} ESMTP letterbox\r\n").into_bytes()
}

/// RFC 5321 §4.1.1.1 HELO reply.
pub fn helo(hostname: &str) -> Vec<u8> {
    format!("250 {hostname}\r\n").into_bytes()
}

/// RFC 5321 §4.1.1.1 multi-line EHLO reply with the extension keywords, in the order
/// RFC 2920, RFC 1870, RFC 6152, RFC 2034, RFC 3207, RFC 6531. No CHUNKING (BAD-INPUTS 27).
pub fn ehlo(hostname: &str, max_size: u64, offer_tls: bool, offer_auth: bool) -> Vec<u8> {
    let size = format!("SIZE {max_size}");
    let mut lines = vec![hostname, "PIPELINING", &size, "8BITMIME", "ENHANCEDSTATUSCODES"];
    if offer_tls {
        lines.push("STARTTLS");
    }
    if offer_auth {
        // RFC 4954 §3; LOGIN (draft-murchison-sasl-login) for Outlook and older phones.
        lines.push("AUTH PLAIN LOGIN");
    }
    lines.push("SMTPUTF8");
    let last = lines.len().saturating_sub(1);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        out.extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
    }
    out
}

/// A SASL challenge (RFC 4954 §4 `334 SP [base64]`).
pub fn challenge(base64: &str) -> Vec<u8> {
    format!("334 {base64}\r\n").into_bytes()
}

/// The reply to an accepted message (RFC 5321 §4.1.1.4).
pub fn stored(uid: u32) -> Vec<u8> {
    format!("250 2.0.0 Ok: stored as {uid}\r\n").into_bytes()
}
