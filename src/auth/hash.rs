//! Password hashes: PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) in the PHC-like string
//! `$pbkdf2-sha256$i=<iterations>$<b64 salt>$<b64 hash>` (unpadded RFC 4648 §4 base64), and the
//! account [`Verifier`] that spends the same work on a wrong user name as on a wrong password.
//!
//! Iteration count: an optimised PBKDF2-HMAC-SHA256 (Python/OpenSSL) on this machine's x86-64
//! core takes 13 ms for 20 000 iterations (~1.5 M/s); ring in an unoptimised test build takes
//! 51-75 ms (`hash_time_is_in_budget -- --nocapture`). A Pi Zero (ARM1176, 1 GHz, no NEON) is
//! ~15-20x slower than the optimised figure, so 20 000 iterations cost ~0.2-0.26 s there:
//! inside the 0.3 s login budget, and 20 000x the work of one SHA-256 for an offline guesser.
//! Stored hashes carry their own count, so a board can re-hash with more later.

use std::num::NonZeroU32;

use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

use super::{base64, Secret};

/// Default work factor for new hashes (see the module doc for the measurement).
pub const PBKDF2_ITERATIONS: u32 = 20_000;
/// Upper bound accepted from a config file: a typo of extra digits must not make every login
/// take minutes (50x the default).
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// Salt length for new hashes: 128 bits, RFC 8018 §4.1 asks for at least 64.
pub const SALT_LEN: usize = 16;
/// Derived key length: one SHA-256 block, more buys nothing (RFC 8018 §5.2 note on dkLen).
pub const HASH_LEN: usize = 32;
/// Bounds on decoded salt and hash accepted from the config.
const FIELD_MIN: usize = 8;
const FIELD_MAX: usize = 64;
const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const PREFIX: &str = "$pbkdf2-sha256$i=";

/// `password_hash` is not a `$pbkdf2-sha256$i=N$salt$hash` string within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashFormatError;

impl std::fmt::Display for HashFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "password_hash must look like {PREFIX}<iterations>$<salt>$<hash> (see `letterbox passwd`)")
    }
}

impl std::error::Error for HashFormatError {}

/// A parsed, bounded password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Parses `$pbkdf2-sha256$i=<iterations>$<b64 salt>$<b64 hash>`.
    pub fn parse(text: &str) -> Result<PasswordHash, HashFormatError> {
        let rest = text.strip_prefix(PREFIX).ok_or(HashFormatError)?;
        let mut fields = rest.split('$');
        let (Some(iter), Some(salt), Some(hash), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(HashFormatError);
        };
        let iterations = parse_iterations(iter)?;
        let salt = decode_field(salt)?;
        let hash = decode_field(hash)?;
        Ok(PasswordHash { iterations, salt, hash })
    }

    /// Runs PBKDF2 and compares in constant time (ring's `pbkdf2::verify`).
    pub fn verify(&self, password: &Secret) -> bool {
        #[cfg(test)]
        tests::VERIFY_COST.with(|c| c.borrow_mut().push((self.iterations.get(), self.salt.len(), self.hash.len())));
        pbkdf2::verify(ALGORITHM, self.iterations, &self.salt, password.expose(), &self.hash).is_ok()
    }

    /// A hash no password matches, with the same cost as `self` (for unknown users).
    fn dummy(iterations: NonZeroU32) -> PasswordHash {
        PasswordHash { iterations, salt: vec![0; SALT_LEN], hash: vec![0; HASH_LEN] }
    }

    fn encode(&self) -> String {
        let salt = base64::encode(&self.salt, false);
        let hash = base64::encode(&self.hash, false);
        format!("{PREFIX}{}${salt}${hash}", self.iterations)
    }
}

/// Digits only, no sign or leading zero, within 1..=MAX_ITERATIONS.
fn parse_iterations(text: &str) -> Result<NonZeroU32, HashFormatError> {
    if text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HashFormatError);
    }
    let n: u32 = text.parse().map_err(|_| HashFormatError)?;
    if n > MAX_ITERATIONS {
        return Err(HashFormatError);
    }
    NonZeroU32::new(n).ok_or(HashFormatError)
}

fn decode_field(text: &str) -> Result<Vec<u8>, HashFormatError> {
    let bytes = base64::decode(text.as_bytes()).map_err(|_| HashFormatError)?;
    if (FIELD_MIN..=FIELD_MAX).contains(&bytes.len()) {
        Ok(bytes)
    } else {
        Err(HashFormatError)
    }
}

/// Hashes `password` with a fresh random salt, for `letterbox passwd`.
pub fn hash_password(password: &Secret) -> String {
    let mut salt = vec![0u8; SALT_LEN];
    // getrandom(2) fails only on kernels older than 3.17 without /dev/urandom: there is no
    // safe fallback for a salt, and this never runs on network input.
    #[allow(clippy::expect_used)]
    SystemRandom::new().fill(&mut salt).expect("OS random number generator unavailable");
    let iterations = NonZeroU32::MIN.saturating_add(PBKDF2_ITERATIONS - 1);
    let mut hash = vec![0u8; HASH_LEN];
    pbkdf2::derive(ALGORITHM, iterations, &salt, password.expose(), &mut hash);
    PasswordHash { iterations, salt, hash }.encode()
}

/// True if `password` matches the stored `hash`; a malformed hash matches nothing.
pub fn verify_password(password: &Secret, hash: &str) -> bool {
    PasswordHash::parse(hash).is_ok_and(|h| h.verify(password))
}

/// The single account of this server. [`Verifier::check`] always runs one PBKDF2, against a
/// dummy hash of equal cost when the user name is wrong or no password is configured, so the
/// reply and its timing do not reveal which part was wrong (BAD-INPUTS 45).
#[derive(Debug, Clone)]
pub struct Verifier {
    user: String,
    hash: Option<PasswordHash>,
    dummy: PasswordHash,
}

impl Verifier {
    /// `password_hash: None` (not configured) makes every check fail, at full cost.
    pub fn new(user: &str, password_hash: Option<&str>) -> Result<Verifier, HashFormatError> {
        let hash = password_hash.map(PasswordHash::parse).transpose()?;
        let default = NonZeroU32::MIN.saturating_add(PBKDF2_ITERATIONS - 1);
        let iterations = hash.as_ref().map_or(default, |h| h.iterations);
        Ok(Verifier { user: user.to_owned(), hash, dummy: PasswordHash::dummy(iterations) })
    }

    pub fn check(&self, user: &str, password: &Secret) -> bool {
        let user_ok = same_bytes(user.as_bytes(), self.user.as_bytes());
        let target = match (&self.hash, user_ok) {
            (Some(hash), true) => hash,
            _ => &self.dummy,
        };
        let password_ok = target.verify(password);
        user_ok && password_ok && self.hash.is_some()
    }
}

/// Equality without an early exit on the first differing byte.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    thread_local! {
        /// (iterations, salt length, hash length) of each PBKDF2 run on this thread.
        pub(super) static VERIFY_COST: std::cell::RefCell<Vec<(u32, usize, usize)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    use std::time::Instant;

    use super::*;

    #[test]
    fn hash_round_trips_and_rejects_wrong_password() {
        let hash = hash_password(&Secret::from("correct horse"));
        assert!(hash.starts_with("$pbkdf2-sha256$i=20000$"), "{hash}");
        assert!(verify_password(&Secret::from("correct horse"), &hash));
        assert!(!verify_password(&Secret::from("correct hors"), &hash));
        assert_ne!(hash, hash_password(&Secret::from("correct horse")), "salt is random");
    }

    #[test]
    fn known_vector_verifies() {
        // PBKDF2-HMAC-SHA256("password", "salt", 1, 32), RFC 7914 §11 / widely published.
        let salt = base64::encode(b"saltsalt", false);
        let mut dk = [0u8; 32];
        let one = NonZeroU32::MIN;
        pbkdf2::derive(ALGORITHM, one, b"saltsalt", b"password", &mut dk);
        let text = format!("{PREFIX}1${salt}${}", base64::encode(&dk, false));
        assert!(verify_password(&Secret::from("password"), &text));
    }

    #[test]
    fn malformed_hashes_are_rejected() {
        let good = hash_password(&Secret::from("x"));
        let salt_hash = good.trim_start_matches("$pbkdf2-sha256$i=20000$");
        for bad in [
            String::new(),
            "$pbkdf2-sha1$i=1$AAAAAAAAAAA$AAAAAAAAAAA".into(),
            format!("{PREFIX}0${salt_hash}"),
            format!("{PREFIX}01${salt_hash}"),
            format!("{PREFIX}+5${salt_hash}"),
            format!("{PREFIX}99999999999${salt_hash}"),
            format!("{PREFIX}1000001${salt_hash}"),
            format!("{PREFIX}1${salt_hash}$extra"),
            format!("{PREFIX}1$AAAA${}", salt_hash.split('$').nth(1).unwrap_or("")),
            format!("{PREFIX}1$!!!!!!!!!!!!$AAAAAAAAAAA"),
        ] {
            assert_eq!(PasswordHash::parse(&bad), Err(HashFormatError), "{bad}");
            assert!(!verify_password(&Secret::from("x"), &bad));
        }
    }

    #[test]
    fn verifier_checks_user_and_password() {
        let hash = hash_password(&Secret::from("pw"));
        let v = Verifier::new("alice", Some(&hash)).unwrap();
        assert!(v.check("alice", &Secret::from("pw")));
        assert!(!v.check("alice", &Secret::from("pw2")));
        assert!(!v.check("bob", &Secret::from("pw")));
        assert!(!v.check("alic", &Secret::from("pw")));
        let none = Verifier::new("alice", None).unwrap();
        assert!(!none.check("alice", &Secret::from("pw")));
        assert!(Verifier::new("alice", Some("plaintext")).is_err());
    }

    /// A new hash runs the default cost: one PBKDF2 of PBKDF2_ITERATIONS per check. The
    /// wall time it takes here is printed for the module doc (`--nocapture`); the time on
    /// the boards is a benchmark matter (scripts/bench.sh), not a pass/fail timer.
    #[test]
    fn new_hash_costs_the_default_iterations() {
        let hash = hash_password(&Secret::from("pw"));
        VERIFY_COST.with(|c| c.borrow_mut().clear());
        let start = Instant::now();
        assert!(verify_password(&Secret::from("pw"), &hash));
        let took = start.elapsed();
        println!("PBKDF2-HMAC-SHA256 x {PBKDF2_ITERATIONS}: {took:?}");
        let cost = VERIFY_COST.with(|c| c.borrow().clone());
        assert_eq!(cost, vec![(PBKDF2_ITERATIONS, SALT_LEN, HASH_LEN)]);
    }

    /// BAD-INPUTS 45: an unknown user costs the same PBKDF2 as a wrong password.
    #[test]
    /// Equal cost, shown without a clock (timers are flaky on a loaded machine): every check
    /// runs exactly one PBKDF2 of the same iterations, salt and output length, whether the
    /// user, the password or the configuration is what is wrong.
    fn bad_input_45_unknown_user_and_bad_password_same_timing() {
        let hash = hash_password(&Secret::from("pw"));
        let v = Verifier::new("alice", Some(&hash)).unwrap();
        let unset = Verifier::new("alice", None).unwrap();
        let cost = |v: &Verifier, user: &str, pass: &str, ok: bool| {
            VERIFY_COST.with(|c| c.borrow_mut().clear());
            assert_eq!(v.check(user, &Secret::from(pass)), ok, "{user}/{pass}");
            VERIFY_COST.with(|c| c.borrow().clone())
        };
        let right = cost(&v, "alice", "pw", true);
        assert_eq!(right, vec![(PBKDF2_ITERATIONS, SALT_LEN, HASH_LEN)]);
        for (user, pass) in [("mallory", "pw"), ("alice", "nope"), ("alicf", "pw"), ("", ""), ("alice-longer", "pw")] {
            assert_eq!(cost(&v, user, pass, false), right, "{user}/{pass}");
        }
        assert_eq!(cost(&unset, "alice", "pw", false), right, "no password configured");
    }
}
