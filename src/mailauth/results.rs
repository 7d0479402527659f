//! The `Authentication-Results:` header field (RFC 8601): building ours (§2.2 syntax, §2.7
//! method results for spf, dkim, dmarc, iprev and dnsbl-style policy results) and removing
//! the ones a sender forged with our authserv-id before we add ours (§5: "MUST remove or
//! rename any such header field ... that claims to be from our ADMD").
//!
//! Sans-IO: [`AuthResults`] turns verdicts into one folded field; [`ForgedResultsFilter`]
//! is fed the message as it streams in and passes on every byte except the forged fields
//! of the header section (bounded: one field at a time, at most [`FIELD_HOLD_MAX`]).

/// A header field held while we decide whether it is a forged `Authentication-Results:`.
/// Longer ones are passed on undecided (the authserv-id comes first in the field, §2.2;
/// 8 KiB covers any real one).
pub const FIELD_HOLD_MAX: usize = 8 * 1024;
/// Output lines are folded before this many octets (RFC 5322 §2.1.1 recommends 78).
const FOLD_AT: usize = 78;

/// One `Authentication-Results:` field under construction.
#[derive(Debug, Clone)]
pub struct AuthResults {
    authserv_id: String,
    results: Vec<String>,
}

impl AuthResults {
    /// §2.5: the authserv-id names our ADMD: the server's host name.
    pub fn new(authserv_id: &str) -> Self {
        AuthResults { authserv_id: authserv_id.to_owned(), results: Vec::new() }
    }

    /// Adds `method=result` with an optional `reason` (§2.2) and `ptype.property=value`
    /// pairs (§2.3), e.g. `("header.d", "example.org")`. Values that are not RFC 2045
    /// tokens or addresses are quoted.
    pub fn add(&mut self, method: &str, result: &str, reason: Option<&str>, props: &[(&str, &str)]) {
        let mut r = format!("{method}={result}");
        if let Some(why) = reason {
            r.push_str(" reason=");
            r.push_str(&quoted(why));
        }
        for (k, v) in props {
            r.push(' ');
            r.push_str(k);
            r.push('=');
            r.push_str(&pvalue(v));
        }
        self.results.push(r);
    }

    /// Whether any method was added.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// The whole field with CRLF, folded at `;` and spaces; `none` when nothing was checked
    /// (§2.2: "no-result").
    pub fn field(&self) -> Vec<u8> {
        let mut out = String::from("Authentication-Results: ");
        out.push_str(&self.authserv_id);
        if self.results.is_empty() {
            out.push_str("; none\r\n");
            return out.into_bytes();
        }
        let mut line_len = out.len();
        for r in &self.results {
            out.push(';');
            line_len += 1;
            for word in r.split(' ') {
                if line_len + 1 + word.len() > FOLD_AT {
                    out.push_str("\r\n\t");
                    line_len = 1;
                } else {
                    out.push(' ');
                    line_len += 1;
                }
                out.push_str(word);
                line_len += word.len();
            }
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// RFC 2045 token characters (no tspecials, no space or controls).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

/// §2.2 `pvalue`: a token, `[local-part] "@" domain`, or a quoted-string.
fn pvalue(v: &str) -> String {
    match v.rsplit_once('@') {
        Some((local, domain)) if (local.is_empty() || is_dot_atom(local)) && is_dot_atom(domain) => v.to_owned(),
        _ if is_token(v) => v.to_owned(),
        _ => quoted(v),
    }
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|a| {
            !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
        })
}

/// A quoted-string with `"` and `\` escaped and control characters dropped (a DNS-supplied
/// reason must not break the header).
fn quoted(v: &str) -> String {
    let mut q = String::with_capacity(v.len() + 2);
    q.push('"');
    for c in v.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// Streams a message through, dropping the header section's `Authentication-Results:`
/// fields whose authserv-id is ours (case-insensitive, §5). Everything else, the body
/// included, passes byte for byte, however the input is cut into chunks.
#[derive(Debug)]
pub struct ForgedResultsFilter {
    authserv_id: String,
    /// The current field (first line and continuations) while still in the header.
    held: Vec<u8>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// A field or line outgrew [`FIELD_HOLD_MAX`]: pass the rest of it on undecided.
    passing: bool,
    /// `passing` covers a line whose end has not arrived yet.
    passing_mid_line: bool,
    /// The blank line was seen: pass everything on.
    in_body: bool,
    /// Fields removed so far (for the log).
    pub removed: usize,
}

impl ForgedResultsFilter {
    pub fn new(authserv_id: &str) -> Self {
        ForgedResultsFilter {
            authserv_id: authserv_id.to_ascii_lowercase(),
            held: Vec::new(),
            partial: Vec::new(),
            passing: false,
            passing_mid_line: false,
            in_body: false,
            removed: 0,
        }
    }

    /// Feeds message bytes; appends what is kept to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            if self.in_body {
                out.extend_from_slice(data);
                return;
            }
            let Some(i) = memchr::memchr(b'\n', data) else {
                self.fragment(data, out);
                return;
            };
            let (head, rest) = data.split_at(i + 1);
            data = rest;
            if self.partial.is_empty() {
                self.line(head, out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.line(&line, out);
            }
        }
    }

    /// The message ended: whatever is held goes out.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
        out.append(&mut self.partial);
    }

    /// Bytes of a line whose end is still to come: kept until it ends, or passed on when
    /// the line outgrows the limit.
    fn fragment(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.passing_mid_line {
            out.extend_from_slice(data);
        } else if self.held.len() + self.partial.len() + data.len() > FIELD_HOLD_MAX {
            out.append(&mut self.held);
            out.append(&mut self.partial);
            out.extend_from_slice(data);
            self.passing = true;
            self.passing_mid_line = true;
        } else {
            self.partial.extend_from_slice(data);
        }
    }

    /// One whole line (ending in LF) of the header section.
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if self.passing_mid_line {
            // The end of a line already passed on.
            self.passing_mid_line = false;
            out.extend_from_slice(line);
            return;
        }
        if self.passing && continuation {
            out.extend_from_slice(line);
            return;
        }
        self.passing = false;
        if !continuation {
            self.flush(out);
            if line == b"\r\n" || line == b"\n" {
                out.extend_from_slice(line);
                self.in_body = true;
                return;
            }
        }
        if self.held.len() + line.len() > FIELD_HOLD_MAX {
            out.append(&mut self.held);
            out.extend_from_slice(line);
            self.passing = true;
            return;
        }
        self.held.extend_from_slice(line);
    }

    /// Ends the held field: dropped when it is one of ours, else passed on.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.held.is_empty() {
            return;
        }
        if self.is_forged(&self.held) {
            self.removed += 1;
            self.held.clear();
        } else {
            out.append(&mut self.held);
        }
    }

    fn is_forged(&self, field: &[u8]) -> bool {
        let Some(colon) = memchr::memchr(b':', field) else { return false };
        let name = field.get(..colon).unwrap_or_default();
        if !name.trim_ascii_end().eq_ignore_ascii_case(b"Authentication-Results") {
            return false;
        }
        authserv_id(field.get(colon + 1..).unwrap_or_default())
            .is_some_and(|id| id.eq_ignore_ascii_case(self.authserv_id.as_bytes()))
    }
}

/// §2.2: the authserv-id, after optional CFWS, up to `;`, whitespace or a comment.
fn authserv_id(value: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let mut depth = 0u32;
    while let Some(&b) = value.get(i) {
        match b {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => break,
        }
        i += 1;
    }
    let rest = value.get(i..)?;
    let end = rest.iter().position(|b| matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'(')).unwrap_or(rest.len());
    rest.get(..end).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(msg: &[u8], chunk: usize) -> (Vec<u8>, usize) {
        let mut f = ForgedResultsFilter::new("mx.example.org");
        let mut out = Vec::new();
        for c in msg.chunks(chunk) {
            f.push(c, &mut out);
        }
        f.finish(&mut out);
        (out, f.removed)
    }

    #[test]
    fn forged_results_with_our_id_are_removed_and_nothing_else() {
        let msg = b"Authentication-Results: MX.Example.Org; spf=pass\r\n smtp.mailfrom=evil.test\r\n\
Authentication-Results: other.example; dkim=pass\r\n\
Authentication-Results: (comment) mx.example.org;\r\n\tdmarc=pass\r\n\
Subject: Authentication-Results: mx.example.org; x\r\n\
\r\n\
Authentication-Results: mx.example.org; body stays\r\n";
        let want = b"Authentication-Results: other.example; dkim=pass\r\n\
Subject: Authentication-Results: mx.example.org; x\r\n\
\r\n\
Authentication-Results: mx.example.org; body stays\r\n";
        for chunk in [1, 2, 3, 7, 64, msg.len()] {
            let (out, removed) = filter(msg, chunk);
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(want), "chunk {chunk}");
            assert_eq!(removed, 2);
        }
    }

    #[test]
    fn a_longer_id_with_our_id_as_prefix_is_kept() {
        let msg = b"Authentication-Results: mx.example.org.evil; spf=pass\r\n\r\nb\r\n";
        assert_eq!(filter(msg, 5).0, msg);
    }

    #[test]
    fn an_over_long_field_passes_whole_and_memory_stays_bounded() {
        let mut msg = b"X-Long: ".to_vec();
        for _ in 0..(FIELD_HOLD_MAX / 10 + 50) {
            msg.extend_from_slice(b"123456789\r\n ");
        }
        msg.extend_from_slice(b"end\r\nAuthentication-Results: mx.example.org; spf=pass\r\nSubject: s\r\n\r\nbody\r\n");
        let (out, removed) = filter(&msg, 100);
        let want: Vec<u8> = String::from_utf8_lossy(&msg)
            .replace("Authentication-Results: mx.example.org; spf=pass\r\n", "")
            .into_bytes();
        assert_eq!(out, want);
        assert_eq!(removed, 1);
    }

    #[test]
    fn results_field_is_folded_and_quotes_what_must_be_quoted() {
        let mut ar = AuthResults::new("mx.example.org");
        assert_eq!(ar.field(), b"Authentication-Results: mx.example.org; none\r\n");
        ar.add("spf", "pass", None, &[("smtp.mailfrom", "user@example.com")]);
        ar.add("dkim", "pass", None, &[("header.d", "example.com"), ("header.s", "sel"), ("header.b", "ab/c+d=")]);
        ar.add("dmarc", "fail", Some("p=reject \"x\""), &[("header.from", "example.com")]);
        let f = String::from_utf8(ar.field()).unwrap();
        assert!(f.lines().all(|l| l.len() <= FOLD_AT), "{f}");
        assert!(f.ends_with("\r\n") && !f.contains("\r\n\r\n"));
        // Unfolded (RFC 5322 §2.2.3), the field reads back as the results in order.
        let unfolded = f.replace("\r\n\t", " ");
        assert!(unfolded.starts_with("Authentication-Results: mx.example.org; spf=pass"), "{unfolded}");
        assert!(unfolded.contains("spf=pass smtp.mailfrom=user@example.com;"), "{unfolded}");
        assert!(unfolded.contains("header.b=\"ab/c+d=\""), "{unfolded}");
        assert!(unfolded.contains("reason=\"p=reject \\\"x\\\"\""), "{unfolded}");
    }
}
