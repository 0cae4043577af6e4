//! Pushes events to the dashboard's WebSocket connections.
//!
//! Subscribed to the shipment, alarm and tracking event topics (SNS). For
//! each record:
//!
//! 1. the message is read as a [`LiveEvent`] (id, type, shipment, shipper
//!    and recipient organisation, from the body and the message
//!    attributes); a message that is not one is logged and dropped
//!    (retrying cannot fix it);
//! 2. the connections of the shipper and of the recipient are listed from
//!    the registry (its index by organisation): no other organisation's
//!    connection is ever looked at;
//! 3. of those, the ones that may receive it ([`audience`]: still within
//!    their 2 hours, and following every shipment or this one);
//! 4. the message ([`event_message`]: `{"v":1,"type","id","shipment_id","data"}`,
//!    without `data` and with `"truncated": true` beyond 128 KB) is posted
//!    to each through the `@connections` API, at most
//!    [`MAX_CONCURRENT_POSTS`] at a time;
//! 5. a connection that is gone (410) is deleted from the registry; one
//!    that fails otherwise is logged and skipped. Neither fails the event.
//!
//! Only an event whose connections cannot be listed fails the invocation,
//! so that Lambda delivers it again. Delivery is therefore at least once: a
//! retried or redelivered event reaches some connections twice, with the
//! same `id`, and clients drop the repeat.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::stream;
use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_domain::live::{
    Connection, ConnectionGateway, ConnectionRegistry, LiveEvent, PostError, RegistryError,
    audience, event_message,
};
use time::OffsetDateTime;
use tracing::{error, info, warn};

/// Environment variable naming the connections table.
pub use pharmaguard_aws::connections::CONNECTIONS_TABLE_VAR;
/// Environment variable holding the `@connections` endpoint.
pub use pharmaguard_aws::ws_management::WS_MANAGEMENT_ENDPOINT_VAR;

/// Most posts in flight at once for one event.
pub const MAX_CONCURRENT_POSTS: usize = 32;

pub use pharmaguard_aws::sns::{SnsAttribute, SnsEvent, SnsNotification, SnsRecord};

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Posted to every connection allowed to see it (that could be reached).
    Broadcast(Delivery),
    /// Not a live event: dropped.
    Malformed(String),
}

/// The posts of one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The event.
    pub event_id: String,
    /// Connections listed for the shipper and the recipient.
    pub candidates: usize,
    /// Messages accepted by the `@connections` API.
    pub delivered: usize,
    /// Connections found gone (and deleted from the registry).
    pub gone: usize,
    /// Posts that failed otherwise (logged).
    pub failed: usize,
    /// Whether the message went without `data` (over 128 KB).
    pub truncated: bool,
}

/// The connections of an organisation could not be listed: the event must
/// be delivered again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {event_id}: connections of {org_id} not listed: {error}")]
pub struct Failure {
    /// The event.
    pub event_id: String,
    /// The organisation.
    pub org_id: String,
    /// What failed.
    pub error: RegistryError,
}

/// What the broadcast works with: built once per cold start.
pub struct Broadcaster<'a, R, G> {
    /// The connection registry.
    pub registry: &'a R,
    /// The `@connections` API.
    pub gateway: &'a G,
    /// Most posts in flight at once ([`MAX_CONCURRENT_POSTS`]).
    pub concurrency: usize,
}

/// What one post came to.
enum Posted {
    Delivered,
    Gone,
    Failed,
}

impl<R, G> Broadcaster<'_, R, G>
where
    R: ConnectionRegistry,
    G: ConnectionGateway,
{
    /// Pushes the event with `body` and `attributes` to every connection
    /// allowed to see it at `now` (see the crate documentation).
    pub async fn broadcast(
        &self,
        body: &str,
        attributes: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Outcome, Failure> {
        let event = match LiveEvent::from_notification(body, attributes) {
            Ok(event) => event,
            Err(error) => return Ok(Outcome::Malformed(error.to_string())),
        };
        let mut candidates = Vec::new();
        for org_id in event.organisations() {
            let connections = self
                .registry
                .connections_of(org_id)
                .await
                .map_err(|error| Failure {
                    event_id: event.event_id.clone(),
                    org_id: org_id.to_owned(),
                    error,
                })?;
            candidates.extend(connections);
        }
        let targets = audience(&event, &candidates, now);
        let message = event_message(&event);
        let mut delivery = Delivery {
            event_id: event.event_id.clone(),
            candidates: candidates.len(),
            truncated: message.truncated,
            ..Delivery::default()
        };
        let results: Vec<Posted> = stream::iter(targets)
            .map(|connection| self.post(&event, connection, &message.text))
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        for posted in results {
            match posted {
                Posted::Delivered => delivery.delivered += 1,
                Posted::Gone => delivery.gone += 1,
                Posted::Failed => delivery.failed += 1,
            }
        }
        Ok(Outcome::Broadcast(delivery))
    }

    /// Posts `message` to `connection`; deletes it from the registry when
    /// it is gone.
    async fn post(&self, event: &LiveEvent, connection: &Connection, message: &str) -> Posted {
        let connection_id = &connection.connection_id;
        match self.gateway.post(connection_id, message).await {
            Ok(()) => Posted::Delivered,
            Err(PostError::Gone) => {
                match self.registry.delete(connection_id).await {
                    Ok(()) => {
                        info!(event_id = %event.event_id, %connection_id, org_id = %connection.org_id, "connection gone; removed from the registry")
                    }
                    // the entry expires by its TTL; the next event tries again
                    Err(error) => {
                        warn!(event_id = %event.event_id, %connection_id, %error, "gone connection not removed")
                    }
                }
                Posted::Gone
            }
            Err(PostError::Failed { retryable, message }) => {
                warn!(event_id = %event.event_id, %connection_id, retryable, error = %message, "event not posted to a connection");
                Posted::Failed
            }
        }
    }
}

/// The Lambda handler: [`Broadcaster::broadcast`] on every record at the
/// current time. Fails (so that Lambda delivers the event again) only when
/// some event's connections could not be listed.
pub async fn handle<R, G>(
    broadcaster: &Broadcaster<'_, R, G>,
    event: LambdaEvent<SnsEvent>,
) -> Result<(), Error>
where
    R: ConnectionRegistry,
    G: ConnectionGateway,
{
    let mut failures = Vec::new();
    for record in &event.payload.records {
        let notification = &record.sns;
        let outcome = broadcaster
            .broadcast(
                &notification.message,
                &notification.attributes(),
                OffsetDateTime::now_utc(),
            )
            .await;
        let sns_message_id = &notification.message_id;
        match outcome {
            Ok(Outcome::Broadcast(delivery)) => info!(
                %sns_message_id, event_id = %delivery.event_id, candidates = delivery.candidates,
                delivered = delivery.delivered, gone = delivery.gone, failed = delivery.failed,
                truncated = delivery.truncated, "event broadcast"
            ),
            Ok(Outcome::Malformed(reason)) => {
                error!(%sns_message_id, topic = %notification.topic_arn, %reason, "message is not a live event; dropped")
            }
            Err(failure) => {
                error!(%sns_message_id, %failure, "event not broadcast; it will be delivered again");
                failures.push(failure.to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::from(failures.join("; ")))
    }
}

#[cfg(test)]
mod tests;
