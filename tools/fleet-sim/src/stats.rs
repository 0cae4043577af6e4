//! Counters of a run, the progress line and the summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// What can be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Records handed to the transport (readings, duplicates, malformed).
    Sent,
    /// Records the platform took (https: `accepted`; mqtt: PUBACK).
    Accepted,
    /// Records the API rejected as invalid.
    Rejected,
    /// Records given up after retries.
    Failed,
    /// Resends of a reading with the same reading_id (on purpose).
    Duplicates,
    /// Malformed records (on purpose).
    Malformed,
    /// Requests (or connections) tried again after an error, 429 or 5xx.
    Retries,
    /// Readings the silence incidents held back.
    Silenced,
}

/// A set of counters.
#[derive(Debug, Default)]
pub struct Counters {
    values: [AtomicU64; 8],
}

impl Counters {
    fn slot(count: Count) -> usize {
        count as usize
    }

    /// Adds `n`.
    pub fn add(&self, count: Count, n: u64) {
        self.values[Self::slot(count)].fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self, count: Count) -> u64 {
        self.values[Self::slot(count)].load(Ordering::Relaxed)
    }

    /// A copy of the values.
    pub fn snapshot(&self) -> CountSnapshot {
        CountSnapshot {
            sent: self.get(Count::Sent),
            accepted: self.get(Count::Accepted),
            rejected: self.get(Count::Rejected),
            failed: self.get(Count::Failed),
            duplicates: self.get(Count::Duplicates),
            malformed: self.get(Count::Malformed),
            retries: self.get(Count::Retries),
            silenced: self.get(Count::Silenced),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CountSnapshot {
    /// See [`Count::Sent`].
    pub sent: u64,
    /// See [`Count::Accepted`].
    pub accepted: u64,
    /// See [`Count::Rejected`].
    pub rejected: u64,
    /// See [`Count::Failed`].
    pub failed: u64,
    /// See [`Count::Duplicates`].
    pub duplicates: u64,
    /// See [`Count::Malformed`].
    pub malformed: u64,
    /// See [`Count::Retries`].
    pub retries: u64,
    /// See [`Count::Silenced`].
    pub silenced: u64,
}

/// The counters of a run: the fleet's and each truck's.
#[derive(Debug)]
pub struct Stats {
    total: Counters,
    trucks: Vec<Counters>,
    /// What happened worth reporting (incidents, expected alarms, shipments).
    pub journal: Mutex<Journal>,
}

impl Stats {
    /// Counters for `trucks` trucks.
    pub fn new(trucks: usize) -> Self {
        Self {
            total: Counters::default(),
            trucks: (0..trucks).map(|_| Counters::default()).collect(),
            journal: Mutex::new(Journal::default()),
        }
    }

    /// Adds `n` to `count` of truck `number` (from 1) and of the fleet.
    pub fn add(&self, number: usize, count: Count, n: u64) {
        self.total.add(count, n);
        if let Some(truck) = number.checked_sub(1).and_then(|i| self.trucks.get(i)) {
            truck.add(count, n);
        }
    }

    /// The fleet's counters.
    pub fn total(&self) -> CountSnapshot {
        self.total.snapshot()
    }

    /// Truck `number`'s counters.
    pub fn truck(&self, number: usize) -> CountSnapshot {
        number
            .checked_sub(1)
            .and_then(|i| self.trucks.get(i))
            .map(Counters::snapshot)
            .unwrap_or_default()
    }

    /// Records something in the journal.
    pub fn note(&self, f: impl FnOnce(&mut Journal)) {
        if let Ok(mut journal) = self.journal.lock() {
            f(&mut journal);
        }
    }
}

/// The events of a run that the summary lists.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Journal {
    /// Incidents, in the order they started.
    pub incidents: Vec<IncidentRecord>,
    /// Readings that should raise (or escalate) an alarm.
    pub expected_alarms: Vec<ExpectedAlarm>,
    /// Shipments started, resumed and delivered.
    pub shipments: Vec<ShipmentEvent>,
}

/// An incident that started.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentRecord {
    /// e.g. `door-open`.
    pub kind: String,
    /// Truck number.
    pub truck: usize,
    /// Its device.
    pub device_id: String,
    /// The shipment on board.
    pub shipment_id: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Seconds after the start of the run.
    pub start_s: f64,
    /// Scripted or random.
    pub random: bool,
}

/// A reading after which the platform should publish an alarm event.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectedAlarm {
    /// Truck number.
    pub truck: usize,
    /// Its device.
    pub device_id: String,
    /// The shipment.
    pub shipment_id: String,
    /// e.g. `TEMPERATURE_EXCURSION`.
    pub alarm_type: String,
    /// e.g. `MAJOR`.
    pub severity: String,
    /// `RAISED` or `ESCALATED`.
    pub transition: String,
    /// The alarm id the domain rules give it (`None` for DEVICE_OFFLINE, which
    /// depends on when the platform's clock ticks).
    pub alarm_id: Option<String>,
    /// The reading that triggers it (for DEVICE_OFFLINE: the last one before the silence).
    pub reading_id: String,
    /// That reading's `ts`.
    pub ts: String,
    /// For DEVICE_OFFLINE: the earliest time the alarm is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
}

/// A shipment's life in the run.
#[derive(Debug, Clone, Serialize)]
pub struct ShipmentEvent {
    /// `started`, `resumed` or `delivered`.
    pub event: String,
    /// Truck number.
    pub truck: usize,
    /// The shipment.
    pub shipment_id: String,
    /// Route key.
    pub route: String,
    /// Profile kind.
    pub profile: String,
    /// When (RFC 3339).
    pub at: String,
}

/// The progress line: `elapsed, sent, accepted, rejected, retries, rate`.
pub fn progress_line(
    elapsed: Duration,
    now: &CountSnapshot,
    before: &CountSnapshot,
    interval: Duration,
) -> String {
    let seconds = elapsed.as_secs();
    let rate = if interval.is_zero() {
        0.0
    } else {
        (now.sent - before.sent) as f64 / interval.as_secs_f64()
    };
    format!(
        "fleet-sim: {:02}:{:02}:{:02} sent {} accepted {} rejected {} failed {} retries {} rate {:.1}/s",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        now.sent,
        now.accepted,
        now.rejected,
        now.failed,
        now.retries,
        rate
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_truck_and_for_the_fleet() {
        let stats = Stats::new(2);
        stats.add(1, Count::Sent, 3);
        stats.add(2, Count::Sent, 2);
        stats.add(2, Count::Rejected, 1);
        stats.add(9, Count::Retries, 1); // unknown truck: fleet only
        assert_eq!(stats.total().sent, 5);
        assert_eq!(stats.total().retries, 1);
        assert_eq!(stats.truck(1).sent, 3);
        assert_eq!((stats.truck(2).sent, stats.truck(2).rejected), (2, 1));
        assert_eq!(stats.truck(3), CountSnapshot::default());
    }

    #[test]
    fn the_progress_line_shows_elapsed_counts_and_rate() {
        let before = CountSnapshot {
            sent: 100,
            ..CountSnapshot::default()
        };
        let now = CountSnapshot {
            sent: 150,
            accepted: 140,
            rejected: 5,
            retries: 2,
            ..CountSnapshot::default()
        };
        let line = progress_line(
            Duration::from_secs(3725),
            &now,
            &before,
            Duration::from_secs(10),
        );
        assert_eq!(
            line,
            "fleet-sim: 01:02:05 sent 150 accepted 140 rejected 5 failed 0 retries 2 rate 5.0/s"
        );
    }
}
