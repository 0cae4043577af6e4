//! The minute's sweep of the escalation chains: every step that is due is
//! checked against its alarm as stored now and mailed, or its chain ended.
//!
//! A step is mailed once per person: its claim
//! ([`Reminder::claim_key`]) records each recipient, and the chain moves on
//! only after every mail of the step went out. A step that fails (a store,
//! a send) stays due and is tried again by the next sweep, which mails only
//! the people not mailed yet. Two sweeps that overlap cannot both send a
//! step (the claim) nor move a chain twice (the conditional advance).

use pharmaguard_aws::idempotency::IdempotencyStore;
use pharmaguard_aws::ses::EmailSender;
use pharmaguard_domain::notification::{Reminder, ReminderCheck, ReminderNotice, check_reminder};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::{AlarmStates, Emailer, Failure, Organisations, Reminders, UserDirectory, store_failed};

/// Most steps one sweep handles (the rest wait for the next minute), so a
/// sweep ends well within the function's 30 s.
pub const SWEEP_LIMIT: i32 = 100;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Steps found due.
    pub due: usize,
    /// Mails sent.
    pub sent: usize,
    /// Chains ended (acknowledged, cleared, escalated, or at their end).
    pub ended: usize,
    /// Steps that failed and stay due.
    pub failed: usize,
    /// Set when the due steps could not even be listed.
    pub error: Option<String>,
}

/// What became of one due step.
enum StepOutcome {
    Sent(usize),
    Ended,
    Moved,
    Skipped,
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
    /// Mails every step due at `now` (see the module documentation).
    pub async fn sweep(&self, now: OffsetDateTime) -> Swept {
        let mut swept = Swept::default();
        let due = match self.ports.reminders.due(now, SWEEP_LIMIT).await {
            Ok(due) => due,
            Err(error) => {
                warn!(%error, "due escalation steps not listed; the next sweep tries again");
                swept.error = Some(error);
                return swept;
            }
        };
        swept.due = due.len();
        for reminder in &due {
            match self.step(reminder, now).await {
                Ok(StepOutcome::Sent(sent)) => swept.sent += sent,
                Ok(StepOutcome::Ended) => swept.ended += 1,
                Ok(StepOutcome::Moved | StepOutcome::Skipped) => {}
                Err(failure) => {
                    warn!(%failure, alarm_id = %reminder.alarm_id, org_id = %reminder.org_id, step = reminder.step, "escalation step failed; it stays due");
                    swept.failed += 1;
                }
            }
        }
        swept
    }

    async fn step(&self, reminder: &Reminder, now: OffsetDateTime) -> Result<StepOutcome, Failure> {
        let key = reminder.claim_key();
        let alarm = self
            .ports
            .alarms
            .alarm(&reminder.shipment_id, &reminder.alarm_id)
            .await
            .map_err(|message| store_failed(&key, "alarm", message))?;
        if let ReminderCheck::Stop(reason) = check_reminder(reminder, alarm.as_ref()) {
            info!(%key, reason, "escalation chain ended");
            return self.move_on(reminder, None, &key).await;
        }
        let notice = self.notice(&key, &reminder.org_id).await?;
        let Some(step) = notice.policy.step(reminder.severity, reminder.step) else {
            info!(%key, "the policy's chain is shorter now; it ends");
            return self.move_on(reminder, None, &key).await;
        };
        let Some(done) = self.claim(&key, now).await? else {
            // mailed by an earlier sweep that could not move the chain on
            let next = reminder.after_step(&notice.policy);
            return self.move_on(reminder, next.as_ref(), &key).await;
        };
        let escalated = step.audiences.len() > 1;
        let notice_text = ReminderNotice {
            step: reminder.step,
            unacknowledged_minutes: reminder.unacknowledged_minutes(),
            escalated,
        };
        let result = async {
            let names = self
                .names(&reminder.event, &[(reminder.org_id.as_str(), &notice)])
                .await;
            let mail = self
                .org_mail(
                    &reminder.event,
                    &reminder.org_id,
                    &notice,
                    &names,
                    &step.audiences,
                    Some(notice_text),
                )
                .await?;
            self.deliver(&key, std::slice::from_ref(&mail), &done).await
        }
        .await;
        let delivered = self.finish(&key, now, result).await?;
        info!(%key, sent = delivered.sent, already = delivered.already, escalated, "escalation step mailed");
        let next = reminder.after_step(&notice.policy);
        self.move_on(reminder, next.as_ref(), &key).await?;
        Ok(StepOutcome::Sent(delivered.sent))
    }

    /// Moves the chain on to `next`, or ends it.
    async fn move_on(
        &self,
        reminder: &Reminder,
        next: Option<&Reminder>,
        key: &str,
    ) -> Result<StepOutcome, Failure> {
        let moved = self
            .ports
            .reminders
            .advance(reminder, next)
            .await
            .map_err(|message| store_failed(key, "escalation chain", message))?;
        Ok(match (moved, next) {
            (false, _) => StepOutcome::Skipped,
            (true, None) => StepOutcome::Ended,
            (true, Some(_)) => StepOutcome::Moved,
        })
    }
}
