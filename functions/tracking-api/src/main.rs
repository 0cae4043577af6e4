//! The `tracking-api` Lambda: wiring only. Everything it does is in the
//! library ([`tracking_api::route`]).
//!
//! Environment:
//! - `SHIPMENTS_TABLE`, `TRACKING_TABLE`, `ALARMS_TABLE`, `READINGS_TABLE`
//!   (required): the shipments, the detector's trackings and alarms, the
//!   reading history;
//! - `AUDIT_TABLE` (required): the audit trail (acknowledgements);
//! - `ALARM_EVENTS_TOPIC_ARN` (required): where `alarm.acknowledged` goes;
//! - `CORS_ALLOW_ORIGIN` (optional, default `*`): the dashboard's origin;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_http::{Error, service_fn};
use pharmaguard_aws::dashboard_store::DynamoDashboard;
use pharmaguard_aws::readings_store::READINGS_TABLE_VAR;
use pharmaguard_aws::shipment_store::{AUDIT_TABLE_VAR, SHIPMENTS_TABLE_VAR};
use pharmaguard_aws::sns::SnsPublisher;
use pharmaguard_aws::tracking_store::{ALARMS_TABLE_VAR, TRACKING_TABLE_VAR};
use pharmaguard_domain::shipment::ports::SystemClock;
use tracking_api::{Services, handle, required_env};

/// The environment variable naming the alarm events topic.
const ALARM_TOPIC_ARN_VAR: &str = "ALARM_EVENTS_TOPIC_ARN";

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let env = |name| {
        required_env(name, std::env::var(name).ok()).map_err(|error| {
            tracing::error!(%error, "cannot start");
            Error::from(error.to_string())
        })
    };
    let shipments_table = env(SHIPMENTS_TABLE_VAR)?;
    let tracking_table = env(TRACKING_TABLE_VAR)?;
    let alarms_table = env(ALARMS_TABLE_VAR)?;
    let readings_table = env(READINGS_TABLE_VAR)?;
    let audit_table = env(AUDIT_TABLE_VAR)?;
    let topic_arn = env(ALARM_TOPIC_ARN_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let services = Services {
        store: DynamoDashboard::new(
            aws_sdk_dynamodb::Client::new(&config),
            shipments_table,
            tracking_table,
            alarms_table,
            readings_table,
            audit_table,
        ),
        alarm_topic: SnsPublisher::new(aws_sdk_sns::Client::new(&config), topic_arn),
        clock: SystemClock,
    };
    let services = &services;

    lambda_http::run(service_fn(move |request| handle(services, request))).await
}
