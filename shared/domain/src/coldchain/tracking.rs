//! What the anomaly detector keeps per shipment, and the ports it needs
//! from the outside world (implemented on AWS in `pharmaguard-aws`, in
//! memory by the handler tests).
//!
//! The [`Tracking`] of a shipment is one stored item: the serialized
//! [`ShipmentMonitor`], the latest reading (position and temperature for the
//! dashboard) and a `version` for optimistic concurrency — the stream handler
//! and the offline check both write it, and of two writers from the same
//! version exactly one wins ([`SaveError::VersionConflict`]).

use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::alarm::{AckRefused, Alarm};
use super::detector::{Owner, is_monitored};
use super::monitor::ShipmentMonitor;
use super::review::ReviewRequest;
use super::risk::{RiskEstimate, RiskInput};
use crate::FieldError;
use crate::shipment::{Shipment, ShipmentState};
use crate::telemetry::Reading;

/// The detector's state of one shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracking {
    /// The shipment.
    pub shipment_id: String,
    /// Its device.
    #[serde(default)]
    pub device_id: Option<String>,
    /// The shipment's state when the detector last looked.
    pub state: ShipmentState,
    /// The sending organisation (who may see the tracking).
    pub shipper_org_id: String,
    /// The receiving organisation.
    pub recipient_org_id: String,
    /// The rules' state.
    pub monitor: ShipmentMonitor,
    /// The latest reading applied: position, temperature, vibration.
    #[serde(default)]
    pub latest: Option<Reading>,
    /// Optimistic concurrency version: 0 before the first write, +1 per write.
    pub version: u64,
    /// When the detector last wrote it.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Tracking {
    /// The tracking of a shipment the detector has not seen yet (version 0).
    pub fn new(shipment: &Shipment, at: OffsetDateTime) -> Self {
        Self {
            shipment_id: shipment.id.clone(),
            device_id: shipment.device_id.clone(),
            state: shipment.state,
            shipper_org_id: shipment.shipper_org_id.clone(),
            recipient_org_id: shipment.recipient_org_id.clone(),
            monitor: ShipmentMonitor {
                started_at: shipment.started_at(),
                ..ShipmentMonitor::new(shipment.id.clone())
            },
            latest: None,
            version: 0,
            updated_at: at,
        }
    }

    /// Whether the offline check should look at it (the shipment is on its
    /// way as far as the detector knows).
    pub fn is_watched(&self) -> bool {
        is_monitored(self.state)
    }

    /// When the device last reported (the latest reading applied).
    pub fn last_reading_at(&self) -> Option<OffsetDateTime> {
        self.monitor.last_reading_at()
    }

    /// Since when the shipment has been silent, as the offline check looks it
    /// up: its last reading, or while watched and without any reading, its
    /// start (so that a logger that never reports raises NO_DATA).
    pub fn quiet_since(&self) -> Option<OffsetDateTime> {
        self.last_reading_at()
            .or(self.monitor.started_at.filter(|_| self.is_watched()))
    }

    /// The next version of this tracking: `monitor`, `latest` (kept when
    /// `None`), the shipment's current state and parties, `version` + 1.
    pub fn next(
        &self,
        shipment: &Shipment,
        monitor: ShipmentMonitor,
        latest: Option<Reading>,
        at: OffsetDateTime,
    ) -> Self {
        let mut next = Self {
            shipment_id: self.shipment_id.clone(),
            device_id: None,
            state: self.state,
            shipper_org_id: String::new(),
            recipient_org_id: String::new(),
            monitor,
            latest: self.latest.clone(),
            version: self.version,
            updated_at: self.updated_at,
        };
        next.advance(shipment, latest, at);
        next
    }

    /// [`Tracking::next`] in place, for a monitor that was changed in place:
    /// `latest` (kept when `None`), the shipment's current state and
    /// parties, `version` + 1.
    pub fn advance(&mut self, shipment: &Shipment, latest: Option<Reading>, at: OffsetDateTime) {
        self.device_id.clone_from(&shipment.device_id);
        self.state = shipment.state;
        self.shipper_org_id.clone_from(&shipment.shipper_org_id);
        self.recipient_org_id.clone_from(&shipment.recipient_org_id);
        if latest.is_some() {
            self.latest = latest;
        }
        self.version += 1;
        self.updated_at = at;
    }
}

/// What acknowledging an alarm of a tracking comes to.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived answer; the larger variant carries the alarm before and after"
)]
pub enum Acknowledgement {
    /// The alarm was unacknowledged: `tracking` is the next version to save
    /// (the alarm book changed, `version` + 1, `updated_at` = the time of the
    /// acknowledgement), with the alarm `before` and `after`.
    Acknowledged {
        /// The tracking to save, conditional on the current version.
        tracking: Box<Tracking>,
        /// The alarm as it was.
        before: Alarm,
        /// The alarm acknowledged (`ACTIVE_ACK`, who, when).
        after: Alarm,
    },
    /// Somebody acknowledged it already: nothing to save (the first
    /// acknowledgement stays).
    AlreadyAcknowledged(Alarm),
}

impl Tracking {
    /// `by` reviews (and so acknowledges) the active alarm `alarm_id` at `at`
    /// (see [`Acknowledgement`]). Refused with [`AckRefused::NotActive`] when no
    /// active alarm has that id (cleared alarms leave the book: look the
    /// stored alarm up to tell a cleared one from an unknown one).
    pub fn review(
        &self,
        alarm_id: &str,
        request: &ReviewRequest,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<Acknowledgement, AckRefused> {
        let before = self
            .monitor
            .alarms
            .active
            .iter()
            .find(|alarm| alarm.alarm_id == alarm_id)
            .cloned()
            .ok_or_else(|| AckRefused::NotActive {
                alarm_id: alarm_id.to_owned(),
            })?;
        let mut monitor = self.monitor.clone();
        match monitor.review(alarm_id, request, by, at)? {
            None => Ok(Acknowledgement::AlreadyAcknowledged(before)),
            Some(transition) => {
                let after = transition.alarm().clone();
                let tracking = Tracking {
                    monitor,
                    version: self.version + 1,
                    updated_at: at,
                    ..self.clone()
                };
                Ok(Acknowledgement::Acknowledged {
                    tracking: Box::new(tracking),
                    before,
                    after,
                })
            }
        }
    }
}

/// Why a read or write of the detector's ports failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Unavailable or throttled; trying again later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Why a tracking was not saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveError {
    /// Someone wrote the tracking since it was read: reload and recompute.
    #[error("the tracking was changed concurrently")]
    VersionConflict,
    /// Unavailable or throttled.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The shipments, as the detector looks them up.
pub trait ShipmentDirectory: Send + Sync {
    /// The shipment with this id, if any.
    fn shipment(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Option<Shipment>, PortError>> + Send;

    /// Every shipment naming this device (see
    /// [`super::detector::active_shipment`] for the one that counts).
    fn shipments_of_device(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Vec<Shipment>, PortError>> + Send;

    /// The shipments with these ids, one result per id in order: what
    /// [`Self::shipment`] would say of each. By default one read after
    /// another; a store that can read many items in one request does.
    fn shipments(
        &self,
        shipment_ids: &[&str],
    ) -> impl Future<Output = Vec<Result<Option<Shipment>, PortError>>> + Send {
        async move {
            let mut found = Vec::with_capacity(shipment_ids.len());
            for id in shipment_ids {
                found.push(self.shipment(id).await);
            }
            found
        }
    }
}

/// The reading history.
pub trait ReadingHistory: Send + Sync {
    /// Stores readings under their owners; idempotent (a reading stored
    /// twice is one entry). One result per reading, in order.
    fn put(
        &self,
        readings: &[(&Owner, &Reading)],
    ) -> impl Future<Output = Vec<Result<(), PortError>>> + Send;

    /// The readings of `owner` taken from `from` to `to` (both included), by
    /// time.
    fn between(
        &self,
        owner: &Owner,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Reading>, PortError>> + Send;
}

/// The trackings and the alarms of the shipments.
pub trait TrackingStore: Send + Sync {
    /// The tracking of a shipment (a strongly consistent read).
    fn load(
        &self,
        shipment_id: &str,
    ) -> impl Future<Output = Result<Option<Tracking>, PortError>> + Send;

    /// The trackings of these shipments, one result per id in order: what
    /// [`Self::load`] would say of each (strongly consistent). By default
    /// one load after another; a store that can read many items in one
    /// request does.
    fn load_many(
        &self,
        shipment_ids: &[&str],
    ) -> impl Future<Output = Vec<Result<Option<Tracking>, PortError>>> + Send {
        async move {
            let mut loaded = Vec::with_capacity(shipment_ids.len());
            for id in shipment_ids {
                loaded.push(self.load(id).await);
            }
            loaded
        }
    }

    /// Writes `tracking` if the stored one is at `expected_version` (0: none
    /// stored yet), together with the current state of `alarms`; all or
    /// nothing.
    fn save(
        &self,
        tracking: &Tracking,
        expected_version: u64,
        alarms: &[Alarm],
    ) -> impl Future<Output = Result<(), SaveError>> + Send;

    /// The ids of the watched shipments ([`Tracking::is_watched`]) silent
    /// since at or before `cutoff` ([`Tracking::quiet_since`]).
    fn silent_since(
        &self,
        cutoff: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

/// Why no risk estimate came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    /// The calculator refused the input (per-field errors).
    #[error("risk input refused: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<FieldError>),
    /// The calculator could not be reached or failed.
    #[error("risk calculator unavailable: {0}")]
    Unavailable(String),
}

/// The risk calculator.
pub trait RiskEstimator: Send + Sync {
    /// The estimated loss for `input`.
    fn estimate(
        &self,
        input: &RiskInput,
    ) -> impl Future<Output = Result<RiskEstimate, RiskError>> + Send;
}

/// A stream record that can never be processed, as it is set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// Stable name of the reason (see [`super::detector::Poison::kind`]).
    pub reason: String,
    /// The reason in words.
    pub message: String,
    /// Per-field errors of an invalid reading.
    pub errors: Vec<FieldError>,
    /// The record's sequence number in its shard.
    pub sequence_number: String,
    /// The record's partition key (the device id).
    pub partition_key: String,
    /// The stream.
    pub event_source_arn: Option<String>,
    /// When the stream received the record.
    pub arrived_at: Option<OffsetDateTime>,
    /// The record's data, as it was.
    pub data: Vec<u8>,
}

/// Where rejected records go (a queue someone reads).
pub trait RejectedSink: Send + Sync {
    /// Keeps one rejected record.
    fn reject(&self, record: &RejectedRecord)
    -> impl Future<Output = Result<(), PortError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{T0, pending, review};
    use crate::shipment::Transition;

    #[test]
    fn a_tracking_starts_at_version_zero_and_follows_the_shipment() {
        let pending = pending();
        let tracking = Tracking::new(&pending, T0);
        assert_eq!(tracking.version, 0);
        assert!(!tracking.is_watched(), "a pending shipment is not watched");
        assert_eq!(tracking.last_reading_at(), None);

        let dispatched = pending
            .transition(Transition::Dispatch, 1, T0, None)
            .unwrap();
        let next = tracking.next(&dispatched, tracking.monitor.clone(), None, T0);
        assert_eq!(next.version, 1);
        assert_eq!(next.state, ShipmentState::Dispatched);
        assert!(next.is_watched());
        let json = serde_json::to_value(&next).unwrap();
        let back: Tracking = serde_json::from_value(json).unwrap();
        assert_eq!(back, next);
    }

    #[test]
    fn an_acknowledgement_is_a_new_version_and_happens_once() {
        use crate::coldchain::{AlarmState, MonitorSettings};
        use crate::fixtures::{reading, shipment};

        let shipment = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        let fresh = Tracking::new(&shipment, T0);
        let mut monitor = fresh.monitor.clone();
        let crash = monitor.observe(
            &reading("truck-7", 0, 5.0, 7.0),
            &shipment.profile,
            &MonitorSettings::default(),
        );
        let alarm_id = crash.transitions[0].alarm().alarm_id.clone();
        let tracking = fresh.next(&shipment, monitor, None, T0);
        let at = T0 + time::Duration::minutes(5);

        let Acknowledgement::Acknowledged {
            tracking: acked,
            before,
            after,
        } = tracking
            .review(&alarm_id, &review(), "usr-anna", at)
            .unwrap()
        else {
            panic!("acknowledged");
        };
        assert_eq!(before.state, AlarmState::ActiveUnack);
        assert_eq!(after.state, AlarmState::ActiveAck);
        assert_eq!(after.acknowledged_by.as_deref(), Some("usr-anna"));
        assert_eq!(after.acknowledged_at, Some(at));
        assert_eq!(acked.version, tracking.version + 1);
        assert_eq!(acked.updated_at, at);
        assert_eq!(acked.latest, tracking.latest);
        assert_eq!(acked.monitor.alarms.active, vec![after.clone()]);
        assert_eq!(
            acked.monitor.excursion, tracking.monitor.excursion,
            "only the alarm book changes"
        );

        match acked.review(
            &alarm_id,
            &review(),
            "usr-bob",
            at + time::Duration::minutes(1),
        ) {
            Ok(Acknowledgement::AlreadyAcknowledged(alarm)) => assert_eq!(alarm, after),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            tracking.review("shp-1#SHOCK#1", &review(), "usr-anna", at),
            Err(AckRefused::NotActive { .. })
        ));
    }

    #[test]
    fn risk_errors_name_the_fields() {
        let error = RiskError::Rejected(vec![FieldError::new("cargo_value.amount", "bad")]);
        assert!(error.to_string().contains("cargo_value.amount"));
    }
}
