//! Publishing events to SNS topics.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use crate::errors::describe;
use aws_sdk_sns::operation::publish::PublishError as SdkPublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use pharmaguard_domain::messaging::OutboundMessage;

/// Why a message was not published. Either way it was not delivered and
/// must be published again (the caller decides when).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message not published: {message}")]
pub struct PublishError {
    /// Whether trying again later may succeed (throttling, 5xx, network).
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
}

/// Publishes messages to a topic.
pub trait MessagePublisher: Send + Sync {
    /// Publishes one message with its attributes; on success, the message id
    /// the topic gave it.
    fn publish(
        &self,
        message: &OutboundMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// An SNS topic: the [`MessagePublisher`] of the platform. The SDK retries
/// transient failures itself (standard retry mode) before an error is
/// returned.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    /// The SNS client, built once per cold start.
    pub client: Client,
    /// The topic's ARN.
    pub topic_arn: String,
}

impl SnsPublisher {
    /// A publisher to `topic_arn` through `client`.
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// The SNS form of message attributes.
pub fn sns_attributes(
    message: &OutboundMessage,
) -> Result<HashMap<String, MessageAttributeValue>, PublishError> {
    message
        .attributes
        .iter()
        .map(|(name, value)| {
            MessageAttributeValue::builder()
                .data_type(value.data_type())
                .string_value(value.as_str())
                .build()
                .map(|attribute| (name.clone(), attribute))
                .map_err(|error| PublishError {
                    retryable: false,
                    message: format!("attribute {name}: {error}"),
                })
        })
        .collect()
}

impl MessagePublisher for SnsPublisher {
    async fn publish(&self, message: &OutboundMessage) -> Result<String, PublishError> {
        let output = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&message.body)
            .set_message_attributes(Some(sns_attributes(message)?))
            .send()
            .await
            .map_err(|error| PublishError {
                retryable: is_transient(&error),
                message: describe(&error),
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}

fn is_transient(error: &SdkError<SdkPublishError>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            let error = context.err();
            error.is_kms_throttling_exception()
                || error.is_internal_error_exception()
                || matches!(error.code(), Some("Throttling" | "ThrottledException"))
                || context.raw().status().is_server_error()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::messaging::AttributeValue;
    use std::collections::BTreeMap;

    #[test]
    fn attributes_keep_their_data_type() {
        let message = OutboundMessage {
            body: "{}".into(),
            attributes: BTreeMap::from([
                (
                    "event_type".to_owned(),
                    AttributeValue::String("shipment.created".into()),
                ),
                ("version".to_owned(), AttributeValue::Number("3".into())),
            ]),
        };
        let attributes = sns_attributes(&message).unwrap();
        assert_eq!(attributes.len(), 2);
        assert_eq!(attributes["event_type"].data_type(), "String");
        assert_eq!(
            attributes["event_type"].string_value(),
            Some("shipment.created")
        );
        assert_eq!(attributes["version"].data_type(), "Number");
        assert_eq!(attributes["version"].string_value(), Some("3"));
    }
}

/// The SNS event as Lambda delivers it to a subscribed function, read
/// leniently: only what the consumers use (id, topic, body, attributes);
/// every field may be absent, so a test or a sample event can leave out the
/// signature fields a real delivery carries.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsEvent {
    /// The records (SNS delivers one per invocation).
    #[serde(default)]
    pub records: Vec<SnsRecord>,
}

/// One record of an [`SnsEvent`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsRecord {
    /// The notification.
    #[serde(default)]
    pub sns: SnsNotification,
}

/// The notification of an [`SnsRecord`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsNotification {
    /// SNS's id of the message (the same for every delivery of it).
    #[serde(default)]
    pub message_id: String,
    /// The topic it was published on.
    #[serde(default)]
    pub topic_arn: String,
    /// The body: the JSON of the event.
    #[serde(default)]
    pub message: String,
    /// The message attributes.
    #[serde(default)]
    pub message_attributes: std::collections::BTreeMap<String, SnsAttribute>,
}

/// One message attribute of an [`SnsNotification`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SnsAttribute {
    /// `String`, `Number`, …
    #[serde(rename = "Type", default)]
    pub data_type: String,
    /// The value.
    #[serde(rename = "Value", default)]
    pub value: String,
}

impl SnsNotification {
    /// The attributes by name, values only.
    pub fn attributes(&self) -> std::collections::BTreeMap<String, String> {
        self.message_attributes
            .iter()
            .map(|(name, attribute)| (name.clone(), attribute.value.clone()))
            .collect()
    }
}
