//! The `ws-broadcast` Lambda (subscribed to the shipment, alarm and
//! tracking event topics, and invoked every minute by a schedule): wiring
//! only. Everything it does is in the library
//! ([`ws_broadcast::Broadcaster::broadcast`], [`ws_broadcast::Sweeper::sweep`]).
//!
//! Environment:
//! - `CONNECTIONS_TABLE` (required): the connection registry;
//! - `WS_MANAGEMENT_ENDPOINT` (required): the `@connections` API;
//! - `IDENTITY_TABLE` (required): the identity table, where the sweep reads
//!   the connected users' status (a projected `GetItem`);
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_runtime::{Error, service_fn};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use pharmaguard_aws::identity_store::DynamoAccountStatuses;
use pharmaguard_aws::ws_management::ManagementApi;
use ws_broadcast::{
    Broadcaster, CONNECTIONS_TABLE_VAR, IDENTITY_TABLE_VAR, MAX_CONCURRENT_POSTS, Sweeper,
    WS_MANAGEMENT_ENDPOINT_VAR, handle_any,
};

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
    let table = required(CONNECTIONS_TABLE_VAR)?;
    let endpoint = required(WS_MANAGEMENT_ENDPOINT_VAR)?;
    let identity_table = required(IDENTITY_TABLE_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let registry = DynamoConnectionRegistry::new(dynamodb.clone(), table);
    let statuses = DynamoAccountStatuses::new(dynamodb, identity_table);
    let gateway = ManagementApi::new(&config, &endpoint);
    tracing::info!(%endpoint, "posting through the @connections API");
    let broadcaster = Broadcaster {
        registry: &registry,
        gateway: &gateway,
        concurrency: MAX_CONCURRENT_POSTS,
    };
    let sweeper = Sweeper {
        registry: &registry,
        statuses: &statuses,
        gateway: &gateway,
    };
    let (broadcaster, sweeper) = (&broadcaster, &sweeper);

    lambda_runtime::run(service_fn(move |event| {
        handle_any(broadcaster, sweeper, event)
    }))
    .await
}
