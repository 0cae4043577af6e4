//! The `ws-message` Lambda (routes `subscribe`, `unsubscribe`, `ping` and
//! `$default` of the WebSocket API): wiring only. Everything it does is in
//! the library ([`ws_message::Messenger::handle`]).
//!
//! Environment:
//! - `CONNECTIONS_TABLE` (required): the connection registry;
//! - `SHIPMENTS_TABLE` (required): the shipments, for subscriptions;
//! - `WS_MANAGEMENT_ENDPOINT` (required): the `@connections` API (to close
//!   connections the registry does not know);
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use pharmaguard_aws::shipment_store::DynamoShipmentStore;
use pharmaguard_aws::ws_management::ManagementApi;
use time::OffsetDateTime;
use ws_message::{
    CONNECTIONS_TABLE_VAR, MessageRequest, Messenger, SHIPMENTS_TABLE_VAR,
    WS_MANAGEMENT_ENDPOINT_VAR,
};

/// This function only reads shipments; it names no audit table.
const NO_AUDIT_TABLE: &str = "";

fn required(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            let message = format!("the environment variable {name} must be set");
            tracing::error!(error = %message, "cannot start");
            Error::from(message)
        })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let connections_table = required(CONNECTIONS_TABLE_VAR)?;
    let shipments_table = required(SHIPMENTS_TABLE_VAR)?;
    let endpoint = required(WS_MANAGEMENT_ENDPOINT_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let registry = DynamoConnectionRegistry::new(dynamodb.clone(), connections_table);
    let shipments = DynamoShipmentStore::new(dynamodb, shipments_table, NO_AUDIT_TABLE);
    let gateway = ManagementApi::new(&config, &endpoint);
    let messenger = Messenger {
        registry: &registry,
        gateway: &gateway,
        shipments: &shipments,
    };
    let messenger = &messenger;

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<MessageRequest>| async move {
            Ok::<_, Error>(
                messenger
                    .handle(&event.payload, OffsetDateTime::now_utc())
                    .await,
            )
        },
    ))
    .await
}
