//! Provenance: who may speak for a device, and on which shipment its
//! readings may land.
//!
//! Every record on the telemetry stream carries its sender (a [`Principal`]:
//! the device itself, or the user who relayed the reading), written by the
//! HTTPS ingest from the caller's verified token and by the IoT rule from the
//! connection's topic (which the device policy ties to the device). The same
//! rule is checked twice:
//!
//! - at the ingest, so that a caller hears at once that a reading is refused
//!   ([`may_speak_for`]);
//! - by the anomaly detector before a reading touches a shipment, since a
//!   record may come in by another path ([`may_speak_for`] and
//!   [`may_place`]).
//!
//! The rule: a device speaks only for itself; a user may relay readings only
//! if their role may send telemetry (DRIVER, ADMIN) and only for devices of
//! their own organisation; a disabled or unknown device speaks for nobody;
//! and a reading is placed on a shipment only if the device belongs to the
//! shipment's shipper.

use serde::{Deserialize, Serialize};

use crate::identity::{Principal, Role};
use crate::shipment::Shipment;

/// What the platform knows of a registered device, as the telemetry path
/// reads it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredDevice {
    /// The device id.
    pub id: String,
    /// The organisation that registered it.
    pub org_id: String,
    /// Whether it has been disabled.
    pub disabled: bool,
}

/// Why a reading may not be taken from its sender, or not placed on a
/// shipment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The record does not say who sent it.
    #[error("the record does not say who sent it")]
    NoSender,
    /// No device is registered with the reading's id.
    #[error("no device {0} is registered")]
    UnknownDevice(String),
    /// The device is disabled.
    #[error("device {0} is disabled")]
    DeviceDisabled(String),
    /// A device sent a reading of another device.
    #[error("device {sender} may not send readings of device {device}")]
    NotTheDevice {
        /// The sending device.
        sender: String,
        /// The reading's device.
        device: String,
    },
    /// A user's role may not send telemetry.
    #[error("user {user} ({role}) may not send telemetry")]
    RoleMayNotRelay {
        /// The user.
        user: String,
        /// Their role.
        role: Role,
    },
    /// The sender belongs to another organisation than the device.
    #[error(
        "{sender} of organisation {sender_org} may not speak for device {device} of another organisation"
    )]
    OtherOrganisation {
        /// The sender's id.
        sender: String,
        /// The sender's organisation.
        sender_org: String,
        /// The device.
        device: String,
    },
    /// The device does not belong to the shipment's shipper.
    #[error("device {device} does not belong to the shipper of shipment {shipment}")]
    NotShippersDevice {
        /// The device.
        device: String,
        /// The shipment.
        shipment: String,
    },
}

impl Refusal {
    /// A stable name of the reason, e.g. `OTHER_ORGANISATION`.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::NoSender => "NO_SENDER",
            Refusal::UnknownDevice(_) => "UNKNOWN_DEVICE",
            Refusal::DeviceDisabled(_) => "DEVICE_DISABLED",
            Refusal::NotTheDevice { .. } => "NOT_THE_DEVICE",
            Refusal::RoleMayNotRelay { .. } => "ROLE_MAY_NOT_RELAY",
            Refusal::OtherOrganisation { .. } => "OTHER_ORGANISATION",
            Refusal::NotShippersDevice { .. } => "NOT_SHIPPERS_DEVICE",
        }
    }
}

/// Whether `sender` may send readings of `device_id`, given what the
/// registry holds of that device (`None`: not registered).
pub fn may_speak_for(
    sender: &Principal,
    device_id: &str,
    device: Option<&RegisteredDevice>,
) -> Result<(), Refusal> {
    if let Principal::Device { device_id: own, .. } = sender
        && own != device_id
    {
        return Err(Refusal::NotTheDevice {
            sender: own.clone(),
            device: device_id.to_owned(),
        });
    }
    if let Principal::User { user_id, role, .. } = sender
        && !matches!(role, Role::Driver | Role::Admin)
    {
        return Err(Refusal::RoleMayNotRelay {
            user: user_id.clone(),
            role: *role,
        });
    }
    let device = device.ok_or_else(|| Refusal::UnknownDevice(device_id.to_owned()))?;
    if sender.org_id() != device.org_id {
        return Err(Refusal::OtherOrganisation {
            sender: sender.id().to_owned(),
            sender_org: sender.org_id().to_owned(),
            device: device_id.to_owned(),
        });
    }
    if device.disabled {
        return Err(Refusal::DeviceDisabled(device_id.to_owned()));
    }
    Ok(())
}

/// Whether readings of `device` may be placed on `shipment`: the device
/// belongs to the shipment's shipper.
pub fn may_place(device: &RegisteredDevice, shipment: &Shipment) -> Result<(), Refusal> {
    if device.org_id == shipment.shipper_org_id {
        Ok(())
    } else {
        Err(Refusal::NotShippersDevice {
            device: device.id.clone(),
            shipment: shipment.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::shipment;
    use crate::shipment::ShipmentState;

    fn device(org: &str) -> RegisteredDevice {
        RegisteredDevice {
            id: "truck-7".into(),
            org_id: org.into(),
            disabled: false,
        }
    }

    fn user(org: &str, role: Role) -> Principal {
        Principal::User {
            user_id: "usr-1".into(),
            org_id: org.into(),
            role,
        }
    }

    fn the_device(id: &str, org: &str) -> Principal {
        Principal::Device {
            device_id: id.into(),
            org_id: org.into(),
        }
    }

    #[test]
    fn a_device_speaks_for_itself_only() {
        let own = device("org-a");
        assert_eq!(
            may_speak_for(&the_device("truck-7", "org-a"), "truck-7", Some(&own)),
            Ok(())
        );
        let other = may_speak_for(&the_device("truck-8", "org-a"), "truck-7", Some(&own));
        assert_eq!(other.unwrap_err().kind(), "NOT_THE_DEVICE");
        // a device id re-registered by another organisation: the token's org no longer matches
        let moved = may_speak_for(&the_device("truck-7", "org-b"), "truck-7", Some(&own));
        assert_eq!(moved.unwrap_err().kind(), "OTHER_ORGANISATION");
    }

    #[test]
    fn drivers_and_admins_relay_for_devices_of_their_own_organisation_only() {
        let own = device("org-a");
        for role in [Role::Driver, Role::Admin] {
            assert_eq!(
                may_speak_for(&user("org-a", role), "truck-7", Some(&own)),
                Ok(())
            );
            let across = may_speak_for(&user("org-b", role), "truck-7", Some(&own)).unwrap_err();
            assert_eq!(across.kind(), "OTHER_ORGANISATION", "{role}");
        }
        for role in [Role::Manager, Role::Pharmacist] {
            let refused = may_speak_for(&user("org-a", role), "truck-7", Some(&own)).unwrap_err();
            assert_eq!(refused.kind(), "ROLE_MAY_NOT_RELAY");
        }
    }

    #[test]
    fn unknown_and_disabled_devices_speak_for_nobody() {
        let unknown = may_speak_for(&user("org-a", Role::Driver), "truck-7", None).unwrap_err();
        assert_eq!(unknown, Refusal::UnknownDevice("truck-7".into()));
        let mut off = device("org-a");
        off.disabled = true;
        let disabled =
            may_speak_for(&the_device("truck-7", "org-a"), "truck-7", Some(&off)).unwrap_err();
        assert_eq!(disabled.kind(), "DEVICE_DISABLED");
        // another organisation learns nothing about the state of the device
        let across =
            may_speak_for(&user("org-b", Role::Driver), "truck-7", Some(&off)).unwrap_err();
        assert_eq!(across.kind(), "OTHER_ORGANISATION");
    }

    #[test]
    fn readings_land_only_on_shipments_of_the_devices_organisation() {
        let s = shipment("shp-1", "truck-7", ShipmentState::InTransit);
        assert_eq!(may_place(&device(&s.shipper_org_id), &s), Ok(()));
        let refused = may_place(&device("org-elsewhere"), &s).unwrap_err();
        assert_eq!(refused.kind(), "NOT_SHIPPERS_DEVICE");
        assert!(refused.to_string().contains("shp-1"), "{refused}");
    }
}
