//! The escalation chains of unacknowledged alarms on DynamoDB: one
//! [`Reminder`] per alarm and organisation, found by the time its next step
//! is due; and the alarm as it is stored now, which the schedule checks
//! before each step.
//!
//! # Table
//!
//! The reminders table (env [`REMINDERS_TABLE_VAR`]), string keys `pk`/`sk`,
//! with the global secondary index [`DUE_INDEX`] (hash `queue`, range
//! `due_sk`, projection ALL):
//!
//! | `pk` | `sk` | other attributes |
//! |---|---|---|
//! | `<alarm id>` | `<org id>` | `queue` = `DUE`, `due_sk` = `<due_at, fixed-width UTC>#<alarm id>#<org id>`, `severity_rank` (N: 1 WARNING, 2 MAJOR, 3 CRITICAL), `step` (N), `reminder` (its JSON) |
//!
//! The schedule asks the index for everything due up to now (one `Query`,
//! however many chains wait). Every write is conditional, so that a
//! redelivered event or two overlapping schedule runs never move a chain
//! backwards or twice:
//!
//! - a chain starts (`Put`) only where none is, or one of a lower severity
//!   ([`DynamoReminders::start`]);
//! - a step moves it on (`Put`) or ends it (`Delete`) only at the step and
//!   severity it was read at ([`DynamoReminders::advance`]);
//! - an acknowledgement ends it (`Delete`) only up to the severity it
//!   acknowledged, a clearing at any severity ([`DynamoReminders::end`]).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use pharmaguard_domain::audit::sortable_time;
use pharmaguard_domain::coldchain::tracking::PortError;
use pharmaguard_domain::coldchain::{Alarm, Severity};
use pharmaguard_domain::notification::Reminder;
use time::OffsetDateTime;

use crate::dynamo::{Item, describe, n, s, text};
use crate::shipment_store::keys::shipment_pk;
use crate::tracking_store::{alarm_from_item, alarm_sk};

/// The environment variable naming the reminders table.
pub const REMINDERS_TABLE_VAR: &str = "REMINDERS_TABLE";
/// The index of the reminders by due time.
pub const DUE_INDEX: &str = "due";
/// `queue` of every reminder: one partition of the index, in due order.
pub const DUE_QUEUE: &str = "DUE";

/// The rank a condition compares severities by.
pub fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Warning => 1,
        Severity::Major => 2,
        Severity::Critical => 3,
    }
}

/// `due_sk` of a reminder: sorts by due time, unique per alarm and
/// organisation.
pub fn due_sort_key(reminder: &Reminder) -> String {
    format!(
        "{}#{}#{}",
        sortable_time(reminder.due_at),
        reminder.alarm_id,
        reminder.org_id
    )
}

/// The item of a reminder.
pub fn reminder_item(reminder: &Reminder) -> Result<Item, PortError> {
    let json = serde_json::to_string(reminder)
        .map_err(|error| PortError::Corrupt(format!("reminder not serializable: {error}")))?;
    Ok(Item::from([
        ("pk".to_owned(), s(&reminder.alarm_id)),
        ("sk".to_owned(), s(&reminder.org_id)),
        ("queue".to_owned(), s(DUE_QUEUE)),
        ("due_sk".to_owned(), s(due_sort_key(reminder))),
        (
            "severity_rank".to_owned(),
            n(severity_rank(reminder.severity)),
        ),
        ("step".to_owned(), n(reminder.step)),
        ("reminder".to_owned(), s(json)),
    ]))
}

/// The reminder of an item.
pub fn reminder_from_item(item: &Item) -> Result<Reminder, PortError> {
    let json = text(item, "reminder").map_err(PortError::Corrupt)?;
    serde_json::from_str(&json)
        .map_err(|error| PortError::Corrupt(format!("reminder item: {error}")))
}

/// The reminders table.
#[derive(Debug, Clone)]
pub struct DynamoReminders {
    client: Client,
    table: String,
}

/// The outcome of a conditional write: `Ok(true)` written, `Ok(false)` its
/// condition did not hold (someone else moved the chain first), an error
/// otherwise.
fn conditional<T, E>(result: Result<T, SdkError<E>>) -> Result<bool, PortError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(service))
            if service.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(unavailable(&error)),
    }
}

fn unavailable<E>(error: &SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    PortError::Unavailable(describe(error))
}

impl DynamoReminders {
    /// The reminders of table `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Starts `reminder`'s chain unless one of the same or a higher severity
    /// waits already. Returns whether it started.
    pub async fn start(&self, reminder: &Reminder) -> Result<bool, PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(reminder_item(reminder)?))
            .condition_expression("attribute_not_exists(pk) OR severity_rank < :rank")
            .expression_attribute_values(":rank", n(severity_rank(reminder.severity)))
            .send()
            .await;
        conditional(result)
    }

    /// Up to `limit` reminders due at `now`, the most overdue first.
    pub async fn due(&self, now: OffsetDateTime, limit: i32) -> Result<Vec<Reminder>, PortError> {
        // `~` sorts after every character of an id: everything due by `now`
        let upto = format!("{}~", sortable_time(now));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("queue = :queue AND due_sk <= :upto")
            .expression_attribute_values(":queue", s(DUE_QUEUE))
            .expression_attribute_values(":upto", s(upto))
            .limit(limit)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        output.items().iter().map(reminder_from_item).collect()
    }

    /// Moves `current` on to `next`, or ends it (`None`), if it is still at
    /// the step and severity it was read at. Returns whether it was.
    pub async fn advance(
        &self,
        current: &Reminder,
        next: Option<&Reminder>,
    ) -> Result<bool, PortError> {
        const AT_STEP: &str = "step = :step AND severity_rank = :rank";
        let step = n(current.step);
        let rank = n(severity_rank(current.severity));
        match next {
            Some(next) => conditional(
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(reminder_item(next)?))
                    .condition_expression(AT_STEP)
                    .expression_attribute_values(":step", step)
                    .expression_attribute_values(":rank", rank)
                    .send()
                    .await,
            ),
            None => conditional(
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(&current.alarm_id))
                    .key("sk", s(&current.org_id))
                    .condition_expression(AT_STEP)
                    .expression_attribute_values(":step", step)
                    .expression_attribute_values(":rank", rank)
                    .send()
                    .await,
            ),
        }
    }

    /// Ends the chain of `alarm_id` in `org_id` if its severity is at most
    /// `up_to`. Returns whether one ended.
    pub async fn end(
        &self,
        alarm_id: &str,
        org_id: &str,
        up_to: Severity,
    ) -> Result<bool, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(alarm_id))
            .key("sk", s(org_id))
            .condition_expression("attribute_exists(pk) AND severity_rank <= :rank")
            .expression_attribute_values(":rank", n(severity_rank(up_to)))
            .send()
            .await;
        conditional(result)
    }
}

/// One alarm as the alarms table holds it now (see [`crate::tracking_store`]).
#[derive(Debug, Clone)]
pub struct DynamoAlarmStates {
    client: Client,
    alarms_table: String,
}

impl DynamoAlarmStates {
    /// The alarms of table `alarms_table`.
    pub fn new(client: Client, alarms_table: impl Into<String>) -> Self {
        Self {
            client,
            alarms_table: alarms_table.into(),
        }
    }

    /// The alarm `alarm_id` of `shipment_id`, read consistently; `None`
    /// when there is no such item.
    pub async fn alarm(
        &self,
        shipment_id: &str,
        alarm_id: &str,
    ) -> Result<Option<Alarm>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.alarms_table)
            .key("pk", s(shipment_pk(shipment_id)))
            .key("sk", s(alarm_sk(alarm_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        output.item().map(alarm_from_item).transpose()
    }
}

#[cfg(test)]
mod tests {
    use pharmaguard_domain::coldchain::AlarmEventType;
    use pharmaguard_domain::fixtures::alarm_event;
    use pharmaguard_domain::notification::NotificationPolicy;

    use super::*;

    #[test]
    fn a_reminder_round_trips_and_sorts_by_due_time() {
        let event = alarm_event(AlarmEventType::Raised, Severity::Critical);
        let reminder = Reminder::start(&event, "org-b", &NotificationPolicy::default()).unwrap();
        let item = reminder_item(&reminder).unwrap();
        assert_eq!(reminder_from_item(&item).unwrap(), reminder);
        assert_eq!(text(&item, "pk").unwrap(), reminder.alarm_id);
        assert_eq!(text(&item, "sk").unwrap(), "org-b");
        let later = reminder.after_step(&NotificationPolicy::default()).unwrap();
        assert!(due_sort_key(&reminder) < due_sort_key(&later));
        assert!(due_sort_key(&reminder) < format!("{}~", sortable_time(reminder.due_at)));
        assert!(severity_rank(Severity::Major) < severity_rank(Severity::Critical));
    }
}
