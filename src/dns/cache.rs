//! Bounded DNS answer cache (RFC 1035 §7.4, RFC 2308 §5 negative caching). Time is an
//! input (milliseconds of any monotonic clock). Entries live for their TTL clamped to
//! [`TTL_MIN_S`]..[`TTL_MAX_S`] (negative answers at most [`NEGATIVE_TTL_MAX_S`]); temporary
//! failures are never cached. The cache holds at most [`ENTRIES_MAX`] answers and
//! [`BYTES_MAX`] bytes of record data: when full, expired entries go first, then the one
//! closest to expiry, so a flood of one-off names (a spammer's random HELOs) cannot grow it.

use std::collections::HashMap;

use super::{DnsError, Rdata, Rtype};

/// Answers kept at most: a day of a home server's mail touches a few hundred names.
pub const ENTRIES_MAX: usize = 512;
/// Record bytes kept at most (TXT records of SPF/DKIM keys are the large ones: ~400 B each).
pub const BYTES_MAX: usize = 256 * 1024;
/// Shortest life of an entry: a zero TTL still saves the second query of one delivery.
pub const TTL_MIN_S: u32 = 5;
/// Longest life: a day, so a changed MX is seen within one (RFC 8767 §4 suggests ≤ 7 days).
pub const TTL_MAX_S: u32 = 86_400;
/// Longest life of NXDOMAIN/NODATA: 15 minutes (RFC 2308 §5 allows 3 h; a new DKIM key or
/// MX should show up soon).
pub const NEGATIVE_TTL_MAX_S: u32 = 900;

struct Entry {
    expires_ms: u64,
    result: Result<Vec<Rdata>, DnsError>,
    bytes: usize,
}

/// See the module docs.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<(String, u16), Entry>,
    bytes: usize,
}

impl Cache {
    /// A live answer for (`name`, `rtype`), if any.
    pub fn get(&self, name: &str, rtype: Rtype, now_ms: u64) -> Option<Result<Vec<Rdata>, DnsError>> {
        let e = self.entries.get(&(name.to_owned(), rtype.code()))?;
        (e.expires_ms > now_ms).then(|| e.result.clone())
    }

    /// Keeps an answer for `ttl` seconds (clamped); temporary failures are not kept.
    pub fn put(&mut self, name: &str, rtype: Rtype, result: &Result<Vec<Rdata>, DnsError>, ttl: u32, now_ms: u64) {
        let negative = match result {
            Err(DnsError::Temporary) => return,
            Err(_) => true,
            Ok(r) => r.is_empty(),
        };
        let max = if negative { NEGATIVE_TTL_MAX_S } else { TTL_MAX_S };
        let life_ms = u64::from(ttl.clamp(TTL_MIN_S, max)) * 1000;
        let bytes = name.len() + result.as_ref().map_or(0, |r| r.iter().map(size_of_rdata).sum());
        if bytes > BYTES_MAX / 8 {
            return; // one answer may not take over the cache
        }
        let k = (name.to_owned(), rtype.code());
        if let Some(old) = self.entries.remove(&k) {
            self.bytes -= old.bytes;
        }
        self.make_room(bytes, now_ms);
        self.bytes += bytes;
        self.entries.insert(k, Entry { expires_ms: now_ms.saturating_add(life_ms), result: result.clone(), bytes });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn make_room(&mut self, bytes: usize, now_ms: u64) {
        if self.entries.len() < ENTRIES_MAX && self.bytes + bytes <= BYTES_MAX {
            return;
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires_ms > now_ms);
        if self.entries.len() != before {
            self.bytes = self.entries.values().map(|e| e.bytes).sum();
        }
        while self.entries.len() >= ENTRIES_MAX || self.bytes + bytes > BYTES_MAX {
            let Some(k) = self.entries.iter().min_by_key(|(_, e)| e.expires_ms).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(e) = self.entries.remove(&k) {
                self.bytes -= e.bytes;
            }
        }
    }
}

/// Heap bytes an answer costs (approximately: the variable parts).
fn size_of_rdata(r: &Rdata) -> usize {
    32 + match r {
        Rdata::Name(n) | Rdata::Mx { exchange: n, .. } => n.len(),
        Rdata::Txt(t) => t.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Vec<Rdata> {
        vec![Rdata::A([192, 0, 2, n].into())]
    }

    #[test]
    fn ttls_are_clamped_and_expire() {
        let mut c = Cache::default();
        c.put("x.example", Rtype::A, &Ok(a(1)), 0, 1000);
        assert_eq!(c.get("x.example", Rtype::A, 5999), Some(Ok(a(1))));
        assert_eq!(c.get("x.example", Rtype::A, 6000), None, "TTL 0 lives TTL_MIN_S");
        c.put("y.example", Rtype::A, &Err(DnsError::NxDomain), 86_400, 0);
        assert!(c.get("y.example", Rtype::A, 899_999).is_some());
        assert!(c.get("y.example", Rtype::A, 900_000).is_none(), "negative answers at most 15 min");
        c.put("z.example", Rtype::A, &Err(DnsError::Temporary), 60, 0);
        assert!(c.get("z.example", Rtype::A, 1).is_none(), "temporary failures are not kept");
        assert!(c.get("x.example", Rtype::Mx, 1001).is_none(), "the type is part of the key");
    }

    #[test]
    fn a_flood_of_names_stays_within_the_limits() {
        let mut c = Cache::default();
        for i in 0..10_000u32 {
            c.put(
                &format!("n{i}.spam.example"),
                Rtype::Txt,
                &Ok(vec![Rdata::Txt(vec![b'v'; 900])]),
                3600,
                u64::from(i),
            );
            assert!(c.len() <= ENTRIES_MAX && c.bytes() <= BYTES_MAX, "{i}: {} {}", c.len(), c.bytes());
        }
        // The newest are kept (the oldest expire first).
        assert!(c.get("n9999.spam.example", Rtype::Txt, 10_000).is_some());
        assert!(c.get("n0.spam.example", Rtype::Txt, 10_000).is_none());
        // An oversized answer is not cached at all.
        c.put("big.example", Rtype::Txt, &Ok(vec![Rdata::Txt(vec![0; BYTES_MAX])]), 60, 0);
        assert!(c.get("big.example", Rtype::Txt, 1).is_none());
    }
}
