//! Scripted and random incidents: `--incident <kind>@<truck>[+<start>]`.

use std::fmt;
use std::time::Duration;

use crate::rng::Rng;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    /// The cargo door stays open for [`DOOR_OPEN_FOR`]: the cargo warms
    /// towards ambient (+0.3 °C/min), then the unit brings it back.
    DoorOpen,
    /// The compressor fails: the cargo warms until out of range and stays
    /// there until the shipment is delivered (the truck is repaired at the hub).
    CompressorFailure,
    /// One reading of 6–9 g; the truck stands still for [`CRASH_STANDSTILL`].
    Crash,
    /// The device sends nothing for [`SILENCE_FOR`], then resumes.
    Silence,
    /// The thermostat sticks on full cooling for [`FREEZE_FOR`]: the cargo
    /// drops below 0 °C (1.5 °C/min down), then the unit is reset.
    Freeze,
}

/// How long the door stays open.
pub const DOOR_OPEN_FOR: Duration = Duration::from_secs(25 * 60);
/// How long a crashed truck stands still before it is recovered and drives on.
pub const CRASH_STANDSTILL: Duration = Duration::from_secs(60 * 60);
/// How long a thermostat stays stuck on full cooling.
pub const FREEZE_FOR: Duration = Duration::from_secs(12 * 60);
/// How long a device stays silent (longer than the 10 minutes after which an
/// in-transit device is offline).
pub const SILENCE_FOR: Duration = Duration::from_secs(12 * 60);

impl IncidentKind {
    /// Every kind.
    pub const ALL: [IncidentKind; 5] = [
        IncidentKind::DoorOpen,
        IncidentKind::CompressorFailure,
        IncidentKind::Crash,
        IncidentKind::Silence,
        IncidentKind::Freeze,
    ];

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::DoorOpen => "door-open",
            IncidentKind::CompressorFailure => "compressor-failure",
            IncidentKind::Crash => "crash",
            IncidentKind::Silence => "silence",
            IncidentKind::Freeze => "freeze",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// How long it lasts (`None`: until the shipment is delivered).
    pub fn lasts(self) -> Option<Duration> {
        match self {
            IncidentKind::DoorOpen => Some(DOOR_OPEN_FOR),
            IncidentKind::CompressorFailure => None,
            IncidentKind::Crash => Some(CRASH_STANDSTILL),
            IncidentKind::Silence => Some(SILENCE_FOR),
            IncidentKind::Freeze => Some(FREEZE_FOR),
        }
    }

    /// A kind for a random incident: door-open 40 %, silence 30 %,
    /// compressor failure 15 %, crash 15 %.
    pub fn random(rng: &mut Rng) -> Self {
        let draw = rng.unit();
        if draw < 0.40 {
            IncidentKind::DoorOpen
        } else if draw < 0.70 {
            IncidentKind::Silence
        } else if draw < 0.85 {
            IncidentKind::CompressorFailure
        } else {
            IncidentKind::Crash
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scripted incident: `kind` on truck number `truck` (from 1), `start`
/// after the simulation began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentSpec {
    /// What.
    pub kind: IncidentKind,
    /// Which truck, numbered from 1 as printed.
    pub truck: usize,
    /// When, after the start of the run.
    pub start: Duration,
}

impl IncidentSpec {
    /// Parses `<kind>@<truck>[+<start>]`, e.g. `crash@2+90`, `door-open@1+5m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, rest) = text
            .split_once('@')
            .ok_or_else(|| format!("incident {text:?}: expected <kind>@<truck>[+<start>]"))?;
        let kind = IncidentKind::parse(kind).ok_or_else(|| {
            let names: Vec<&str> = IncidentKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "incident {text:?}: unknown kind {kind:?} (one of {})",
                names.join(", ")
            )
        })?;
        let (truck, start) = match rest.split_once('+') {
            Some((truck, start)) => (truck, crate::cli::parse_duration(start)?),
            None => (rest, Duration::ZERO),
        };
        let truck: usize = truck
            .parse()
            .map_err(|_| format!("incident {text:?}: the truck must be a number, got {truck:?}"))?;
        if truck == 0 {
            return Err(format!("incident {text:?}: trucks are numbered from 1"));
        }
        Ok(Self { kind, truck, start })
    }
}

impl fmt::Display for IncidentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}+{}", self.kind, self.truck, self.start.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_parse_with_and_without_a_start() {
        assert_eq!(
            IncidentSpec::parse("crash@2+90"),
            Ok(IncidentSpec {
                kind: IncidentKind::Crash,
                truck: 2,
                start: Duration::from_secs(90)
            })
        );
        assert_eq!(
            IncidentSpec::parse("door-open@1"),
            Ok(IncidentSpec {
                kind: IncidentKind::DoorOpen,
                truck: 1,
                start: Duration::ZERO
            })
        );
        let spec = IncidentSpec::parse("compressor-failure@12+5m").expect("valid");
        assert_eq!(
            (spec.kind, spec.truck, spec.start.as_secs()),
            (IncidentKind::CompressorFailure, 12, 300)
        );
        assert_eq!(
            IncidentSpec::parse("silence@3+1h")
                .expect("valid")
                .start
                .as_secs(),
            3600
        );
        assert_eq!(spec.to_string(), "compressor-failure@12+300");
    }

    #[test]
    fn bad_incidents_say_what_is_wrong() {
        for (text, message) in [
            ("crash", "expected <kind>@<truck>"),
            ("flood@1", "unknown kind"),
            ("crash@x", "must be a number"),
            ("crash@0", "numbered from 1"),
            ("crash@1+soon", "duration"),
            ("crash@-1", "must be a number"),
        ] {
            let error = IncidentSpec::parse(text).expect_err(text);
            assert!(error.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn random_kinds_cover_every_kind() {
        let mut rng = Rng::new(8);
        let kinds: std::collections::HashSet<IncidentKind> =
            (0..200).map(|_| IncidentKind::random(&mut rng)).collect();
        assert_eq!(kinds.len(), 4);
    }
}
