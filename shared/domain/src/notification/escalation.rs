//! The escalation chain of one unacknowledged alarm in one organisation: a
//! [`Reminder`] waits until its next step is due; the emailer's minute
//! schedule sends the steps that are due ([`check_reminder`] on the alarm as
//! it is now) and moves the reminder on ([`Reminder::after_step`]).
//!
//! One reminder per alarm and organisation. A raise starts its chain, an
//! escalation to a higher severity starts a new one in its place (a
//! redelivered raise never replaces a newer chain: [`Reminder::supersedes`]);
//! an acknowledgement or a clearing ends it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::coldchain::alarm::{Alarm, AlarmState, Severity};
use crate::coldchain::events::{AlarmEvent, AlarmEventType};

use super::EMAILER_CONSUMER;
use super::policy::NotificationPolicy;

/// The waiting next step of an alarm's chain in one organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// The alarm.
    pub alarm_id: String,
    /// Its shipment (the alarm item's key).
    pub shipment_id: String,
    /// The organisation whose policy the chain follows.
    pub org_id: String,
    /// The severity the chain is for.
    pub severity: Severity,
    /// The next step to send (1 for the first reminder).
    pub step: u32,
    /// When the chain started: the raise, or the escalation.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the next step is due.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// The event that started the chain, what the mails show.
    pub event: AlarmEvent,
}

impl Reminder {
    /// The chain `event` starts in `org_id` under `policy`: `None` for an
    /// event that starts none (not a raise or an escalation, below MAJOR)
    /// and for a policy without reminders or tiers.
    pub fn start(event: &AlarmEvent, org_id: &str, policy: &NotificationPolicy) -> Option<Self> {
        if !starts_chain(event) {
            return None;
        }
        let severity = event.alarm.severity;
        let started_at = event.occurred_at;
        let due_at = policy.due_at(severity, started_at, 1)?;
        Some(Self {
            alarm_id: event.alarm.alarm_id.clone(),
            shipment_id: event.shipment.shipment_id.clone(),
            org_id: org_id.to_owned(),
            severity,
            step: 1,
            started_at,
            due_at,
            event: event.clone(),
        })
    }

    /// The reminder once its step went out: the next step, `None` past the
    /// chain's end (under the policy as it is now).
    pub fn after_step(&self, policy: &NotificationPolicy) -> Option<Self> {
        let step = self.step + 1;
        let due_at = policy.due_at(self.severity, self.started_at, step)?;
        // never more than one step a minute, however late the schedule runs
        let due_at = due_at.max(self.due_at + time::Duration::minutes(1));
        Some(Self {
            step,
            due_at,
            ..self.clone()
        })
    }

    /// Whether this chain takes the place of one at `stored` severity: only
    /// a chain of a higher severity does.
    pub fn supersedes(&self, stored: Severity) -> bool {
        self.severity > stored
    }

    /// The idempotency key of the step's mails:
    /// `emailer#<alarm>:REMINDER:<severity>:<org>:<step>`.
    pub fn claim_key(&self) -> String {
        format!(
            "{EMAILER_CONSUMER}#{}:REMINDER:{}:{}:{}",
            self.alarm_id, self.severity, self.org_id, self.step
        )
    }

    /// How long the alarm has gone unacknowledged when the step goes out.
    pub fn unacknowledged_minutes(&self) -> i64 {
        (self.due_at - self.event.alarm.raised_at.min(self.started_at)).whole_minutes()
    }
}

/// Whether `event` starts an escalation chain: a raise or an escalation at
/// MAJOR or CRITICAL.
pub fn starts_chain(event: &AlarmEvent) -> bool {
    matches!(
        event.event_type,
        AlarmEventType::Raised | AlarmEventType::Escalated
    ) && event.alarm.severity >= Severity::Major
}

/// The chains of its alarm that `event` ends: those up to the returned
/// severity. A clearing ends every chain (up to CRITICAL), an
/// acknowledgement the chains up to the severity it acknowledged (one of the
/// MAJOR alarm delivered after its escalation to CRITICAL does not stop the
/// CRITICAL chain: the escalation reset it); other events end none.
pub fn ends_chains_up_to(event: &AlarmEvent) -> Option<Severity> {
    match event.event_type {
        AlarmEventType::Cleared => Some(Severity::Critical),
        AlarmEventType::Acknowledged => Some(event.alarm.severity),
        AlarmEventType::Raised | AlarmEventType::Escalated => None,
    }
}

/// What the schedule does with a due reminder, given its alarm as stored now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderCheck {
    /// Nobody acted: send the step.
    Send,
    /// The chain is over; the reason is logged.
    Stop(&'static str),
}

/// [`ReminderCheck`] of `reminder` for `alarm` (`None`: no such alarm item).
pub fn check_reminder(reminder: &Reminder, alarm: Option<&Alarm>) -> ReminderCheck {
    let Some(alarm) = alarm else {
        return ReminderCheck::Stop("the alarm is not stored");
    };
    if alarm.state == AlarmState::Cleared {
        return ReminderCheck::Stop("the alarm cleared");
    }
    if alarm.is_reviewed() || alarm.state == AlarmState::ActiveAck {
        return ReminderCheck::Stop("the alarm was acknowledged");
    }
    if alarm.severity > reminder.severity {
        return ReminderCheck::Stop(
            "the alarm escalated: the chain of its new severity takes over",
        );
    }
    ReminderCheck::Send
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::fixtures;

    fn event(event_type: AlarmEventType, severity: Severity) -> AlarmEvent {
        let mut event = fixtures::alarm_event(event_type, severity);
        event.occurred_at = datetime!(2026-12-03 10:00 UTC);
        event.alarm.raised_at = datetime!(2026-12-03 10:00 UTC);
        event
    }

    #[test]
    fn a_critical_raise_starts_a_chain_due_after_its_interval() {
        let policy = NotificationPolicy::default();
        let reminder = Reminder::start(
            &event(AlarmEventType::Raised, Severity::Critical),
            "org-b",
            &policy,
        )
        .unwrap();
        assert_eq!(reminder.step, 1);
        assert_eq!(reminder.due_at, datetime!(2026-12-03 10:15 UTC));
        assert_eq!(reminder.unacknowledged_minutes(), 15);
        assert!(reminder.claim_key().ends_with(":REMINDER:CRITICAL:org-b:1"));
        let second = reminder.after_step(&policy).unwrap();
        assert_eq!(
            (second.step, second.due_at),
            (2, datetime!(2026-12-03 10:30 UTC))
        );
        assert_eq!(second.unacknowledged_minutes(), 30);
        assert_eq!(
            second.after_step(&policy),
            None,
            "the default chain has two steps"
        );
    }

    #[test]
    fn warnings_acknowledgements_and_clearings_start_no_chain() {
        let policy = NotificationPolicy::default();
        for (event_type, severity) in [
            (AlarmEventType::Raised, Severity::Warning),
            (AlarmEventType::Acknowledged, Severity::Critical),
            (AlarmEventType::Cleared, Severity::Critical),
        ] {
            assert_eq!(
                Reminder::start(&event(event_type, severity), "org-a", &policy),
                None,
                "{event_type} {severity}"
            );
        }
        let mut silent = policy.clone();
        silent.escalation.reminders = 0;
        silent.escalation.tiers.clear();
        assert_eq!(
            Reminder::start(
                &event(AlarmEventType::Raised, Severity::Major),
                "org-a",
                &silent
            ),
            None
        );
    }

    #[test]
    fn only_a_higher_severity_replaces_a_chain() {
        let policy = NotificationPolicy::default();
        let major = Reminder::start(
            &event(AlarmEventType::Raised, Severity::Major),
            "org-a",
            &policy,
        )
        .unwrap();
        let critical = Reminder::start(
            &event(AlarmEventType::Escalated, Severity::Critical),
            "org-a",
            &policy,
        )
        .unwrap();
        assert!(critical.supersedes(major.severity));
        assert!(!major.supersedes(critical.severity));
        assert!(!major.supersedes(major.severity), "a redelivered raise");
    }

    #[test]
    fn an_acknowledgement_ends_the_chains_up_to_its_severity() {
        let ends = |event_type, severity| ends_chains_up_to(&event(event_type, severity));
        assert_eq!(
            ends(AlarmEventType::Acknowledged, Severity::Major),
            Some(Severity::Major)
        );
        assert_eq!(
            ends(AlarmEventType::Cleared, Severity::Major),
            Some(Severity::Critical),
            "every chain"
        );
        assert_eq!(ends(AlarmEventType::Raised, Severity::Major), None);
        assert_eq!(ends(AlarmEventType::Escalated, Severity::Critical), None);
    }

    #[test]
    fn a_late_schedule_sends_one_step_a_minute() {
        let policy = NotificationPolicy {
            escalation: crate::notification::policy::Escalation {
                critical_after_minutes: 1,
                reminders: 3,
                ..Default::default()
            },
            ..NotificationPolicy::default()
        };
        let mut reminder = Reminder::start(
            &event(AlarmEventType::Raised, Severity::Critical),
            "org-a",
            &policy,
        )
        .unwrap();
        reminder.due_at = datetime!(2026-12-03 11:00 UTC); // the schedule was down for an hour
        let next = reminder.after_step(&policy).unwrap();
        assert_eq!(next.due_at, datetime!(2026-12-03 11:01 UTC));
    }

    #[test]
    fn the_stored_alarm_decides_whether_the_step_goes_out() {
        let policy = NotificationPolicy::default();
        let raised = event(AlarmEventType::Raised, Severity::Major);
        let reminder = Reminder::start(&raised, "org-a", &policy).unwrap();
        let mut alarm = raised.alarm.clone();
        assert_eq!(check_reminder(&reminder, Some(&alarm)), ReminderCheck::Send);
        assert!(matches!(
            check_reminder(&reminder, None),
            ReminderCheck::Stop(_)
        ));

        let review = fixtures::review();
        assert!(alarm.review(&review, "u-1", datetime!(2026-12-03 10:05 UTC)));
        assert_eq!(
            check_reminder(&reminder, Some(&alarm)),
            ReminderCheck::Stop("the alarm was acknowledged")
        );

        let mut cleared = raised.alarm.clone();
        cleared.state = AlarmState::Cleared;
        assert_eq!(
            check_reminder(&reminder, Some(&cleared)),
            ReminderCheck::Stop("the alarm cleared")
        );

        let mut escalated = raised.alarm.clone();
        escalated.severity = Severity::Critical;
        assert!(matches!(
            check_reminder(&reminder, Some(&escalated)),
            ReminderCheck::Stop(_)
        ));
    }
}
