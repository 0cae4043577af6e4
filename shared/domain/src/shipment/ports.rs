//! What the shipment orders need from the outside world: a store with
//! optimistic concurrency and an organisation-scoped listing, and a clock.

use std::future::Future;

use time::OffsetDateTime;

use super::{Shipment, ShipmentState};
use crate::audit::AuditRecord;

/// What orders check a shipment's parties and device against
/// ([`super::binding`]): the organisations, the device registry and the
/// shipments naming a device.
pub trait Parties: Send + Sync {
    /// Whether an organisation with this id exists.
    fn organisation_exists(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The device with this id, if one is registered (its organisation and
    /// state only).
    fn registered_device(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<crate::telemetry::RegisteredDevice>, StoreError>> + Send;

    /// Every shipment naming this device.
    fn shipments_of_device(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Vec<Shipment>, StoreError>> + Send;
}

/// The current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// One page of an organisation's shipments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The caller's organisation: only shipments it ships or receives are listed.
    pub org_id: String,
    /// Only shipments in this state.
    pub state: Option<ShipmentState>,
    /// Most shipments on the page.
    pub limit: u32,
    /// The token of the previous page's `next`.
    pub next: Option<String>,
}

/// A page of shipments, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentPage {
    /// The shipments.
    pub items: Vec<Shipment>,
    /// The token of the following page; `None` on the last page. Opaque to
    /// the caller, and only valid for the same organisation and filter.
    pub next: Option<String>,
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A shipment with this id exists already.
    #[error("a shipment with this id exists already")]
    AlreadyExists,
    /// The stored version is not the expected one: someone changed the
    /// shipment since the caller read it (or it is gone).
    #[error("the shipment was changed concurrently (now at version {current_version:?})")]
    VersionConflict {
        /// The stored version, when known.
        current_version: Option<u64>,
    },
    /// The shipment's device is claimed by another shipment on its way
    /// ([`super::binding::claim_change`]).
    #[error("device {device_id} is claimed by another shipment on its way")]
    DeviceClaimed {
        /// The device.
        device_id: String,
        /// The shipment holding it, when it could be read.
        shipment_id: Option<String>,
    },
    /// The pagination token is malformed, or belongs to another listing.
    #[error("invalid pagination token")]
    InvalidPageToken,
    /// The store is unavailable or throttled; trying again later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read (a bug, or data written by something else).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Durable shipments, their organisation listings and their audit trail.
///
/// Every change is atomic: the shipment, its listing entries and its audit
/// record are written together or not at all.
pub trait ShipmentStore: Send + Sync {
    /// The shipment with this id, if any.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Shipment>, StoreError>> + Send;

    /// Stores a new shipment (refused with [`StoreError::AlreadyExists`] if
    /// the id is taken) together with its audit record.
    fn create(
        &self,
        shipment: &Shipment,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the shipment stored at `expected_version` by `shipment`
    /// (refused with [`StoreError::VersionConflict`] if the stored version is
    /// another: of concurrent updates from the same version exactly one
    /// wins), together with its audit record and the change of its device's
    /// claim ([`super::binding::claim_change`]; refused with
    /// [`StoreError::DeviceClaimed`] if another shipment holds it).
    fn update(
        &self,
        shipment: &Shipment,
        expected_version: u64,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of the shipments `query.org_id` ships or receives.
    fn list(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<ShipmentPage, StoreError>> + Send;

    /// The shipment's audit trail, oldest first.
    fn audit_trail(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;
}
