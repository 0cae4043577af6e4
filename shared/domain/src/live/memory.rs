//! The connection registry and the `@connections` API in memory, for the
//! tests of the WebSocket functions (feature `memory`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::connection::Connection;
use super::ports::{ConnectionGateway, ConnectionRegistry, PostError, RegistryError};

/// The registry in memory. `set_unavailable(true)` makes every call fail
/// as a throttled table would.
#[derive(Debug, Default)]
pub struct MemoryConnectionRegistry {
    connections: Mutex<BTreeMap<String, Connection>>,
    unavailable: AtomicBool,
    listings: AtomicUsize,
}

impl MemoryConnectionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail (`true`) or work again (`false`).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The entry of `connection_id`, if any.
    pub fn entry(&self, connection_id: &str) -> Option<Connection> {
        self.connections
            .lock()
            .expect("registry lock")
            .get(connection_id)
            .cloned()
    }

    /// Every registered connection id.
    pub fn ids(&self) -> Vec<String> {
        self.connections
            .lock()
            .expect("registry lock")
            .keys()
            .cloned()
            .collect()
    }

    /// How many times the connections of an organisation were listed.
    pub fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), RegistryError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(RegistryError::Unavailable(
                "ProvisionedThroughputExceededException: slow down".into(),
            ));
        }
        Ok(())
    }
}

impl ConnectionRegistry for MemoryConnectionRegistry {
    async fn put(&self, connection: &Connection) -> Result<(), RegistryError> {
        self.check()?;
        self.connections
            .lock()
            .expect("registry lock")
            .insert(connection.connection_id.clone(), connection.clone());
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, RegistryError> {
        self.check()?;
        Ok(self.entry(connection_id))
    }

    async fn delete(&self, connection_id: &str) -> Result<(), RegistryError> {
        self.check()?;
        self.connections
            .lock()
            .expect("registry lock")
            .remove(connection_id);
        Ok(())
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        shipment_id: Option<&str>,
    ) -> Result<(), RegistryError> {
        self.check()?;
        let mut connections = self.connections.lock().expect("registry lock");
        let connection = connections
            .get_mut(connection_id)
            .ok_or(RegistryError::NotFound)?;
        connection.subscription = shipment_id.map(str::to_owned);
        Ok(())
    }

    async fn connections_of(&self, org_id: &str) -> Result<Vec<Connection>, RegistryError> {
        self.check()?;
        self.listings.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .connections
            .lock()
            .expect("registry lock")
            .values()
            .filter(|connection| connection.org_id == org_id)
            .cloned()
            .collect())
    }
}

/// The `@connections` API in memory: keeps what it sends per connection;
/// connections marked gone answer [`PostError::Gone`], failing ones a
/// retryable failure.
#[derive(Debug, Default)]
pub struct MemoryGateway {
    sent: Mutex<Vec<(String, String)>>,
    gone: Mutex<BTreeSet<String>>,
    failing: Mutex<BTreeSet<String>>,
    closed: Mutex<Vec<String>>,
    posts: AtomicUsize,
}

impl MemoryGateway {
    /// A gateway where every connection is open.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client of `connection_id` went away.
    pub fn mark_gone(&self, connection_id: &str) {
        self.gone
            .lock()
            .expect("gateway lock")
            .insert(connection_id.to_owned());
    }

    /// Posts to `connection_id` fail (throttled).
    pub fn mark_failing(&self, connection_id: &str) {
        self.failing
            .lock()
            .expect("gateway lock")
            .insert(connection_id.to_owned());
    }

    /// The messages sent to `connection_id`, in order.
    pub fn sent_to(&self, connection_id: &str) -> Vec<String> {
        self.sent
            .lock()
            .expect("gateway lock")
            .iter()
            .filter(|(to, _)| to == connection_id)
            .map(|(_, message)| message.clone())
            .collect()
    }

    /// Every message sent: (connection id, message).
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().expect("gateway lock").clone()
    }

    /// The connections closed, in order.
    pub fn closed(&self) -> Vec<String> {
        self.closed.lock().expect("gateway lock").clone()
    }

    /// How many posts were attempted (sent or not).
    pub fn attempts(&self) -> usize {
        self.posts.load(Ordering::SeqCst)
    }
}

impl ConnectionGateway for MemoryGateway {
    async fn post(&self, connection_id: &str, message: &str) -> Result<(), PostError> {
        self.posts.fetch_add(1, Ordering::SeqCst);
        if self
            .gone
            .lock()
            .expect("gateway lock")
            .contains(connection_id)
        {
            return Err(PostError::Gone);
        }
        if self
            .failing
            .lock()
            .expect("gateway lock")
            .contains(connection_id)
        {
            return Err(PostError::Failed {
                retryable: true,
                message: "LimitExceededException: too many requests".into(),
            });
        }
        self.sent
            .lock()
            .expect("gateway lock")
            .push((connection_id.to_owned(), message.to_owned()));
        Ok(())
    }

    async fn close(&self, connection_id: &str) -> Result<(), PostError> {
        if self
            .gone
            .lock()
            .expect("gateway lock")
            .contains(connection_id)
        {
            return Err(PostError::Gone);
        }
        self.closed
            .lock()
            .expect("gateway lock")
            .push(connection_id.to_owned());
        self.gone
            .lock()
            .expect("gateway lock")
            .insert(connection_id.to_owned());
        Ok(())
    }
}
