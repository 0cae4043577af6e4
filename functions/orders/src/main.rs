//! The `orders` Lambda: wiring only. Everything it does is in the library
//! ([`orders::route`]).
//!
//! Environment:
//! - `SHIPMENTS_TABLE` (required): the shipments table (items, listings, stream);
//! - `AUDIT_TABLE` (required): the audit trail;
//! - `IDENTITY_TABLE` (required): the organisations and devices a shipment
//!   names (read only, organisation ids and device owners);
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_http::{Error, service_fn};
use orders::{handle, required_env};
use pharmaguard_aws::identity_store::IDENTITY_TABLE_VAR;
use pharmaguard_aws::order_parties::DynamoParties;
use pharmaguard_aws::shipment_store::{AUDIT_TABLE_VAR, DynamoShipmentStore, SHIPMENTS_TABLE_VAR};
use pharmaguard_domain::shipment::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let env = |name| {
        required_env(name, std::env::var(name).ok()).map_err(|error| {
            tracing::error!(%error, "cannot start");
            Error::from(error.to_string())
        })
    };
    let table = env(SHIPMENTS_TABLE_VAR)?;
    let audit_table = env(AUDIT_TABLE_VAR)?;
    let identity_table = env(IDENTITY_TABLE_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoShipmentStore::new(client.clone(), table, audit_table);
    let parties = DynamoParties::new(client, identity_table, store.clone());
    let (store, parties, clock) = (&store, &parties, &SystemClock);

    lambda_http::run(service_fn(move |request| {
        handle(store, parties, clock, request)
    }))
    .await
}
