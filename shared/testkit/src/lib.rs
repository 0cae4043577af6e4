//! Helpers for integration tests that talk to the stack deployed on LocalStack.
//!
//! `infra/deploy` writes the stack's outputs to `localstack/.state/outputs.json`;
//! [`Stack::load`] reads them (or the file named by `PHARMAGUARD_OUTPUTS`), so a
//! test finds the REST API, the stream and the tables of the deployed stack.

use std::collections::HashMap;
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The deployed local stack, as `infra/deploy` described it.
#[derive(Debug, Clone)]
pub struct Stack {
    outputs: HashMap<String, String>,
}

impl Stack {
    /// Reads the stack outputs. Panics with the command to run when no stack is deployed:
    /// an integration test without its stack must fail, never pass silently.
    pub fn load() -> Self {
        let path = outputs_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "no deployed local stack ({}: {error}); run `localstack/up` first",
                path.display()
            )
        });
        let outputs = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not valid JSON: {error}", path.display()));
        Self { outputs }
    }

    /// One output of the stack, e.g. `TelemetryStreamName`.
    pub fn output(&self, key: &str) -> &str {
        self.outputs
            .get(key)
            .unwrap_or_else(|| panic!("the stack has no output {key}; redeploy with infra/deploy"))
    }

    /// Full URL of a REST API path, e.g. `api_url("/v1/telemetry")`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.output("ApiBaseUrl"))
    }

    /// SDK configuration pointed at LocalStack with its test account.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.output("AwsEndpointUrl"))
            .region(Region::new(self.output("Region").to_owned()))
            .credentials_provider(Credentials::new("test", "test", None, None, "local-stack"))
            .load()
            .await
    }
}

fn outputs_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PHARMAGUARD_OUTPUTS") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/.state/outputs.json")
}
