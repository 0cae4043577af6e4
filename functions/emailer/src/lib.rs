//! Mails MAJOR and CRITICAL alarms to the people each organisation of the
//! shipment names in its notification policy, and escalates the ones nobody
//! acknowledges.
//!
//! Two triggers:
//!
//! - **alarm events** from the alarm topic, through a filter policy
//!   (`severity` MAJOR or CRITICAL; `event_type` raised, escalated, cleared or
//!   acknowledged; see [`pharmaguard_domain::notification`] for which are
//!   mailed). For each SNS record, whose message is the JSON of an
//!   [`AlarmEvent`] ([`Emailer::process`]):
//!   1. an acknowledgement or a clearing ends the alarm's escalation chains
//!      ([`ends_chains_up_to`]); a message that is not an alarm event at all fails
//!      the invocation ([`Failure::Malformed`]), so that it reaches the
//!      on-failure queue after Lambda's retries instead of being dropped;
//!   2. an event that is not mailed ([`is_mailed`]) ends there;
//!   3. the key `emailer#{event_id}` is claimed in the idempotency table: a
//!      redelivered or replayed event whose mails went out sends nothing, and
//!      one that another invocation is sending right now is retried later;
//!   4. for the shipper and then the recipient: its name and policy
//!      ([`Organisations`]), its users ([`UserDirectory`], an index without
//!      credentials), the people the policy names for the severity
//!      ([`recipients_for`]); each gets the mail ([`compose_alarm_email`],
//!      times in the organisation's time zone) on its own, through SES;
//!   5. a raise or an escalation starts the escalation chain of each
//!      organisation ([`Reminder::start`], [`Reminders::start`]);
//!   6. each recipient mailed is recorded with the claim, and the claim is
//!      completed once every one is.
//! - **the one-minute schedule** ([`Emailer::sweep`], in [`escalation`]):
//!   every chain whose next step is due is checked against its alarm as
//!   stored now, and the step is mailed (claimed as
//!   [`Reminder::claim_key`], one mail per person per step) or the chain
//!   ended.
//!
//! A failure (a store, the idempotency table, a send) releases the claim
//! and fails the invocation: Lambda retries the event (twice, as for every
//! asynchronous invocation), and the retry mails only the recipients not yet
//! mailed. An event that still fails goes to the function's on-failure
//! queue, the recipients already mailed recorded, so a redrive mails only the
//! rest. A step of a chain that fails stays due and is tried again the next
//! minute.

pub mod escalation;

use std::collections::BTreeSet;
use std::future::Future;

use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_aws::idempotency::{Claim, IdempotencyError, IdempotencyStore};
use pharmaguard_aws::org_notices::{DynamoOrgNotices, OrgNotice};
use pharmaguard_aws::reminder_store::{DynamoAlarmStates, DynamoReminders};
use pharmaguard_aws::schedule::is_scheduled;
use pharmaguard_aws::ses::{EmailSender, SendError};
use pharmaguard_aws::user_contacts::DynamoUserContacts;
use pharmaguard_domain::coldchain::{Alarm, AlarmEvent, Severity};
use pharmaguard_domain::notification::{
    Audience, Contact, EmailContent, MailContext, Recipient, Reminder, compose_alarm_email,
    emailer_claim_key, ends_chains_up_to, is_mailed, recipients_for, starts_chain,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tracing::{error, info, warn};

/// The identity table (users per organisation).
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";
/// The idempotency table.
pub const IDEMPOTENCY_TABLE_VAR: &str = "IDEMPOTENCY_TABLE";
/// The reminders table (the escalation chains).
pub const REMINDERS_TABLE_VAR: &str = pharmaguard_aws::reminder_store::REMINDERS_TABLE_VAR;
/// The alarms table (what the schedule checks before a step).
pub const ALARMS_TABLE_VAR: &str = pharmaguard_aws::tracking_store::ALARMS_TABLE_VAR;
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
    /// [`REMINDERS_TABLE_VAR`].
    pub reminders_table: String,
    /// [`ALARMS_TABLE_VAR`].
    pub alarms_table: String,
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
            reminders_table: required(REMINDERS_TABLE_VAR)?,
            alarms_table: required(ALARMS_TABLE_VAR)?,
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

/// An organisation's name and notification policy.
pub trait Organisations: Send + Sync {
    /// What the emailer knows of `org_id` (the default policy when it set none).
    fn notice_of(&self, org_id: &str) -> impl Future<Output = Result<OrgNotice, String>> + Send;
}

impl Organisations for DynamoOrgNotices {
    async fn notice_of(&self, org_id: &str) -> Result<OrgNotice, String> {
        DynamoOrgNotices::notice_of(self, org_id).await
    }
}

/// The escalation chains (see [`pharmaguard_aws::reminder_store`] for the
/// conditions each call writes under).
pub trait Reminders: Send + Sync {
    /// Starts a chain unless one of the same or a higher severity waits.
    fn start(&self, reminder: &Reminder) -> impl Future<Output = Result<bool, String>> + Send;
    /// Up to `limit` reminders due at `now`.
    fn due(
        &self,
        now: OffsetDateTime,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Reminder>, String>> + Send;
    /// Moves `current` on to `next` (or ends it) if nobody else did.
    fn advance(
        &self,
        current: &Reminder,
        next: Option<&Reminder>,
    ) -> impl Future<Output = Result<bool, String>> + Send;
    /// Ends the chain of an alarm in an organisation, up to a severity.
    fn end(
        &self,
        alarm_id: &str,
        org_id: &str,
        up_to: Severity,
    ) -> impl Future<Output = Result<bool, String>> + Send;
}

impl Reminders for DynamoReminders {
    async fn start(&self, reminder: &Reminder) -> Result<bool, String> {
        DynamoReminders::start(self, reminder)
            .await
            .map_err(|e| e.to_string())
    }
    async fn due(&self, now: OffsetDateTime, limit: i32) -> Result<Vec<Reminder>, String> {
        DynamoReminders::due(self, now, limit)
            .await
            .map_err(|e| e.to_string())
    }
    async fn advance(&self, current: &Reminder, next: Option<&Reminder>) -> Result<bool, String> {
        DynamoReminders::advance(self, current, next)
            .await
            .map_err(|e| e.to_string())
    }
    async fn end(&self, alarm_id: &str, org_id: &str, up_to: Severity) -> Result<bool, String> {
        DynamoReminders::end(self, alarm_id, org_id, up_to)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The alarms as stored now.
pub trait AlarmStates: Send + Sync {
    /// The alarm `alarm_id` of `shipment_id`, `None` when there is none.
    fn alarm(
        &self,
        shipment_id: &str,
        alarm_id: &str,
    ) -> impl Future<Output = Result<Option<Alarm>, String>> + Send;
}

impl AlarmStates for DynamoAlarmStates {
    async fn alarm(&self, shipment_id: &str, alarm_id: &str) -> Result<Option<Alarm>, String> {
        DynamoAlarmStates::alarm(self, shipment_id, alarm_id)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The stores and services the emailer works with.
pub struct Ports<'a, D, O, S, I, R, A> {
    /// Users per organisation.
    pub directory: &'a D,
    /// Names and policies of organisations.
    pub organisations: &'a O,
    /// Sends the mails.
    pub sender: &'a S,
    /// The idempotency claims.
    pub claims: &'a I,
    /// The escalation chains.
    pub reminders: &'a R,
    /// The alarms as stored now.
    pub alarms: &'a A,
}

/// What the emailer works with: built once per cold start.
pub struct Emailer<'a, D, O, S, I, R, A> {
    /// Its stores and services.
    pub ports: Ports<'a, D, O, S, I, R, A>,
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
    /// Neither organisation has anyone to mail (logged; nothing to retry).
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
    #[error("{key} is being mailed by another invocation (lock until {until:?})")]
    Busy {
        /// The claim.
        key: String,
        /// When that lock expires.
        until: Option<OffsetDateTime>,
    },
    /// The idempotency table failed.
    #[error("{key}: {error}")]
    Claims {
        /// The claim.
        key: String,
        /// What failed.
        error: IdempotencyError,
    },
    /// A store (users, organisations, chains, alarms) failed.
    #[error("{key}: {what}: {message}")]
    Store {
        /// The claim or event.
        key: String,
        /// What was read or written.
        what: String,
        /// What failed.
        message: String,
    },
    /// Some mails were not sent.
    #[error("{key}: {failed} of {recipients} mails not sent (first: {first})")]
    Send {
        /// The claim.
        key: String,
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
pub async fn handle<D, O, S, I, R, A>(
    emailer: &Emailer<'_, D, O, S, I, R, A>,
    event: LambdaEvent<SnsEvent>,
) -> Result<(), Error>
where
    D: UserDirectory,
    O: Organisations,
    S: EmailSender,
    I: IdempotencyStore,
    R: Reminders,
    A: AlarmStates,
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

/// The handler for both triggers: the schedule sweeps the escalation chains
/// ([`Emailer::sweep`]), SNS records are mailed ([`handle`]); anything else
/// fails, so that it reaches the failure destination.
pub async fn handle_any<D, O, S, I, R, A>(
    emailer: &Emailer<'_, D, O, S, I, R, A>,
    event: LambdaEvent<Value>,
) -> Result<(), Error>
where
    D: UserDirectory,
    O: Organisations,
    S: EmailSender,
    I: IdempotencyStore,
    R: Reminders,
    A: AlarmStates,
{
    let (payload, context) = event.into_parts();
    if is_scheduled(&payload) {
        let swept = emailer.sweep(OffsetDateTime::now_utc()).await;
        info!(
            due = swept.due,
            sent = swept.sent,
            ended = swept.ended,
            failed = swept.failed,
            "escalation chains swept"
        );
        return match swept.error {
            Some(error) => Err(Error::from(error)),
            None => Ok(()),
        };
    }
    if payload.get("Records").is_some() {
        let records: SnsEvent = serde_json::from_value(payload).map_err(|error| {
            error!(%error, "not an SNS event; failing it to its failure destination");
            Error::from(format!("not an SNS event: {error}"))
        })?;
        return handle(emailer, LambdaEvent::new(records, context)).await;
    }
    error!("neither SNS records nor the schedule; failing it to its failure destination");
    Err(Error::from("neither SNS records nor the schedule"))
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
            warn!(%sns_message_id, %event_id, "nobody to mail in either organisation; nothing sent")
        }
    }
}

/// The organisations of a shipment, once each.
fn parties(event: &AlarmEvent) -> Vec<&str> {
    let shipment = &event.shipment;
    let mut orgs = vec![shipment.shipper_org_id.as_str()];
    if shipment.recipient_org_id != shipment.shipper_org_id {
        orgs.push(shipment.recipient_org_id.as_str());
    }
    orgs
}

/// The mails of one organisation: who, and what they read.
struct OrgMail {
    recipients: Vec<Recipient>,
    content: EmailContent,
}

/// The names of a shipment's two organisations.
struct Names {
    shipper: String,
    recipient: String,
}

/// What a delivery did.
#[derive(Debug, Default)]
struct Delivered {
    recipients: usize,
    sent: usize,
    already: usize,
}

impl<D, O, S, I, R, A> Emailer<'_, D, O, S, I, R, A>
where
    D: UserDirectory,
    O: Organisations,
    S: EmailSender,
    I: IdempotencyStore,
    R: Reminders,
    A: AlarmStates,
{
    /// Handles the alarm event `body` once (see the crate documentation).
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
        self.end_chains(&event).await?;
        if !is_mailed(&event) {
            return Ok(Outcome::NotMailed { event_id });
        }
        let key = emailer_claim_key(&event_id);
        let Some(done) = self.claim(&key, now).await? else {
            return Ok(Outcome::Duplicate { event_id });
        };
        let result = self.mail_event(&event, &key, &done).await;
        let delivered = self.finish(&key, now, result).await?;
        if delivered.recipients == 0 {
            return Ok(Outcome::NoRecipients { event_id });
        }
        Ok(Outcome::Mailed {
            event_id,
            sent: delivered.sent,
            already: delivered.already,
        })
    }

    /// An acknowledgement or a clearing ends the alarm's chains.
    async fn end_chains(&self, event: &AlarmEvent) -> Result<(), Failure> {
        let Some(up_to) = ends_chains_up_to(event) else {
            return Ok(());
        };
        for org_id in parties(event) {
            let ended = self
                .ports
                .reminders
                .end(&event.alarm.alarm_id, org_id, up_to)
                .await
                .map_err(|message| store_failed(&event.event_id, "escalation chain", message))?;
            if ended {
                info!(event_id = %event.event_id, %org_id, "escalation chain ended");
            }
        }
        Ok(())
    }

    /// Claims `key`: the recipients done so far, or `None` when its mails
    /// went out already.
    async fn claim(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BTreeSet<String>>, Failure> {
        match self
            .ports
            .claims
            .claim(key, now, self.lock_for)
            .await
            .map_err(|error| claims_failed(key, error))?
        {
            Claim::Acquired { done } => Ok(Some(done)),
            Claim::Completed => Ok(None),
            Claim::Busy { until } => Err(Failure::Busy {
                key: key.to_owned(),
                until,
            }),
        }
    }

    /// Completes the claim after a delivery, or releases it after a failure.
    async fn finish(
        &self,
        key: &str,
        now: OffsetDateTime,
        result: Result<Delivered, Failure>,
    ) -> Result<Delivered, Failure> {
        match result {
            Ok(delivered) => {
                self.ports
                    .claims
                    .complete(key, now)
                    .await
                    .map_err(|error| claims_failed(key, error))?;
                Ok(delivered)
            }
            Err(failure) => {
                if let Err(error) = self.ports.claims.release(key).await {
                    // the lock then expires by itself
                    warn!(%key, %error, "claim not released");
                }
                Err(failure)
            }
        }
    }

    /// The first mails of `event` in each organisation, then the chains it
    /// starts.
    async fn mail_event(
        &self,
        event: &AlarmEvent,
        key: &str,
        done: &BTreeSet<String>,
    ) -> Result<Delivered, Failure> {
        let mut notices = Vec::new();
        for org_id in parties(event) {
            notices.push((org_id, self.notice(key, org_id).await?));
        }
        let known: Vec<(&str, &OrgNotice)> = notices.iter().map(|(id, n)| (*id, n)).collect();
        let names = self.names(event, &known).await;
        let mut mails = Vec::new();
        for (org_id, notice) in &notices {
            let Some(audience) = notice.policy.first_audience(event.alarm.severity) else {
                continue;
            };
            let mail = self
                .org_mail(event, org_id, notice, &names, &[audience], None)
                .await?;
            mails.push(mail);
        }
        let delivered = self.deliver(key, &mails, done).await?;
        if starts_chain(event) {
            for (org_id, notice) in &notices {
                let Some(reminder) = Reminder::start(event, org_id, &notice.policy) else {
                    continue;
                };
                let started = self
                    .ports
                    .reminders
                    .start(&reminder)
                    .await
                    .map_err(|message| store_failed(key, "escalation chain", message))?;
                if started {
                    info!(%key, %org_id, due_at = %reminder.due_at, "escalation chain started");
                }
            }
        }
        Ok(delivered)
    }

    async fn notice(&self, key: &str, org_id: &str) -> Result<OrgNotice, Failure> {
        self.ports
            .organisations
            .notice_of(org_id)
            .await
            .map_err(|message| store_failed(key, &format!("organisation {org_id}"), message))
    }

    /// Who of `org_id` gets the mail of `audiences`, and what it says.
    async fn org_mail(
        &self,
        event: &AlarmEvent,
        org_id: &str,
        notice: &OrgNotice,
        names: &Names,
        audiences: &[&Audience],
        reminder: Option<pharmaguard_domain::notification::ReminderNotice>,
    ) -> Result<OrgMail, Failure> {
        let contacts = self
            .ports
            .directory
            .users_of(org_id)
            .await
            .map_err(|message| {
                store_failed(&event.event_id, &format!("users of {org_id}"), message)
            })?;
        let recipients = recipients_for(
            audiences,
            &contacts,
            org_id,
            event.shipment.started_by.as_deref(),
        );
        let content = compose_alarm_email(
            event,
            &MailContext {
                dashboard_url: self.dashboard_url,
                shipper_name: &names.shipper,
                recipient_name: &names.recipient,
                reader_name: &notice.name,
                time_zone: &notice.policy.time_zone,
                reminder,
            },
        );
        Ok(OrgMail {
            recipients,
            content,
        })
    }

    /// The names of the shipment's organisations: from the notices read
    /// already (`known`), the others read once; an id when a name cannot be
    /// read (a mail never waits for a name).
    async fn names(&self, event: &AlarmEvent, known: &[(&str, &OrgNotice)]) -> Names {
        let shipment = &event.shipment;
        let mut named = Vec::new();
        for org_id in [&shipment.shipper_org_id, &shipment.recipient_org_id] {
            let name = match known.iter().find(|(id, _)| id == org_id) {
                Some((_, notice)) => notice.name.clone(),
                None => match self.ports.organisations.notice_of(org_id).await {
                    Ok(other) => other.name,
                    Err(error) => {
                        warn!(%org_id, %error, "organisation name not read; the mail shows its id");
                        org_id.clone()
                    }
                },
            };
            named.push(name);
        }
        let recipient = named.pop().unwrap_or_default();
        let shipper = named.pop().unwrap_or_default();
        Names { shipper, recipient }
    }

    /// Sends every mail to its recipients not in `done`, recording each.
    async fn deliver(
        &self,
        key: &str,
        mails: &[OrgMail],
        done: &BTreeSet<String>,
    ) -> Result<Delivered, Failure> {
        let mut delivered = Delivered::default();
        let mut failures = Vec::new();
        for mail in mails {
            for recipient in &mail.recipients {
                delivered.recipients += 1;
                if done.contains(&recipient.user_id) {
                    delivered.already += 1;
                    continue;
                }
                match self
                    .ports
                    .sender
                    .send(&recipient.email, &mail.content)
                    .await
                {
                    Ok(message_id) => {
                        delivered.sent += 1;
                        info!(%key, user_id = %recipient.user_id, org_id = %recipient.org_id, %message_id, "alarm email sent");
                        if let Err(error) =
                            self.ports.claims.record_done(key, &recipient.user_id).await
                        {
                            // a retry would mail this person again
                            warn!(%key, user_id = %recipient.user_id, %error, "mail not recorded");
                        }
                    }
                    Err(error) => {
                        warn!(%key, user_id = %recipient.user_id, retryable = error.retryable, %error, "alarm email not sent");
                        failures.push(error);
                    }
                }
            }
        }
        match failures.into_iter().next() {
            None => Ok(delivered),
            Some(first) => Err(Failure::Send {
                key: key.to_owned(),
                failed: delivered.recipients - delivered.sent - delivered.already,
                recipients: delivered.recipients,
                first,
            }),
        }
    }
}

fn claims_failed(key: &str, error: IdempotencyError) -> Failure {
    Failure::Claims {
        key: key.to_owned(),
        error,
    }
}

fn store_failed(key: &str, what: &str, message: String) -> Failure {
    Failure::Store {
        key: key.to_owned(),
        what: what.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests;
