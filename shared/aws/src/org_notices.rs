//! An organisation's notification policy on the identity table, and what the
//! emailer reads of an organisation: its name and its policy.
//!
//! The policy is an item of its own beside the organisation's (see
//! [`crate::identity_store`]):
//!
//! | `pk` | `sk` | other attributes |
//! |---|---|---|
//! | `ORG#<id>` | `ORG` | the organisation: `id`, `name`, `kind`, `created_at` |
//! | `ORG#<id>` | `NOTIFICATIONS` | `entity` = `NOTIFICATION_POLICY`, `org_id`, `policy` (the JSON of the [`NotificationPolicy`]), `updated_at` |
//!
//! so the emailer reads both with one `Query` on `pk = ORG#<id>`, and its
//! role may read nothing of the table but the `ORG#` partitions (no user,
//! device or token item is there). An organisation without a policy item
//! mails by [`NotificationPolicy::default`].

use aws_sdk_dynamodb::Client;
use pharmaguard_domain::notification::NotificationPolicy;
use time::OffsetDateTime;
use tracing::warn;

use crate::dynamo::{Item, describe, query_all, s, text, time_s};
use crate::identity_store::org_pk;

/// `sk` of an organisation's notification policy.
pub const NOTIFICATIONS_SK: &str = "NOTIFICATIONS";

/// The item of `org_id`'s policy, as changed at `at`.
pub fn policy_item(org_id: &str, policy: &NotificationPolicy, at: OffsetDateTime) -> Item {
    Item::from([
        ("pk".to_owned(), s(org_pk(org_id))),
        ("sk".to_owned(), s(NOTIFICATIONS_SK)),
        ("entity".to_owned(), s("NOTIFICATION_POLICY")),
        ("org_id".to_owned(), s(org_id)),
        (
            "policy".to_owned(),
            s(serde_json::to_string(policy).unwrap_or_default()),
        ),
        ("updated_at".to_owned(), time_s(at)),
    ])
}

/// The policy of a policy item. A policy that no longer validates (written
/// by an older version, say) is an error, never half-applied.
pub fn policy_from_item(item: &Item) -> Result<NotificationPolicy, String> {
    let json = text(item, "policy")?;
    let policy: NotificationPolicy =
        serde_json::from_str(&json).map_err(|e| format!("policy: {e}"))?;
    match policy.validate().first() {
        None => Ok(policy),
        Some(error) => Err(format!("policy: {error}")),
    }
}

/// What the emailer knows of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgNotice {
    /// Its name (its id when it has no organisation item).
    pub name: String,
    /// Its policy, or the default.
    pub policy: NotificationPolicy,
}

/// The organisation and policy items of one `ORG#` partition: the name and
/// the policy. A corrupt policy falls back to the default (logged): the
/// alarm is still mailed.
pub fn notice_from_items(org_id: &str, items: &[Item]) -> OrgNotice {
    let sk = |item: &Item| text(item, "sk").unwrap_or_default();
    let name = items
        .iter()
        .find(|item| sk(item) == "ORG")
        .and_then(|item| text(item, "name").ok())
        .unwrap_or_else(|| org_id.to_owned());
    let policy = match items.iter().find(|item| sk(item) == NOTIFICATIONS_SK) {
        None => NotificationPolicy::default(),
        Some(item) => policy_from_item(item).unwrap_or_else(|error| {
            warn!(%org_id, %error, "notification policy unreadable; mailing by the default");
            NotificationPolicy::default()
        }),
    };
    OrgNotice { name, policy }
}

/// Reads [`OrgNotice`]s from the identity table.
#[derive(Debug, Clone)]
pub struct DynamoOrgNotices {
    client: Client,
    table: String,
}

impl DynamoOrgNotices {
    /// The notices of the identity table `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The name and policy of `org_id` (one `Query`).
    pub async fn notice_of(&self, org_id: &str) -> Result<OrgNotice, String> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(org_pk(org_id)));
        let items = query_all(query).await.map_err(|error| describe(&error))?;
        Ok(notice_from_items(org_id, &items))
    }
}

#[cfg(test)]
mod tests {
    use pharmaguard_domain::notification::RoleName;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_policy_round_trips_through_its_item() {
        let mut policy = NotificationPolicy {
            time_zone: "Europe/Berlin".into(),
            ..NotificationPolicy::default()
        };
        policy.major.roles.insert(RoleName::Driver);
        let item = policy_item("org-1", &policy, datetime!(2026-12-03 10:00 UTC));
        assert_eq!(text(&item, "pk").unwrap(), "ORG#org-1");
        assert_eq!(policy_from_item(&item).unwrap(), policy);
    }

    #[test]
    fn the_notice_names_the_organisation_and_falls_back_to_the_default() {
        let org = Item::from([
            ("pk".to_owned(), s("ORG#org-1")),
            ("sk".to_owned(), s("ORG")),
            ("name".to_owned(), s("Charité Pharmacy")),
        ]);
        let notice = notice_from_items("org-1", std::slice::from_ref(&org));
        assert_eq!(notice.name, "Charité Pharmacy");
        assert_eq!(notice.policy, NotificationPolicy::default());

        let mut broken = policy_item(
            "org-1",
            &NotificationPolicy::default(),
            datetime!(2026-12-03 10:00 UTC),
        );
        broken.insert("policy".to_owned(), s(r#"{"time_zone":"Mars/Base"}"#));
        let notice = notice_from_items("org-1", &[org, broken]);
        assert_eq!(notice.policy, NotificationPolicy::default());
        assert_eq!(notice_from_items("org-9", &[]).name, "org-9");
    }
}
