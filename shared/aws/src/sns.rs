//! Publishing events to SNS topics.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use crate::errors::describe;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
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

    /// Publishes every one of `messages`, in as few requests as the topic
    /// takes; `Ok` once all are out, else the first failure (some may be out
    /// already: publishing them again is safe when consumers drop repeated
    /// event ids). By default one [`Self::publish`] after another.
    fn publish_all(
        &self,
        messages: &[OutboundMessage],
    ) -> impl Future<Output = Result<(), PublishError>> + Send {
        async move {
            for message in messages {
                self.publish(message).await?;
            }
            Ok(())
        }
    }
}

/// Most messages in one `PublishBatch` request (the SNS limit).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes of the messages of one `PublishBatch` request, bodies and
/// attributes together (the SNS limit: 256 KiB).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The size SNS counts for `message`: its body, and each attribute's name,
/// data type and value.
pub fn message_size(message: &OutboundMessage) -> usize {
    message.body.len()
        + message
            .attributes
            .iter()
            .map(|(name, value)| name.len() + value.data_type().len() + value.as_str().len())
            .sum::<usize>()
}

/// `messages` cut into the requests of [`MessagePublisher::publish_all`]:
/// at most [`MAX_BATCH_ENTRIES`] and [`MAX_BATCH_BYTES`] each (a message
/// larger than that alone in its request, which SNS then refuses).
pub fn publish_batches(messages: &[OutboundMessage]) -> Vec<&[OutboundMessage]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, message) in messages.iter().enumerate() {
        let size = message_size(message);
        let full = index - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES;
        if index > start && full {
            batches.push(&messages[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < messages.len() {
        batches.push(&messages[start..]);
    }
    batches
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
            .map_err(|error| not_sent(&error))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// `PublishBatch` per [`publish_batches`] request; a single message is
    /// a plain `Publish`.
    async fn publish_all(&self, messages: &[OutboundMessage]) -> Result<(), PublishError> {
        if let [message] = messages {
            return self.publish(message).await.map(drop);
        }
        for batch in publish_batches(messages) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(index, message)| {
                    PublishBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message(&message.body)
                        .set_message_attributes(Some(sns_attributes(message)?))
                        .build()
                        .map_err(|error| PublishError {
                            retryable: false,
                            message: format!("batch entry {index}: {error}"),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(|error| not_sent(&error))?;
            if let Some(failed) = output.failed.as_ref().and_then(|failed| failed.first()) {
                return Err(PublishError {
                    retryable: !failed.sender_fault,
                    message: format!(
                        "{} of {} messages refused, the first: {} ({})",
                        output.failed.as_ref().map_or(0, Vec::len),
                        batch.len(),
                        failed.code,
                        failed.message.as_deref().unwrap_or("no message")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The [`PublishError`] of a request that failed.
fn not_sent<E>(error: &SdkError<E>) -> PublishError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    PublishError {
        retryable: is_transient(error),
        message: describe(error),
    }
}

fn is_transient<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            let code = context.err().code();
            matches!(
                code,
                Some("KMSThrottling" | "InternalError" | "Throttling" | "ThrottledException")
            ) || context.raw().status().is_server_error()
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

    #[test]
    fn batches_hold_ten_messages_and_256_kib_at_most() {
        let message = |bytes: usize| OutboundMessage {
            body: "x".repeat(bytes),
            attributes: BTreeMap::from([(
                "event_type".to_owned(),
                AttributeValue::String("alarm.raised".into()),
            )]),
        };
        let sizes = |messages: &[OutboundMessage]| -> Vec<usize> {
            publish_batches(messages).iter().map(|b| b.len()).collect()
        };
        assert_eq!(message_size(&message(10)), 10 + 10 + 6 + 12);
        assert_eq!(sizes(&vec![message(100); 23]), [10, 10, 3]);
        assert_eq!(sizes(&vec![message(100 * 1024); 5]), [2, 2, 1]);
        assert_eq!(
            sizes(&[message(300 * 1024), message(10)]),
            [1, 1],
            "a message too large goes alone (SNS refuses it)"
        );
        assert!(publish_batches(&[]).is_empty());
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
