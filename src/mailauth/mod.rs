//! Mail authentication (DESIGN.md §5): DKIM canonicalization (RFC 6376 §3.4), shared by the
//! signer and the verifier; DKIM signing and its keys (RFC 6376 §5, RFC 8463) behind the
//! `outbound` feature. SPF, DKIM verification and DMARC join here (issue 15).
//!
//! `canon` is compiled in every build: it is pure code that the inbound verifier needs too,
//! and a build that uses none of it pays nothing (the linker drops it).

pub mod canon;
#[cfg(feature = "outbound")]
pub mod dkim_sign;
#[cfg(feature = "outbound")]
pub mod keys;
