//! The shipments as the anomaly detector looks them up: the
//! [`ShipmentDirectory`] on the shipments table (see [`crate::shipment_store`]
//! for its layout).
//!
//! A shipment by id is a strongly consistent `GetItem` (several at once, one
//! `BatchGetItem` per 100, still strongly consistent); a device's shipments
//! are one `Query` of the index [`BY_DEVICE_INDEX`] (only shipment items carry
//! `device_id`), eventually consistent like every global secondary index: a
//! shipment dispatched a moment ago may show up a moment later.

use pharmaguard_domain::coldchain::tracking::{PortError, ShipmentDirectory};
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_domain::shipment::ports::{ShipmentStore, StoreError};

use crate::dynamo::{BatchGet, describe, query_all, s, text};
use crate::shipment_store::keys::shipment_key;
use crate::shipment_store::{BY_DEVICE_INDEX, DynamoShipmentStore, shipment_from_item};

fn port_error(error: StoreError) -> PortError {
    match error {
        StoreError::Corrupt(message) => PortError::Corrupt(message),
        other => PortError::Unavailable(other.to_string()),
    }
}

impl ShipmentDirectory for DynamoShipmentStore {
    async fn shipment(&self, shipment_id: &str) -> Result<Option<Shipment>, PortError> {
        self.get(shipment_id).await.map_err(port_error)
    }

    async fn shipments(&self, shipment_ids: &[&str]) -> Vec<Result<Option<Shipment>, PortError>> {
        let read = BatchGet {
            table: &self.table,
            projection: None,
            consistent: true,
        };
        read.by_id(
            &self.client,
            shipment_ids,
            shipment_key,
            |item| text(item, "id").ok(),
            |_, item| shipment_from_item(item).map_err(port_error),
            PortError::Unavailable,
        )
        .await
    }

    async fn shipments_of_device(&self, device_id: &str) -> Result<Vec<Shipment>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_DEVICE_INDEX)
            .key_condition_expression("device_id = :device")
            .expression_attribute_values(":device", s(device_id));
        let items = query_all(query)
            .await
            .map_err(|error| PortError::Unavailable(describe(&error)))?;
        items
            .into_iter()
            .map(|item| shipment_from_item(item).map_err(port_error))
            .collect()
    }
}
