//! Pushes events to the dashboard's WebSocket connections.
//!
//! Subscribed to the shipment, alarm and tracking event topics (SNS). For
//! each record:
//!
//! 1. the message is read as a [`LiveEvent`] (id, type, shipment, shipper
//!    and recipient organisation, from the body and the message
//!    attributes), or as a `tracking.batch` of position events, each read
//!    and routed on its own body ([`Notification`]); a message that is
//!    neither fails the invocation, so that after Lambda's retries it
//!    reaches the function's failure destination instead of vanishing with
//!    a log line (an unreadable update of a batch is logged and skipped:
//!    it costs the others nothing);
//! 2. the connections of each event's shipper and recipient are listed from
//!    the registry (its index by organisation), once per organisation per
//!    message: no other organisation's connection is ever looked at;
//! 3. of those, the ones that may receive it ([`audience`]: still within
//!    their 2 hours, and following every shipment or this one);
//! 4. the message ([`event_message`]: `{"v":1,"type","id","shipment_id","data"}`,
//!    without `data` and with `"truncated": true` beyond 128 KB) is posted
//!    to each through the `@connections` API, at most
//!    [`MAX_CONCURRENT_POSTS`] at a time;
//! 5. a connection that is gone (410) is deleted from the registry; one
//!    that fails otherwise is logged and skipped. Neither fails the event.
//!
//! An event that cannot be read, or whose connections cannot be listed,
//! fails the invocation, so that Lambda delivers it again (and then sets it
//! aside in the failure destination). Delivery is therefore at least once: a
//! retried or redelivered event reaches some connections twice, with the
//! same `id`, and clients drop the repeat.
//!
//! # The connection sweep
//!
//! A schedule invokes the function every minute too ([`Sweeper::sweep`]):
//! it reads every connection of the registry, the status of each connected
//! user (one projected `GetItem` per user), and closes (`@connections`
//! `DELETE`) and forgets the connections of users who were disabled, deleted
//! or whose role changed since they connected
//! ([`pharmaguard_domain::accounts::session::check_connection`]). So a
//! revoked user's open connections end within about a minute.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::stream;
use lambda_runtime::{Error, LambdaEvent};
use pharmaguard_aws::connections::DynamoConnectionRegistry;
use pharmaguard_aws::schedule::is_scheduled;
use pharmaguard_domain::accounts::session::{UserStatus, check_connection};
use pharmaguard_domain::live::{
    Connection, ConnectionGateway, ConnectionRegistry, LiveEvent, Notification, PostError,
    RegistryError, audience, event_message,
};
use pharmaguard_domain::ports::AccountStatuses;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{error, info, warn};

/// Environment variable naming the connections table.
pub use pharmaguard_aws::connections::CONNECTIONS_TABLE_VAR;
/// Environment variable naming the identity table (account statuses, for the sweep).
pub use pharmaguard_aws::identity_store::IDENTITY_TABLE_VAR;
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

/// The posts of one event (or of the position events of one batch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The event (or the batch).
    pub event_id: String,
    /// Events read: 1, or the readable updates of a batch.
    pub events: usize,
    /// Connections listed for the shippers and the recipients, per event.
    pub candidates: usize,
    /// Messages accepted by the `@connections` API.
    pub delivered: usize,
    /// Connections found gone (and deleted from the registry).
    pub gone: usize,
    /// Posts that failed otherwise (logged).
    pub failed: usize,
    /// Whether a message went without `data` (over 128 KB).
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
    /// Pushes the event with `body` and `attributes` (or each position
    /// event of a `tracking.batch`) to every connection allowed to see it at
    /// `now` (see the crate documentation).
    pub async fn broadcast(
        &self,
        body: &str,
        attributes: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Outcome, Failure> {
        let (event_id, events) = match Notification::read(body, attributes) {
            Ok(Notification::One(event)) => (event.event_id.clone(), vec![event]),
            Ok(Notification::Batch { event_id, events }) => {
                let mut readable = Vec::with_capacity(events.len());
                for event in events {
                    match event {
                        Ok(event) => readable.push(event),
                        // one bad update costs the others nothing
                        Err(error) => {
                            error!(batch_id = %event_id, %error, "position event of a batch is not a live event; skipped")
                        }
                    }
                }
                (event_id, readable)
            }
            Err(error) => return Ok(Outcome::Malformed(error.to_string())),
        };
        // each organisation's connections listed once, whatever the number of its events
        let mut listed: BTreeMap<&str, Vec<Connection>> = BTreeMap::new();
        for event in &events {
            for org_id in event.organisations() {
                if listed.contains_key(org_id) {
                    continue;
                }
                let connections = self
                    .registry
                    .connections_of(org_id)
                    .await
                    .map_err(|error| Failure {
                        event_id: event_id.clone(),
                        org_id: org_id.to_owned(),
                        error,
                    })?;
                listed.insert(org_id, connections);
            }
        }
        let mut delivery = Delivery {
            event_id,
            events: events.len(),
            ..Delivery::default()
        };
        // each event's message and the connections that may see it
        let mut prepared = Vec::with_capacity(events.len());
        for event in &events {
            let candidates: Vec<&Connection> = event
                .organisations()
                .into_iter()
                .flat_map(|org_id| &listed[org_id])
                .collect();
            delivery.candidates += candidates.len();
            let message = event_message(event);
            delivery.truncated |= message.truncated;
            let targets = audience(event, candidates, now);
            prepared.push((event, message.text, targets));
        }
        let posts = prepared.iter().flat_map(|(event, text, targets)| {
            targets
                .iter()
                .map(move |connection| self.post(event, connection, text))
        });
        let results: Vec<Posted> = stream::iter(posts)
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

/// The SNS handler: [`Broadcaster::broadcast`] on every record at the
/// current time. Fails (so that Lambda delivers the event again, and in the
/// end to the failure destination) when a message is not a live event or
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
                %sns_message_id, event_id = %delivery.event_id, events = delivery.events, candidates = delivery.candidates,
                delivered = delivery.delivered, gone = delivery.gone, failed = delivery.failed,
                truncated = delivery.truncated, "event broadcast"
            ),
            Ok(Outcome::Malformed(reason)) => {
                error!(%sns_message_id, topic = %notification.topic_arn, %reason, "message is not a live event; failing it to its failure destination");
                failures.push(format!(
                    "message {sns_message_id} is not a live event: {reason}"
                ));
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

// ------------------------------------------------------------------ the sweep

/// Every connection of the registry (the sweep reads them all).
pub trait AllConnections: Send + Sync {
    /// Every registered connection, live or not.
    fn all_connections(
        &self,
    ) -> impl std::future::Future<Output = Result<Vec<Connection>, RegistryError>> + Send;
}

impl AllConnections for DynamoConnectionRegistry {
    async fn all_connections(&self) -> Result<Vec<Connection>, RegistryError> {
        self.all().await
    }
}

/// What the sweep works with: built once per cold start.
pub struct Sweeper<'a, R, S, G> {
    /// The connection registry.
    pub registry: &'a R,
    /// The account statuses.
    pub statuses: &'a S,
    /// The `@connections` API.
    pub gateway: &'a G,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Live connections looked at.
    pub connections: usize,
    /// Connections closed (or found gone) and forgotten: their users may no longer see them.
    pub closed: usize,
    /// Connections that could not be checked or closed (the next sweep tries again).
    pub failed: usize,
}

impl<R, S, G> Sweeper<'_, R, S, G>
where
    R: ConnectionRegistry + AllConnections,
    S: AccountStatuses,
    G: ConnectionGateway,
{
    /// Closes, at `now`, every live connection whose user may no longer act.
    /// Fails only when the registry cannot be read at all.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<Swept, RegistryError> {
        let connections = self.registry.all_connections().await?;
        let mut statuses: BTreeMap<String, Option<Option<UserStatus>>> = BTreeMap::new();
        let mut swept = Swept::default();
        for connection in connections.iter().filter(|c| c.is_live(now)) {
            swept.connections += 1;
            if !statuses.contains_key(&connection.user_id) {
                let status = match self.statuses.user_status(&connection.user_id).await {
                    Ok(status) => Some(status),
                    Err(error) => {
                        warn!(user_id = %connection.user_id, %error, "user status not read; connection left for the next sweep");
                        None
                    }
                };
                statuses.insert(connection.user_id.clone(), status);
            }
            let Some(status) = statuses.get(&connection.user_id).cloned().flatten() else {
                swept.failed += 1;
                continue;
            };
            let Err(revoked) = check_connection(connection, status.as_ref()) else {
                continue;
            };
            let connection_id = &connection.connection_id;
            match self.gateway.close(connection_id).await {
                Ok(()) | Err(PostError::Gone) => {}
                Err(PostError::Failed { message, .. }) => {
                    warn!(%connection_id, error = %message, "revoked connection not closed");
                    swept.failed += 1;
                    continue;
                }
            }
            if let Err(error) = self.registry.delete(connection_id).await {
                warn!(%connection_id, %error, "closed connection not removed from the registry");
            }
            info!(%connection_id, user_id = %connection.user_id, reason = %revoked, "connection of a revoked user closed");
            swept.closed += 1;
        }
        Ok(swept)
    }
}

/// The Lambda handler for every trigger: SNS records are broadcast
/// ([`handle`]), the schedule sweeps ([`Sweeper::sweep`]); anything else
/// fails, so that it reaches the failure destination.
pub async fn handle_any<R, S, G>(
    broadcaster: &Broadcaster<'_, R, G>,
    sweeper: &Sweeper<'_, R, S, G>,
    event: LambdaEvent<Value>,
) -> Result<(), Error>
where
    R: ConnectionRegistry + AllConnections,
    S: AccountStatuses,
    G: ConnectionGateway,
{
    let (payload, context) = event.into_parts();
    if is_scheduled(&payload) {
        let swept = sweeper
            .sweep(OffsetDateTime::now_utc())
            .await
            .map_err(|error| {
                error!(%error, "connection sweep failed; the next one tries again");
                Error::from(error.to_string())
            })?;
        info!(
            connections = swept.connections,
            closed = swept.closed,
            failed = swept.failed,
            "connections swept"
        );
        return Ok(());
    }
    if payload.get("Records").is_some() {
        let records: SnsEvent = serde_json::from_value(payload).map_err(|error| {
            error!(%error, "not an SNS event; failing it to its failure destination");
            Error::from(format!("not an SNS event: {error}"))
        })?;
        return handle(broadcaster, LambdaEvent::new(records, context)).await;
    }
    error!("neither SNS records nor the schedule; failing it to its failure destination");
    Err(Error::from(
        "unrecognised event: neither SNS records nor the schedule",
    ))
}

#[cfg(test)]
mod tests;
