//! Authentication shared by the POP3 and IMAP listeners: password hashes (PBKDF2-HMAC-SHA256,
//! RFC 8018 §5.2, stored PHC-style), the `Secret` wrapper, per-IP brute-force throttling and
//! SASL PLAIN decoding (RFC 4616) over base64 (RFC 4648 §4).
//!
//! A driver holds one [`Verifier`] (built from the config keys `user` and `password_hash`) and
//! one [`Throttle`] (sized by `auth_failures_lockout`) for the whole process. For each
//! credential check it asks the throttle first, then runs the verifier off the executor (a
//! PBKDF2 run takes up to 0.3 s on a Pi Zero), then reports the result to the throttle:
//!
//! ```
//! use letterbox::auth::{Secret, Throttle, Verifier, hash_password};
//! let ip = "192.0.2.7".parse().unwrap();
//! let hash = hash_password(&Secret::from("hunter2"));
//! let verifier = Verifier::new("alice", Some(&hash)).unwrap();
//! let mut throttle = Throttle::new(10);
//! assert!(throttle.check(ip, 0).is_ok());
//! if verifier.check("alice", &Secret::from("hunter2")) {
//!     throttle.succeeded(ip);
//! } else {
//!     throttle.failed(ip, 0);
//! }
//! ```

pub mod base64;
mod hash;
mod sasl;
mod secret;
mod throttle;

pub use hash::{hash_password, verify_password, HashFormatError, PasswordHash, Verifier};
pub use hash::{HASH_LEN, MAX_ITERATIONS, PBKDF2_ITERATIONS, SALT_LEN};
pub use sasl::{decode_plain, PlainCredentials, SaslError, SASL_BLOB_MAX, SASL_FIELD_MAX};
pub use secret::Secret;
pub use throttle::{Throttle, BASE_DELAY_MS, LOCKOUT_MS, MAX_DELAY_MS, THROTTLE_TABLE_MAX};
