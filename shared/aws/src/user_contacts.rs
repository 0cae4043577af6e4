//! The users of an organisation as the emailer may see them: through the
//! identity table's index [`CONTACTS_INDEX`], which projects only what a mail
//! needs.
//!
//! The index has the keys of `gsi1` (`gsi1pk` = `ORG#<org>#USERS` for an
//! organisation's users, `gsi1sk` = their email; see
//! [`crate::identity_store`]) and projects, besides the keys, only
//! [`PROJECTED`]: no password hash, no device secret, no token. The
//! emailer's role may query this index and nothing else of the table, so it
//! cannot read a credential even by mistake. Every user item is in it as soon
//! as it is written (no attribute of its own to maintain), eventually
//! consistent like every global secondary index.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::notification::Contact;
use tracing::warn;

use crate::dynamo::{Item, describe, query_all, s, text};
use crate::identity_store::org_users_gsi1pk;

/// The index of the identity table the emailer reads.
pub const CONTACTS_INDEX: &str = "contacts";

/// The non-key attributes [`CONTACTS_INDEX`] projects (the template's
/// `NonKeyAttributes`, and `shared/testkit`'s table for the store tests).
pub const PROJECTED: [&str; 6] = ["id", "email", "name", "org_id", "role", "disabled_at"];

/// The contact of a user item of [`CONTACTS_INDEX`]. A `disabled_at`
/// present marks the account disabled.
pub fn contact_from_item(item: &Item) -> Result<Contact, String> {
    Ok(Contact {
        user_id: text(item, "id")?,
        email: text(item, "email")?,
        name: text(item, "name")?,
        org_id: text(item, "org_id")?,
        role: text(item, "role")?
            .parse::<Role>()
            .map_err(|e| e.to_string())?,
        disabled: matches!(item.get("disabled_at"), Some(AttributeValue::S(at)) if !at.is_empty()),
    })
}

/// Why the contacts could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactsError {
    /// DynamoDB failed; trying again may work.
    #[error("identity index unavailable: {0}")]
    Unavailable(String),
    /// An item of the index is not a user as expected.
    #[error("corrupt contact item: {0}")]
    Corrupt(String),
}

/// Lists an organisation's users from [`CONTACTS_INDEX`].
#[derive(Debug, Clone)]
pub struct DynamoUserContacts {
    client: Client,
    table: String,
}

impl DynamoUserContacts {
    /// The contacts of the identity table `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every user of `org_id`, in email order.
    pub async fn contacts_of(&self, org_id: &str) -> Result<Vec<Contact>, ContactsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONTACTS_INDEX)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(org_users_gsi1pk(org_id)));
        let items = query_all(query).await.map_err(|error| {
            let message = describe(&error);
            warn!(error = %message, "contacts query failed");
            ContactsError::Unavailable(message)
        })?;
        items
            .iter()
            .map(|item| contact_from_item(item).map_err(ContactsError::Corrupt))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), s(*value)))
            .collect()
    }

    const USER: [(&str, &str); 7] = [
        ("pk", "USER#usr-1"),
        ("gsi1pk", "ORG#org-a#USERS"),
        ("id", "usr-1"),
        ("email", "mia@a.example"),
        ("name", "Mia Manager"),
        ("org_id", "org-a"),
        ("role", "MANAGER"),
    ];

    #[test]
    fn a_user_of_the_index_is_a_contact() {
        assert_eq!(
            contact_from_item(&item(&USER)),
            Ok(Contact {
                user_id: "usr-1".into(),
                email: "mia@a.example".into(),
                name: "Mia Manager".into(),
                org_id: "org-a".into(),
                role: Role::Manager,
                disabled: false,
            })
        );
    }

    #[test]
    fn disabled_while_disabled_at_is_set() {
        let mut disabled = item(&USER);
        disabled.insert("disabled_at".into(), s("2026-11-21T10:00:00Z"));
        assert!(contact_from_item(&disabled).expect("contact").disabled);
    }

    #[test]
    fn an_item_without_what_a_mail_needs_is_corrupt() {
        let mut no_email = item(&USER);
        no_email.remove("email");
        assert!(contact_from_item(&no_email).is_err());
        let mut bad_role = item(&USER);
        bad_role.insert("role".into(), s("OWNER"));
        assert!(contact_from_item(&bad_role).is_err());
    }

    #[test]
    fn the_index_projects_no_secret() {
        for secret in ["password_hash", "secret_hash", "tokens_valid_after"] {
            assert!(!PROJECTED.contains(&secret), "{secret} projected");
        }
    }
}
