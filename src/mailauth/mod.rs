//! Message authentication: SPF (RFC 7208) now; DKIM (RFC 6376, RFC 8463) and DMARC
//! (RFC 7489) join it. Every check is an evaluation over the message, the envelope and a
//! [`crate::dns::Resolver`], so tests feed zone data and the receiver feeds the stub resolver.
//!
//! DKIM: `canon` (RFC 6376 §3.4 canonicalization, simple and relaxed, streaming) is compiled
//! in every build, as the signer (`outbound`) and the verifier (`checks`) both use it and a
//! build that uses none of it pays nothing (the linker drops it); `dkim_sign` and `keys`
//! (RFC 6376 §5, RFC 8463) sign outgoing mail; `dkim_verify` (§6, RFC 8301) checks incoming
//! signatures.

pub mod canon;
#[cfg(feature = "outbound")]
pub mod dkim_sign;
#[cfg(feature = "checks")]
pub mod dkim_verify;
#[cfg(feature = "outbound")]
pub mod keys;
#[cfg(feature = "checks")]
pub mod spf;
