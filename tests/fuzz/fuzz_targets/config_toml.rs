//! Fuzz target: the config reader (TOML subset) and its validation; errors, never panics.
#![no_main]
use letterbox::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(std::path::Path::new("/x/letterbox.toml"), text);
    }
});
