//! What orders check a new or dispatched shipment against ([`Parties`]):
//! whether its organisations exist (the identity table's organisation items,
//! `id` only), what the registry holds of its device
//! ([`crate::device_registry`]) and which shipments name that device (the
//! shipments table's by-device index, [`crate::shipment_directory`]).

use aws_sdk_dynamodb::Client;
use pharmaguard_domain::coldchain::tracking::{PortError, ShipmentDirectory};
use pharmaguard_domain::ports::DeviceRegistry;
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_domain::shipment::ports::{Parties, StoreError};
use pharmaguard_domain::telemetry::RegisteredDevice;

use crate::device_registry::DynamoDeviceRegistry;
use crate::dynamo::{describe, s};
use crate::identity_store::org_pk;
use crate::shipment_store::DynamoShipmentStore;

/// The organisations and devices of the identity table, and the shipments.
#[derive(Debug, Clone)]
pub struct DynamoParties {
    /// The identity table's device items.
    pub devices: DynamoDeviceRegistry,
    /// The shipments (their by-device index).
    pub shipments: DynamoShipmentStore,
}

impl DynamoParties {
    /// The parties in `identity_table` and `shipments`, through `client`.
    pub fn new(
        client: Client,
        identity_table: impl Into<String>,
        shipments: DynamoShipmentStore,
    ) -> Self {
        Self {
            devices: DynamoDeviceRegistry::new(client, identity_table),
            shipments,
        }
    }
}

fn unavailable(error: PortError) -> StoreError {
    match error {
        PortError::Corrupt(message) => StoreError::Corrupt(message),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl Parties for DynamoParties {
    async fn organisation_exists(&self, org_id: &str) -> Result<bool, StoreError> {
        let output = self
            .devices
            .client
            .get_item()
            .table_name(&self.devices.table)
            .key("pk", s(org_pk(org_id)))
            .key("sk", s("ORG"))
            .projection_expression("id")
            .send()
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!("organisations: {}", describe(&error)))
            })?;
        Ok(output.item.is_some())
    }

    async fn registered_device(
        &self,
        device_id: &str,
    ) -> Result<Option<RegisteredDevice>, StoreError> {
        self.devices
            .registered_device(device_id)
            .await
            .map_err(StoreError::Unavailable)
    }

    async fn shipments_of_device(&self, device_id: &str) -> Result<Vec<Shipment>, StoreError> {
        self.shipments
            .shipments_of_device(device_id)
            .await
            .map_err(unavailable)
    }
}
