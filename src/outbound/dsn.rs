//! Delivery status notifications (RFC 3464): a `multipart/report; report-type=
//! delivery-status` (RFC 6522) with a human part, the `message/delivery-status` part
//! (per-message fields §2.2, per-recipient fields §2.3) and the original header section as
//! `text/rfc822-headers`. Bounces go to the owner's INBOX (the sender is always the owner);
//! a message from the null sender never gets one (RFC 5321 §4.5.5: no bounce for a bounce).

use std::fmt::Write;

/// Bytes of the original header section quoted in a DSN (RFC 3462 allows headers only).
pub const MAX_QUOTED_HEADER: usize = 64 * 1024;

/// Failed (final) or delayed (still being retried), RFC 3464 §2.3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
}

/// One recipient's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptReport {
    pub rcpt: String,
    /// The remote's reply (or our own reason), e.g. `550 5.1.1 no such user`.
    pub reply: String,
    /// The server that answered, when one did.
    pub remote_mta: Option<String>,
}

/// Everything a DSN says.
pub struct Report<'a> {
    pub action: Action,
    /// The reporting host (`Reporting-MTA: dns; …`) and the domain of the From address.
    pub hostname: &'a str,
    pub to: &'a str,
    pub arrival: u64,
    pub now: u64,
    pub rcpts: &'a [RcptReport],
    /// The original message's header section (truncated at [`MAX_QUOTED_HEADER`]).
    pub original_header: &'a [u8],
    /// Unique token for the boundary and Message-ID.
    pub token: u64,
}

/// RFC 3463 status from a reply: its enhanced code when it has one of the right class,
/// else `5.0.0`/`4.0.0` (§3.1 generic codes).
pub fn status_of(reply: &str, action: Action) -> String {
    let class = if action == Action::Failed { '5' } else { '4' };
    let enhanced = reply.split_whitespace().nth(1).filter(|c| {
        let parts: Vec<&str> = c.split('.').collect();
        parts.len() == 3
            && c.starts_with(class)
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    enhanced.map(str::to_owned).unwrap_or_else(|| format!("{class}.0.0"))
}

/// The header section of `message` (up to the blank line, bounded).
pub fn header_section(message: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(message, b"\r\n\r\n").map(|i| i + 2).unwrap_or(message.len());
    let end = end.min(MAX_QUOTED_HEADER);
    message.get(..end).unwrap_or(&[])
}

/// Text for a reply inside a header field: printable ASCII, one line (RFC 3464 §2.3.6).
fn field_text(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(900).collect()
}

/// The complete DSN message, CRLF line ends.
pub fn render(r: &Report) -> Vec<u8> {
    let boundary = format!("=_lbx_report_{:016x}", r.token);
    let date = crate::datetime::rfc5322(r.now);
    let subject = match r.action {
        Action::Failed => "Undelivered Mail Returned to Sender",
        Action::Delayed => "Delayed Mail (still being retried)",
    };
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Mail Delivery System <MAILER-DAEMON@{h}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <dsn.{t:016x}@{h}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n\
         This is a delivery status notification (RFC 3464).\r\n\r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        h = r.hostname,
        to = field_text(r.to),
        t = r.token,
    );
    human_part(&mut m, r);
    let _ = write!(m, "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n");
    status_part(&mut m, r);
    let _ = write!(m, "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(r.original_header);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn human_part(m: &mut String, r: &Report) {
    let _ = match r.action {
        Action::Failed => write!(m, "Your message could not be delivered to these recipients:\r\n\r\n"),
        Action::Delayed => write!(
            m,
            "Your message has not been delivered yet to these recipients. It is being retried\r\n\
             for up to 5 days; you will be told again only if it fails.\r\n\r\n"
        ),
    };
    for x in r.rcpts {
        let _ = write!(m, "  <{}>: {}\r\n", field_text(&x.rcpt), field_text(&x.reply));
    }
}

/// The `message/delivery-status` body: per-message fields, then a block per recipient.
fn status_part(m: &mut String, r: &Report) {
    let action = match r.action {
        Action::Failed => "failed",
        Action::Delayed => "delayed",
    };
    let _ = write!(
        m,
        "Reporting-MTA: dns; {}\r\nArrival-Date: {}\r\n\r\n",
        r.hostname,
        crate::datetime::rfc5322(r.arrival)
    );
    for x in r.rcpts {
        let _ = write!(
            m,
            "Final-Recipient: rfc822; {}\r\nAction: {action}\r\nStatus: {}\r\n",
            field_text(&x.rcpt),
            status_of(&x.reply, r.action)
        );
        if let Some(mta) = &x.remote_mta {
            let _ = write!(m, "Remote-MTA: dns; {}\r\n", field_text(mta));
        }
        let _ = write!(
            m,
            "Diagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {}\r\n",
            field_text(&x.reply),
            crate::datetime::rfc5322(r.now)
        );
        if r.action == Action::Delayed {
            let _ = write!(m, "Will-Retry-Until: {}\r\n", crate::datetime::rfc5322(r.arrival + 5 * 86_400));
        }
        m.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_from_replies() {
        assert_eq!(status_of("550 5.1.1 no such user", Action::Failed), "5.1.1");
        assert_eq!(status_of("550 no such user", Action::Failed), "5.0.0");
        assert_eq!(status_of("451 4.7.1 greylisted", Action::Delayed), "4.7.1");
        assert_eq!(status_of("451 5.1.1 mixed", Action::Delayed), "4.0.0");
        assert_eq!(status_of("", Action::Failed), "5.0.0");
    }

    #[test]
    fn report_structure() {
        let rcpts = [RcptReport {
            rcpt: "you@b.example".into(),
            reply: "550 5.1.1 no\r\nsuch user".into(),
            remote_mta: Some("mx.b.example".into()),
        }];
        let orig = b"From: me@a.example\r\nSubject: hi\r\n\r\nbody";
        let r = Report {
            action: Action::Failed,
            hostname: "a.example",
            to: "me@a.example",
            arrival: 0,
            now: 60,
            rcpts: &rcpts,
            original_header: header_section(orig),
            token: 7,
        };
        let text = String::from_utf8(render(&r)).unwrap();
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Final-Recipient: rfc822; you@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no  such user\r\n"));
        assert!(text.contains("text/rfc822-headers\r\n\r\nFrom: me@a.example\r\nSubject: hi\r\n\r\n--=_lbx"));
        assert!(!text.contains("body"));
        assert!(text.ends_with("--=_lbx_report_0000000000000007--\r\n"));
    }
}
