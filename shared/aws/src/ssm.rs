//! SSM Parameter Store: configuration read once per cold start (the token
//! signing keys). Values are never logged.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::SdkError;

/// A parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// No parameter has this name (or the function may not read it).
    #[error("parameter {0} not found")]
    NotFound(String),
    /// The parameter exists but has no value.
    #[error("parameter {0} is empty")]
    Empty(String),
    /// The call failed.
    #[error("parameter {name} could not be read: {message}")]
    Unavailable {
        /// The parameter's name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// The value of the parameter `name`, decrypted when it is a SecureString.
pub async fn get_parameter(client: &Client, name: &str) -> Result<String, ParameterError> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| match &error {
            SdkError::ServiceError(context) if context.err().is_parameter_not_found() => {
                ParameterError::NotFound(name.to_owned())
            }
            _ => ParameterError::Unavailable {
                name: name.to_owned(),
                message: crate::dynamo::describe(&error),
            },
        })?;
    output
        .parameter()
        .and_then(|parameter| parameter.value())
        .filter(|value| !value.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ParameterError::Empty(name.to_owned()))
}
