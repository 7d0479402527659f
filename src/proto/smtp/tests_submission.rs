//! Submission (RFC 6409) and AUTH (RFC 4954, PLAIN RFC 4616, LOGIN) in the SMTP core: what
//! is offered when, the SASL exchanges, the sender rule, relaying only after AUTH, and the
//! bad inputs of issue 14 (malformed base64, an overlong AUTH line, AUTH before TLS).

use std::net::{IpAddr, Ipv4Addr};

use super::tests::{policy, Driver};
use super::*;
use crate::auth::{base64, Secret};
use crate::proto::AuthOutcome;

fn submission(relay: bool) -> Policy {
    Policy { submission: true, relay_after_auth: relay, ..policy() }
}

/// A submission session from a remote address over TLS (port 465 or after STARTTLS).
fn tls_session(relay: bool) -> Driver {
    let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), is_tls: true };
    let mut d = Driver::with_peer(submission(relay), peer);
    d.send(b"EHLO laptop.example\r\n");
    d
}

fn b64(s: &[u8]) -> String {
    base64::encode(s, true)
}

/// The credentials asked for, answered with `outcome`.
fn answer(d: &mut Driver, outcome: AuthOutcome) -> (String, Vec<u8>) {
    let Some(Event::CheckCredentials { user, pass }) = d.events.pop() else {
        panic!("no credentials check: {:?} {}", d.events, d.text())
    };
    d.s.auth_result(outcome);
    d.drain();
    (user, pass.expose().to_vec())
}

#[test]
fn auth_is_offered_only_on_submission_and_only_where_passwords_may_go() {
    let mut mx = Driver::new();
    mx.send(b"EHLO a.example\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
    assert!(!mx.text().contains("AUTH"), "{}", mx.text());
    assert!(mx.text().contains("503 5.5.1 Authentication not enabled"), "{}", mx.text());
    // Submission without TLS from a remote address: STARTTLS offered, AUTH not, and refused.
    let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), is_tls: false };
    let mut plain = Driver::with_peer(submission(false), peer);
    plain.send(b"EHLO a.example\r\n");
    assert!(plain.text().contains("250-STARTTLS") && !plain.text().contains("AUTH"), "{}", plain.text());
    plain.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n");
    assert!(plain.text().contains("538 5.7.11"), "{}", plain.text());
    assert!(plain.events.iter().all(|e| !matches!(e, Event::CheckCredentials { .. })));
    plain.send(b"MAIL FROM:<alice@example.org>\r\n");
    assert!(plain.text().ends_with("530 5.7.0 Authentication required\r\n"), "{}", plain.text());
    // Over TLS: offered.
    let tls = tls_session(false);
    assert!(tls.text().contains("250-AUTH PLAIN LOGIN\r\n") && !tls.text().contains("STARTTLS"), "{}", tls.text());
}

#[test]
fn plain_with_initial_response_and_after_a_challenge() {
    let mut d = tls_session(false);
    d.send(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0s3cret")).as_bytes());
    assert_eq!(answer(&mut d, AuthOutcome::Ok), ("alice".into(), b"s3cret".to_vec()));
    assert!(d.text().ends_with("235 2.7.0 Authentication successful\r\n"), "{}", d.text());
    d.send(b"AUTH PLAIN\r\n");
    assert!(d.text().ends_with("503 5.5.1 Already authenticated\r\n"));
    let mut d = tls_session(false);
    d.send(b"AUTH PLAIN\r\n");
    assert!(d.text().ends_with("334 \r\n"), "{}", d.text());
    d.send(format!("{}\r\n", b64(b"alice\0alice\0pw")).as_bytes());
    assert_eq!(answer(&mut d, AuthOutcome::Bad).0, "alice");
    assert!(d.text().ends_with("535 5.7.8 Authentication credentials invalid\r\n"), "{}", d.text());
    // An authzid naming someone else is refused without asking the driver.
    d.send(format!("AUTH PLAIN {}\r\n", b64(b"bob\0alice\0pw")).as_bytes());
    assert!(d.text().ends_with("535 5.7.8 Authentication credentials invalid\r\n"));
    assert!(!d.events.iter().any(|e| matches!(e, Event::CheckCredentials { .. })));
}

#[test]
fn login_exchange_cancel_and_throttle() {
    let mut d = tls_session(false);
    d.send(b"AUTH LOGIN\r\n");
    assert!(d.text().ends_with("334 VXNlcm5hbWU6\r\n"), "{}", d.text());
    d.send(format!("{}\r\n", b64(b"alice")).as_bytes());
    assert!(d.text().ends_with("334 UGFzc3dvcmQ6\r\n"), "{}", d.text());
    d.send(format!("{}\r\n", b64(b"pa ss")).as_bytes());
    assert_eq!(answer(&mut d, AuthOutcome::Throttled(2000)), ("alice".into(), b"pa ss".to_vec()));
    assert!(d.text().ends_with("454 4.7.0 Temporary authentication failure\r\n"), "{}", d.text());
    // The username as the initial response (Outlook), then `*` cancels.
    d.send(format!("AUTH LOGIN {}\r\n", b64(b"alice")).as_bytes());
    assert!(d.text().ends_with("334 UGFzc3dvcmQ6\r\n"));
    d.send(b"*\r\n");
    assert!(d.text().ends_with("501 5.0.0 Authentication cancelled\r\n"), "{}", d.text());
    d.send(b"AUTH CRAM-MD5\r\n");
    assert!(d.text().ends_with("504 5.5.4 Unrecognized authentication type\r\n"));
}

#[test]
fn bad_inputs_malformed_base64_overlong_line_and_repeated_failures() {
    let mut d = tls_session(false);
    d.send(b"AUTH PLAIN !!!notbase64!!!\r\n");
    assert!(d.text().ends_with("501 5.5.2 Cannot decode response\r\n"), "{}", d.text());
    d.send(b"AUTH PLAIN\r\n");
    let long = vec![b'A'; AUTH_LINE_MAX * 4];
    d.send(&long);
    d.send(b"\r\n");
    assert!(d.text().ends_with("500 5.5.6 Authentication exchange line is too long\r\n"), "{}", d.text());
    assert!(!d.closed);
    d.send(b"AUTH LOGIN\r\n\r\n");
    assert!(d.text().contains("421 4.7.0"), "third failure closes: {}", d.text());
    assert!(d.closed);
    assert!(!d.events.iter().any(|e| matches!(e, Event::CheckCredentials { .. })));
    // A NUL-laden 10 KB blob (BAD-INPUTS 47) is refused, bounded.
    let mut d = tls_session(false);
    d.send(format!("AUTH PLAIN {}\r\n", b64(&[0u8; 10_000])).as_bytes());
    assert!(d.text().contains("500 5.5.2 Line too long") || d.text().contains("535 5.7.8"), "{}", d.text());
}

#[test]
fn authenticated_sender_must_be_the_owner_and_relay_needs_auth() {
    let mut d = tls_session(true);
    d.send(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0pw")).as_bytes());
    answer(&mut d, AuthOutcome::Ok);
    d.replies.clear();
    d.send(b"MAIL FROM:<ceo@bank.example>\r\n");
    assert!(d.text().ends_with("553 5.7.1 Sender address not owned by the authenticated user\r\n"), "{}", d.text());
    for from in ["<alice@example.org>", "<Alice+lists@EXAMPLE.org>", "<info@example.org>", "<>"] {
        d.replies.clear();
        d.send(
            format!(
                "MAIL FROM:{from}\r\nRCPT TO:<friend@elsewhere.example>\r\nRCPT TO:<alice@example.org>\r\nRSET\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(d.text().matches("250").count(), 4, "{from}: {}", d.text());
    }
    d.replies.clear();
    d.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<friend@elsewhere.example>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n");
    let Some(Event::MessageBegin(env)) = d.events.iter().find(|e| matches!(e, Event::MessageBegin(_))).cloned() else {
        panic!("{}", d.text())
    };
    assert_eq!(env.auth_user.as_deref(), Some("alice"));
    assert_eq!(env.rcpts.len(), 1);
    assert!(env.rcpts[0].remote && env.rcpts[0].address == "friend@elsewhere.example");
    assert!(d.text().contains("550 5.1.1 User unknown"), "{}", d.text());
    // Without an outbound queue in the build, a remote recipient is refused after AUTH too.
    let mut d = tls_session(false);
    d.send(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0pw")).as_bytes());
    answer(&mut d, AuthOutcome::Ok);
    d.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<friend@elsewhere.example>\r\n");
    assert!(d.text().ends_with("550 5.7.1 Outbound mail is not available on this server\r\n"), "{}", d.text());
}

#[test]
fn secrets_never_print() {
    let e = Event::CheckCredentials { user: "alice".into(), pass: Secret::from("hunter2") };
    assert!(!format!("{e:?}").contains("hunter2"));
}

/// Sends one message after AUTH and returns the body as the driver sees it.
fn submitted(message: &[u8]) -> String {
    let mut d = tls_session(false);
    d.send(format!("AUTH PLAIN {}\r\n", b64(b"\0alice\0pw")).as_bytes());
    answer(&mut d, AuthOutcome::Ok);
    d.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    d.send(message);
    assert!(d.text().contains("250 2.0.0"), "{}", d.text());
    String::from_utf8_lossy(&d.body).into_owned()
}

#[test]
fn rfc6409_date_and_message_id_fixups_at_the_end_of_the_header() {
    let body = submitted(b"From: alice@example.org\r\nSubject: hi\r\n\r\nDate: in the body\r\n.\r\n");
    assert_eq!(body, "From: alice@example.org\r\nSubject: hi\r\n<fix date=true id=true>\r\nDate: in the body\r\n");
    let body = submitted(b"DATE: Fri, 4 Dec 2026 01:00:00 +0000\r\nSubject: hi\r\n\r\nx\r\n.\r\n");
    assert!(body.contains("Subject: hi\r\n<fix date=false id=true>\r\nx"), "{body}");
    let body = submitted(b"Date: x\r\nmessage-id: <a@b>\r\n\r\nx\r\n.\r\n");
    assert!(!body.contains("<fix"), "{body}");
    // Headers only, no empty line: the fields go at the end.
    let body = submitted(b"Subject: only a header\r\n.\r\n");
    assert_eq!(body, "Subject: only a header\r\n<fix date=true id=true>");
    // Port 25 never rewrites what it relays into the store.
    let mut mx = Driver::new();
    mx.send(b"EHLO a\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    mx.send(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    assert!(!String::from_utf8_lossy(&mx.body).contains("<fix"));
}

#[test]
fn received_says_esmtpsa_and_can_leave_the_client_address_out() {
    let env = Envelope {
        mail_from: "alice@example.org".into(),
        rcpts: vec![Recipient { address: "bob@elsewhere.example".into(), tag: None, remote: true }],
        helo: "[192.168.1.20]".into(),
        esmtp: true,
        size_hint: None,
        smtputf8: false,
        body_8bit: false,
        auth_user: Some("alice".into()),
    };
    let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), is_tls: true };
    let tls = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into() };
    let shown = String::from_utf8(trace::trace_headers(&submission(true), &peer, Some(&tls), &env, 0)).unwrap();
    assert!(
        shown.contains("Received: from [192.168.1.20] ([198.51.100.9])\r\n\tby mx.example.org with ESMTPSA (TLSv1.3"),
        "{shown}"
    );
    let hidden = Policy { hide_client_ip: true, ..submission(true) };
    let text = String::from_utf8(trace::trace_headers(&hidden, &peer, Some(&tls), &env, 0)).unwrap();
    assert!(
        text.starts_with("Return-Path: <alice@example.org>\r\nReceived: by mx.example.org with ESMTPSA (TLSv1.3"),
        "{text}"
    );
    assert!(!text.contains("198.51.100.9") && !text.contains("192.168.1.20"), "{text}");
    // Mail from the internet keeps its trace whatever the setting.
    let inbound = Envelope { auth_user: None, ..env };
    let text = String::from_utf8(trace::trace_headers(&hidden, &peer, None, &inbound, 0)).unwrap();
    assert!(text.contains("([198.51.100.9])") && text.contains("with ESMTP\r\n"), "{text}");
}
