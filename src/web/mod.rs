//! The owner's first hour (issue 18): what `letterbox dns` prints ([`zone`]) and the
//! documents mail clients fetch to configure themselves ([`autoconfig`]: Thunderbird
//! autoconfig, Microsoft autodiscover, Apple configuration profile, RFC 8461 MTA-STS policy;
//! [`autodiscover`]: the bounded parser of an autodiscover request). All pure functions of
//! the configuration. [`http`] is the sans-IO HTTP/1.1 request parser and response encoder,
//! [`site`] the router that maps a request to one of these documents; `net::http` drives them.

pub mod autoconfig;
pub mod autodiscover;
pub mod challenge;
pub mod http;
pub mod site;
pub mod zone;

use std::net::SocketAddr;

use crate::config::Config;

/// One client-facing service and where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The listener's port (the first address of its `[listen]` list).
    pub port: u16,
    /// TLS from the first byte (RFC 8314 §3) rather than STARTTLS.
    pub implicit_tls: bool,
}

/// The client-facing services that are on, by protocol; `None` = the listener is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services {
    pub submission: Option<Service>,
    pub submissions: Option<Service>,
    pub imap: Option<Service>,
    pub imaps: Option<Service>,
    pub pop3: Option<Service>,
    pub pop3s: Option<Service>,
}

impl Services {
    /// Reads `[listen]`: a protocol is on when its address list is not empty.
    pub fn of(c: &Config) -> Services {
        let l = &c.listen;
        let on = |a: &[SocketAddr], implicit_tls| a.first().map(|a| Service { port: a.port(), implicit_tls });
        Services {
            submission: on(&l.submission, false),
            submissions: on(&l.submissions, true),
            imap: on(&l.imap, false),
            imaps: on(&l.imaps, true),
            pop3: on(&l.pop3, false),
            pop3s: on(&l.pop3s, true),
        }
    }

    /// Whether a client has a mailbox to read (IMAP or POP3 in some form).
    pub fn has_incoming(&self) -> bool {
        self.imap.or(self.imaps).or(self.pop3).or(self.pop3s).is_some()
    }
}

/// `s` with the five XML special characters escaped (XML 1.0 §2.4, §4.6), safe in text and in
/// quoted attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_covers_the_specials() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("plain é"), "plain é");
    }
}
