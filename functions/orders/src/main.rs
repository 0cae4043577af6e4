//! The `orders` Lambda: wiring only. Everything it does is in the library
//! ([`orders::route`]).
//!
//! Environment:
//! - `SHIPMENTS_TABLE` (required): the shipments table (items, listings, stream);
//! - `AUDIT_TABLE` (required): the audit trail;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_http::{Error, service_fn};
use orders::{handle, required_env};
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

    let config = pharmaguard_aws::config::load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoShipmentStore::new(client, table, audit_table);
    let (store, clock) = (&store, &SystemClock);

    lambda_http::run(service_fn(move |request| handle(store, clock, request))).await
}
