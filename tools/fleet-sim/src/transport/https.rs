//! `POST /v1/telemetry` in batches, as the truck's device.
//!
//! A truck's records are collected for at most the batch window (or until the
//! batch is full) and sent with the device's access token, which is renewed a
//! minute before it expires (and at once after a 401). The answer decides each
//! record's fate: `200` all accepted; `207` (or `400` with a report) one
//! outcome per record — `accepted`, `rejected` (counted, never resent) or
//! `failed` (resent); `429`, `5xx` or no answer: the whole batch again after
//! an exponential backoff (or the `Retry-After` the API gave). After
//! [`RetryPolicy::max_attempts`] the rest counts as failed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Kind, Outgoing};
use crate::api::{Api, ApiError, Reply, Token};
use crate::stats::{Count, Stats};

/// What the sender needs from the API.
pub trait TelemetryPort: Send + Sync + 'static {
    /// A device's access token (`None`: refused).
    fn device_token(
        &self,
        device_id: &str,
        secret: &str,
    ) -> impl Future<Output = Result<Option<Token>, ApiError>> + Send;

    /// `POST /v1/telemetry` with `body`.
    fn post_telemetry(
        &self,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send;
}

impl TelemetryPort for Api {
    async fn device_token(&self, device_id: &str, secret: &str) -> Result<Option<Token>, ApiError> {
        Api::device_token(self, device_id, secret).await
    }

    async fn post_telemetry(&self, token: &str, body: &Value) -> Result<Reply, ApiError> {
        self.post(Some(token), "/v1/telemetry", body).await
    }
}

/// How often and how patiently a batch is tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The patience left when the run is stopping: three attempts, at most a
    /// second apart.
    pub fn stopping(&self) -> Self {
        Self {
            max_attempts: self.max_attempts.min(3),
            base: self.base,
            cap: self.cap.min(Duration::from_secs(1)),
        }
    }

    /// The pause after failed attempt number `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// What an answer means for the records of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Indexes accepted.
    pub accepted: Vec<usize>,
    /// Indexes rejected as invalid.
    pub rejected: Vec<usize>,
    /// Indexes to send again.
    pub resend: Vec<usize>,
    /// Indexes given up.
    pub failed: Vec<usize>,
    /// The token was refused: get a new one before resending.
    pub renew_token: bool,
}

/// Reads the answer to a batch of `n` records.
pub fn judge(reply: &Reply, n: usize) -> Verdict {
    let all: Vec<usize> = (0..n).collect();
    let mut verdict = Verdict::default();
    match reply.status {
        200 => verdict.accepted = all,
        207 | 400 if reply.body["results"].is_array() => {
            let mut seen = vec![false; n];
            for result in reply.body["results"].as_array().into_iter().flatten() {
                let Some(index) = result["index"]
                    .as_u64()
                    .map(|i| i as usize)
                    .filter(|i| *i < n)
                else {
                    continue;
                };
                seen[index] = true;
                match result["status"].as_str() {
                    Some("accepted") => verdict.accepted.push(index),
                    Some("rejected") => verdict.rejected.push(index),
                    _ => verdict.resend.push(index),
                }
            }
            // a record the report does not mention is sent again
            verdict.resend.extend((0..n).filter(|i| !seen[*i]));
        }
        400 => verdict.rejected = all,
        401 => {
            verdict.renew_token = true;
            verdict.resend = all;
        }
        // 404: the gateway answers it while the API is being redeployed
        404 | 408 | 429 | 500..=599 => verdict.resend = all,
        _ => verdict.failed = all,
    }
    verdict
}

/// The HTTPS sender of one truck.
#[derive(Debug)]
pub struct HttpsSender<P> {
    port: Arc<P>,
    device_id: String,
    secret: String,
    number: usize,
    stats: Arc<Stats>,
    policy: RetryPolicy,
    token: Option<(Token, Instant)>,
    stopping: Option<tokio::sync::watch::Receiver<bool>>,
}

impl<P: TelemetryPort> HttpsSender<P> {
    /// A sender for truck `number` with its device credentials; `token`, if
    /// given, is a token just issued to the device.
    pub fn new(
        port: Arc<P>,
        (device_id, secret): (String, String),
        number: usize,
        stats: Arc<Stats>,
        token: Option<Token>,
    ) -> Self {
        Self {
            port,
            device_id,
            secret,
            number,
            stats,
            policy: RetryPolicy::default(),
            token: token.map(|token| (token, Instant::now())),
            stopping: None,
        }
    }

    /// Once `stopping` turns true, a batch gets [`RetryPolicy::stopping`]
    /// instead of the full patience, so the run ends soon.
    pub fn with_stop(mut self, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stopping = Some(stopping);
        self
    }

    /// Uses `policy` for retries.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends what arrives on `rx` in batches of at most `max` records, each
    /// record waiting at most `window`; when `rx` closes, flushes and ends.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Outgoing>, window: Duration, max: usize) {
        let mut closed = false;
        while !closed {
            let Some(first) = rx.recv().await else {
                break;
            };
            let deadline = tokio::time::Instant::now() + window;
            let mut batch = vec![first];
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(record)) => batch.push(record),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.send(batch).await;
        }
    }

    async fn token(&mut self, force: bool) -> Result<String, String> {
        if !force
            && let Some((token, issued)) = &self.token
            && issued.elapsed() + Duration::from_secs(60) < token.expires_in
        {
            return Ok(token.access_token.clone());
        }
        self.token = None;
        match self.port.device_token(&self.device_id, &self.secret).await {
            Ok(Some(token)) => {
                let access = token.access_token.clone();
                self.token = Some((token, Instant::now()));
                Ok(access)
            }
            Ok(None) => Err(format!("device {} was refused a token", self.device_id)),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Sends one batch until every record is accepted, rejected or given up.
    pub async fn send(&mut self, batch: Vec<Outgoing>) {
        self.stats.add(self.number, Count::Sent, batch.len() as u64);
        let mut pending = batch;
        let mut force_token = false;
        let policy = match &self.stopping {
            Some(stopping) if *stopping.borrow() => self.policy.stopping(),
            _ => self.policy,
        };
        for attempt in 1..=policy.max_attempts {
            let mut pause = None;
            match self.token(force_token).await {
                Err(error) => self.complain(attempt, &error),
                Ok(token) => {
                    force_token = false;
                    let body =
                        json!({"readings": pending.iter().map(|r| &r.json).collect::<Vec<_>>()});
                    match self.port.post_telemetry(&token, &body).await {
                        Err(error) => self.complain(attempt, &error.to_string()),
                        Ok(reply) => {
                            let verdict = judge(&reply, pending.len());
                            self.count(&pending, &verdict, &reply);
                            force_token = verdict.renew_token;
                            pause = reply.retry_after;
                            let keep: Vec<Outgoing> =
                                verdict.resend.iter().map(|&i| pending[i].clone()).collect();
                            pending = keep;
                            if !pending.is_empty() && attempt == 1 && !verdict.renew_token {
                                self.complain(
                                    attempt,
                                    &format!("{} to resend after {}", pending.len(), reply.status),
                                );
                            }
                        }
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
            if attempt < policy.max_attempts {
                self.stats.add(self.number, Count::Retries, 1);
                let backoff = policy.backoff(attempt);
                tokio::time::sleep(pause.map_or(backoff, |p| p.min(policy.cap))).await;
            }
        }
        eprintln!(
            "fleet-sim: truck {}: gave up on {} record(s) after {} attempts",
            self.number,
            pending.len(),
            policy.max_attempts
        );
        self.stats
            .add(self.number, Count::Failed, pending.len() as u64);
    }

    fn count(&self, pending: &[Outgoing], verdict: &Verdict, reply: &Reply) {
        self.stats
            .add(self.number, Count::Accepted, verdict.accepted.len() as u64);
        self.stats
            .add(self.number, Count::Rejected, verdict.rejected.len() as u64);
        self.stats
            .add(self.number, Count::Failed, verdict.failed.len() as u64);
        let unexpected = verdict
            .rejected
            .iter()
            .chain(&verdict.failed)
            .find(|&&i| pending[i].kind != Kind::Malformed);
        if let Some(&index) = unexpected {
            eprintln!(
                "fleet-sim: truck {}: a good reading was not accepted: {} {}",
                self.number,
                reply.status,
                result_of(reply, index)
            );
        }
    }

    fn complain(&self, attempt: u32, message: &str) {
        if attempt == 1 {
            eprintln!("fleet-sim: truck {}: {message}; retrying", self.number);
        }
    }
}

fn result_of(reply: &Reply, index: usize) -> Value {
    reply.body["results"]
        .as_array()
        .and_then(|results| {
            results
                .iter()
                .find(|r| r["index"].as_u64() == Some(index as u64))
        })
        .cloned()
        .unwrap_or_else(|| reply.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            retry_after: None,
        }
    }

    #[test]
    fn answers_are_judged_record_by_record() {
        assert_eq!(judge(&reply(200, json!({})), 2).accepted, [0, 1]);
        let mixed = reply(
            207,
            json!({"results": [
                {"index": 0, "status": "accepted", "reading_id": "a"},
                {"index": 1, "status": "rejected", "errors": []},
                {"index": 2, "status": "failed", "reading_id": "c"},
            ]}),
        );
        let verdict = judge(&mixed, 4);
        assert_eq!((verdict.accepted, verdict.rejected), (vec![0], vec![1]));
        assert_eq!(
            verdict.resend,
            [2, 3],
            "failed and unmentioned ones go again"
        );
        let all_bad = reply(
            400,
            json!({"error": "invalid_request", "results": [{"index": 0, "status": "rejected"}]}),
        );
        assert_eq!(judge(&all_bad, 1).rejected, [0]);
        assert_eq!(
            judge(&reply(400, json!({"error": "invalid_request"})), 2).rejected,
            [0, 1]
        );
        let expired = judge(&reply(401, json!({})), 2);
        assert!(expired.renew_token);
        assert_eq!(expired.resend, [0, 1]);
        for status in [404, 429, 500, 502, 503, 504] {
            assert_eq!(
                judge(&reply(status, json!({})), 2).resend,
                [0, 1],
                "{status}"
            );
        }
        assert_eq!(judge(&reply(403, json!({})), 2).failed, [0, 1]);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(250));
        assert_eq!(policy.backoff(2), Duration::from_millis(500));
        assert_eq!(policy.backoff(5), Duration::from_secs(4));
        assert_eq!(policy.backoff(30), Duration::from_secs(8));
    }

    /// Answers from a script; records what it was sent.
    #[derive(Default)]
    struct FakeApi {
        tokens: Mutex<u32>,
        replies: Mutex<VecDeque<Reply>>,
        bodies: Mutex<Vec<(String, Value)>>,
    }

    impl TelemetryPort for FakeApi {
        async fn device_token(&self, _: &str, secret: &str) -> Result<Option<Token>, ApiError> {
            let mut tokens = self.tokens.lock().expect("lock");
            *tokens += 1;
            Ok((secret == "good").then(|| Token {
                access_token: format!("token-{tokens}"),
                expires_in: Duration::from_secs(900),
            }))
        }

        async fn post_telemetry(&self, token: &str, body: &Value) -> Result<Reply, ApiError> {
            self.bodies
                .lock()
                .expect("lock")
                .push((token.to_owned(), body.clone()));
            Ok(self
                .replies
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or_else(|| reply(200, json!({}))))
        }
    }

    fn record(id: &str, kind: Kind) -> Outgoing {
        Outgoing {
            kind,
            json: json!({"reading_id": id}),
            raw: None,
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        }
    }

    fn sender(api: &Arc<FakeApi>, stats: &Arc<Stats>, secret: &str) -> HttpsSender<FakeApi> {
        HttpsSender::new(
            api.clone(),
            ("truck-1".into(), secret.into()),
            1,
            stats.clone(),
            None,
        )
        .with_policy(quick())
    }

    fn ids(body: &Value) -> Vec<&str> {
        body["readings"]
            .as_array()
            .expect("readings")
            .iter()
            .map(|r| r["reading_id"].as_str().expect("id"))
            .collect()
    }

    #[tokio::test]
    async fn partial_results_resend_only_the_failed_records() {
        let api = Arc::new(FakeApi::default());
        api.replies.lock().expect("lock").extend([
            reply(
                207,
                json!({"results": [
                    {"index": 0, "status": "accepted"},
                    {"index": 1, "status": "failed"},
                    {"index": 2, "status": "rejected"},
                ]}),
            ),
            reply(503, json!({})),
            reply(429, json!({})),
            reply(200, json!({})),
        ]);
        let stats = Arc::new(Stats::new(1));
        let mut sender = sender(&api, &stats, "good");
        sender
            .send(vec![
                record("a", Kind::Reading),
                record("b", Kind::Reading),
                record("c", Kind::Malformed),
            ])
            .await;
        let bodies = api.bodies.lock().expect("lock").clone();
        assert_eq!(bodies.len(), 4);
        assert_eq!(ids(&bodies[0].1), ["a", "b", "c"]);
        for (_, body) in &bodies[1..] {
            assert_eq!(ids(body), ["b"]);
        }
        let counts = stats.total();
        assert_eq!(
            (counts.sent, counts.accepted, counts.rejected, counts.failed),
            (3, 2, 1, 0)
        );
        assert_eq!(counts.retries, 3);
        assert_eq!(
            *api.tokens.lock().expect("lock"),
            1,
            "one token for all attempts"
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_renewed_and_persistent_errors_give_up() {
        let api = Arc::new(FakeApi::default());
        api.replies
            .lock()
            .expect("lock")
            .push_back(reply(401, json!({})));
        let stats = Arc::new(Stats::new(1));
        let mut good = sender(&api, &stats, "good");
        good.send(vec![record("a", Kind::Reading)]).await;
        let bodies = api.bodies.lock().expect("lock").clone();
        assert_eq!(
            bodies.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            ["token-1", "token-2"]
        );
        assert_eq!(stats.total().accepted, 1);

        api.replies
            .lock()
            .expect("lock")
            .extend((0..10).map(|_| reply(500, json!({}))));
        good.send(vec![record("b", Kind::Reading)]).await;
        let counts = stats.total();
        assert_eq!((counts.accepted, counts.failed), (1, 1));

        let stats = Arc::new(Stats::new(1));
        let mut refused = sender(&api, &stats, "wrong");
        refused.send(vec![record("c", Kind::Reading)]).await;
        assert_eq!(stats.total().failed, 1);
    }

    #[tokio::test]
    async fn batches_close_on_size_on_the_window_and_when_the_channel_ends() {
        let api = Arc::new(FakeApi::default());
        let stats = Arc::new(Stats::new(1));
        let (tx, rx) = mpsc::channel(100);
        let task = tokio::spawn(sender(&api, &stats, "good").run(rx, Duration::from_millis(50), 3));
        for id in ["1", "2", "3", "4"] {
            tx.send(record(id, Kind::Reading)).await.expect("send");
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
        tx.send(record("5", Kind::Duplicate)).await.expect("send");
        drop(tx);
        task.await.expect("ends when the channel closes");
        let bodies = api.bodies.lock().expect("lock").clone();
        let batches: Vec<Vec<&str>> = bodies.iter().map(|(_, body)| ids(body)).collect();
        assert_eq!(batches, [vec!["1", "2", "3"], vec!["4"], vec!["5"]]);
        assert_eq!(stats.total().accepted, 5);
    }
}
