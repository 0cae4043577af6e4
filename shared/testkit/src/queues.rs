//! SQS queues subscribed to SNS topics: how a test reads what a function published.

use aws_sdk_sqs::types::QueueAttributeName;

/// Creates a queue named `{name}-{unique}` and subscribes it to `topic_arn` with
/// raw message delivery (the queue receives the message bodies as published)
/// and, when given, the `filter_policy`. Returns the queue's URL.
pub async fn subscribed_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    name: &str,
    filter_policy: Option<serde_json::Value>,
) -> String {
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-{}", crate::unique()))
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("queue url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true");
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy.to_string());
    }
    subscribe.send().await.expect("subscribe the queue");
    queue_url
}
