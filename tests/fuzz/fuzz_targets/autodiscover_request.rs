//! Fuzz target: the autodiscover request parser (issue 18). Any bytes give an address or an
//! error, never a panic; an address is a trimmed part of the input with one `@`, at most
//! `MAX_ADDRESS` octets, no markup, `&`, quote or whitespace, and only from an input of at
//! most `MAX_REQUEST` bytes without `<!` (no declaration is ever processed).
#![no_main]
use letterbox::web::autodiscover::{email_address, RequestError, MAX_ADDRESS, MAX_REQUEST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match email_address(data) {
        Ok(a) => {
            assert!(data.len() <= MAX_REQUEST && !data.windows(2).any(|w| w == b"<!"));
            assert!(a.len() <= MAX_ADDRESS && a.matches('@').count() == 1);
            assert!(!a.chars().any(|c| c.is_whitespace() || "<>&\"'".contains(c)), "{a:?}");
            let text = std::str::from_utf8(data).expect("an address comes from UTF-8 input");
            assert!(text.contains(a));
        }
        Err(RequestError::TooLarge) => assert!(data.len() > MAX_REQUEST),
        Err(_) => {}
    }
});
