//! Live events for the dashboard: the WebSocket protocol, the connections
//! it serves and who may see which event.
//!
//! The dashboard holds a WebSocket connection (API Gateway WebSocket API;
//! locally `localstack/ws-gateway`). Every shipment, alarm and tracking event
//! published on SNS is pushed to the connections allowed to see it; the
//! format is documented in `docs/websocket-protocol.md`.
//!
//! - [`protocol`]: protocol version 1: the client's actions
//!   ([`parse_client_message`]), the server's replies ([`Reply`]) and event
//!   messages ([`event_message`]) within the 128 KB limit;
//! - [`event`]: [`LiveEvent`], an SNS notification read as a live event
//!   (its id, type, shipment and the two organisations);
//! - [`connection`]: [`Connection`], an open connection as the registry keeps
//!   it (user, role, organisation, 2-hour lifetime, subscription), and the
//!   visibility rule [`may_receive`];
//! - [`ports`]: the connection registry and the `@connections` API as traits;
//! - `memory` (tests, and feature `memory`): both ports in memory.
//!
//! Delivery is at least once: an event may reach a connection twice (SNS
//! and Lambda retries); clients drop repeats by the event's `id`.

pub mod connection;
pub mod event;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
pub mod protocol;

pub use connection::{
    CONNECTION_TTL, Connection, ConnectionRefused, audience, may_receive, may_subscribe,
};
pub use event::{
    EventError, LiveEvent, MAX_BATCH_EVENTS, MAX_EVENT_ID_CHARS, MAX_EVENT_TYPE_CHARS, Notification,
};
pub use ports::{ConnectionGateway, ConnectionRegistry, PostError, RegistryError};
pub use protocol::{
    ClientAction, ErrorCode, EventMessage, MAX_CLIENT_MESSAGE_BYTES, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION, ProtocolError, Reply, event_message, parse_client_message,
};
