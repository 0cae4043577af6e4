//! The `shipment-events` Lambda: wiring only. Everything it does is in the
//! library ([`shipment_events::process`]).
//!
//! Environment:
//! - `SHIPMENT_EVENTS_TOPIC_ARN` (required): the SNS topic the events go to;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_runtime::{Error, service_fn};
use pharmaguard_aws::sns::SnsPublisher;
use shipment_events::{TOPIC_ARN_VAR, handle, topic_arn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let topic_arn = topic_arn(std::env::var(TOPIC_ARN_VAR).ok()).map_err(|error| {
        tracing::error!(%error, "cannot start");
        Error::from(error.to_string())
    })?;

    let config = pharmaguard_aws::config::load().await;
    let client = aws_sdk_sns::Client::new(&config);
    let publisher = SnsPublisher::new(client, topic_arn);
    let publisher = &publisher;

    lambda_runtime::run(service_fn(move |event| handle(publisher, event))).await
}
