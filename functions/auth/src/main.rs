//! The `auth` Lambda: wiring only. Everything it does is in the library
//! ([`auth::route`]).
//!
//! Environment:
//! - `IDENTITY_TABLE` (required): the identity table;
//! - `AUDIT_TABLE` (required): the audit table;
//! - `JWT_PRIVATE_KEY_PARAM` (required): the SSM parameter (SecureString)
//!   holding the PKCS#8 Ed25519 private key PEM; read once, at cold start;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use auth::{
    AUDIT_TABLE_VAR, IDENTITY_TABLE_VAR, PRIVATE_KEY_PARAM_VAR, Services, handle, required_var,
};
use lambda_http::{Error, service_fn};
use pharmaguard_aws::audit::DynamoAuditLog;
use pharmaguard_aws::identity_store::DynamoIdentityStore;
use pharmaguard_aws::ssm::get_parameter;
use pharmaguard_domain::shipment::ports::SystemClock;
use pharmaguard_security::{Passwords, TokenSigner};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let var = |name: &'static str| {
        required_var(name, std::env::var(name).ok()).map_err(|error| {
            tracing::error!(%error, "cannot start");
            Error::from(error.to_string())
        })
    };
    let identity_table = var(IDENTITY_TABLE_VAR)?;
    let audit_table = var(AUDIT_TABLE_VAR)?;
    let key_parameter = var(PRIVATE_KEY_PARAM_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let pem = get_parameter(&ssm, &key_parameter).await.map_err(|error| {
        tracing::error!(%error, "cannot read the token signing key");
        Error::from(error.to_string())
    })?;
    let signer = TokenSigner::from_pkcs8_pem(&pem).map_err(|error| {
        tracing::error!(%error, parameter = %key_parameter, "cannot use the token signing key");
        Error::from(error.to_string())
    })?;
    drop(pem);
    tracing::info!(kid = signer.kid(), "token signing key loaded");

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let services = Services {
        store: DynamoIdentityStore::new(dynamodb.clone(), identity_table, &audit_table),
        audit: DynamoAuditLog::new(dynamodb, audit_table),
        tokens: signer,
        clock: SystemClock,
        passwords: Passwords::new(),
    };
    let services = &services;

    lambda_http::run(service_fn(move |request| handle(services, request))).await
}
