//! Login abuse: a failed-attempt counter per sign-in email, a growing delay
//! and a temporary lockout.
//!
//! Every failed login (wrong password, or an email no account has) counts
//! against the normalized email it named: unknown emails get a counter of
//! their own, so the answers and their timing never tell whether an account
//! exists. While the counter's refusal window lasts, a login for that email
//! is answered 429 with `Retry-After` and the password is not even checked
//! (no argon2id work for a flood).
//!
//! | failures in a row | then |
//! |---|---|
//! | 1–4 | nothing: the next attempt may follow at once |
//! | 5–9 | a delay that doubles: 5, 10, 20, 40, 80 s before the next attempt is checked |
//! | 10 and more | a lockout: 15 minutes (again after every further failure) |
//!
//! A successful login resets the counter; otherwise it is forgotten
//! [`FORGET_AFTER`] (24 h) after its last failure. Attempts refused by the
//! window do not count. Each lockout is written to the audit trail. Locking
//! out by email lets anyone lock an account out for 15 minutes at a time by
//! guessing; what it protects is the password: at most 10 guesses, then
//! one per 15 minutes (under 100 a day) per account.

use std::time::Duration;

use time::OffsetDateTime;

/// The failure from which each further attempt waits.
pub const DELAY_FROM_FAILURE: u32 = 5;
/// The wait after the [`DELAY_FROM_FAILURE`]th failure; it doubles with each
/// further one until the lockout.
pub const FIRST_DELAY: Duration = Duration::from_secs(5);
/// The failure that locks the email out.
pub const LOCKOUT_FROM_FAILURE: u32 = 10;
/// How long a lockout lasts.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// A counter whose last failure is older than this starts again from zero.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The counter of one sign-in email, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempts {
    /// Failed logins in a row (since the last success or the last reset).
    pub failures: u32,
    /// When the last one happened.
    pub last_failure_at: OffsetDateTime,
    /// Logins are refused until then (a delay or a lockout).
    pub blocked_until: Option<OffsetDateTime>,
}

/// The key of an email's counter: the email normalized as logins are
/// (trimmed, lowercase).
pub fn login_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A login refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whole seconds until a login is checked again (the `Retry-After`), at least 1.
    pub retry_after: u64,
}

/// Whether a login for the email of `attempts` is refused at `now`.
pub fn refusal(attempts: Option<&LoginAttempts>, now: OffsetDateTime) -> Option<Refused> {
    let until = attempts?.blocked_until?;
    if until <= now {
        return None;
    }
    let left = until - now;
    let seconds = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
    Some(Refused {
        retry_after: u64::try_from(seconds.max(1)).unwrap_or(1),
    })
}

/// The window a failure opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Logins are refused until then.
    pub until: OffsetDateTime,
    /// Whether it is a lockout (audited) rather than a delay.
    pub lockout: bool,
}

/// What the `failures`th failure in a row at `now` opens, if anything.
pub fn block_after(failures: u32, now: OffsetDateTime) -> Option<Block> {
    if failures >= LOCKOUT_FROM_FAILURE {
        return Some(Block {
            until: now + LOCKOUT,
            lockout: true,
        });
    }
    if failures >= DELAY_FROM_FAILURE {
        let doublings = failures - DELAY_FROM_FAILURE;
        return Some(Block {
            until: now + FIRST_DELAY * 2u32.pow(doublings),
            lockout: false,
        });
    }
    None
}

/// The failures before this one still count if the last one was after
/// `forget_before(now)`.
pub fn forget_before(now: OffsetDateTime) -> OffsetDateTime {
    now - FORGET_AFTER
}

/// When a counter last changed at `now` may be deleted by the store (TTL).
pub fn expires_at(now: OffsetDateTime) -> OffsetDateTime {
    now + FORGET_AFTER
}

/// The counter after one more failure at `now` (restarted when the last
/// failure is forgotten), without its window: [`block_after`] gives that.
pub fn count_failure(attempts: Option<&LoginAttempts>, now: OffsetDateTime) -> LoginAttempts {
    let failures = match attempts {
        Some(attempts) if attempts.last_failure_at > forget_before(now) => {
            attempts.failures.saturating_add(1)
        }
        _ => 1,
    };
    LoginAttempts {
        failures,
        last_failure_at: now,
        blocked_until: attempts
            .filter(|attempts| attempts.last_failure_at > forget_before(now))
            .and_then(|attempts| attempts.blocked_until),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

    fn seconds(s: i64) -> time::Duration {
        time::Duration::seconds(s)
    }

    #[test]
    fn keys_are_normalized_emails() {
        assert_eq!(login_key("  Ana@Example.ORG "), "ana@example.org");
    }

    #[test]
    fn four_failures_cost_nothing_then_the_delay_doubles_then_a_lockout() {
        for failures in 1..DELAY_FROM_FAILURE {
            assert_eq!(block_after(failures, T0), None, "{failures}");
        }
        let waits: Vec<(i64, bool)> = (5..=11)
            .map(|failures| {
                let block = block_after(failures, T0).expect("a window");
                ((block.until - T0).whole_seconds(), block.lockout)
            })
            .collect();
        assert_eq!(
            waits,
            [
                (5, false),
                (10, false),
                (20, false),
                (40, false),
                (80, false),
                (900, true),
                (900, true)
            ]
        );
        assert!(block_after(u32::MAX, T0).expect("a window").lockout);
    }

    #[test]
    fn a_window_refuses_with_the_seconds_left_and_then_lets_logins_through() {
        assert_eq!(refusal(None, T0), None);
        let attempts = LoginAttempts {
            failures: 10,
            last_failure_at: T0,
            blocked_until: Some(T0 + LOCKOUT),
        };
        assert_eq!(
            refusal(Some(&attempts), T0),
            Some(Refused { retry_after: 900 })
        );
        assert_eq!(
            refusal(Some(&attempts), T0 + time::Duration::milliseconds(899_500)),
            Some(Refused { retry_after: 1 }),
            "rounded up, never 0"
        );
        assert_eq!(refusal(Some(&attempts), T0 + LOCKOUT), None);
        let no_window = LoginAttempts {
            blocked_until: None,
            ..attempts
        };
        assert_eq!(refusal(Some(&no_window), T0), None);
    }

    #[test]
    fn failures_count_in_a_row_and_are_forgotten_after_a_day() {
        let first = count_failure(None, T0);
        assert_eq!(first.failures, 1);
        let mut attempts = first;
        for n in 2..=10 {
            attempts = count_failure(Some(&attempts), T0 + seconds(n));
            assert_eq!(attempts.failures, u32::try_from(n).unwrap());
        }
        attempts.blocked_until = Some(T0 + LOCKOUT);
        let next = count_failure(Some(&attempts), T0 + seconds(3600));
        assert_eq!(next.failures, 11);
        assert_eq!(next.blocked_until, Some(T0 + LOCKOUT), "a window is kept");
        let much_later = attempts.last_failure_at + FORGET_AFTER + seconds(1);
        let fresh = count_failure(Some(&attempts), much_later);
        assert_eq!((fresh.failures, fresh.blocked_until), (1, None));
        assert_eq!(expires_at(T0), T0 + FORGET_AFTER);
    }

    #[test]
    fn an_attacker_gets_ten_guesses_then_one_per_lockout() {
        // guesses as fast as the windows allow, for a day
        let mut attempts: Option<LoginAttempts> = None;
        let mut now = T0;
        let mut checked = 0;
        while now < T0 + FORGET_AFTER {
            if let Some(refused) = refusal(attempts.as_ref(), now) {
                now += seconds(i64::try_from(refused.retry_after).unwrap());
                continue;
            }
            checked += 1;
            let mut next = count_failure(attempts.as_ref(), now);
            if let Some(block) = block_after(next.failures, now) {
                next.blocked_until = Some(block.until);
            }
            attempts = Some(next);
            now += seconds(1);
        }
        assert!(
            (90..=110).contains(&checked),
            "{checked} passwords checked in a day"
        );
    }
}
