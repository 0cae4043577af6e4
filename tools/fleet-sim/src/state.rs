//! The state file (`localstack/.state/fleet.json`, git-ignored): the ids the
//! API gave the demo world, the users' passwords and the devices' secrets, so
//! the next run reuses them instead of creating a new world.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Everything remembered between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    /// The API this world was last used with.
    pub api_base: String,
    /// A short random tag in device ids and e-mail addresses, unique per world.
    pub tag: String,
    /// Organisations by key: `operator`, or the key of a recipient place.
    #[serde(default)]
    pub organisations: BTreeMap<String, OrgRecord>,
    /// Trucks by number (from 1).
    #[serde(default)]
    pub trucks: BTreeMap<usize, TruckRecord>,
}

/// An organisation and its people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind, e.g. `HOSPITAL`.
    pub kind: String,
    /// Its users.
    #[serde(default)]
    pub users: Vec<UserRecord>,
}

/// A user a person can log in as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Its id.
    pub id: String,
    /// `MANAGER` or `PHARMACIST`.
    pub role: String,
    /// Login e-mail.
    pub email: String,
    /// Login password.
    pub password: String,
}

/// A truck: its device and the shipment it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruckRecord {
    /// The device id.
    pub device_id: String,
    /// The device secret.
    pub secret: String,
    /// The shipment on board, if any.
    #[serde(default)]
    pub shipment: Option<ShipmentRecord>,
}

/// A shipment on its way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    /// Its id.
    pub id: String,
    /// The key of its route.
    pub route: String,
    /// The profile kind, e.g. `REFRIGERATED`.
    pub profile: String,
    /// Its version as last seen.
    pub version: u64,
    /// How far the truck got, km (saved at the end of a run).
    #[serde(default)]
    pub progress_km: f64,
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {message}")]
pub struct StateError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl FleetState {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let error = |message: String| StateError {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| error(format!("not valid: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(error(e.to_string())),
        }
    }

    /// Writes the state file (readable by its owner only: it holds secrets),
    /// atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let error = |message: String| StateError {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| error(e.to_string()))?;
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, text.as_bytes()).map_err(|e| error(e.to_string()))?;
        std::fs::rename(&temporary, path).map_err(|e| error(e.to_string()))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_missing_file_is_empty() {
        let dir =
            std::env::temp_dir().join(format!("fleet-state-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("fleet.json");
        assert_eq!(
            FleetState::load(&path).expect("missing is fine"),
            FleetState::default()
        );
        let mut state = FleetState {
            api_base: "http://api".into(),
            tag: "ab12".into(),
            ..FleetState::default()
        };
        state.trucks.insert(
            1,
            TruckRecord {
                device_id: "fleet-ab12-truck-01".into(),
                secret: "s3cret".into(),
                shipment: Some(ShipmentRecord {
                    id: "shp-1".into(),
                    route: "venlo-essen".into(),
                    profile: "REFRIGERATED".into(),
                    version: 3,
                    progress_km: 12.5,
                }),
            },
        );
        state.save(&path).expect("saved");
        assert_eq!(FleetState::load(&path).expect("loaded"), state);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{").expect("write");
        assert!(
            FleetState::load(&path)
                .expect_err("broken")
                .message
                .contains("not valid")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
