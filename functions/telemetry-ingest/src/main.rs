//! The `telemetry-ingest` Lambda: wiring only. Everything it does is in the
//! library ([`telemetry_ingest::ingest`]).
//!
//! Environment:
//! - `TELEMETRY_STREAM_NAME` (required): the Kinesis stream readings go to;
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines;
//! - the usual AWS SDK variables (`AWS_REGION`, credentials, and
//!   `AWS_ENDPOINT_URL` to reach LocalStack).

use lambda_http::{Error, service_fn};
use pharmaguard_aws::kinesis::KinesisReadingSink;
use pharmaguard_domain::retry::RetryPolicy;
use telemetry_ingest::{STREAM_NAME_VAR, handle, stream_name};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    let stream_name = stream_name(std::env::var(STREAM_NAME_VAR).ok()).map_err(|error| {
        tracing::error!(%error, "cannot start");
        Error::from(error.to_string())
    })?;

    let config = pharmaguard_aws::config::load().await;
    let client = aws_sdk_kinesis::Client::new(&config);
    let sink = KinesisReadingSink::new(client, stream_name, RetryPolicy::default());
    let sink = &sink;

    lambda_http::run(service_fn(move |request| handle(sink, request))).await
}
