//! What the WebSocket functions need from the outside world: the registry
//! of open connections (DynamoDB in `pharmaguard-aws`) and the
//! `@connections` API that sends to them (API Gateway's management API, or
//! the local gateway's).

use std::future::Future;

use super::connection::Connection;

/// Why the registry could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No connection with this id is registered.
    #[error("connection not registered")]
    NotFound,
    /// Unavailable or throttled; trying again later may work.
    #[error("connection registry unavailable: {0}")]
    Unavailable(String),
    /// A stored entry could not be read.
    #[error("connection registry entry corrupt: {0}")]
    Corrupt(String),
}

/// The open connections.
pub trait ConnectionRegistry: Send + Sync {
    /// Registers a connection (replacing an entry of the same id).
    fn put(
        &self,
        connection: &Connection,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// The connection with this id, if registered (expired or not).
    fn get(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>, RegistryError>> + Send;

    /// Forgets a connection; forgetting an unknown one is no error.
    fn delete(&self, connection_id: &str)
    -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Makes the connection follow only `shipment_id` (`Some`), or every
    /// shipment of its organisation again (`None`);
    /// [`RegistryError::NotFound`] when it is not registered.
    fn set_subscription(
        &self,
        connection_id: &str,
        shipment_id: Option<&str>,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Every registered connection of the organisation (expired ones
    /// included; see [`Connection::is_live`]).
    fn connections_of(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<Connection>, RegistryError>> + Send;
}

/// Why a message did not reach a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The connection is gone (HTTP 410): the client disconnected. Its
    /// registry entry should be deleted.
    #[error("connection gone")]
    Gone,
    /// Anything else: throttled, too large, forbidden, unreachable.
    #[error("not sent: {message}")]
    Failed {
        /// Whether trying again later may succeed.
        retryable: bool,
        /// What went wrong.
        message: String,
    },
}

/// Sends to and closes connections (the `@connections` API).
pub trait ConnectionGateway: Send + Sync {
    /// Sends `message` as one text frame to the connection.
    fn post(
        &self,
        connection_id: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PostError>> + Send;

    /// Closes the connection (its `$disconnect` follows).
    fn close(&self, connection_id: &str) -> impl Future<Output = Result<(), PostError>> + Send;
}
