//! Sieve mail filtering, sans-IO core (issue 16): the language of RFC 5228 and the
//! extensions of [`CAPABILITIES`] — fileinto, copy (RFC 3894), imap4flags (RFC 5232),
//! subaddress (RFC 5233), body (RFC 5173), variables (RFC 5229), relational (RFC 5231),
//! reject/ereject (RFC 5429), vacation (RFC 5230, RFC 6131 seconds), envelope, date
//! (RFC 5260), mailbox (RFC 5490) and encoded-character (RFC 5228 §2.4.2.4).
//!
//! [`parse`] turns script bytes into a validated [`Script`] (errors carry a line number);
//! [`run`] evaluates it over a [`MessageView`] and an [`Envelope`] and returns the
//! [`Outcome`]: actions for the delivery step to perform. Nothing here does I/O; every
//! resource a script can consume is bounded by a field of [`Limits`], and a run that
//! exceeds one ends in an implicit keep with the error (RFC 5228 §2.10.6).

mod interp;
mod lexer;
mod matcher;
mod message;
mod parser;
mod strings;
mod vacation;
mod validate;

pub use interp::{run, Action, Outcome, Vacation, REDIRECTED_FROM};
pub use matcher::glob;
pub use message::{decode_words, BodyPart, Envelope, MessageView, BODY_BYTES_MAX};
pub use parser::{parse, Arg, Node, Script};
pub use vacation::vacation_allowed;

/// Capabilities a script may `require` (RFC names).
pub const CAPABILITIES: [&str; 16] = [
    "fileinto",
    "copy",
    "imap4flags",
    "subaddress",
    "body",
    "variables",
    "relational",
    "comparator-i;ascii-numeric",
    "reject",
    "ereject",
    "vacation",
    "vacation-seconds",
    "envelope",
    "date",
    "mailbox",
    "encoded-character",
];

/// Checks a script the owner uploads (ManageSieve PUTSCRIPT/CHECKSCRIPT, `letterbox sieve`):
/// it must compile, and `redirect` and `vacation` need the outbound queue, so a build
/// without it (feature `outbound`) refuses them here with the line, not at delivery.
pub fn check_upload(script: &[u8], limits: &Limits) -> Result<Script, Error> {
    let s = parse(script, limits)?;
    if !cfg!(feature = "outbound") {
        if let Some(n) = find_command(&s.commands, &["redirect", "vacation"]) {
            let message = format!("{} needs the outbound queue, which this build leaves out", n.name);
            return Err(Error { line: n.line, message });
        }
    }
    Ok(s)
}

fn find_command<'a>(nodes: &'a [Node], names: &[&str]) -> Option<&'a Node> {
    nodes.iter().find_map(|n| if names.contains(&n.name.as_str()) { Some(n) } else { find_command(&n.block, names) })
}

/// A compile error: the line (1-based; 0 for the whole script) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What one script may cost; every field is a bound on an attacker- or owner-made input.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Script source size: a hand-written rule set is a few KiB; this bounds parse time and AST RAM.
    pub script_bytes_max: usize,
    /// Block and test nesting: bounds the recursion of parser, validator and interpreter (stack).
    pub nesting_max: usize,
    /// Strings in one command's arguments: bounds one test's match work.
    pub list_items_max: usize,
    /// Actions per message (Pigeonhole's default too): bounds the work the delivery step does.
    pub actions_max: usize,
    /// Redirects per message (Pigeonhole's default): one message cannot become a mail flood.
    pub redirects_max: usize,
    /// A string after variable expansion: bounds RAM per value and match time.
    pub string_bytes_max: usize,
    /// One variable's value (RFC 5229 §4: an implementation may truncate).
    pub variable_bytes_max: usize,
    /// Named variables per run: bounds the variable table.
    pub variables_max: usize,
    /// IMAP flags in one flag list: bounds the flag variable.
    pub flags_max: usize,
    /// Interpreter steps (commands, tests and match work in 64-byte units): a CPU budget per message.
    pub steps_max: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            script_bytes_max: 64 * 1024,
            nesting_max: 32,
            list_items_max: 1024,
            actions_max: 32,
            redirects_max: 4,
            string_bytes_max: 4096,
            variable_bytes_max: 4096,
            variables_max: 128,
            flags_max: 64,
            steps_max: 200_000,
        }
    }
}

#[cfg(test)]
mod tests_lex_parse;
#[cfg(test)]
mod tests_run;
