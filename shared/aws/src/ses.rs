//! Sending email through SES (the v1 `SendEmail` API, which LocalStack's
//! free core serves and shows at `GET /_aws/ses`).
//!
//! One message per recipient: the managers of two organisations never see
//! each other's addresses.

use std::future::Future;

use aws_sdk_ses::Client;
use aws_sdk_ses::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ses::operation::send_email::SendEmailError;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use pharmaguard_domain::notification::EmailContent;

use crate::errors::describe;

/// The character set of every part.
const CHARSET: &str = "UTF-8";

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email not sent: {message}")]
pub struct SendError {
    /// Whether trying again later may succeed (throttling, 5xx, network).
    /// A rejection (unverified address, bad parameter) is not.
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
}

/// Sends emails.
pub trait EmailSender: Send + Sync {
    /// Sends `content` to one address; on success, the message id the
    /// service gave it.
    fn send(
        &self,
        to: &str,
        content: &EmailContent,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// SES, sending from one verified address. The SDK retries transient
/// failures itself (standard retry mode) before an error is returned.
#[derive(Debug, Clone)]
pub struct SesEmailSender {
    /// The SES client, built once per cold start.
    pub client: Client,
    /// The sender (`Source`), an identity verified in SES.
    pub from: String,
}

impl SesEmailSender {
    /// A sender from `from` through `client`.
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset(CHARSET)
        .build()
        .map_err(|error| SendError {
            retryable: false,
            message: error.to_string(),
        })
}

/// The SES message of `email`: subject, text and HTML, all UTF-8.
pub fn ses_message(email: &EmailContent) -> Result<Message, SendError> {
    Ok(Message::builder()
        .subject(content(&email.subject)?)
        .body(
            Body::builder()
                .text(content(&email.text)?)
                .html(content(&email.html)?)
                .build(),
        )
        .build())
}

impl EmailSender for SesEmailSender {
    async fn send(&self, to: &str, email: &EmailContent) -> Result<String, SendError> {
        let output = self
            .client
            .send_email()
            .source(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .message(ses_message(email)?)
            .send()
            .await
            .map_err(|error| SendError {
                retryable: is_transient(&error),
                message: describe(&error),
            })?;
        Ok(output.message_id)
    }
}

fn is_transient(error: &SdkError<SendEmailError>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            matches!(
                context.err().code(),
                Some("Throttling" | "ThrottlingException" | "ServiceUnavailable")
            ) || context.raw().status().is_server_error()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_has_a_subject_and_both_bodies_in_utf8() {
        let email = EmailContent {
            subject: "[MAJOR] Température".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        };
        let message = ses_message(&email).unwrap();
        let subject = message.subject().unwrap();
        assert_eq!(subject.data(), "[MAJOR] Température");
        assert_eq!(subject.charset(), Some("UTF-8"));
        let body = message.body().unwrap();
        assert_eq!(body.text().unwrap().data(), "plain");
        assert_eq!(body.html().unwrap().data(), "<p>html</p>");
    }
}
