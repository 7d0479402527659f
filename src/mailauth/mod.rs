//! Message authentication: SPF (RFC 7208, `spf`), DMARC (RFC 7489, `dmarc`, with the
//! organizational domain from the DNS tree walk of the DMARC revision), DNSBL lookups (RFC
//! 5782, `dnsbl`); DKIM verification (RFC 6376, RFC 8463) joins them. Every check is an
//! evaluation over the message, the envelope and a [`crate::dns::Resolver`], so tests feed
//! zone data and the receiver feeds the stub resolver. `greylist` (RFC 6647) defers
//! first-time (client network, sender, recipient) triplets; its table is bounded and saved
//! to one file by the caller, with the time given as an input. `results` builds the
//! `Authentication-Results:` field (RFC 8601) and removes forged ones.
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
#[cfg(feature = "checks")]
pub mod dmarc;
#[cfg(feature = "checks")]
pub mod dnsbl;
#[cfg(feature = "checks")]
pub mod greylist;
#[cfg(feature = "outbound")]
pub mod keys;
#[cfg(feature = "checks")]
pub mod results;
#[cfg(feature = "checks")]
pub mod spf;
