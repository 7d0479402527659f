//! `Secret`: password bytes that never print (house style 5) and are overwritten on drop.
//! Zeroing is best effort without `unsafe`: copies made by earlier reallocations or by the
//! caller are out of reach.

use std::fmt;

/// A password or other credential. Debug and Display print `Secret(***)`.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The raw bytes, for hashing only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret(text.as_bytes().to_vec())
    }
}

/// Clones stay secrets (an SMTP core's event carries one to the driver).
impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret(self.0.clone())
    }
}

/// Equality in time independent of where the bytes differ (tests compare events).
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        // Keeps the optimiser from proving the stores dead and removing them.
        std::hint::black_box(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_password() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?} {s} {s:#?}"), "Secret(***) Secret(***) Secret(***)");
        assert_eq!(s.expose(), b"hunter2");
    }
}
