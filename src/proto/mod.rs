//! Sans-IO protocol cores: SMTP (RFC 5321), POP3 (RFC 1939), IMAP (RFC 3501/9051).
//! Each core consumes bytes and the current time and produces replies and store actions;
//! none of them opens a socket, a file or reads a clock.
pub mod imap;
pub mod line;
pub mod pop3;
pub mod smtp;
