//! Trace header fields the driver prepends to a stored message: `Return-Path:` (RFC 5321
//! §4.4, RFC 5322 §3.6.7) and `Received:` (RFC 5321 §4.4 `Time-stamp-line`), with the
//! protocol names of RFC 3848 (ESMTP, ESMTPS, and ESMTPA/ESMTPSA after AUTH) and RFC 6531
//! §3.7.3 (UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA). With `Policy::hide_client_ip` a
//! submission after AUTH gets `Received: by …` alone (no client name or address: RFC 5322
//! §3.6.7 `received` allows it; Gmail does the same). Output is CRLF, folded with a TAB.

use std::net::IpAddr;

use super::{Envelope, PeerInfo, Policy, TlsInfo};
use crate::datetime;

/// `Return-Path: <reverse-path>` then `Received: ...`, both ending in CRLF.
/// `unix_secs` is the delivery time (the core reads no clock).
pub fn trace_headers(
    policy: &Policy,
    peer: &PeerInfo,
    tls: Option<&TlsInfo>,
    envelope: &Envelope,
    unix_secs: u64,
) -> Vec<u8> {
    let mut out = format!("Return-Path: <{}>\r\n", envelope.mail_from);
    if policy.hide_client_ip && envelope.auth_user.is_some() {
        out.push_str("Received: ");
    } else {
        out.push_str(&format!("Received: from {} ({})\r\n\t", envelope.helo, tcp_info(peer.ip)));
    }
    out.push_str(&format!("by {} with {}", policy.hostname, protocol(envelope, tls)));
    if let Some(tls) = tls {
        out.push_str(&format!(" ({} {})", token(&tls.version), token(&tls.cipher)));
    }
    if let [only] = envelope.rcpts.as_slice() {
        out.push_str(&format!("\r\n\tfor <{}>", only.address));
    }
    out.push_str(&format!(";\r\n\t{}\r\n", datetime::rfc5322(unix_secs)));
    out.into_bytes()
}

/// RFC 5321 §4.4 `TCP-info = address-literal`: `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
fn tcp_info(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// RFC 5321 §4.4 `Protocol` with the RFC 3848 / RFC 6531 values (`A` after AUTH).
fn protocol(envelope: &Envelope, tls: Option<&TlsInfo>) -> &'static str {
    let auth = envelope.auth_user.is_some();
    match (envelope.smtputf8, envelope.esmtp, tls.is_some(), auth) {
        (true, _, true, true) => "UTF8SMTPSA",
        (true, _, true, false) => "UTF8SMTPS",
        (true, _, false, true) => "UTF8SMTPA",
        (true, _, false, false) => "UTF8SMTP",
        (false, true, true, true) => "ESMTPSA",
        (false, true, true, false) => "ESMTPS",
        (false, true, false, true) => "ESMTPA",
        (false, true, false, false) => "ESMTP",
        (false, false, ..) => "SMTP",
    }
}

/// Keeps a TLS name safe inside a comment: letters, digits and `_.-` only.
fn token(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c)).take(64).collect()
}
