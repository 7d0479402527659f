//! ACME (RFC 8555) certificates for the mail host (issue 18), sans-IO: a bounded JSON reader
//! ([`json`]), the account key and JWS signing ([`jws`]), the HTTP/1.1 client framing
//! ([`http`]), the order as a state machine ([`flow`]), and the certificate work around it
//! ([`cert`]: key and CSR, the RFC 8737 TLS-ALPN-01 certificate, validity and renewal time).
//! The driver that talks to the CA, answers challenges and installs the result is
//! `net::acme`.

pub mod cert;
pub mod flow;
pub mod http;
pub mod json;
pub mod jws;
