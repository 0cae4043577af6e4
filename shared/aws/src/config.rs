//! The shared AWS SDK configuration.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the SDK configuration from the environment (region, credentials,
/// endpoint), with the latest behavior version.
///
/// Call it once per cold start and build every client from the result. The
/// SDK honours `AWS_ENDPOINT_URL` (and the per-service
/// `AWS_ENDPOINT_URL_<SERVICE>`) on its own, which is how the functions reach
/// LocalStack.
pub async fn load() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
