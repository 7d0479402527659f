//! Scripted exchanges with a fake CA: the whole order, badNonce retries, a missing account,
//! error documents, garbage answers and endless polling.

use super::*;
use crate::acme::jws::b64url_decode;

const DIR: &str = r#"{"newNonce":"https://ca/nonce","newAccount":"https://ca/acct","newOrder":"https://ca/order"}"#;

fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response, String> {
    let mut h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    h.push(("replay-nonce".into(), format!("n{}", body.len())));
    Ok(Response { status, headers: h, body: body.as_bytes().to_vec() })
}

fn flow(account_known: bool) -> Flow {
    let (key, _) = AccountKey::generate().unwrap();
    Flow::new(
        key,
        Params {
            directory: "https://ca/dir".into(),
            contact: Some("mailto:o@a.b".into()),
            names: vec!["mx.a.b".into()],
            challenge: AcmeChallenge::TlsAlpn01,
            csr_der: vec![0x30, 0],
            account_known,
        },
    )
}

/// The URL and decoded payload of a POST step.
fn post(s: &Step) -> (String, String) {
    let Step::Send(Request { method: "POST", url, body: Some(b) }) = s else { panic!("not a POST: {s:?}") };
    let v = json::parse(b.as_bytes()).unwrap();
    let payload = String::from_utf8(b64url_decode(v.str_of("payload").unwrap()).unwrap()).unwrap();
    (url.clone(), payload)
}

fn get_url(s: &Step) -> String {
    let Step::Send(Request { method: "GET", url, body: None }) = s else { panic!("not a GET: {s:?}") };
    url.clone()
}

/// Runs the flow up to the newOrder POST.
fn to_order(f: &mut Flow) -> Step {
    assert_eq!(get_url(&f.start()), "https://ca/dir");
    let s = f.received(Ok(Response { status: 200, headers: vec![], body: DIR.into() }));
    assert_eq!(get_url(&s), "https://ca/nonce");
    let s = f.received(resp(204, &[], ""));
    let (url, payload) = post(&s);
    assert_eq!(
        (url.as_str(), payload.as_str()),
        ("https://ca/acct", r#"{"termsOfServiceAgreed":true,"contact":["mailto:o@a.b"]}"#)
    );
    f.received(resp(201, &[("location", "https://ca/acct/1")], "{}"))
}

#[test]
fn a_whole_order_from_directory_to_chain() {
    let mut f = flow(false);
    let s = to_order(&mut f);
    assert_eq!(post(&s), ("https://ca/order".into(), r#"{"identifiers":[{"type":"dns","value":"mx.a.b"}]}"#.into()));
    let order = r#"{"status":"pending","authorizations":["https://ca/authz/1"],"finalize":"https://ca/fin"}"#;
    let s = f.received(resp(201, &[("location", "https://ca/o/1")], order));
    assert_eq!(post(&s), ("https://ca/authz/1".into(), String::new()));
    let authz = r#"{"status":"pending","identifier":{"type":"dns","value":"mx.a.b"},"challenges":[
        {"type":"http-01","url":"https://ca/ch/h","token":"tokH"},{"type":"tls-alpn-01","url":"https://ca/ch/t","token":"tokT"}]}"#;
    let s = f.received(resp(200, &[], authz));
    let Step::Publish { kind, name, token, key_authorization } = s else { panic!("{s:?}") };
    assert_eq!((kind, name.as_str(), token.as_str()), (AcmeChallenge::TlsAlpn01, "mx.a.b", "tokT"));
    assert!(key_authorization.starts_with("tokT.") && key_authorization.len() == 5 + 43);
    assert_eq!(post(&f.resume()), ("https://ca/ch/t".into(), "{}".into()));
    assert_eq!(f.received(resp(200, &[], r#"{"status":"processing"}"#)), Step::Wait(POLL_DEFAULT));
    assert_eq!(post(&f.resume()).0, "https://ca/authz/1");
    let s = f.received(resp(200, &[("retry-after", "3")], r#"{"status":"pending"}"#));
    assert_eq!(s, Step::Wait(Duration::from_secs(3)));
    f.resume();
    let s = f.received(resp(200, &[], r#"{"status":"valid"}"#));
    assert_eq!(post(&s), ("https://ca/o/1".into(), String::new()));
    let s = f.received(resp(200, &[], r#"{"status":"ready"}"#));
    assert_eq!(post(&s), ("https://ca/fin".into(), r#"{"csr":"MAA"}"#.into()));
    assert_eq!(
        f.received(resp(200, &[("retry-after", "999")], r#"{"status":"processing"}"#)),
        Step::Wait(RETRY_AFTER_MAX)
    );
    assert_eq!(post(&f.resume()).0, "https://ca/o/1");
    let s = f.received(resp(200, &[], r#"{"status":"valid","certificate":"https://ca/cert/1"}"#));
    assert_eq!(post(&s), ("https://ca/cert/1".into(), String::new()));
    let pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    let s = f.received(resp(200, &[("content-type", "application/pem-certificate-chain")], pem));
    assert_eq!(s, Step::Issued { chain_pem: pem.into(), account: "https://ca/acct/1".into() });
}

#[test]
fn bad_nonce_is_retried_with_the_new_nonce_and_bounded() {
    let mut f = flow(false);
    let s = to_order(&mut f);
    let bad = r#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"}"#;
    let mut last = s;
    for _ in 0..BAD_NONCE_RETRIES {
        let again = f.received(resp(400, &[], bad));
        assert_eq!(post(&again).0, post(&last).0, "the same request again");
        last = again;
    }
    let Step::Failed { reason, .. } = f.received(resp(400, &[], bad)) else { panic!() };
    assert!(reason.contains("badNonce"), "{reason}");
}

#[test]
fn a_known_account_is_looked_up_and_created_when_missing() {
    let mut f = flow(true);
    f.start();
    f.received(Ok(Response { status: 200, headers: vec![], body: DIR.into() }));
    let s = f.received(resp(204, &[], ""));
    assert_eq!(post(&s).1, r#"{"onlyReturnExisting":true}"#);
    let missing = r#"{"type":"urn:ietf:params:acme:error:accountDoesNotExist"}"#;
    let s = f.received(resp(400, &[], missing));
    assert!(post(&s).1.contains("termsOfServiceAgreed"));
}

#[test]
fn errors_and_garbage_fail_the_order() {
    let answers: Vec<Result<Response, String>> = vec![
        Err("connection refused".into()),
        resp(500, &[("retry-after", "120")], "<html>oops</html>"),
        resp(200, &[], "not json at all"),
        resp(200, &[], r#"{"newNonce":"http://plain/n","newAccount":"x","newOrder":"y"}"#),
        resp(429, &[], "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":\"slow\\u0000\\r\\n down\"}"),
    ];
    for a in answers {
        let mut f = flow(false);
        f.start();
        let s = f.received(a.clone());
        let Step::Failed { reason, retry_after } = s else { panic!("{a:?} gave {s:?}") };
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        if a.as_ref().is_ok_and(|r| r.status == 500) {
            assert_eq!(retry_after, Some(Duration::from_secs(120)));
        }
    }
    // An order whose authorization is for a name not asked for, or offers no usable challenge.
    for authz in [
        r#"{"status":"pending","identifier":{"value":"evil.example"},"challenges":[{"type":"tls-alpn-01","url":"https://ca/c","token":"t"}]}"#,
        r#"{"status":"pending","identifier":{"value":"mx.a.b"},"challenges":[{"type":"tls-alpn-01","url":"https://ca/c","token":"../x"}]}"#,
        r#"{"status":"pending","identifier":{"value":"mx.a.b"},"challenges":[{"type":"dns-01","url":"https://ca/c","token":"t"}]}"#,
        r#"{"status":"invalid"}"#,
        r#"[]"#,
    ] {
        let mut f = flow(false);
        to_order(&mut f);
        let order = r#"{"status":"pending","authorizations":["https://ca/authz/1"],"finalize":"https://ca/fin"}"#;
        f.received(resp(201, &[("location", "https://ca/o/1")], order));
        assert!(matches!(f.received(resp(200, &[], authz)), Step::Failed { .. }), "{authz}");
    }
}

#[test]
fn endless_pending_stops_after_polls_max() {
    let mut f = flow(false);
    to_order(&mut f);
    let order = r#"{"status":"pending","authorizations":["https://ca/authz/1"],"finalize":"https://ca/fin"}"#;
    f.received(resp(201, &[("location", "https://ca/o/1")], order));
    let authz = r#"{"status":"pending","identifier":{"value":"mx.a.b"},"challenges":[{"type":"tls-alpn-01","url":"https://ca/c","token":"t"}]}"#;
    f.received(resp(200, &[], authz));
    f.resume();
    f.received(resp(200, &[], "{}"));
    let mut polls = 0;
    loop {
        f.resume();
        match f.received(resp(200, &[], r#"{"status":"pending"}"#)) {
            Step::Wait(_) => polls += 1,
            Step::Failed { .. } => break,
            s => panic!("{s:?}"),
        }
    }
    assert_eq!(polls, POLLS_MAX);
}

/// Bytes that matter to the JSON and HTTP grammars, inserted by the mutations below.
const PIECES: &[u8] = b"{}[]\",:\\u0\r\n";

/// The fuzz target's loop, run here on mutations of real answers (no cargo-fuzz needed):
/// any body at any step moves the flow on or fails it, within a bounded number of steps.
#[test]
fn mutated_answers_never_panic_and_always_end() {
    let seeds: [&[u8]; 4] = [
        DIR.as_bytes(),
        br#"{"status":"pending","authorizations":["https://ca/authz/1"],"finalize":"https://ca/fin"}"#,
        br#"{"status":"pending","identifier":{"type":"dns","value":"mx.a.b"},"challenges":[{"type":"tls-alpn-01","url":"https://ca/c","token":"t"}]}"#,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..400 {
        let mut body = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % body.len().max(1);
            match next() % 3 {
                0 => body.truncate(at),
                1 => body.insert(at, PIECES[(next() as usize) % PIECES.len()]),
                _ => {
                    if let Some(b) = body.get_mut(at) {
                        *b = next() as u8;
                    }
                }
            }
        }
        let _ = json::parse(&body);
        let _ = crate::acme::http::parse(&body, next() % 2 == 0);
        let mut f = flow(round % 2 == 0);
        let mut step = f.start();
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 200, "the flow did not end");
            step = match step {
                Step::Send(_) => f.received(resp(
                    200 + (round % 2) as u16,
                    &[("location", "https://ca/x")],
                    &String::from_utf8_lossy(&body),
                )),
                Step::Publish { .. } | Step::Wait(_) => f.resume(),
                Step::Issued { .. } | Step::Failed { .. } => break,
            };
        }
    }
}
