//! letterbox: a single-user mail stack (SMTP in, POP3 and IMAP out) for routers and
//! single-board computers, built around a crash-proof append-only mailbox file.
//!
//! ```text
//!   internet MTA ──SMTP──▶ ┌──────────────── letterbox serve ────────────────┐
//!                          │ net/   smol executor, listeners, TLS, timers     │
//!   phone/laptop ─IMAP───▶ │ proto/ smtp imap pop3: sans-IO state machines     │
//!               ─POP3───▶  │ store/ append-only folder files + index           │
//!                          └──────────────────────────────────────────────────┘
//!   another MTA / cron ──▶ letterbox deliver (stdin → store, same locking rules)
//! ```
//!
//! Protocol cores take bytes and a clock value and return replies and store actions; the
//! `net` layer moves bytes between sockets and cores and performs the store actions.
#![deny(unsafe_code)]

#[cfg(feature = "acme")]
pub mod acme;
pub mod auth;
pub mod charset;
pub mod cli;
pub mod config;
pub mod datetime;
pub mod delivery;
pub mod der;
pub mod dns;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod mailauth;
pub mod mbox;
pub mod mime;
pub mod net;
#[cfg(feature = "outbound")]
pub mod outbound;
pub mod proto;
#[cfg(feature = "sieve")]
pub mod sieve;
pub mod store;
pub mod sys;
pub mod util;
#[cfg(feature = "web")]
pub mod web;
