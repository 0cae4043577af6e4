//! The WebSocket API's message routes: `subscribe`, `unsubscribe`, `ping`
//! and `$default` (anything else). One function serves them all; the route
//! only tells API Gateway where to send the frame, the function reads the
//! frame itself ([`pharmaguard_domain::live::parse_client_message`]).
//!
//! Each frame gets one reply, returned as the route's answer (`body`), which
//! API Gateway (a two-way route) and the local gateway send back to the
//! client:
//!
//! | frame | reply |
//! |---|---|
//! | `{"v":1,"action":"ping"}` | `{"v":1,"type":"pong"}` |
//! | `{"v":1,"action":"subscribe","shipment_id":"…"}` | `subscribed`, once the registry says so; `error` `not_found` (field `shipment_id`) when the connection's organisation neither ships nor receives it, or it does not exist (not told apart) |
//! | `{"v":1,"action":"unsubscribe"}` | `unsubscribed` |
//! | anything else | `error` naming the code and, when one is at fault, the field |
//!
//! The connection's organisation comes from the registry, never from the
//! frame. A connection the registry does not know (or whose 2 hours are
//! over) gets the error `not_connected` through the `@connections` API and
//! is closed: connecting again registers it afresh, and until then it
//! would receive nothing. When the registry or the shipments table cannot
//! answer, the reply is the error `unavailable` (try again).

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pharmaguard_domain::coldchain::tracking::ShipmentDirectory;
use pharmaguard_domain::live::{
    ClientAction, Connection, ConnectionGateway, ConnectionRegistry, ErrorCode, ProtocolError,
    RegistryError, Reply, may_subscribe, parse_client_message,
};
use pharmaguard_domain::shipment::Shipment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{error, info, warn};

/// Environment variable naming the connections table.
pub use pharmaguard_aws::connections::CONNECTIONS_TABLE_VAR;
/// Environment variable holding the `@connections` endpoint.
pub use pharmaguard_aws::ws_management::WS_MANAGEMENT_ENDPOINT_VAR;
/// Environment variable naming the shipments table.
pub const SHIPMENTS_TABLE_VAR: &str = "SHIPMENTS_TABLE";

/// A message event of API Gateway (or the local gateway), as far as this
/// function reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequest {
    /// Who and which route.
    #[serde(default)]
    pub request_context: RequestContext,
    /// The frame's text.
    #[serde(default)]
    pub body: Option<String>,
    /// Whether `body` is base64 (a binary frame).
    #[serde(default)]
    pub is_base64_encoded: Option<bool>,
}

/// The `requestContext` of a WebSocket event, as far as it is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// API Gateway's id of the connection.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The route API Gateway chose (`subscribe`, …, `$default`).
    #[serde(default)]
    pub route_key: Option<String>,
    /// The request, for the logs.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The answer to API Gateway: `body` is sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    /// HTTP status (API Gateway does not forward it).
    pub status_code: u16,
    /// The reply frame, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl WsResponse {
    fn reply(reply: &Reply) -> Self {
        Self {
            status_code: 200,
            body: Some(reply.to_json()),
        }
    }
}

/// The shipments, as far as a subscription needs them.
pub trait ShipmentLookup: Send + Sync {
    /// The shipment with this id, if any; `Err` when the store cannot say.
    fn find(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Option<Shipment>, String>> + Send;
}

impl<T: ShipmentDirectory> ShipmentLookup for T {
    async fn find(&self, shipment_id: &str) -> Result<Option<Shipment>, String> {
        self.shipment(shipment_id)
            .await
            .map_err(|error| error.to_string())
    }
}

/// What the function works with: built once per cold start.
pub struct Messenger<'a, R, G, S> {
    /// The connection registry.
    pub registry: &'a R,
    /// The `@connections` API.
    pub gateway: &'a G,
    /// The shipments.
    pub shipments: &'a S,
}

/// Why a frame got no ordinary reply.
enum Unanswered {
    /// Tell the client, as an `error` reply.
    Error(ProtocolError),
    /// The connection is unknown or expired: tell it and close it.
    NotConnected,
}

impl From<ProtocolError> for Unanswered {
    fn from(error: ProtocolError) -> Self {
        Unanswered::Error(error)
    }
}

fn unavailable(what: &str) -> Unanswered {
    Unanswered::Error(ProtocolError::new(
        ErrorCode::Unavailable,
        format!("{what} could not be reached; try again"),
    ))
}

impl<R, G, S> Messenger<'_, R, G, S>
where
    R: ConnectionRegistry,
    G: ConnectionGateway,
    S: ShipmentLookup,
{
    /// Answers one frame at `now`.
    pub async fn handle(&self, request: &MessageRequest, now: OffsetDateTime) -> WsResponse {
        let context = &request.request_context;
        let route = context.route_key.as_deref().unwrap_or_default();
        let Some(connection_id) = context
            .connection_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
        else {
            warn!(%route, "message without a connection id; not answered");
            return WsResponse {
                status_code: 400,
                body: None,
            };
        };
        match self.answer(connection_id, request, now).await {
            Ok(reply) => {
                info!(%connection_id, %route, reply = ?reply, "message answered");
                WsResponse::reply(&reply)
            }
            Err(Unanswered::Error(error)) => {
                info!(%connection_id, %route, %error, "message refused");
                WsResponse::reply(&error.to_reply())
            }
            Err(Unanswered::NotConnected) => {
                self.close_unknown(connection_id).await;
                WsResponse {
                    status_code: 200,
                    body: None,
                }
            }
        }
    }

    async fn answer(
        &self,
        connection_id: &str,
        request: &MessageRequest,
        now: OffsetDateTime,
    ) -> Result<Reply, Unanswered> {
        let text = frame_text(request)?;
        let action = parse_client_message(&text)?;
        let connection = match self.registry.get(connection_id).await {
            Ok(Some(connection)) if connection.is_live(now) => connection,
            Ok(_) => return Err(Unanswered::NotConnected),
            Err(failure) => {
                error!(%connection_id, error = %failure, "registry not read");
                return Err(unavailable("the connection registry"));
            }
        };
        match action {
            ClientAction::Ping => Ok(Reply::Pong),
            ClientAction::Subscribe { shipment_id } => {
                self.subscribe(&connection, &shipment_id).await?;
                Ok(Reply::Subscribed { shipment_id })
            }
            ClientAction::Unsubscribe => {
                self.set_subscription(&connection, None).await?;
                Ok(Reply::Unsubscribed)
            }
        }
    }

    async fn subscribe(
        &self,
        connection: &Connection,
        shipment_id: &str,
    ) -> Result<(), Unanswered> {
        let visible = match self.shipments.find(shipment_id).await {
            Ok(shipment) => {
                shipment.is_some_and(|shipment| may_subscribe(&connection.org_id, &shipment))
            }
            Err(message) => {
                error!(connection_id = %connection.connection_id, %shipment_id, error = %message, "shipment not read");
                return Err(unavailable("the shipments"));
            }
        };
        if !visible {
            return Err(ProtocolError::field(
                ErrorCode::NotFound,
                "shipment_id",
                format!("no shipment {shipment_id} that your organisation ships or receives"),
            )
            .into());
        }
        self.set_subscription(connection, Some(shipment_id)).await
    }

    async fn set_subscription(
        &self,
        connection: &Connection,
        shipment_id: Option<&str>,
    ) -> Result<(), Unanswered> {
        match self
            .registry
            .set_subscription(&connection.connection_id, shipment_id)
            .await
        {
            Ok(()) => Ok(()),
            // disconnected in the meantime
            Err(RegistryError::NotFound) => Err(Unanswered::NotConnected),
            Err(failure) => {
                error!(connection_id = %connection.connection_id, error = %failure, "subscription not saved");
                Err(unavailable("the connection registry"))
            }
        }
    }

    /// Tells an unregistered connection so, then closes it.
    async fn close_unknown(&self, connection_id: &str) {
        warn!(%connection_id, "message from a connection the registry does not know; closing it");
        let error = ProtocolError::new(
            ErrorCode::NotConnected,
            "this connection is not registered (any more); connect again",
        );
        if let Err(failure) = self
            .gateway
            .post(connection_id, &error.to_reply().to_json())
            .await
        {
            warn!(%connection_id, error = %failure, "not_connected not sent");
        }
        if let Err(failure) = self.gateway.close(connection_id).await {
            warn!(%connection_id, error = %failure, "connection not closed");
        }
    }
}

/// The frame's text: `body`, decoded when base64.
fn frame_text(request: &MessageRequest) -> Result<String, ProtocolError> {
    let body = request.body.as_deref().unwrap_or_default();
    if !request.is_base64_encoded.unwrap_or(false) {
        return Ok(body.to_owned());
    }
    let bytes = STANDARD.decode(body).map_err(|error| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("the frame is not valid base64: {error}"),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            "the frame is not UTF-8 text; send JSON in a text frame",
        )
    })
}

#[cfg(test)]
mod tests;
