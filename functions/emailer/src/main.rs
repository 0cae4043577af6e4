//! The `emailer` Lambda: wiring only. Everything it does is in the library
//! ([`emailer::Emailer::process`]).
//!
//! Environment:
//! - `IDENTITY_TABLE` (required): the users of the organisations;
//! - `IDEMPOTENCY_TABLE` (required): the claims that keep mails single;
//! - `ALERT_SENDER_EMAIL` (required): the sender, verified in SES;
//! - `DASHBOARD_URL` (required): the dashboard, for the links to shipments;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use emailer::{CLAIM_LOCK, Emailer, Settings, handle};
use lambda_runtime::{Error, service_fn};
use pharmaguard_aws::idempotency::DynamoIdempotencyStore;
use pharmaguard_aws::identity_store::DynamoIdentityStore;
use pharmaguard_aws::ses::SesEmailSender;

/// The emailer only lists users; it never writes, so it names no audit table.
const NO_AUDIT_TABLE: &str = "";

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok()).map_err(|error| {
        tracing::error!(%error, "cannot start");
        Error::from(error.to_string())
    })?;

    let config = pharmaguard_aws::config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let directory =
        DynamoIdentityStore::new(dynamodb.clone(), &settings.identity_table, NO_AUDIT_TABLE);
    let claims = DynamoIdempotencyStore::new(dynamodb, &settings.idempotency_table);
    let sender = SesEmailSender::new(aws_sdk_ses::Client::new(&config), &settings.sender);
    let emailer = Emailer {
        directory: &directory,
        sender: &sender,
        claims: &claims,
        dashboard_url: &settings.dashboard_url,
        lock_for: CLAIM_LOCK,
    };
    let emailer = &emailer;

    lambda_runtime::run(service_fn(move |event| handle(emailer, event))).await
}
