//! The shipments as the anomaly detector looks them up: the
//! [`ShipmentDirectory`] on the shipments table (see [`crate::shipment_store`]
//! for its layout).
//!
//! A shipment by id is a strongly consistent `GetItem`; a device's shipments
//! are one `Query` of the index [`BY_DEVICE_INDEX`] (only shipment items carry
//! `device_id`), eventually consistent like every global secondary index: a
//! shipment dispatched a moment ago may show up a moment later.

use pharmaguard_domain::coldchain::tracking::{PortError, ShipmentDirectory};
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_domain::shipment::ports::{ShipmentStore, StoreError};

use crate::dynamo::{describe, s};
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

    async fn shipments_of_device(&self, device_id: &str) -> Result<Vec<Shipment>, PortError> {
        let mut shipments = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_DEVICE_INDEX)
                .key_condition_expression("device_id = :device")
                .expression_attribute_values(":device", s(device_id))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| PortError::Unavailable(describe(&error)))?;
            for item in output.items() {
                shipments.push(shipment_from_item(item.clone()).map_err(port_error)?);
            }
            start = output.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(shipments);
            }
        }
    }
}
