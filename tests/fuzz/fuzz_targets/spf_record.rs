//! Fuzz target: the SPF record parser and `check_host()` (issue 15). The input is the TXT
//! record of spf.example, in a zone that also answers its A and MX names and one include
//! target. `parse_record` never panics and its verdict decides the evaluation's: a string
//! that is not `v=spf1` gives `none` (§4.5), one refused or out of the grammar `permerror`
//! (§4.6); every record evaluates without panicking within the §4.6.4 limits.
#![no_main]
use letterbox::dns::{Rdata, Zone};
use letterbox::mailauth::spf::{self, RecordError, Request, SpfResult};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = spf::parse_record(&String::from_utf8_lossy(data));
    let mut z = Zone::default();
    z.add("spf.example", Rdata::Txt(data.to_vec()));
    z.add("spf.example", Rdata::A([192, 0, 2, 1].into()));
    z.add("spf.example", Rdata::Mx { preference: 10, exchange: "mx.spf.example".into() });
    z.add("mx.spf.example", Rdata::A([198, 51, 100, 1].into()));
    z.add("inc.example", Rdata::Txt(b"v=spf1 ip4:192.0.2.0/24 include:spf.example -all".to_vec()));
    let req = Request {
        ip: [192, 0, 2, 1].into(),
        sender: "user@spf.example",
        helo: "helo.example",
        receiver: "mx.example",
        now: 0,
    };
    let v = smol::block_on(spf::check_mail_from(&z, &req));
    match parsed {
        Err(RecordError::NotSpf) => assert_eq!(v.result, SpfResult::None),
        Err(RecordError::Refused | RecordError::Syntax) => assert_eq!(v.result, SpfResult::PermError),
        Ok(_) => {}
    }
    assert_eq!(v.explanation.is_some(), v.result == SpfResult::Fail);
});
