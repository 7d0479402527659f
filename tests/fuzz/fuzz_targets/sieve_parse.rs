//! Fuzz target: the Sieve parser (issue 16). Any bytes parse to a script or an error with a
//! line number within the script, never a panic or a stack overflow (nesting is bounded).
#![no_main]
use letterbox::sieve::{parse, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse(data, &Limits::default()) {
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        assert!(e.line <= lines, "error line {} past the script's {lines} lines", e.line);
    }
});
