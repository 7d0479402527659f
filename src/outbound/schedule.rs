//! The retry schedule (sans-IO: time is an input). RFC 5321 §4.5.4.1 asks for at least
//! 30 minutes between tries and 4–5 days before giving up. We follow mox's backoff (tries at
//! 0, 7.5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 16 h after the previous one, then every
//! 16 h) and Postfix's give-up age of 5 days; a delay notice goes out once when a recipient
//! is still pending 4 hours after queueing (Postfix's `delay_warning_time = 4h`).

/// Seconds to wait after the Nth failed attempt (N = 1, 2, …; the last repeats).
pub const BACKOFF: [i64; 8] = [450, 900, 1800, 3600, 7200, 14_400, 28_800, 57_600];
/// Age at which pending recipients fail (Postfix `maximal_queue_lifetime = 5d`).
pub const GIVE_UP_AGE: i64 = 5 * 24 * 3600;
/// Age after which the sender is told once that delivery is delayed.
pub const DELAY_NOTICE_AGE: i64 = 4 * 3600;

/// Soft retry state of one queue record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// When it was queued (the record's date).
    pub queued: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time.
    pub next: i64,
    /// The last temporary reply, for `queue list`.
    pub last_error: String,
}

/// What to do with a record now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try now.
    Due,
    /// Wait until then.
    Wait(i64),
    /// Too old: the pending recipients fail (DSN).
    GiveUp,
}

/// The wait after `attempts` failed attempts.
pub fn backoff(attempts: u32) -> i64 {
    let i = (attempts.max(1) as usize - 1).min(BACKOFF.len() - 1);
    BACKOFF.get(i).copied().unwrap_or(57_600)
}

impl Retry {
    /// A record seen for the first time (just queued, or after a restart: tried at once,
    /// with as many attempts counted as the schedule fits into its age).
    pub fn restored(queued: i64, now: i64) -> Retry {
        let age = now.saturating_sub(queued);
        let (mut attempts, mut t) = (0u32, 0i64);
        while t <= age && attempts < 64 {
            attempts += 1;
            t += backoff(attempts);
        }
        let attempts = if age <= 0 { 0 } else { attempts };
        Retry { queued, attempts, next: now, last_error: String::new() }
    }

    /// Records a failed attempt at `now` with the remote's reply.
    pub fn failed(&mut self, now: i64, reply: &str) {
        self.attempts = self.attempts.saturating_add(1);
        self.next = now + backoff(self.attempts);
        self.last_error = reply.to_owned();
    }

    /// Due, waiting, or past the give-up age.
    pub fn verdict(&self, now: i64) -> Verdict {
        if now.saturating_sub(self.queued) >= GIVE_UP_AGE {
            Verdict::GiveUp
        } else if now >= self.next {
            Verdict::Due
        } else {
            Verdict::Wait(self.next)
        }
    }

    /// `queue flush`: try at once.
    pub fn flush(&mut self, now: i64) {
        self.next = self.next.min(now);
    }
}

/// Whether a record still pending at `now` owes its sender the (single) delay notice.
pub fn wants_delay_notice(queued: i64, now: i64, already_sent: bool) -> bool {
    !already_sent && now.saturating_sub(queued) >= DELAY_NOTICE_AGE && now.saturating_sub(queued) < GIVE_UP_AGE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times of every attempt when each one fails at once (a fake clock).
    fn attempt_times(until: i64) -> Vec<i64> {
        let mut r = Retry::restored(0, 0);
        let (mut now, mut out) = (0, Vec::new());
        loop {
            match r.verdict(now) {
                Verdict::Due => {
                    out.push(now);
                    r.failed(now, "451 4.3.0 later");
                }
                Verdict::Wait(t) => now = t,
                Verdict::GiveUp => return out,
            }
            if now > until {
                return out;
            }
        }
    }

    #[test]
    fn attempts_follow_the_mox_backoff_then_every_16h() {
        let t = attempt_times(GIVE_UP_AGE);
        let minutes: Vec<i64> = t.iter().take(9).map(|s| s / 60).collect();
        // 0, 7.5 min, 22.5, 52.5, 112.5, 232.5 (3 h 52 m), 472.5, 952.5, 1912.5 minutes.
        assert_eq!(minutes, vec![0, 7, 22, 52, 112, 232, 472, 952, 1912]);
        let gaps: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().skip(7).all(|&g| g == 57_600), "{gaps:?}");
        assert!(*t.last().unwrap() < GIVE_UP_AGE);
        assert_eq!(t.len(), 14);
    }

    #[test]
    fn give_up_after_five_days() {
        let mut r = Retry::restored(1000, 1000);
        r.failed(1000 + GIVE_UP_AGE - 10, "451 x");
        assert_eq!(r.verdict(1000 + GIVE_UP_AGE - 1), Verdict::Wait(1000 + GIVE_UP_AGE - 10 + 450));
        assert_eq!(r.verdict(1000 + GIVE_UP_AGE), Verdict::GiveUp);
    }

    #[test]
    fn restart_retries_at_once_with_attempts_from_age() {
        let r = Retry::restored(0, 3 * 3600);
        assert_eq!(r.verdict(3 * 3600), Verdict::Due);
        // Tries at 0, 450, 1350, 3150, 6750 s fit into 3 h: the 6th waits 4 h.
        assert_eq!(r.attempts, 5);
        assert_eq!(backoff(r.attempts + 1), 14_400);
        assert_eq!(Retry::restored(50, 50).attempts, 0);
    }

    #[test]
    fn delay_notice_once_after_four_hours() {
        assert!(!wants_delay_notice(0, DELAY_NOTICE_AGE - 1, false));
        assert!(wants_delay_notice(0, DELAY_NOTICE_AGE, false));
        assert!(!wants_delay_notice(0, DELAY_NOTICE_AGE + 60, true));
        assert!(!wants_delay_notice(0, GIVE_UP_AGE, false));
    }

    #[test]
    fn flush_makes_due() {
        let mut r = Retry::restored(0, 0);
        r.failed(0, "421 busy");
        assert_eq!(r.verdict(10), Verdict::Wait(450));
        r.flush(10);
        assert_eq!(r.verdict(10), Verdict::Due);
        assert_eq!(r.last_error, "421 busy");
    }
}
