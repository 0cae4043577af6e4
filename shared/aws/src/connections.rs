//! The registry of open WebSocket connections on DynamoDB: the
//! [`ConnectionRegistry`] of `ws-connect`, `ws-disconnect`, `ws-message`
//! and `ws-broadcast`.
//!
//! # Table
//!
//! The connections table (env `CONNECTIONS_TABLE`): partition key `pk`, TTL
//! attribute `expires_at`, and the index [`BY_ORG_INDEX`] on `org_id`
//! (hash only, every attribute projected) that lists an organisation's
//! connections for the broadcast.
//!
//! | attribute | value |
//! |---|---|
//! | `pk` | the connection id API Gateway gave |
//! | `org_id`, `user_id`, `role` | who is connected |
//! | `connected_at` | RFC 3339 |
//! | `expires_at` | epoch seconds: `connected_at` + 2 h; DynamoDB deletes the item some time after |
//! | `subscription` | the shipment the connection follows; absent while it follows all |
//!
//! `ws-broadcast`'s sweep reads the whole table every minute
//! ([`DynamoConnectionRegistry::all`], a paged `Scan`): connections live at
//! most 2 hours, so the table stays as small as the number of open
//! dashboards.
//!
//! TTL deletion lags (up to days), so readers check
//! [`Connection::is_live`] themselves. Reading the index is eventually
//! consistent: a connection made a moment ago may miss an event published
//! in the same moment.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use pharmaguard_domain::identity::Role;
use pharmaguard_domain::live::{Connection, ConnectionRegistry, RegistryError};

use crate::dynamo::{
    Item, describe, epoch, epoch_n, optional_text, query_all, s, text, time, time_s,
};

/// Environment variable naming the connections table.
pub const CONNECTIONS_TABLE_VAR: &str = "CONNECTIONS_TABLE";
/// The index of connections by organisation.
pub const BY_ORG_INDEX: &str = "by-org";

/// The connections table on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoConnectionRegistry {
    /// The DynamoDB client, built once per cold start.
    pub client: Client,
    /// The table's name.
    pub table: String,
}

impl DynamoConnectionRegistry {
    /// The registry in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl DynamoConnectionRegistry {
    /// Every connection in the table (every page of a `Scan`), live or not.
    pub async fn all(&self) -> Result<Vec<Connection>, RegistryError> {
        let mut connections = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| unavailable(&error))?;
            for item in page.items() {
                connections.push(connection_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(connections),
            }
        }
    }
}

/// The item of a connection.
pub fn connection_item(connection: &Connection) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(&connection.connection_id)),
        ("org_id".to_owned(), s(&connection.org_id)),
        ("user_id".to_owned(), s(&connection.user_id)),
        ("role".to_owned(), s(connection.role.as_str())),
        ("connected_at".to_owned(), time_s(connection.connected_at)),
        ("expires_at".to_owned(), epoch_n(connection.expires_at)),
    ]);
    if let Some(shipment_id) = &connection.subscription {
        item.insert("subscription".to_owned(), s(shipment_id));
    }
    item
}

/// The connection an item describes.
pub fn connection_from_item(item: &Item) -> Result<Connection, RegistryError> {
    let read = || -> Result<Connection, String> {
        let role = text(item, "role")?;
        Ok(Connection {
            connection_id: text(item, "pk")?,
            user_id: text(item, "user_id")?,
            org_id: text(item, "org_id")?,
            role: role.parse::<Role>().map_err(|error| error.to_string())?,
            connected_at: time(item, "connected_at")?,
            expires_at: epoch(item, "expires_at")?,
            subscription: optional_text(item, "subscription")?,
        })
    };
    read().map_err(RegistryError::Corrupt)
}

fn unavailable<E, R>(error: &SdkError<E, R>) -> RegistryError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    RegistryError::Unavailable(describe(error))
}

impl ConnectionRegistry for DynamoConnectionRegistry {
    async fn put(&self, connection: &Connection) -> Result<(), RegistryError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(connection)))
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, RegistryError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(connection_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        output.item.as_ref().map(connection_from_item).transpose()
    }

    async fn delete(&self, connection_id: &str) -> Result<(), RegistryError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(connection_id))
            .send()
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(())
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        shipment_id: Option<&str>,
    ) -> Result<(), RegistryError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(connection_id))
            .condition_expression("attribute_exists(pk)");
        let update = match shipment_id {
            Some(shipment_id) => update
                .update_expression("SET subscription = :shipment")
                .expression_attribute_values(":shipment", s(shipment_id)),
            None => update.update_expression("REMOVE subscription"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Err(RegistryError::NotFound)
            }
            Err(error) => Err(unavailable(&error)),
        }
    }

    async fn connections_of(&self, org_id: &str) -> Result<Vec<Connection>, RegistryError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_ORG_INDEX)
            .key_condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org_id));
        let items = query_all(query)
            .await
            .map_err(|error| unavailable(&error))?;
        items.iter().map(connection_from_item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use pharmaguard_domain::identity::Principal;
    use time::macros::datetime;

    fn connection() -> Connection {
        let principal = Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Pharmacist,
        };
        Connection::open("Ab12Cd34=", &principal, datetime!(2026-11-21 08:00:00 UTC)).unwrap()
    }

    #[test]
    fn a_connection_round_trips_through_its_item() {
        let mut connection = connection();
        let item = connection_item(&connection);
        assert_eq!(item["pk"], s("Ab12Cd34="));
        assert_eq!(item["role"], s("PHARMACIST"));
        assert_eq!(
            item["expires_at"],
            AttributeValue::N("1795255200".into()),
            "epoch seconds of 10:00, two hours later (the TTL)"
        );
        assert!(!item.contains_key("subscription"));
        assert_eq!(connection_from_item(&item), Ok(connection.clone()));

        connection.subscription = Some("shp-1".into());
        let item = connection_item(&connection);
        assert_eq!(item["subscription"], s("shp-1"));
        assert_eq!(connection_from_item(&item), Ok(connection));
    }

    #[test]
    fn a_damaged_item_is_corrupt() {
        let mut item = connection_item(&connection());
        item.insert("role".into(), s("KING"));
        assert!(matches!(
            connection_from_item(&item),
            Err(RegistryError::Corrupt(_))
        ));
        let mut item = connection_item(&connection());
        item.remove("org_id");
        assert!(matches!(
            connection_from_item(&item),
            Err(RegistryError::Corrupt(_))
        ));
    }
}
