//! Fuzz target: the DMARC record parser, the From field parser and the evaluation (issue
//! 15). The input (after a first byte, the pct roll) is both the `_dmarc.example.org` TXT
//! record and a From field value. A parsed record keeps pct ≤ 100 and its URI lists bounded;
//! a From domain is a lower-case DNS name without a final dot; a record at the From domain
//! that fails to parse (other than not being DMARC at all) is `permerror` (RFC 7489 §6.6.3
//! step 6, §11.2); only a `fail` carries a disposition.
#![no_main]
use letterbox::dns::{Rdata, Zone};
use letterbox::mailauth::dmarc::{self, DmarcResult, Input, ParseError, Policy, RECORD_MAX, URIS_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&roll, data)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(data);
    let parsed = dmarc::parse_record(&text);
    if let Ok(r) = &parsed {
        assert!(r.pct <= 100 && r.rua.len() <= URIS_MAX && r.ruf.len() <= URIS_MAX && text.len() <= RECORD_MAX);
    }
    if let Ok(d) = dmarc::from_domain(data) {
        assert!(!d.is_empty() && d.len() <= 253 && !d.ends_with('.') && d == d.to_ascii_lowercase(), "{d:?}");
    }
    let mut z = Zone::default();
    z.add("_dmarc.example.org", Rdata::Txt(data.to_vec()));
    let input = Input { from_domain: "example.org", spf_pass_domain: Some("bounce.example.org"), dkim_pass_domains: &[] };
    let v = smol::block_on(dmarc::check(&z, &input, roll % 100));
    assert!(v.result == DmarcResult::Fail || v.disposition == Policy::None);
    if matches!(parsed, Err(ParseError::BadTag | ParseError::NoPolicy | ParseError::TooLong)) {
        assert_eq!(v.result, DmarcResult::PermError);
    }
});
