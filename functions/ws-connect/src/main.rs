//! The `ws-connect` Lambda (`$connect` of the WebSocket API): wiring only.
//! Everything it does is in the library ([`ws_connect::connect`]).
//!
//! Environment:
//! - `JWT_PUBLIC_KEY_PARAM` (required): the SSM parameter (a plain String)
//!   holding the Ed25519 public key PEM; read once, at cold start;
//! - `CONNECTIONS_TABLE` (required): the connection registry;
//! - `IDENTITY_TABLE` (required): the identity table, where the user's
//!   status is read (a projected `GetItem`);
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use pharmaguard_aws::identity_store::DynamoAccountStatuses;
use pharmaguard_aws::ssm::get_parameter;
use pharmaguard_security::TokenVerifier;
use time::OffsetDateTime;
use ws_connect::{
    CONNECTIONS_TABLE_VAR, ConnectRequest, IDENTITY_TABLE_VAR, PUBLIC_KEY_PARAM_VAR, connect,
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
    let parameter = required(PUBLIC_KEY_PARAM_VAR)?;
    let table = required(CONNECTIONS_TABLE_VAR)?;
    let identity_table = required(IDENTITY_TABLE_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let pem = get_parameter(&ssm, &parameter).await.map_err(|error| {
        tracing::error!(%error, "cannot read the token public key");
        Error::from(error.to_string())
    })?;
    let verifier = TokenVerifier::from_public_key_pem(&pem).map_err(|error| {
        tracing::error!(%error, %parameter, "cannot use the token public key");
        Error::from(error.to_string())
    })?;
    tracing::info!(kid = verifier.kid(), "token public key loaded");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let registry = DynamoConnectionRegistry::new(dynamodb.clone(), table);
    let statuses = DynamoAccountStatuses::new(dynamodb, identity_table);
    let (verifier, statuses, registry) = (&verifier, &statuses, &registry);

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ConnectRequest>| async move {
            Ok::<_, Error>(
                connect(
                    verifier,
                    statuses,
                    registry,
                    &event.payload,
                    OffsetDateTime::now_utc(),
                )
                .await,
            )
        },
    ))
    .await
}
