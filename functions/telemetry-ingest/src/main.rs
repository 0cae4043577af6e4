//! The `telemetry-ingest` Lambda: wiring only. Everything it does is in the
//! library ([`telemetry_ingest::ingest`]).
//!
//! Environment:
//! - `TELEMETRY_STREAM_NAME` (required): the Kinesis stream readings go to;
//! - `IDENTITY_TABLE` (required): the identity table, whose device items say
//!   which organisation a relayed device belongs to;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_http::{Error, service_fn};
use pharmaguard_aws::device_registry::DynamoDeviceRegistry;
use pharmaguard_aws::kinesis::KinesisReadingSink;
use pharmaguard_domain::retry::RetryPolicy;
use telemetry_ingest::{Settings, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let settings = Settings::from_lookup(|name| std::env::var(name).ok()).map_err(|error| {
        tracing::error!(%error, "cannot start");
        Error::from(error.to_string())
    })?;

    let config = pharmaguard_aws::config::load().await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let sink = KinesisReadingSink::new(kinesis, settings.stream_name, RetryPolicy::default());
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let devices = DynamoDeviceRegistry::new(dynamodb, settings.identity_table);
    let (sink, devices) = (&sink, &devices);

    lambda_http::run(service_fn(move |request| handle(sink, devices, request))).await
}
