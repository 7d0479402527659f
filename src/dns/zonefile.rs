//! Zone-file text (RFC 1035 §5.1): TXT values as quoted character-strings (§3.3.14). Shared
//! by `letterbox dkim` (`mailauth::keys`) and `letterbox dns` (`web::zone`).

/// RFC 1035 §3.3.14: one TXT character-string holds at most 255 octets.
pub const TXT_STRING_MAX: usize = 255;

/// `value` as quoted character-strings of at most 255 octets each (RFC 1035 §3.3.14,
/// zone-file syntax §5.1; RFC 6376 §3.6.2.2: a verifier joins them without spaces).
pub fn txt_strings(value: &str) -> String {
    let parts: Vec<String> = value
        .as_bytes()
        .chunks(TXT_STRING_MAX)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c).replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_strings_split_at_255() {
        let v = "a".repeat(300);
        let s = txt_strings(&v);
        assert_eq!(s, format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45)));
        assert_eq!(txt_strings("x\"y"), "\"x\\\"y\"");
    }
}
