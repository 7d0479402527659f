//! Base64 with the standard alphabet (RFC 4648 §4), hand-written to avoid a crate: encoding
//! with or without `=` padding, strict canonical decoding (padding optional, no whitespace,
//! non-zero trailing bits rejected, RFC 4648 §3.5).

/// The RFC 4648 §4 alphabet; indexed only with a value masked to 6 bits.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Input was not canonical base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Error;

/// Encodes `data`; `pad` adds the `=` padding required by SASL (RFC 4422 §4) and omitted by
/// PHC hash strings.
pub fn encode(data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let acc = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..=chunk.len() {
            // Masked to 6 bits, so the index is always within the 64-entry alphabet.
            out.push(char::from(ALPHABET[(acc >> (18 - 6 * i) & 63) as usize]));
        }
        if pad {
            (chunk.len()..3).for_each(|_| out.push('='));
        }
    }
    out
}

/// Decodes padded or unpadded base64; anything outside the alphabet is an error.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let body = strip_padding(text)?;
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | value(c).ok_or(Base64Error)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 if acc & 0x3 == 0 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
            2 if acc & 0xf == 0 => out.push((acc >> 4) as u8),
            _ => return Err(Base64Error),
        }
    }
    Ok(out)
}

/// Removes up to two `=`; padded input must be a whole number of quanta (RFC 4648 §3.2).
fn strip_padding(text: &[u8]) -> Result<&[u8], Base64Error> {
    let pads = text.iter().rev().take_while(|&&c| c == b'=').count();
    if pads == 0 {
        return Ok(text);
    }
    if pads > 2 || !text.len().is_multiple_of(4) {
        return Err(Base64Error);
    }
    text.get(..text.len() - pads).ok_or(Base64Error)
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_test_vectors_round_trip() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes(), true), coded);
            assert_eq!(decode(coded.as_bytes()).unwrap(), plain.as_bytes());
            let bare = coded.trim_end_matches('=');
            assert_eq!(encode(plain.as_bytes(), false), bare);
            assert_eq!(decode(bare.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn rejects_non_canonical_input() {
        for bad in ["Zg=", "Z", "Zh==", "Zm9v\r\n", "Zm 9v", "====", "Zg===", "Zm9=v", "Zm9vYg=", "-_"] {
            assert_eq!(decode(bad.as_bytes()), Err(Base64Error), "{bad:?}");
        }
    }
}
