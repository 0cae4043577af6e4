//! Notifications: the emails about a shipment's alarms, who gets them, and
//! the escalation of an alarm nobody acknowledges.
//!
//! Pure: [`policy`] says whom an organisation mails for which severity and
//! how it escalates; [`recipients`] picks those people among its users;
//! [`email`] writes the mail for them; [`escalation`] keeps the chain of
//! reminders of one alarm; [`is_mailed`] says which events are mailed at
//! all. The emailer function sends the result through SES.
//!
//! # Which events are mailed
//!
//! | event | mailed |
//! |---|---|
//! | `alarm.raised`, `alarm.escalated` at MAJOR or CRITICAL | yes: someone must act; the escalation chain starts |
//! | `alarm.cleared` of an alarm that was MAJOR or CRITICAL | yes, as an all-clear: whoever was alarmed learns that the condition is gone; the chain ends |
//! | `alarm.acknowledged` | no: a person has already taken it on (the dashboard shows who); the chain ends |
//! | anything at WARNING | no: the dashboard shows it |
//!
//! An alarm's severity never goes down while it is active, so the severity a
//! cleared event carries is the highest the alarm reached: an alarm that was
//! ever mailed gets its all-clear, and one that never was gets none. The
//! subscription's filter policy says the same on the message attributes
//! (`severity` MAJOR or CRITICAL, `event_type` raised, escalated, cleared or
//! acknowledged); [`is_mailed`] checks it again on the body.

pub mod email;
pub mod escalation;
pub mod policy;
pub mod recipients;

pub use email::{
    EmailContent, MailContext, ReminderNotice, alarm_subject, compose_alarm_email, escape_html,
    local_and_utc, openstreetmap_link, shipment_link,
};
pub use escalation::{Reminder, ReminderCheck, check_reminder, ends_chains_up_to, starts_chain};
pub use policy::{Audience, Escalation, NotificationPolicy, RoleName, parse_policy};
pub use recipients::{Contact, Recipient, recipients_for};

use crate::coldchain::alarm::Severity;
use crate::coldchain::events::{AlarmEvent, AlarmEventType};

/// The idempotency key prefix of the emailer (`emailer#{event_id}`).
pub const EMAILER_CONSUMER: &str = "emailer";

/// Whether `event` is mailed (see the module table).
pub fn is_mailed(event: &AlarmEvent) -> bool {
    let type_mailed = matches!(
        event.event_type,
        AlarmEventType::Raised | AlarmEventType::Escalated | AlarmEventType::Cleared
    );
    type_mailed && event.alarm.severity >= Severity::Major
}

/// The idempotency key under which the emailer claims `event_id`.
pub fn emailer_claim_key(event_id: &str) -> String {
    format!("{EMAILER_CONSUMER}#{event_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::alarm_event;

    #[test]
    fn which_events_are_mailed() {
        use AlarmEventType::*;
        use Severity::*;
        for (event_type, severity, mailed) in [
            (Raised, Warning, false),
            (Raised, Major, true),
            (Raised, Critical, true),
            (Escalated, Major, true),
            (Escalated, Critical, true),
            (Cleared, Warning, false),
            (Cleared, Major, true),
            (Cleared, Critical, true),
            (Acknowledged, Major, false),
            (Acknowledged, Critical, false),
        ] {
            assert_eq!(
                is_mailed(&alarm_event(event_type, severity)),
                mailed,
                "{event_type} at {severity}"
            );
        }
        assert_eq!(
            emailer_claim_key("shp-1#SHOCK#1:RAISED"),
            "emailer#shp-1#SHOCK#1:RAISED"
        );
    }
}
