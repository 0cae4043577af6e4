//! Device binding: which device a shipment may be given, and when.
//!
//! A shipment's readings come from its device, so creating a shipment with a
//! device, and dispatching one, require a device that is registered to the
//! shipper organisation, is not disabled, and is not on another shipment on
//! its way (DISPATCHED or IN_TRANSIT): otherwise another organisation could
//! bind a truck it does not own and see its readings, or one truck's readings
//! would belong to two shipments at once. Dispatching needs a device: a
//! shipment on its way without one would be watched by nobody. Both
//! organisations of a shipment must exist.
//!
//! Two dispatches of different shipments with one device can both pass
//! [`check_dispatch`] when they run at once, so the store also keeps a claim
//! per device, taken in the same transaction as the dispatch and given back
//! in the one that delivers or cancels the shipment ([`claim_change`]): of
//! two racing dispatches exactly one takes the claim, and the other is
//! refused as busy.

use super::{Shipment, ShipmentState};
use crate::telemetry::RegisteredDevice;

/// Why a shipment may not have the device (or the parties) it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// An organisation of the shipment does not exist; `field` names it.
    #[error("no organisation has this id")]
    UnknownOrganisation {
        /// `shipper_org_id` or `recipient_org_id`.
        field: &'static str,
    },
    /// The device is not registered to the shipper (or not at all).
    #[error("is not a device of the shipper organisation")]
    NotShippersDevice,
    /// The device is disabled.
    #[error("is a disabled device")]
    DeviceDisabled,
    /// The device is on another shipment on its way.
    #[error("device {device_id} is on shipment {shipment_id}, which is {state}")]
    DeviceBusy {
        /// The device.
        device_id: String,
        /// The other shipment.
        shipment_id: String,
        /// Its state.
        state: ShipmentState,
    },
    /// A shipment without a device cannot be dispatched.
    #[error("a shipment needs a device to be dispatched: create it with a device_id")]
    NoDevice,
}

impl BindingError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            BindingError::UnknownOrganisation { field } => field,
            _ => "device_id",
        }
    }
}

/// Whether `shipment` (being created, or dispatched) may have its device:
/// `device` is what the registry holds of it (`None`: not registered) and
/// `device_shipments` every shipment naming it.
pub fn check_device(
    shipment: &Shipment,
    device: Option<&RegisteredDevice>,
    device_shipments: &[Shipment],
) -> Result<(), BindingError> {
    let Some(device_id) = shipment.device_id.as_deref() else {
        return Ok(());
    };
    let device = device
        .filter(|d| d.org_id == shipment.shipper_org_id)
        .ok_or(BindingError::NotShippersDevice)?;
    if device.disabled {
        return Err(BindingError::DeviceDisabled);
    }
    match device_shipments.iter().find(|other| {
        other.id != shipment.id
            && matches!(
                other.state,
                ShipmentState::Dispatched | ShipmentState::InTransit
            )
    }) {
        Some(other) => Err(BindingError::DeviceBusy {
            device_id: device_id.to_owned(),
            shipment_id: other.id.clone(),
            state: other.state,
        }),
        None => Ok(()),
    }
}

/// Whether `shipment` may be dispatched with its device ([`check_device`]),
/// which it must have.
pub fn check_dispatch(
    shipment: &Shipment,
    device: Option<&RegisteredDevice>,
    device_shipments: &[Shipment],
) -> Result<(), BindingError> {
    if shipment.device_id.is_none() {
        return Err(BindingError::NoDevice);
    }
    check_device(shipment, device, device_shipments)
}

/// What a change of a shipment does to its device's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimChange {
    /// The shipment takes the device (it was dispatched): refused if another
    /// shipment holds it.
    Take,
    /// The shipment gives the device back (delivered, or cancelled after its
    /// dispatch).
    Release,
}

/// The claim change that storing `shipment` (just changed) makes, with the
/// device it is about; `None` when the claim stays as it is (created,
/// started, cancelled before dispatch, or no device).
pub fn claim_change(shipment: &Shipment) -> Option<(&str, ClaimChange)> {
    let device_id = shipment.device_id.as_deref()?;
    let change = match shipment.state {
        ShipmentState::Dispatched => ClaimChange::Take,
        ShipmentState::Delivered | ShipmentState::Cancelled if shipment.dispatched_at.is_some() => {
            ClaimChange::Release
        }
        _ => return None,
    };
    Some((device_id, change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{registered_device, shipment};

    #[test]
    fn a_device_of_the_shipper_that_is_free_may_be_bound() {
        let s = shipment("shp-1", "truck-7", ShipmentState::Pending);
        let done = shipment("shp-0", "truck-7", ShipmentState::Delivered);
        let device = registered_device("truck-7");
        assert_eq!(
            check_device(&s, Some(&device), &[done.clone(), s.clone()]),
            Ok(())
        );
        assert_eq!(check_dispatch(&s, Some(&device), &[done]), Ok(()));
    }

    #[test]
    fn another_organisations_or_an_unknown_or_disabled_device_is_refused() {
        let s = shipment("shp-1", "truck-7", ShipmentState::Pending);
        let mut foreign = registered_device("truck-7");
        foreign.org_id = "org-b".into();
        assert_eq!(
            check_device(&s, Some(&foreign), &[]),
            Err(BindingError::NotShippersDevice)
        );
        assert_eq!(
            check_device(&s, None, &[]),
            Err(BindingError::NotShippersDevice)
        );
        let mut off = registered_device("truck-7");
        off.disabled = true;
        assert_eq!(
            check_device(&s, Some(&off), &[]),
            Err(BindingError::DeviceDisabled)
        );
        assert_eq!(BindingError::DeviceDisabled.field(), "device_id");
    }

    #[test]
    fn a_device_on_another_shipment_on_its_way_is_busy() {
        let s = shipment("shp-2", "truck-7", ShipmentState::Pending);
        let device = registered_device("truck-7");
        for state in [ShipmentState::Dispatched, ShipmentState::InTransit] {
            let other = shipment("shp-1", "truck-7", state);
            let busy = check_device(&s, Some(&device), &[other]).unwrap_err();
            assert_eq!(
                busy,
                BindingError::DeviceBusy {
                    device_id: "truck-7".into(),
                    shipment_id: "shp-1".into(),
                    state
                }
            );
            assert!(busy.to_string().contains("shp-1"), "{busy}");
        }
    }

    #[test]
    fn no_device_may_be_created_but_not_dispatched() {
        let mut s = shipment("shp-1", "truck-7", ShipmentState::Pending);
        s.device_id = None;
        assert_eq!(check_device(&s, None, &[]), Ok(()));
        assert_eq!(check_dispatch(&s, None, &[]), Err(BindingError::NoDevice));
    }

    #[test]
    fn unknown_organisations_name_their_field() {
        let error = BindingError::UnknownOrganisation {
            field: "recipient_org_id",
        };
        assert_eq!(error.field(), "recipient_org_id");
    }

    #[test]
    fn dispatch_takes_the_claim_and_the_end_of_the_trip_gives_it_back() {
        let at = time::macros::datetime!(2026-11-21 08:00 UTC);
        let mut s = shipment("shp-1", "truck-7", ShipmentState::Pending);
        assert_eq!(claim_change(&s), None);
        s.state = ShipmentState::Dispatched;
        s.dispatched_at = Some(at);
        assert_eq!(claim_change(&s), Some(("truck-7", ClaimChange::Take)));
        s.state = ShipmentState::InTransit;
        assert_eq!(claim_change(&s), None);
        for end in [ShipmentState::Delivered, ShipmentState::Cancelled] {
            s.state = end;
            assert_eq!(claim_change(&s), Some(("truck-7", ClaimChange::Release)));
        }
    }

    #[test]
    fn cancelling_before_dispatch_leaves_the_claim_alone() {
        let mut s = shipment("shp-1", "truck-7", ShipmentState::Cancelled);
        s.dispatched_at = None;
        assert_eq!(claim_change(&s), None, "another shipment may hold it");
        s.device_id = None;
        s.state = ShipmentState::Dispatched;
        assert_eq!(claim_change(&s), None);
    }
}
