//! The `authorizer` Lambda: wiring only. Everything it does is in the
//! library ([`authorizer::authorize`]).
//!
//! Environment:
//! - `JWT_PUBLIC_KEY_PARAM` (required): the SSM parameter (a plain String)
//!   holding the Ed25519 public key PEM; read once, at cold start;
//! - `IDENTITY_TABLE` (required): the identity table, where the status of
//!   the token's user or device is read (a projected `GetItem`);
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use authorizer::{PUBLIC_KEY_PARAM_VAR, handle};
use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pharmaguard_aws::identity_store::{DynamoAccountStatuses, IDENTITY_TABLE_VAR};
use pharmaguard_aws::ssm::get_parameter;
use pharmaguard_security::TokenVerifier;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let required = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                let message = format!("the environment variable {name} must be set");
                tracing::error!(error = %message, "cannot start");
                Error::from(message)
            })
    };
    let parameter = required(PUBLIC_KEY_PARAM_VAR)?;
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
    let statuses =
        DynamoAccountStatuses::new(aws_sdk_dynamodb::Client::new(&config), identity_table);
    let (verifier, statuses) = (&verifier, &statuses);

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| async move {
            handle(verifier, statuses, &event.payload)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
