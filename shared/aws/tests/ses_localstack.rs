//! The SES sender against the local stack: a mail from the verified sender
//! is kept by LocalStack (`GET /_aws/ses`) with its subject and both bodies;
//! an unverified sender is refused, and not as a retryable failure.

use pharmaguard_aws::ses::{EmailSender, SesEmailSender};
use pharmaguard_domain::notification::EmailContent;
use pharmaguard_testkit::{Stack, unique};
use serde_json::Value;

/// The sender `infra/deploy` verifies on the local stack.
const SENDER: &str = "alerts@pharmaguard.example";

#[tokio::test]
async fn sends_through_ses() {
    let stack = Stack::load();
    let client = aws_sdk_ses::Client::new(&stack.sdk_config().await);
    let marker = unique();
    let to = format!("manager-{marker}@test.pharmaguard.local");
    let content = EmailContent {
        subject: format!("[MAJOR] Température {marker}"),
        text: format!("plain {marker}"),
        html: format!("<p>html {marker}</p>"),
    };

    let message_id = SesEmailSender::new(client.clone(), SENDER)
        .send(&to, &content)
        .await
        .expect("sent");
    let url = format!(
        "{}/_aws/ses?id={message_id}",
        stack.output("AwsEndpointUrl")
    );
    let kept: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let mail = &kept["messages"][0];
    assert_eq!(mail["Source"], SENDER);
    assert_eq!(mail["Destination"]["ToAddresses"][0], to.as_str());
    assert_eq!(mail["Subject"], content.subject.as_str());
    assert_eq!(mail["Body"]["text_part"], content.text.as_str());
    assert_eq!(mail["Body"]["html_part"], content.html.as_str());

    let refused = SesEmailSender::new(client, format!("nobody-{marker}@unverified.example"))
        .send(&to, &content)
        .await
        .expect_err("an unverified sender is refused");
    assert!(!refused.retryable, "{refused:?}");
    assert!(refused.message.contains("MessageRejected"), "{refused:?}");
}
