//! The device registry as the telemetry path reads it: a device's
//! organisation and whether it is disabled ([`DeviceRegistry`]).
//!
//! One `GetItem` of the device's item (several devices: one `BatchGetItem`
//! per 100, with the same projection) in the identity table (`pk` =
//! `DEVICE#<id>`, `sk` = `DEVICE`; see [`crate::identity_store`]) with a
//! projection of `id`, `org_id` and `disabled_at` only: the telemetry
//! functions never read a secret's hash, and their IAM policy allows
//! nothing else (`dynamodb:LeadingKeys` `DEVICE#*`, `dynamodb:Attributes`).

use aws_sdk_dynamodb::Client;
use pharmaguard_domain::ports::DeviceRegistry;
use pharmaguard_domain::telemetry::RegisteredDevice;

use crate::dynamo::{BatchGet, Item, describe, s, text};
use crate::identity_store::device_pk;

/// The attributes read of a device item.
pub const DEVICE_PROJECTION: &str = "id, org_id, disabled_at";

/// The identity table's device items, read-only.
#[derive(Debug, Clone)]
pub struct DynamoDeviceRegistry {
    /// The DynamoDB client, built once per cold start.
    pub client: Client,
    /// The identity table.
    pub table: String,
}

impl DynamoDeviceRegistry {
    /// The registry in `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The registered device a (projected) device item describes.
pub fn registered_device_from_item(item: &Item) -> Result<RegisteredDevice, String> {
    Ok(RegisteredDevice {
        id: text(item, "id")?,
        org_id: text(item, "org_id")?,
        disabled: item.contains_key("disabled_at"),
    })
}

/// The key of a device's item.
fn device_key(device_id: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(device_pk(device_id))),
        ("sk".to_owned(), s("DEVICE")),
    ])
}

impl DeviceRegistry for DynamoDeviceRegistry {
    async fn registered_device(&self, device_id: &str) -> Result<Option<RegisteredDevice>, String> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(device_key(device_id)))
            .projection_expression(DEVICE_PROJECTION)
            .send()
            .await
            .map_err(|error| format!("device registry: {}", describe(&error)))?;
        output
            .item
            .as_ref()
            .map(registered_device_from_item)
            .transpose()
            .map_err(|problem| format!("device item {device_id}: {problem}"))
    }

    async fn registered_devices(
        &self,
        device_ids: &[&str],
    ) -> Vec<Result<Option<RegisteredDevice>, String>> {
        let read = BatchGet {
            table: &self.table,
            projection: Some(DEVICE_PROJECTION),
            consistent: false,
        };
        read.by_id(
            &self.client,
            device_ids,
            device_key,
            |item| text(item, "id").ok(),
            |device_id, item| {
                registered_device_from_item(&item)
                    .map_err(|problem| format!("device item {device_id}: {problem}"))
            },
            |problem| format!("device registry: {problem}"),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_device_item_reads_as_its_organisation_and_state() {
        let mut item: Item = HashMap::from([
            ("id".to_owned(), s("truck-7")),
            ("org_id".to_owned(), s("org-a")),
        ]);
        assert_eq!(
            registered_device_from_item(&item),
            Ok(RegisteredDevice {
                id: "truck-7".into(),
                org_id: "org-a".into(),
                disabled: false
            })
        );
        item.insert("disabled_at".into(), s("2026-12-02T10:00:00Z"));
        assert!(registered_device_from_item(&item).unwrap().disabled);
        item.remove("org_id");
        assert!(registered_device_from_item(&item).is_err());
    }
}
