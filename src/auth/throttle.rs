//! Brute-force throttling (BAD-INPUTS 44), sans-IO: time is the caller's `now_ms`. Each
//! failed login from an address makes the next attempt wait 2 s, doubling to 15 s; after
//! `lockout_after` failures the address is locked out for 15 minutes. Success forgets the
//! address. The table is bounded: when full, the oldest record is evicted, so a flood of
//! addresses costs at most `THROTTLE_TABLE_MAX` records. IPv6 addresses are keyed by their
//! /64 prefix, since one subscriber usually owns a whole /64 (RFC 6177).

use std::net::IpAddr;

/// Wait imposed after the first failure.
pub const BASE_DELAY_MS: u64 = 2_000;
/// Cap of the doubling wait.
pub const MAX_DELAY_MS: u64 = 15_000;
/// Lockout after `lockout_after` failures; also how long a failure is remembered.
pub const LOCKOUT_MS: u64 = 15 * 60 * 1_000;
/// Records kept: ~40 bytes each, so 40 KB at most, enough for any real attacker set a
/// router sees at once.
pub const THROTTLE_TABLE_MAX: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Record {
    key: IpAddr,
    failures: u32,
    last_failure_ms: u64,
    allowed_at_ms: u64,
}

/// Per-address failure records.
#[derive(Debug, Clone)]
pub struct Throttle {
    records: Vec<Record>,
    lockout_after: u32,
}

impl Throttle {
    /// `lockout_after` is config `auth_failures_lockout` (0 disables the lockout, not the delay).
    pub fn new(lockout_after: u32) -> Throttle {
        Throttle { records: Vec::new(), lockout_after }
    }

    /// `Ok` if `ip` may try a login now, else `Err(ms)` to wait before the next attempt.
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Result<(), u64> {
        match self.find(key(ip)) {
            Some(r) if now_ms < r.allowed_at_ms => Err(r.allowed_at_ms - now_ms),
            _ => Ok(()),
        }
    }

    /// Records a failed login from `ip` at `now_ms`.
    pub fn failed(&mut self, ip: IpAddr, now_ms: u64) {
        let key = key(ip);
        let index = match self.records.iter().position(|r| r.key == key) {
            Some(i) => i,
            None => self.insert(key, now_ms),
        };
        let lockout_after = self.lockout_after;
        if let Some(r) = self.records.get_mut(index) {
            if now_ms.saturating_sub(r.last_failure_ms) >= LOCKOUT_MS {
                r.failures = 0; // An old failure streak is forgiven.
            }
            r.failures = r.failures.saturating_add(1);
            r.last_failure_ms = now_ms;
            r.allowed_at_ms = now_ms.saturating_add(delay_ms(r.failures, lockout_after));
        }
    }

    /// Forgets `ip` after a successful login.
    pub fn succeeded(&mut self, ip: IpAddr) {
        let key = key(ip);
        self.records.retain(|r| r.key != key);
    }

    /// Number of addresses with a record (for tests and status output).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn find(&self, key: IpAddr) -> Option<&Record> {
        self.records.iter().find(|r| r.key == key)
    }

    /// Adds a fresh record, evicting the one with the oldest failure when full.
    fn insert(&mut self, key: IpAddr, now_ms: u64) -> usize {
        let fresh = Record { key, failures: 0, last_failure_ms: now_ms, allowed_at_ms: 0 };
        if self.records.len() < THROTTLE_TABLE_MAX {
            self.records.push(fresh);
            return self.records.len() - 1;
        }
        let oldest =
            (0..self.records.len()).min_by_key(|&i| self.records.get(i).map_or(0, |r| r.last_failure_ms)).unwrap_or(0);
        if let Some(slot) = self.records.get_mut(oldest) {
            *slot = fresh;
        }
        oldest
    }
}

/// 2 s, 4 s, 8 s, 15 s, 15 s, … and the lockout once `failures` reaches `lockout_after`.
fn delay_ms(failures: u32, lockout_after: u32) -> u64 {
    if lockout_after != 0 && failures >= lockout_after {
        return LOCKOUT_MS;
    }
    let doublings = failures.saturating_sub(1).min(4);
    (BASE_DELAY_MS << doublings).min(MAX_DELAY_MS)
}

/// IPv4 as is; IPv6 reduced to its /64 prefix (an IPv4-mapped address counts as IPv4).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// BAD-INPUTS 44: per-IP delay 2 s doubling to 15 s, lockout after N, success resets.
    #[test]
    fn bad_input_44_brute_force_delay_doubles_to_15s() {
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let mut t = Throttle::new(10);
        let mut now = 1_000;
        assert_eq!(t.check(a, now), Ok(()));
        for expected in [2_000, 4_000, 8_000, 15_000, 15_000, 15_000, 15_000, 15_000, 15_000] {
            t.failed(a, now);
            assert_eq!(t.check(a, now), Err(expected));
            assert_eq!(t.check(a, now + expected - 1), Err(1));
            assert_eq!(t.check(b, now), Ok(()), "other addresses unaffected");
            now += expected;
            assert_eq!(t.check(a, now), Ok(()));
        }
        t.failed(a, now); // Tenth failure: locked out.
        assert_eq!(t.check(a, now), Err(LOCKOUT_MS));
        assert!(t.check(a, now + LOCKOUT_MS - 1).is_err());
        assert_eq!(t.check(a, now + LOCKOUT_MS), Ok(()));
        t.succeeded(a);
        t.failed(a, now + LOCKOUT_MS);
        assert_eq!(t.check(a, now + LOCKOUT_MS), Err(BASE_DELAY_MS), "success reset the streak");
    }

    #[test]
    fn old_streak_is_forgiven() {
        let a = ip("192.0.2.1");
        let mut t = Throttle::new(10);
        for i in 0..5 {
            t.failed(a, i * 20_000);
        }
        t.failed(a, 100_000 + LOCKOUT_MS);
        assert_eq!(t.check(a, 100_000 + LOCKOUT_MS), Err(BASE_DELAY_MS));
    }

    #[test]
    fn ipv6_keyed_by_slash_64_and_mapped_v4_by_v4() {
        let mut t = Throttle::new(10);
        t.failed(ip("2001:db8:1:2::1"), 0);
        assert!(t.check(ip("2001:db8:1:2:ffff::9"), 0).is_err());
        assert_eq!(t.check(ip("2001:db8:1:3::1"), 0), Ok(()));
        t.failed(ip("::ffff:192.0.2.9"), 0);
        assert!(t.check(ip("192.0.2.9"), 0).is_err());
    }

    #[test]
    fn table_is_bounded_and_evicts_oldest() {
        let mut t = Throttle::new(10);
        for i in 0..(THROTTLE_TABLE_MAX as u32 + 500) {
            t.failed(IpAddr::V4(i.into()), u64::from(i));
        }
        assert_eq!(t.len(), THROTTLE_TABLE_MAX);
        assert_eq!(t.check(IpAddr::V4(0.into()), 600), Ok(()), "oldest evicted");
        let newest = IpAddr::V4((THROTTLE_TABLE_MAX as u32 + 499).into());
        assert!(t.check(newest, 1_600).is_err());
    }

    #[test]
    fn lockout_zero_means_delay_only() {
        let a = ip("192.0.2.1");
        let mut t = Throttle::new(0);
        for i in 0..50 {
            t.failed(a, i * 15_000);
        }
        assert_eq!(t.check(a, 49 * 15_000), Err(MAX_DELAY_MS));
    }
}
