//! Retrying APIs that fail per item, such as Kinesis `PutRecords` or DynamoDB
//! `BatchWriteItem`: only the items that failed are sent again.
//!
//! The helper is runtime-agnostic: the attempt and the sleep are closures
//! returning futures, so this crate needs no async runtime (the AWS adapters
//! pass `tokio::time::sleep`, tests pass an instant fake).

use std::fmt;
use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
///
/// The delay before retry `n` (1 for the first retry) is
/// `base_delay × 2ⁿ⁻¹`, capped at `max_delay`. No jitter is added here; a
/// caller that wants it can add it in its sleep closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (0 is treated as 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waiting 50 ms, 100 ms, then 200 ms (at most 1 s): about a
    /// third of a second of waiting in the worst case, well within an API
    /// Gateway request.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The delay to wait before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }
}

/// Why one item of an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemFailure<E> {
    /// Worth trying again (throttling, transient service error).
    Retryable(E),
    /// Final: trying again cannot help.
    Permanent(E),
}

/// The result of one item in one attempt.
pub type AttemptResult<E> = Result<(), ItemFailure<E>>;

/// The error recorded for an item when an attempt returned fewer results than
/// it was given items (a broken attempt function). Such items count as
/// retryable failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingResult;

impl fmt::Display for MissingResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the attempt returned no result for this item")
    }
}

impl std::error::Error for MissingResult {}

/// The final outcome of [`retry_partial`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryReport<E> {
    /// One result per input item, in input order: `Ok` if some attempt
    /// succeeded, otherwise the last error seen for it.
    pub results: Vec<Result<(), E>>,
    /// Attempts made (1 when everything succeeded at once).
    pub attempts: u32,
}

impl<E> RetryReport<E> {
    /// Indexes of the items that finally succeeded.
    pub fn succeeded(&self) -> Vec<usize> {
        self.indexes(|result| result.is_ok())
    }

    /// Indexes of the items that finally failed.
    pub fn failed(&self) -> Vec<usize> {
        self.indexes(|result| result.is_err())
    }

    fn indexes(&self, wanted: impl Fn(&Result<(), E>) -> bool) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&index| wanted(&self.results[index]))
            .collect()
    }
}

/// Runs `attempt` on `items`, then again on the items that failed with a
/// [`ItemFailure::Retryable`] error only, sleeping [`RetryPolicy::backoff`]
/// before each retry, until none is left or `policy.max_attempts` is reached.
///
/// `attempt` gets clones of the still-pending items, in input order, and must
/// return one result per item it was given, in the same order (missing
/// results count as retryable [`MissingResult`] failures; extra ones are
/// ignored). `sleep` waits for the given duration.
pub async fn retry_partial<T, E, A, AF, S, SF>(
    policy: &RetryPolicy,
    items: &[T],
    mut attempt: A,
    mut sleep: S,
) -> RetryReport<E>
where
    T: Clone,
    E: From<MissingResult>,
    A: FnMut(Vec<T>) -> AF,
    AF: Future<Output = Vec<AttemptResult<E>>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let mut results: Vec<Option<Result<(), E>>> = items.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..items.len()).collect();
    let mut attempts = 0;

    while !pending.is_empty() && attempts < policy.attempts() {
        if attempts > 0 {
            sleep(policy.backoff(attempts)).await;
        }
        attempts += 1;
        let batch = pending.iter().map(|&index| items[index].clone()).collect();
        let outcomes = attempt(batch).await;
        pending = record(&pending, outcomes, &mut results);
    }

    RetryReport {
        results: results
            .into_iter()
            .map(|result| result.unwrap_or_else(|| Err(MissingResult.into())))
            .collect(),
        attempts,
    }
}

/// Records the outcomes of one attempt over `pending` and returns the items
/// to retry.
fn record<E: From<MissingResult>>(
    pending: &[usize],
    outcomes: Vec<AttemptResult<E>>,
    results: &mut [Option<Result<(), E>>],
) -> Vec<usize> {
    let mut outcomes = outcomes.into_iter();
    let mut retry = Vec::new();
    for &index in pending {
        let outcome = outcomes
            .next()
            .unwrap_or_else(|| Err(ItemFailure::Retryable(MissingResult.into())));
        results[index] = Some(match outcome {
            Ok(()) => Ok(()),
            Err(ItemFailure::Permanent(error)) => Err(error),
            Err(ItemFailure::Retryable(error)) => {
                retry.push(index);
                Err(error)
            }
        });
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::future::ready;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    /// A minimal executor: polls the future on this thread until it is ready.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unparker(Thread);
        impl Wake for Unparker {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unparker(thread::current())));
        let mut context = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            match future.as_mut().poll(&mut context) {
                Poll::Ready(output) => return output,
                Poll::Pending => thread::park(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum TestError {
        Busy(&'static str),
        Broken(&'static str),
        Missing,
    }

    impl From<MissingResult> for TestError {
        fn from(_: MissingResult) -> Self {
            TestError::Missing
        }
    }

    /// A fake batch API: item `x` fails with a retryable error for its first
    /// `busy_for[x]` attempts; items in `broken` always fail permanently.
    /// Records every batch it receives.
    struct FakeApi {
        busy_for: HashMap<&'static str, u32>,
        broken: Vec<&'static str>,
        seen: RefCell<HashMap<&'static str, u32>>,
        calls: RefCell<Vec<Vec<&'static str>>>,
    }

    impl FakeApi {
        fn new(busy_for: &[(&'static str, u32)], broken: &[&'static str]) -> Self {
            Self {
                busy_for: busy_for.iter().copied().collect(),
                broken: broken.to_vec(),
                seen: RefCell::default(),
                calls: RefCell::default(),
            }
        }

        fn attempt(&self, batch: Vec<&'static str>) -> Vec<AttemptResult<TestError>> {
            self.calls.borrow_mut().push(batch.clone());
            batch.into_iter().map(|item| self.one(item)).collect()
        }

        fn one(&self, item: &'static str) -> AttemptResult<TestError> {
            let mut seen = self.seen.borrow_mut();
            let count = seen.entry(item).or_default();
            *count += 1;
            if self.broken.contains(&item) {
                Err(ItemFailure::Permanent(TestError::Broken(item)))
            } else if *count <= self.busy_for.get(item).copied().unwrap_or(0) {
                Err(ItemFailure::Retryable(TestError::Busy(item)))
            } else {
                Ok(())
            }
        }
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(25),
        }
    }

    /// Runs the helper over `items` against `api`, returning the report and
    /// the sleeps requested.
    fn run(
        policy: &RetryPolicy,
        items: &[&'static str],
        api: &FakeApi,
    ) -> (RetryReport<TestError>, Vec<Duration>) {
        let sleeps = RefCell::new(Vec::new());
        let report = block_on(retry_partial(
            policy,
            items,
            |batch| ready(api.attempt(batch)),
            |delay| {
                sleeps.borrow_mut().push(delay);
                ready(())
            },
        ));
        (report, sleeps.into_inner())
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = policy(10);
        let delays: Vec<u64> = (1..=4)
            .map(|retry| policy.backoff(retry).as_millis() as u64)
            .collect();
        assert_eq!(delays, [10, 20, 25, 25]);
        assert_eq!(policy.backoff(200), Duration::from_millis(25));
    }

    #[test]
    fn default_policy_backoff() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(50));
        assert_eq!(policy.backoff(2), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(200));
    }

    #[test]
    fn all_succeed_at_once_without_sleeping() {
        let api = FakeApi::new(&[], &[]);
        let (report, sleeps) = run(&policy(3), &["a", "b"], &api);
        assert_eq!(report.results, vec![Ok(()), Ok(())]);
        assert_eq!(report.attempts, 1);
        assert!(sleeps.is_empty());
    }

    #[test]
    fn only_failed_items_are_retried() {
        let api = FakeApi::new(&[("b", 1), ("d", 2)], &[]);
        let (report, sleeps) = run(&policy(3), &["a", "b", "c", "d"], &api);
        assert_eq!(report.results, vec![Ok(()); 4]);
        assert_eq!(report.attempts, 3);
        assert_eq!(
            api.calls.into_inner(),
            vec![vec!["a", "b", "c", "d"], vec!["b", "d"], vec!["d"]]
        );
        assert_eq!(
            sleeps,
            [Duration::from_millis(10), Duration::from_millis(20)]
        );
    }

    #[test]
    fn items_still_failing_after_the_last_attempt_keep_their_last_error() {
        let api = FakeApi::new(&[("b", 5)], &[]);
        let (report, sleeps) = run(&policy(3), &["a", "b", "c"], &api);
        assert_eq!(
            report.results,
            vec![Ok(()), Err(TestError::Busy("b")), Ok(())]
        );
        assert_eq!(report.succeeded(), [0, 2]);
        assert_eq!(report.failed(), [1]);
        assert_eq!(report.attempts, 3);
        assert_eq!(sleeps.len(), 2);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let api = FakeApi::new(&[("a", 1)], &["b"]);
        let (report, _) = run(&policy(3), &["a", "b"], &api);
        assert_eq!(report.results, vec![Ok(()), Err(TestError::Broken("b"))]);
        assert_eq!(api.calls.into_inner(), vec![vec!["a", "b"], vec!["a"]]);
    }

    #[test]
    fn zero_attempts_means_one() {
        let api = FakeApi::new(&[("a", 1)], &[]);
        let (report, sleeps) = run(&policy(0), &["a"], &api);
        assert_eq!(report.results, vec![Err(TestError::Busy("a"))]);
        assert_eq!(report.attempts, 1);
        assert!(sleeps.is_empty());
    }

    #[test]
    fn no_items_means_no_attempt() {
        let api = FakeApi::new(&[], &[]);
        let (report, _) = run(&policy(3), &[], &api);
        assert!(report.results.is_empty());
        assert_eq!(report.attempts, 0);
        assert!(api.calls.into_inner().is_empty());
    }

    #[test]
    fn missing_results_are_retried_then_reported() {
        // An attempt that only ever answers for the first item it is given.
        let calls = RefCell::new(0);
        let report: RetryReport<TestError> = block_on(retry_partial(
            &policy(2),
            &["a", "b", "c"],
            |batch: Vec<&str>| {
                *calls.borrow_mut() += 1;
                ready(batch.iter().take(1).map(|_| Ok(())).collect())
            },
            |_| ready(()),
        ));
        assert_eq!(
            report.results,
            vec![Ok(()), Ok(()), Err(TestError::Missing)]
        );
        assert_eq!(calls.into_inner(), 2);
    }
}
