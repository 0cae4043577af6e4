//! Emails the managers of a shipment's shipper and recipient about its
//! MAJOR and CRITICAL alarms.
//!
//! Subscribed to the alarm events topic with a filter policy (`severity`
//! MAJOR or CRITICAL, `event_type` raised, escalated or cleared; see
//! [`pharmaguard_domain::notification`] for why an all-clear is mailed and an
//! acknowledgement is not). For each SNS record, whose message is the JSON of
//! an [`AlarmEvent`]:
//!
//! 1. an event that is not mailed ([`is_mailed`]) is skipped; a message
//!    that is not an alarm event at all fails the invocation
//!    ([`Failure::Malformed`]), so that it reaches the on-failure queue
//!    after Lambda's retries instead of being dropped (a CRITICAL alarm
//!    whose format drifted must not be lost with a log line only);
//! 2. the key `emailer#{event_id}` is claimed in the idempotency table: a
//!    redelivered or replayed event whose mail went out sends nothing, and
//!    one that another invocation is sending right now is retried later;
//! 3. the recipients are the enabled MANAGERs of both organisations
//!    ([`recipients_among`] their [`Contact`]s, read from an index without
//!    credentials: [`pharmaguard_aws::user_contacts`]); each gets the mail
//!    ([`compose_alarm_email`]) on its own, through SES, from the sender
//!    address of the configuration;
//! 4. each recipient mailed is recorded with the claim, and the claim is
//!    completed once every one is.
//!
//! A failure (identity store, idempotency table, a send) releases the claim
//! and fails the invocation: Lambda retries the event (twice, as for every
//! asynchronous invocation), and the retry mails only the recipients not yet
//! mailed. An event that still fails goes to the function's on-failure
//! queue, the recipients already mailed recorded, so a redrive mails only the
//! rest.

use std::collections::BTreeSet;
use std::future::Future;

use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_aws::idempotency::{Claim, IdempotencyError, IdempotencyStore};
use pharmaguard_aws::ses::{EmailSender, SendError};
use pharmaguard_aws::user_contacts::DynamoUserContacts;
use pharmaguard_domain::coldchain::AlarmEvent;
use pharmaguard_domain::notification::{
    Contact, compose_alarm_email, emailer_claim_key, is_mailed, recipients_among,
};
use time::{Duration, OffsetDateTime};
use tracing::{error, info, warn};

/// The identity table (users per organisation).
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";
/// The idempotency table.
pub const IDEMPOTENCY_TABLE_VAR: &str = "IDEMPOTENCY_TABLE";
/// The sender address, verified in SES.
pub const SENDER_VAR: &str = "ALERT_SENDER_EMAIL";
/// The dashboard's base URL, for the links to shipments.
pub const DASHBOARD_URL_VAR: &str = "DASHBOARD_URL";

/// How long a claim locks an event against other deliveries: longer than the
/// function's timeout (30 s), so a live invocation never loses it, and short
/// enough that a crashed one delays the retry by a minute at most.
pub const CLAIM_LOCK: Duration = Duration::seconds(60);

/// The configuration, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// [`IDENTITY_TABLE_VAR`].
    pub identity_table: String,
    /// [`IDEMPOTENCY_TABLE_VAR`].
    pub idempotency_table: String,
    /// [`SENDER_VAR`].
    pub sender: String,
    /// [`DASHBOARD_URL_VAR`].
    pub dashboard_url: String,
}

/// A required variable is missing or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {0} is required")]
pub struct MissingSetting(pub &'static str);

impl Settings {
    /// Reads the settings through `lookup` (the environment in `main`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingSetting> {
        let required = |name: &'static str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or(MissingSetting(name))
        };
        Ok(Self {
            identity_table: required(IDENTITY_TABLE_VAR)?,
            idempotency_table: required(IDEMPOTENCY_TABLE_VAR)?,
            sender: required(SENDER_VAR)?,
            dashboard_url: required(DASHBOARD_URL_VAR)?,
        })
    }
}

/// The users of an organisation, without their credentials (the identity
/// table's contacts index, in `main`).
pub trait UserDirectory: Send + Sync {
    /// Every user of `org_id`.
    fn users_of(&self, org_id: &str) -> impl Future<Output = Result<Vec<Contact>, String>> + Send;
}

impl UserDirectory for DynamoUserContacts {
    async fn users_of(&self, org_id: &str) -> Result<Vec<Contact>, String> {
        self.contacts_of(org_id)
            .await
            .map_err(|error| error.to_string())
    }
}

/// What the emailer works with: built once per cold start.
pub struct Emailer<'a, D, S, I> {
    /// Users per organisation.
    pub directory: &'a D,
    /// Sends the mails.
    pub sender: &'a S,
    /// The idempotency claims.
    pub claims: &'a I,
    /// The dashboard's base URL.
    pub dashboard_url: &'a str,
    /// See [`CLAIM_LOCK`].
    pub lock_for: Duration,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Mailed: `sent` now, `already` by an earlier, failed attempt.
    Mailed {
        /// The event.
        event_id: String,
        /// Recipients mailed now.
        sent: usize,
        /// Recipients an earlier attempt mailed.
        already: usize,
    },
    /// Mailed before: nothing sent.
    Duplicate {
        /// The event.
        event_id: String,
    },
    /// Not an event that is mailed (a WARNING, an acknowledgement).
    NotMailed {
        /// The event.
        event_id: String,
    },
    /// Neither organisation has a manager (logged; nothing to retry).
    NoRecipients {
        /// The event.
        event_id: String,
    },
}

/// Why a message must be tried again, or set aside in the failure queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Not an alarm event: retrying cannot fix it, but it must not vanish
    /// either; failing sends it (after Lambda's retries) to the on-failure
    /// queue, where it can be read and replayed.
    #[error("message is not an alarm event: {reason}")]
    Malformed {
        /// Why it does not parse.
        reason: String,
    },
    /// Another delivery of the event holds its claim.
    #[error("event {event_id} is being mailed by another invocation (lock until {until:?})")]
    Busy {
        /// The event.
        event_id: String,
        /// When that lock expires.
        until: Option<OffsetDateTime>,
    },
    /// The idempotency table failed.
    #[error("event {event_id}: {error}")]
    Claims {
        /// The event.
        event_id: String,
        /// What failed.
        error: IdempotencyError,
    },
    /// The users could not be listed.
    #[error("event {event_id}: users of {org_id} not listed: {message}")]
    Directory {
        /// The event.
        event_id: String,
        /// The organisation.
        org_id: String,
        /// What failed.
        message: String,
    },
    /// Some mails were not sent.
    #[error("event {event_id}: {failed} of {recipients} mails not sent (first: {first})")]
    Send {
        /// The event.
        event_id: String,
        /// How many failed.
        failed: usize,
        /// How many recipients there are.
        recipients: usize,
        /// The first failure.
        first: SendError,
    },
}

pub use pharmaguard_aws::sns::{SnsEvent, SnsNotification, SnsRecord};

/// The Lambda handler: [`Emailer::process`] on every record at the current
/// time. Fails (so that Lambda retries, then sends the event to the
/// on-failure queue) when any record must be tried again or does not parse.
pub async fn handle<D, S, I>(
    emailer: &Emailer<'_, D, S, I>,
    event: LambdaEvent<SnsEvent>,
) -> Result<(), Error>
where
    D: UserDirectory,
    S: EmailSender,
    I: IdempotencyStore,
{
    let mut failures = Vec::new();
    for record in &event.payload.records {
        let notification = &record.sns;
        match emailer
            .process(&notification.message, OffsetDateTime::now_utc())
            .await
        {
            Ok(outcome) => log_outcome(&notification.message_id, &outcome),
            Err(failure) => {
                error!(sns_message_id = %notification.message_id, %failure, "alarm email failed; Lambda retries the event, then sets it aside in the failure queue");
                failures.push(failure.to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::from(failures.join("; ")))
    }
}

fn log_outcome(sns_message_id: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Mailed {
            event_id,
            sent,
            already,
        } => info!(%sns_message_id, %event_id, sent, already, "alarm email sent"),
        Outcome::Duplicate { event_id } => {
            info!(%sns_message_id, %event_id, "alarm event mailed before; nothing sent")
        }
        Outcome::NotMailed { event_id } => {
            info!(%sns_message_id, %event_id, "alarm event not mailed (severity or type)")
        }
        Outcome::NoRecipients { event_id } => {
            warn!(%sns_message_id, %event_id, "no manager in either organisation; nothing sent")
        }
    }
}

impl<D, S, I> Emailer<'_, D, S, I>
where
    D: UserDirectory,
    S: EmailSender,
    I: IdempotencyStore,
{
    /// Mails the alarm event `body` once (see the crate documentation).
    pub async fn process(&self, body: &str, now: OffsetDateTime) -> Result<Outcome, Failure> {
        let event: AlarmEvent = match serde_json::from_str(body) {
            Ok(event) => event,
            Err(error) => {
                return Err(Failure::Malformed {
                    reason: error.to_string(),
                });
            }
        };
        let event_id = event.event_id.clone();
        if !is_mailed(&event) {
            return Ok(Outcome::NotMailed { event_id });
        }
        let key = emailer_claim_key(&event_id);
        let claims_failed = |error| Failure::Claims {
            event_id: event_id.clone(),
            error,
        };
        let done = match self
            .claims
            .claim(&key, now, self.lock_for)
            .await
            .map_err(claims_failed)?
        {
            Claim::Acquired { done } => done,
            Claim::Completed => return Ok(Outcome::Duplicate { event_id }),
            Claim::Busy { until } => return Err(Failure::Busy { event_id, until }),
        };
        match self.deliver(&event, &key, &done).await {
            Ok(outcome) => {
                self.claims
                    .complete(&key, now)
                    .await
                    .map_err(claims_failed)?;
                Ok(outcome)
            }
            Err(failure) => {
                if let Err(error) = self.claims.release(&key).await {
                    // the lock then expires by itself
                    warn!(%event_id, %error, "claim not released");
                }
                Err(failure)
            }
        }
    }

    /// Sends the mail to every recipient not in `done`.
    async fn deliver(
        &self,
        event: &AlarmEvent,
        key: &str,
        done: &BTreeSet<String>,
    ) -> Result<Outcome, Failure> {
        let event_id = event.event_id.clone();
        let shipment = &event.shipment;
        let mut users = self.users_of(&event_id, &shipment.shipper_org_id).await?;
        if shipment.recipient_org_id != shipment.shipper_org_id {
            users.extend(self.users_of(&event_id, &shipment.recipient_org_id).await?);
        }
        let recipients = recipients_among(users);
        if recipients.is_empty() {
            return Ok(Outcome::NoRecipients { event_id });
        }
        let content = compose_alarm_email(event, self.dashboard_url);
        let (mut sent, mut already) = (0, 0);
        let mut failures = Vec::new();
        for recipient in &recipients {
            if done.contains(&recipient.user_id) {
                already += 1;
                continue;
            }
            match self.sender.send(&recipient.email, &content).await {
                Ok(message_id) => {
                    sent += 1;
                    info!(%event_id, user_id = %recipient.user_id, org_id = %recipient.org_id, %message_id, "alarm email sent to a manager");
                    if let Err(error) = self.claims.record_done(key, &recipient.user_id).await {
                        // a retry of this event would mail this manager again
                        warn!(%event_id, user_id = %recipient.user_id, %error, "mail not recorded");
                    }
                }
                Err(error) => {
                    warn!(%event_id, user_id = %recipient.user_id, retryable = error.retryable, %error, "alarm email not sent");
                    failures.push(error);
                }
            }
        }
        match failures.into_iter().next() {
            None => Ok(Outcome::Mailed {
                event_id,
                sent,
                already,
            }),
            Some(first) => Err(Failure::Send {
                event_id,
                failed: recipients.len() - sent - already,
                recipients: recipients.len(),
                first,
            }),
        }
    }

    async fn users_of(&self, event_id: &str, org_id: &str) -> Result<Vec<Contact>, Failure> {
        self.directory
            .users_of(org_id)
            .await
            .map_err(|message| Failure::Directory {
                event_id: event_id.to_owned(),
                org_id: org_id.to_owned(),
                message,
            })
    }
}

#[cfg(test)]
mod tests;
