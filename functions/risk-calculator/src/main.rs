//! The `risk-calculator` Lambda: wiring only. Everything it does is in the
//! library ([`risk_calculator::handle`]); it needs no AWS client.
//!
//! Environment:
//! - `RUST_LOG` (optional, default `info`): log filter, logs are JSON lines.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pharmaguard_aws::logging::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        risk_calculator::handle(event.payload)
    }))
    .await
}
