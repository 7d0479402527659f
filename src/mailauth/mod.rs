//! Message authentication: SPF (RFC 7208) now; DKIM (RFC 6376, RFC 8463) and DMARC
//! (RFC 7489) join it. Every check is an evaluation over the message, the envelope and a
//! [`crate::dns::Resolver`], so tests feed zone data and the receiver feeds the stub resolver.

#[cfg(feature = "checks")]
pub mod spf;
