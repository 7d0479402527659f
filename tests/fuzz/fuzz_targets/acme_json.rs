//! Fuzz target: what the ACME client reads from a CA (issue 18). Any bytes are a JSON value
//! or an error within `DOC_MAX`/`DEPTH_MAX`/`NODES_MAX`, never a panic; as an HTTP response
//! they parse the same fed in two pieces as at once, the body within `BODY_MAX`; and as the
//! answer to each step of an order they move the state machine on or fail it, never panic.
#![no_main]
use letterbox::acme::flow::{Flow, Params, Step};
use letterbox::acme::http::{self, ResponseReader, BODY_MAX};
use letterbox::acme::json;
use letterbox::acme::jws::AccountKey;
use letterbox::config::AcmeChallenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let _ = json::parse(rest);
    let whole = http::parse(rest, true);
    if let Ok(Some(r)) = &whole {
        assert!(r.body.len() <= BODY_MAX);
    }
    let at = usize::from(split).min(rest.len());
    let mut reader = ResponseReader::default();
    let fed = match reader.feed(&rest[..at]) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => match reader.feed(&rest[at..]) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => reader.finish(),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let (Ok(a), Ok(Some(b))) = (&fed, &whole) {
        // A response complete before the close may be read sooner; it is the same one.
        assert_eq!((a.status, &a.headers), (b.status, &b.headers));
    }
    // The same bytes as the body of every answer in turn.
    let Some((key, _)) = AccountKey::generate() else { return };
    let params = Params {
        directory: "https://ca/dir".into(),
        contact: None,
        names: vec!["mx.example.org".into()],
        challenge: if split & 1 == 0 { AcmeChallenge::TlsAlpn01 } else { AcmeChallenge::Http01 },
        csr_der: vec![0x30, 0],
        account_known: split & 2 == 0,
    };
    let mut flow = Flow::new(key, params);
    let mut step = flow.start();
    for i in 0..64u16 {
        step = match step {
            Step::Send(_) => {
                let headers = vec![
                    ("replay-nonce".to_owned(), format!("n{i}")),
                    ("location".to_owned(), "https://ca/x".to_owned()),
                ];
                flow.received(Ok(http::Response { status: 200 + (u16::from(split) % 3), headers, body: rest.to_vec() }))
            }
            Step::Publish { .. } | Step::Wait(_) => flow.resume(),
            Step::Issued { .. } | Step::Failed { .. } => break,
        };
    }
});
