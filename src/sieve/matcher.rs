//! Match types and comparators: `:is`, `:contains`, `:matches` (RFC 5228 §2.7.1), the
//! relational `:count`/`:value` (RFC 5231 §4-§5), comparators `i;octet`,
//! `i;ascii-casemap` (RFC 4790 §9.2-§9.3) and `i;ascii-numeric` (RFC 4790 §9.1).
//!
//! `:matches` never backtracks. The pattern is cut at its `*`s into segments (literals and
//! `?`). The first segment must match at the start, the last at the end, and every middle
//! segment is placed at its leftmost match after the previous one: for glob patterns this
//! greedy placement is exact (a later placement can only leave less room for what follows).
//! A segment without `?` is found with KMP (linear); one with `?` by a direct scan,
//! O(value × segment). So the whole match is O(value + pattern) for `?`-free segments and
//! at worst O(value × pattern), with both bounded by the string limits. Leftmost placement
//! is also what RFC 5229 §3.2 wants for match variables: each `*` takes the shortest text
//! that lets the rest match, except the last, which takes what the end leaves.

use super::parser::Node;

/// RFC 4790 comparators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

/// RFC 5231 relational operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

/// RFC 5228 §2.7.1 and RFC 5231 match types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
    Count(Rel),
    Value(Rel),
}

/// Match type and comparator of a test (defaults: `:is`, `i;ascii-casemap`, §2.7.3).
pub fn of(n: &Node) -> (MatchType, Comparator) {
    let rel = |tag: &str| n.tag(tag).map(|a| relation(&a.string()));
    let mt = if n.has(":contains") {
        MatchType::Contains
    } else if n.has(":matches") {
        MatchType::Matches
    } else if let Some(r) = rel(":count") {
        MatchType::Count(r)
    } else if let Some(r) = rel(":value") {
        MatchType::Value(r)
    } else {
        MatchType::Is
    };
    let cmp = match n.tag(":comparator").map(|a| a.string().to_ascii_lowercase()).as_deref() {
        Some("i;octet") => Comparator::Octet,
        Some("i;ascii-numeric") => Comparator::AsciiNumeric,
        _ => Comparator::AsciiCasemap,
    };
    (mt, cmp)
}

fn relation(s: &str) -> Rel {
    match s.to_ascii_lowercase().as_str() {
        "gt" => Rel::Gt,
        "ge" => Rel::Ge,
        "lt" => Rel::Lt,
        "le" => Rel::Le,
        "ne" => Rel::Ne,
        _ => Rel::Eq,
    }
}

/// Evaluates the match over all values and keys (§2.7: true when any value matches any key).
/// `groups` receives `${0}`.. of the first `:matches` hit; `work` counts the work done.
pub fn test(
    mt: MatchType,
    cmp: Comparator,
    values: &[String],
    keys: &[String],
    groups: &mut Vec<String>,
    work: &mut u64,
) -> bool {
    if let MatchType::Count(rel) = mt {
        let count = values.len().to_string();
        return keys.iter().any(|k| holds(rel, order(cmp, &count, k)));
    }
    for v in values {
        for k in keys {
            *work += 1 + ((v.len() + k.len()) / 64) as u64;
            let hit = match mt {
                MatchType::Is => order(cmp, v, k) == std::cmp::Ordering::Equal,
                MatchType::Contains => fold(cmp, v).contains(&fold(cmp, k)),
                MatchType::Value(rel) => holds(rel, order(cmp, v, k)),
                MatchType::Matches => match glob(k, v, cmp == Comparator::AsciiCasemap) {
                    Some(caps) => {
                        *groups = std::iter::once(v.clone()).chain(caps).take(GROUPS_MAX).collect();
                        true
                    }
                    None => false,
                },
                MatchType::Count(_) => false,
            };
            if hit {
                return true;
            }
        }
    }
    false
}

/// RFC 5229 §3.2: match variables `${0}`..`${9}` must be supported; we keep exactly those.
pub const GROUPS_MAX: usize = 10;

fn holds(rel: Rel, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match rel {
        Rel::Gt => o == Greater,
        Rel::Ge => o != Less,
        Rel::Lt => o == Less,
        Rel::Le => o != Greater,
        Rel::Eq => o == Equal,
        Rel::Ne => o != Equal,
    }
}

fn fold(cmp: Comparator, s: &str) -> String {
    match cmp {
        Comparator::AsciiCasemap => s.to_ascii_lowercase(),
        _ => s.to_owned(),
    }
}

/// The comparator's ordering (RFC 4790 §9).
pub fn order(cmp: Comparator, a: &str, b: &str) -> std::cmp::Ordering {
    match cmp {
        Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
        Comparator::AsciiCasemap => {
            a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        }
        Comparator::AsciiNumeric => numeric(a).cmp(&numeric(b)),
    }
}

/// RFC 4790 §9.1: the leading digits as a number; no digits is "positive infinity".
/// Compared as (is infinite, digit count, digits) so any length of number works.
fn numeric(s: &str) -> (bool, usize, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let d = s.get(..digits).unwrap_or("").trim_start_matches('0');
    (digits == 0, d.len(), d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    Lit(char),
    Any,
}

/// `:matches`: `Some(captures)` (one per `*` and `?`, in pattern order) when `value` matches.
pub fn glob(pattern: &str, value: &str, casefold: bool) -> Option<Vec<String>> {
    let f = |c: char| if casefold { c.to_ascii_lowercase() } else { c };
    let segs = segments(pattern, f);
    let v: Vec<char> = value.chars().map(f).collect();
    let orig: Vec<char> = value.chars().collect();
    let (first, rest) = segs.split_first()?;
    let Some((last, middle)) = rest.split_last() else {
        return (first.len() == v.len() && seg_at(first, &v, 0)).then(|| any_caps(first, &orig, 0));
    };
    let tail_at = v.len().checked_sub(last.len())?;
    if first.len() > tail_at || !seg_at(first, &v, 0) || !seg_at(last, &v, tail_at) {
        return None;
    }
    let mut caps = any_caps(first, &orig, 0);
    let mut pos = first.len();
    for seg in middle {
        let found = find(seg, v.get(..tail_at)?, pos)?;
        caps.push(orig.get(pos..found)?.iter().collect());
        caps.extend(any_caps(seg, &orig, found));
        pos = found + seg.len();
    }
    caps.push(orig.get(pos..tail_at)?.iter().collect());
    caps.extend(any_caps(last, &orig, tail_at));
    Some(caps)
}

/// Splits the pattern at unescaped `*`; `\` escapes the next character (§2.7.1).
fn segments(pattern: &str, f: impl Fn(char) -> char) -> Vec<Vec<P>> {
    let mut segs = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let tok = match c {
            '*' => {
                segs.push(Vec::new());
                continue;
            }
            '?' => P::Any,
            '\\' => P::Lit(f(chars.next().unwrap_or('\\'))),
            c => P::Lit(f(c)),
        };
        if let Some(s) = segs.last_mut() {
            s.push(tok);
        }
    }
    segs
}

fn seg_at(seg: &[P], v: &[char], at: usize) -> bool {
    seg.iter().enumerate().all(|(i, p)| match (p, v.get(at + i)) {
        (P::Any, Some(_)) => true,
        (P::Lit(c), Some(d)) => c == d,
        _ => false,
    })
}

fn any_caps(seg: &[P], orig: &[char], at: usize) -> Vec<String> {
    seg.iter()
        .enumerate()
        .filter(|(_, p)| **p == P::Any)
        .filter_map(|(i, _)| orig.get(at + i).map(|c| c.to_string()))
        .collect()
}

/// Leftmost position at or after `from` where `seg` matches inside `v`.
fn find(seg: &[P], v: &[char], from: usize) -> Option<usize> {
    if seg.contains(&P::Any) {
        return (from..=v.len().checked_sub(seg.len())?).find(|&at| seg_at(seg, v, at));
    }
    let lits: Vec<char> = seg.iter().filter_map(|p| if let P::Lit(c) = p { Some(*c) } else { None }).collect();
    kmp(&lits, v.get(from..)?).map(|i| i + from)
}

/// Knuth-Morris-Pratt: linear in `hay` + `needle`.
fn kmp(needle: &[char], hay: &[char]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle.get(i) != needle.get(k) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if needle.get(i) == needle.get(k) {
            k += 1;
        }
        if let Some(f) = fail.get_mut(i) {
            *f = k;
        }
    }
    let mut k = 0;
    for (i, c) in hay.iter().enumerate() {
        while k > 0 && needle.get(k) != Some(c) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if needle.get(k) == Some(c) {
            k += 1;
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}
