//! The `ws-disconnect` Lambda (`$disconnect` of the WebSocket API): wiring
//! only. Everything it does is in the library ([`ws_disconnect::disconnect`]).
//!
//! Environment:
//! - `CONNECTIONS_TABLE` (required): the connection registry;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use ws_disconnect::{CONNECTIONS_TABLE_VAR, DisconnectRequest, disconnect};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let table = std::env::var(CONNECTIONS_TABLE_VAR)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            let message = format!("the environment variable {CONNECTIONS_TABLE_VAR} must be set");
            tracing::error!(error = %message, "cannot start");
            Error::from(message)
        })?;
    let config = pharmaguard_aws::config::load().await;
    let registry = DynamoConnectionRegistry::new(aws_sdk_dynamodb::Client::new(&config), table);
    let registry = &registry;

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<DisconnectRequest>| async move {
            Ok::<_, Error>(disconnect(registry, &event.payload).await)
        },
    ))
    .await
}
