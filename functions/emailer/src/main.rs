//! The `emailer` Lambda: wiring only. Everything it does is in the library
//! ([`emailer::Emailer::process`] for alarm events, [`emailer::Emailer::sweep`]
//! for the schedule).
//!
//! Environment:
//! - `IDENTITY_TABLE` (required): the users of the organisations, read
//!   through its `contacts` index only (no credentials in it), and the
//!   organisations' names and notification policies (`ORG#` partitions);
//! - `IDEMPOTENCY_TABLE` (required): the claims that keep mails single;
//! - `REMINDERS_TABLE` (required): the escalation chains;
//! - `ALARMS_TABLE` (required): the alarms, read before each escalation step;
//! - `ALERT_SENDER_EMAIL` (required): the sender, verified in SES;
//! - `DASHBOARD_URL` (required): the dashboard, for the links to shipments;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use emailer::{CLAIM_LOCK, Emailer, Ports, Settings, handle_any};
use lambda_runtime::{Error, service_fn};
use pharmaguard_aws::idempotency::DynamoIdempotencyStore;
use pharmaguard_aws::org_notices::DynamoOrgNotices;
use pharmaguard_aws::reminder_store::{DynamoAlarmStates, DynamoReminders};
use pharmaguard_aws::ses::SesEmailSender;
use pharmaguard_aws::user_contacts::DynamoUserContacts;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok()).map_err(|error| {
        tracing::error!(%error, "cannot start");
        Error::from(error.to_string())
    })?;

    let config = pharmaguard_aws::config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let directory = DynamoUserContacts::new(dynamodb.clone(), &settings.identity_table);
    let organisations = DynamoOrgNotices::new(dynamodb.clone(), &settings.identity_table);
    let claims = DynamoIdempotencyStore::new(dynamodb.clone(), &settings.idempotency_table);
    let reminders = DynamoReminders::new(dynamodb.clone(), &settings.reminders_table);
    let alarms = DynamoAlarmStates::new(dynamodb, &settings.alarms_table);
    let sender = SesEmailSender::new(aws_sdk_ses::Client::new(&config), &settings.sender);
    let emailer = Emailer {
        ports: Ports {
            directory: &directory,
            organisations: &organisations,
            sender: &sender,
            claims: &claims,
            reminders: &reminders,
            alarms: &alarms,
        },
        dashboard_url: &settings.dashboard_url,
        lock_for: CLAIM_LOCK,
    };
    let emailer = &emailer;

    lambda_runtime::run(service_fn(move |event| handle_any(emailer, event))).await
}
