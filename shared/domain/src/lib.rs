//! PharmaGuard domain: the rules of the platform as pure Rust.
//!
//! This crate has no AWS types, performs no I/O and needs no async runtime, so
//! every rule here is unit-tested in isolation. Adapters to the outside world
//! (Kinesis, DynamoDB, …) live in `pharmaguard-aws` and implement the traits of
//! [`ports`].
//!
//! - [`telemetry`]: the normalized [`telemetry::Reading`], validation of raw
//!   readings and batches, and the per-reading report of an ingest.
//! - [`accounts`]: stored organisations, users, devices and refresh tokens,
//!   and validation of the auth requests.
//! - [`audit`]: the append-only audit trail record.
//! - [`coldchain`]: the cold-chain rules: MKT, excursions and budget, shock,
//!   device offline, trend warnings and the alarm lifecycle.
//! - [`instant`]: every date-time read from outside, range-checked and in
//!   UTC, so that no input can make a time conversion panic.
//! - [`identity`]: organisations, roles and principals, and who may grant what.
//! - [`shipment`]: shipment orders: temperature profiles, the state machine,
//!   who may do what, validation and domain events.
//! - [`messaging`]: messages published to event topics, with their attributes.
//! - [`live`]: the dashboard's live events: the WebSocket protocol, open
//!   connections and who may see which event.
//! - [`notification`]: the alarm emails to managers: content and recipients.
//! - [`ports`]: the traits the domain needs from the outside world.
//! - [`retry`]: a runtime-agnostic retry helper for APIs that fail per item.
//! - `fixtures` (tests, and feature `fixtures`): sample shipments for tests.

pub mod accounts;
#[cfg(test)]
mod arbitrary;
pub mod audit;
pub mod coldchain;
mod field_error;
mod fields;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod identity;
pub mod instant;
pub mod live;
pub mod messaging;
pub mod notification;
pub mod ports;
pub mod retry;
pub mod shipment;
pub mod telemetry;

pub use field_error::FieldError;
