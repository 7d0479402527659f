//! The vacation reply itself (RFC 5230 §5, RFC 3834 §3): `From:` the `:from` address or the
//! owner, `To:` the sender, `Subject:` the `:subject` or "Auto: " and the original subject
//! (§5.2), `In-Reply-To:`/`References:` threading it to the original (§5.8),
//! `Auto-Submitted: auto-replied` (§5.6) so other responders stay quiet, and the reason as a
//! UTF-8 text body or, with `:mime`, as the MIME entity the script gave (§4.4). Sent with the
//! null reverse path (§5.1) so it can never bounce back into a loop. Sans-IO: a function
//! from the script's parameters and the original header to bytes.

use crate::sieve::{MessageView, Vacation};

/// A subject line longer than this is cut (RFC 5322 §2.1.1's 998-octet line).
const SUBJECT_BYTES_MAX: usize = 900;

/// The reply's identity and time.
pub struct ReplyTo<'a> {
    /// The sender to answer (the envelope's reverse path).
    pub sender: &'a str,
    /// The owner's address (the `From:` unless the script gave `:from`).
    pub owner: &'a str,
    /// Unix seconds, for `Date:` and the Message-ID.
    pub now: i64,
    /// A unique token for the Message-ID (the caller's counter or random).
    pub token: u64,
    /// The host part of the Message-ID.
    pub host: &'a str,
}

/// The reply message (CRLF lines, ready for the outbound queue).
pub fn reply(v: &Vacation, original: &MessageView<'_>, r: &ReplyTo<'_>) -> Vec<u8> {
    let subject = match &v.subject {
        Some(s) => s.clone(),
        None => {
            let orig = original.header_decoded("subject").into_iter().next().unwrap_or_default();
            format!("Auto: {}", orig.trim())
        }
    };
    let from = v.from.as_deref().filter(|f| !f.trim().is_empty()).unwrap_or(r.owner);
    let mut h = String::new();
    h.push_str(&format!("From: {}\r\n", clean(from)));
    h.push_str(&format!("To: <{}>\r\n", clean(r.sender)));
    h.push_str(&format!("Subject: {}\r\n", encode_subject(&subject)));
    h.push_str(&format!("Date: {}\r\n", crate::datetime::rfc5322(r.now.max(0) as u64)));
    h.push_str(&format!("Message-ID: <vacation.{}.{:016x}@{}>\r\n", r.now, r.token, clean(r.host)));
    let msgid = original.header("message-id").into_iter().next().map(|m| clean(m.trim()));
    if let Some(id) = msgid.as_deref().filter(|i| !i.is_empty()) {
        h.push_str(&format!("In-Reply-To: {id}\r\n"));
        let refs = original.header("references").into_iter().next().map(|x| clean(x.trim())).unwrap_or_default();
        let refs = if refs.is_empty() { id.to_owned() } else { format!("{refs} {id}") };
        h.push_str(&format!("References: {}\r\n", cut(&refs, SUBJECT_BYTES_MAX)));
    }
    h.push_str("Auto-Submitted: auto-replied (vacation)\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n");
    let mut out = h.into_bytes();
    if v.mime {
        // §4.4: the reason is a MIME entity (its own Content-Type fields, blank line, body).
        out.extend_from_slice(&crlf(&v.reason));
    } else {
        out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        out.extend_from_slice(&crlf(&v.reason));
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A header value as one line: CR, LF and other controls become spaces (a script or a
/// hostile original cannot add header fields).
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

/// RFC 2047 §4.1 B-encoding when the subject is not plain ASCII.
fn encode_subject(s: &str) -> String {
    let s = cut(&clean(s), SUBJECT_BYTES_MAX);
    if s.is_ascii() {
        return s;
    }
    // Encoded words of at most 75 octets (§2): 45 input bytes → 60 base64 characters.
    let mut words = Vec::new();
    let mut rest = s.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(45);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (w, r) = rest.split_at(end);
        words.push(format!("=?utf-8?b?{}?=", crate::auth::base64::encode(w.as_bytes(), true)));
        rest = r;
    }
    words.join("\r\n ")
}

/// Bare LF line ends become CRLF.
fn crlf(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 16);
    let mut prev = 0u8;
    for &b in s.as_bytes() {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vac(subject: Option<&str>, mime: bool, reason: &str) -> Vacation {
        Vacation {
            seconds: 86400,
            subject: subject.map(str::to_owned),
            from: None,
            addresses: Vec::new(),
            mime,
            handle: "h".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn the_reply_threads_to_the_original_and_cannot_inject_fields() {
        let orig = MessageView::parse(
            b"From: a@b.example\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\nMessage-ID: <1@b.example>\r\n\r\nhi\r\n",
        );
        let r =
            ReplyTo { sender: "a@b.example\r\nBcc: x@y", owner: "me@x.example", now: 0, token: 7, host: "x.example" };
        let out = String::from_utf8(reply(&vac(None, false, "away\nback monday"), &orig, &r)).unwrap();
        assert!(out.contains("From: me@x.example\r\n"), "{out}");
        assert!(out.contains("To: <a@b.example  Bcc: x@y>\r\n"), "{out}");
        assert!(out.contains("Subject: =?utf-8?b?"), "{out}");
        assert!(out.contains("In-Reply-To: <1@b.example>\r\nReferences: <1@b.example>\r\n"), "{out}");
        assert!(out.contains("Auto-Submitted: auto-replied"), "{out}");
        assert!(out.ends_with("\r\n\r\naway\r\nback monday\r\n"), "{out}");
        assert!(!out.contains("\r\nBcc:"), "{out}");
        let decoded =
            crate::charset::decode_rfc2047(out.lines().find(|l| l.starts_with("Subject:")).unwrap().as_bytes());
        assert_eq!(decoded, "Subject: Auto: Grüße");
    }

    #[test]
    fn a_mime_reason_is_the_entity() {
        let orig = MessageView::parse(b"Subject: x\r\n\r\n");
        let r = ReplyTo { sender: "a@b.example", owner: "me@x.example", now: 0, token: 1, host: "h" };
        let out = reply(&vac(Some("Away"), true, "Content-Type: text/html\r\n\r\n<p>away</p>"), &orig, &r);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("Subject: Away\r\n")
                && out.contains("MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>away</p>\r\n"),
            "{out}"
        );
        assert!(!out.contains("In-Reply-To"), "{out}");
    }
}
