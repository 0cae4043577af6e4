//! Sample shipments and readings for tests: those of this crate, and those of other crates
//! through the feature `fixtures` (a dev-dependency on `pharmaguard-domain`
//! with `features = ["fixtures"]`). Never part of a function's build.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::coldchain::alarm::{Alarm, AlarmState, AlarmType, Severity};
use crate::coldchain::events::{AlarmContext, AlarmEvent, AlarmEventType, ShipmentSummary};
use crate::coldchain::risk::estimate_risk;
use crate::coldchain::zone::{Crossing, Limit};
use crate::identity::{Principal, Role};
use crate::shipment::{
    Location, Money, Shipment, ShipmentDraft, ShipmentState, TemperatureProfile, Transition,
};
use crate::telemetry::{READING_SCHEMA_VERSION, Reading};

/// The moment the samples are about: 2026-11-21 08:00 UTC.
pub const T0: OffsetDateTime = datetime!(2026-11-21 08:00:00 UTC);

/// A manager of `org` (user `manager-of-<org>`).
pub fn manager(org: &str) -> Principal {
    Principal::User {
        user_id: format!("manager-of-{org}"),
        org_id: org.to_owned(),
        role: Role::Manager,
    }
}

/// Refrigerated insulin worth 48 000.00 EUR from `org-ship` (Rotterdam) to
/// `org-recv` (Berlin), reported by device `truck-7` on truck `NL-42-XY`.
pub fn draft() -> ShipmentDraft {
    ShipmentDraft {
        product: "Insulin glargine 100 U/ml".into(),
        quantity: 1200,
        cargo_value: Money {
            amount: "48000.00".into(),
            currency: "EUR".into(),
        },
        profile: TemperatureProfile::Refrigerated,
        shipper_org_id: "org-ship".into(),
        recipient_org_id: "org-recv".into(),
        origin: Location {
            name: "Pharma Hub Rotterdam".into(),
            lat: 51.9244,
            lon: 4.4777,
        },
        destination: Location {
            name: "Charité Berlin".into(),
            lat: 52.5263,
            lon: 13.3766,
        },
        device_id: Some("truck-7".into()),
        truck_id: Some("NL-42-XY".into()),
        expected_silences: Vec::new(),
    }
}

/// Shipment `shp-1` of [`draft`], created by the shipper's manager at [`T0`].
pub fn pending() -> Shipment {
    Shipment::create("shp-1", draft(), &manager("org-ship"), T0)
}

/// The transitions that take a new shipment to `state`.
pub fn path_to(state: ShipmentState) -> &'static [Transition] {
    match state {
        ShipmentState::Pending => &[],
        ShipmentState::Dispatched => &[Transition::Dispatch],
        ShipmentState::InTransit => &[Transition::Dispatch, Transition::Start],
        ShipmentState::Delivered => &[Transition::Dispatch, Transition::Start, Transition::Deliver],
        ShipmentState::Cancelled => &[Transition::Cancel],
    }
}

/// Shipment `id` of [`draft`] reported by `device`, created by the shipper's
/// manager two hours before [`T0`] and taken to `state` along [`path_to`],
/// one transition every ten minutes.
pub fn shipment(id: &str, device: &str, state: ShipmentState) -> Shipment {
    let draft = ShipmentDraft {
        device_id: Some(device.to_owned()),
        ..draft()
    };
    let created_at = T0 - Duration::hours(2);
    let mut shipment = Shipment::create(id, draft, &manager("org-ship"), created_at);
    for transition in path_to(state) {
        let at = shipment.updated_at + Duration::minutes(10);
        shipment = shipment
            .transition(*transition, shipment.version, at, None)
            .expect("a transition on the shipment's path");
    }
    shipment
}

/// A reading of `device` `minute` minutes after [`T0`] (id
/// `<device>-<minute>`), received over HTTPS a second later, from a truck
/// heading north.
pub fn reading(device: &str, minute: i64, temperature_c: f64, vibration_g: f64) -> Reading {
    let ts = T0 + Duration::minutes(minute);
    Reading {
        v: READING_SCHEMA_VERSION,
        reading_id: format!("{device}-{minute}"),
        device_id: device.into(),
        shipment_id: None,
        ts,
        lat: 52.0 + minute as f64 / 1000.0,
        lon: 5.0,
        temperature_c,
        vibration_g,
        received_at: ts + Duration::seconds(1),
        source: "https".into(),
        sender: Some(device_principal(device)),
    }
}

/// The organisation of the sample shipments' shipper (and of their devices).
pub const SHIPPER_ORG: &str = "org-ship";

/// `device`, signed in as itself, of the shipper [`SHIPPER_ORG`].
pub fn device_principal(device: &str) -> Principal {
    Principal::Device {
        device_id: device.to_owned(),
        org_id: SHIPPER_ORG.to_owned(),
    }
}

/// `device` as the registry holds it: of the shipper [`SHIPPER_ORG`], enabled.
pub fn registered_device(device: &str) -> crate::telemetry::RegisteredDevice {
    crate::telemetry::RegisteredDevice {
        id: device.to_owned(),
        org_id: SHIPPER_ORG.to_owned(),
        disabled: false,
    }
}

/// A review: the driver closed the door, no product impact.
pub fn review() -> crate::coldchain::ReviewRequest {
    crate::coldchain::ReviewRequest {
        reason: "Door closed by the driver; load within limits".into(),
        disposition: crate::coldchain::Disposition::NoProductImpact,
    }
}

/// [`pending`] on the road from `org-a` to `org-b`: 600 vials of vaccine on
/// device `truck-7`, no truck named.
fn alarm_shipment() -> ShipmentSummary {
    ShipmentSummary {
        product: "COVID-19 vaccine, 6-dose vials".into(),
        quantity: 600,
        shipper_org_id: "org-a".into(),
        recipient_org_id: "org-b".into(),
        truck_id: None,
        state: ShipmentState::InTransit,
        ..ShipmentSummary::from(&pending())
    }
}

fn alarm_of(severity: Severity) -> Alarm {
    Alarm {
        alarm_id: "shp-1#TEMPERATURE_EXCURSION#1795255200000".into(),
        shipment_id: "shp-1".into(),
        alarm_type: AlarmType::TemperatureExcursion,
        severity,
        state: AlarmState::ActiveUnack,
        raised_at: datetime!(2026-11-21 10:00 UTC),
        last_seen: datetime!(2026-11-21 10:32 UTC),
        count: 33,
        value: 9.5,
        peak_value: 9.8,
        peak_magnitude: 1.8,
        detail: "9.5 °C above the 8.0 °C limit".into(),
        crossing: Some(Crossing {
            limit: Limit::Upper,
            threshold_c: 8.0,
            by_c: 1.8,
        }),
        acknowledged_by: None,
        acknowledged_at: None,
        review: None,
        earlier_reviews: Vec::new(),
        cleared_at: None,
    }
}

fn alarm_context() -> AlarmContext {
    AlarmContext {
        reading_ts: Some(datetime!(2026-11-21 10:32 UTC)),
        reading_id: Some("truck-7-0033".into()),
        received_at: None,
        lat: Some(52.52),
        lon: Some(13.405),
        temperature_c: Some(9.5),
        vibration_g: Some(0.3),
        peak_vibration_g: Some(1.2),
        mkt_c: Some(6.2123),
        excursion_minutes: 30.0,
        budget_minutes: 60,
        budget_used: 0.5,
        minutes_above: Some(30.0),
        minutes_below: Some(0.0),
        min_temperature_c: Some(4.1),
        max_temperature_c: Some(9.8),
        ..AlarmContext::default()
    }
}

/// A MAJOR (or `severity`) temperature excursion on shipment `shp-1` (from
/// `org-a` to `org-b`, device `truck-7`), 32 minutes after its raise, as the
/// alarm event of `event_type`, with its risk estimate.
pub fn alarm_event(event_type: AlarmEventType, severity: Severity) -> AlarmEvent {
    let alarm = alarm_of(severity);
    let mut event = AlarmEvent {
        v: 1,
        event_id: format!("{}:{}", alarm.alarm_id, event_type.as_str()),
        event_type,
        occurred_at: alarm.last_seen,
        alarm,
        from_severity: None,
        shipment: alarm_shipment(),
        context: alarm_context(),
        risk: None,
    };
    event.risk = estimate_risk(&event.risk_input()).ok();
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_shipment_reaches_every_state() {
        for state in [
            ShipmentState::Pending,
            ShipmentState::Dispatched,
            ShipmentState::InTransit,
            ShipmentState::Delivered,
            ShipmentState::Cancelled,
        ] {
            let shipment = shipment("shp-1", "truck-1", state);
            assert_eq!(shipment.state, state);
            assert_eq!(shipment.version, 1 + path_to(state).len() as u64);
            assert_eq!(shipment.device_id.as_deref(), Some("truck-1"));
            assert!(shipment.updated_at <= T0 - Duration::hours(1));
        }
    }
}
