//! The `anomaly-detector` Lambda: wiring only. Everything it does is in the
//! library ([`anomaly_detector::Detector`]).
//!
//! Environment (all required but `RUST_LOG`):
//! - `SHIPMENTS_TABLE`: the shipments (read only);
//! - `READINGS_TABLE`, `TRACKING_TABLE`, `ALARMS_TABLE`: history, tracking, alarms;
//! - `ALARM_EVENTS_TOPIC_ARN`: the SNS topic of the alarm events;
//! - `TRACKING_EVENTS_TOPIC_ARN`: the SNS topic of the position events;
//! - `RISK_CALCULATOR_FUNCTION`: the risk calculator's function name;
//! - `REJECTED_TELEMETRY_QUEUE_URL`: where poison records go;
//! - `IDENTITY_TABLE`: the identity table, whose device items say which
//!   organisation a device belongs to (read with a projection);
//! - `RUST_LOG` (default `info`), and the usual AWS SDK variables.

use anomaly_detector::{Detector, handle};
use lambda_runtime::{Error, service_fn};
use pharmaguard_aws::device_registry::DynamoDeviceRegistry;
use pharmaguard_aws::identity_store::IDENTITY_TABLE_VAR;
use pharmaguard_aws::readings_store::{DynamoReadingHistory, READINGS_TABLE_VAR};
use pharmaguard_aws::risk_client::{LambdaRiskEstimator, RISK_CALCULATOR_FUNCTION_VAR};
use pharmaguard_aws::shipment_store::{DynamoShipmentStore, SHIPMENTS_TABLE_VAR};
use pharmaguard_aws::sns::SnsPublisher;
use pharmaguard_aws::sqs::{REJECTED_QUEUE_URL_VAR, SqsRejectedSink};
use pharmaguard_aws::tracking_store::{ALARMS_TABLE_VAR, DynamoTrackingStore, TRACKING_TABLE_VAR};
use pharmaguard_domain::coldchain::MonitorSettings;

/// Every record's strings are allocated and freed within its batch: a fast
/// allocator (the detector core benchmark runs on the same one).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The environment variable naming the alarm events topic.
const TOPIC_ARN_VAR: &str = "ALARM_EVENTS_TOPIC_ARN";
/// The environment variable naming the tracking (position) events topic.
const TRACKING_TOPIC_ARN_VAR: &str = "TRACKING_EVENTS_TOPIC_ARN";

fn setting(name: &str) -> Result<String, Error> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            tracing::error!(variable = name, "cannot start: missing setting");
            Error::from(format!("the environment variable {name} must be set"))
        })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let shipments_table = setting(SHIPMENTS_TABLE_VAR)?;
    let readings_table = setting(READINGS_TABLE_VAR)?;
    let tracking_table = setting(TRACKING_TABLE_VAR)?;
    let alarms_table = setting(ALARMS_TABLE_VAR)?;
    let topic_arn = setting(TOPIC_ARN_VAR)?;
    let tracking_topic_arn = setting(TRACKING_TOPIC_ARN_VAR)?;
    let risk_function = setting(RISK_CALCULATOR_FUNCTION_VAR)?;
    let rejected_queue = setting(REJECTED_QUEUE_URL_VAR)?;
    let identity_table = setting(IDENTITY_TABLE_VAR)?;

    let config = pharmaguard_aws::config::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let detector = Detector {
        // the detector only reads shipments: no audit table needed
        directory: DynamoShipmentStore::new(dynamodb.clone(), shipments_table, ""),
        history: DynamoReadingHistory::new(dynamodb.clone(), readings_table),
        devices: DynamoDeviceRegistry::new(dynamodb.clone(), identity_table),
        tracking: DynamoTrackingStore::new(dynamodb, tracking_table, alarms_table),
        publisher: SnsPublisher::new(sns.clone(), topic_arn),
        positions: SnsPublisher::new(sns, tracking_topic_arn),
        risk: LambdaRiskEstimator::new(aws_sdk_lambda::Client::new(&config), risk_function),
        rejected: SqsRejectedSink::new(aws_sdk_sqs::Client::new(&config), rejected_queue),
        settings: MonitorSettings::default(),
    };
    let detector = &detector;

    lambda_runtime::run(service_fn(move |event| handle(detector, event))).await
}
