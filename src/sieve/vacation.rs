//! Whether a vacation reply may go out (RFC 5230 §4.5-§4.6, RFC 3834 §2): never to the
//! null sender, to mailing lists or bulk mail, to automatic messages, to the owner's own
//! addresses or system senders, and only for mail addressed to the owner. The
//! once-per-period rule (§4.2, `:days`) needs persisted state and is the caller's.

use super::message::addresses;

/// RFC 2369/2919 list header fields: their presence marks list mail.
const LIST_FIELDS: [&str; 7] =
    ["list-id", "list-help", "list-subscribe", "list-unsubscribe", "list-post", "list-owner", "list-archive"];
/// RFC 3834 §2 / RFC 5230 §4.5 recipient fields checked for the owner's address.
const RECIPIENT_FIELDS: [&str; 6] = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"];

/// True when a reply to `envelope_from` for a message with these header fields is allowed.
/// `own_addresses` are the owner's addresses (the recipient and `:addresses`).
pub fn vacation_allowed(headers: &[(String, String)], envelope_from: &str, own_addresses: &[String]) -> bool {
    let from = envelope_from.trim().trim_start_matches('<').trim_end_matches('>');
    let is_own = |a: &str| own_addresses.iter().any(|o| o.eq_ignore_ascii_case(a));
    let field =
        |name: &'static str| headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
    if from.is_empty() || is_own(from) || system_sender(from) {
        return false;
    }
    if LIST_FIELDS.into_iter().any(|f| field(f).next().is_some()) {
        return false;
    }
    if field("precedence").any(|v| ["bulk", "list", "junk"].iter().any(|p| v.eq_ignore_ascii_case(p))) {
        return false;
    }
    if field("auto-submitted").any(|v| !v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("no")) {
        return false;
    }
    RECIPIENT_FIELDS.into_iter().flat_map(field).flat_map(addresses).any(|a| is_own(&a))
}

/// RFC 5230 §4.6: MAILER-DAEMON, `owner-*`, `*-request` and list servers.
fn system_sender(from: &str) -> bool {
    let local = from.rsplit_once('@').map_or(from, |(l, _)| l).to_ascii_lowercase();
    ["mailer-daemon", "listserv", "majordomo"].contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
}
