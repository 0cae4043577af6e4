//! `fleet-sim record`: the telemetry stream a fleet would produce, written to
//! a file offline, on a simulated clock, without the stack.
//!
//! The trucks start as a fresh live run with the same seed starts them (routes,
//! cargo, positions; the same models of motion, sensors, incidents and
//! duplicates) on a clock that ticks exactly, and their readings go through
//! what the HTTPS path does to them: each truck's readings leave in batches
//! (`--batch-window`, `--batch-max`), arrive a little later, are validated by
//! the ingest rules at that moment (`received_at`) and become the Kinesis
//! record's data, the JSON of the domain's `Reading`. The file holds one record
//! per line, in arrival order, as a single shard would carry them.
//!
//! Beside it, the manifest (`<stem>.manifest.json`) says what is in the
//! stream: the settings, the counts, the incidents, the alarms the rules
//! should raise and the shipments as the shipments table holds them while
//! their readings arrive (IN_TRANSIT), so a benchmark can place readings
//! without the stack.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pharmaguard_domain::identity::{Principal, Role};
use pharmaguard_domain::shipment::{Location, Money, Shipment, ShipmentDraft, Transition};
use pharmaguard_domain::telemetry::{Source, validate_reading};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

use crate::catalogue::{Cargo, ROUTES, Route, pick_cargo};
use crate::cli::Transport;
use crate::incident::IncidentSpec;
use crate::rng::Rng;
use crate::run::UNLOAD;
use crate::stats::{ExpectedAlarm, IncidentRecord};
use crate::transport::{Kind, Outgoing};
use crate::truck::{Load, TickOptions, Truck};

/// Where the simulated clock starts unless `--start` says otherwise.
pub const DEFAULT_START: OffsetDateTime = datetime!(2026-11-02 06:00:00 UTC);
/// Where the stream goes unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "target/bench/stream.jsonl";
/// Shortest and longest delay between a batch leaving the truck and the
/// ingest receiving it, s.
const LATENCY_S: (f64, f64) = (0.03, 0.25);

/// What `fleet-sim record` records.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordConfig {
    /// Number of trucks.
    pub trucks: usize,
    /// Readings per second per truck.
    pub rate_hz: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Simulated time covered.
    pub duration: Duration,
    /// When the simulated clock starts.
    pub start: OffsetDateTime,
    /// Scripted incidents.
    pub incidents: Vec<IncidentSpec>,
    /// Random incidents per hour across the fleet.
    pub random_incidents_per_hour: f64,
    /// Share of readings sent twice.
    pub duplicate_rate: f64,
    /// Longest time a reading waits for its batch.
    pub batch_window: Duration,
    /// Most readings per request.
    pub batch_max: usize,
    /// The stream file.
    pub out: PathBuf,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            trucks: 50,
            rate_hz: 1.0,
            seed: 7,
            duration: Duration::from_secs(3600),
            start: DEFAULT_START,
            incidents: Vec::new(),
            random_incidents_per_hour: 0.0,
            duplicate_rate: 0.0,
            batch_window: Duration::from_secs(5),
            batch_max: 100,
            out: PathBuf::from(DEFAULT_OUT),
        }
    }
}

/// What the stream holds, written beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The seed.
    pub seed: u64,
    /// Number of trucks.
    pub trucks: usize,
    /// Readings per second per truck.
    pub rate_hz: f64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// The https batching: window, s.
    pub batch_window_s: f64,
    /// The https batching: most readings per request.
    pub batch_max: usize,
    /// Share of readings sent twice.
    pub duplicate_rate: f64,
    /// When the simulated clock started (RFC 3339).
    pub started_at: String,
    /// The last `received_at` of the stream.
    pub ended_at: String,
    /// Lines in the stream file (Kinesis records).
    pub records: usize,
    /// Of those, resends of a reading already in the stream (same `reading_id`).
    pub duplicates: usize,
    /// Readings the devices did not send (silence incidents).
    pub silenced: usize,
    /// Readings the ingest rules refused (never on the stream; 0 unless a bug).
    pub rejected: usize,
    /// Records per temperature profile of their shipment.
    pub records_by_profile: BTreeMap<String, usize>,
    /// Incidents, in the order they started.
    pub incidents: Vec<IncidentRecord>,
    /// Readings after which the rules raise or escalate an alarm.
    pub expected_alarms: Vec<ExpectedAlarm>,
    /// The shipments of the readings, IN_TRANSIT, in the order they started.
    pub shipments: Vec<Shipment>,
}

/// A recorded stream, in memory.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The records' data (JSON of a `Reading`), in arrival order.
    pub records: Vec<String>,
    /// What they are.
    pub manifest: Manifest,
}

/// The recording could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A shipment could not be built (a bug).
    #[error("shipment {0}: {1}")]
    Shipment(String, String),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The manifest's path for the stream file `out`: `stream.jsonl` →
/// `stream.manifest.json`.
pub fn manifest_path(out: &Path) -> PathBuf {
    out.with_extension("manifest.json")
}

/// The organisations and the manager who order the shipments.
struct Parties {
    ids: Rng,
    operator_org: String,
    manager: Principal,
    recipients: HashMap<&'static str, String>,
}

impl Parties {
    fn new(seed: u64) -> Self {
        let mut ids = Rng::derive(seed, 0x1D5);
        let operator_org = format!("org-{}", uuid(&mut ids));
        let manager = Principal::User {
            user_id: format!("usr-{}", uuid(&mut ids)),
            org_id: operator_org.clone(),
            role: Role::Manager,
        };
        Self {
            ids,
            operator_org,
            manager,
            recipients: HashMap::new(),
        }
    }

    /// A new shipment of `cargo` along `route` for truck `number`, created
    /// at `at` and on its way (dispatched and started) at `on_road`.
    fn shipment(
        &mut self,
        number: usize,
        device_id: &str,
        route: &'static Route,
        cargo: &Cargo,
        at: OffsetDateTime,
        on_road: OffsetDateTime,
    ) -> Result<Shipment, RecordError> {
        let (origin, destination) = (route.origin(), route.destination());
        let ids = &mut self.ids;
        let recipient = self
            .recipients
            .entry(destination.key)
            .or_insert_with(|| format!("org-{}", uuid(ids)))
            .clone();
        let id = format!("shp-{}", uuid(&mut self.ids));
        let draft = ShipmentDraft {
            product: cargo.product.into(),
            quantity: cargo.quantity,
            cargo_value: Money {
                amount: cargo.value_eur.into(),
                currency: "EUR".into(),
            },
            profile: cargo.profile.domain(),
            shipper_org_id: self.operator_org.clone(),
            recipient_org_id: recipient,
            origin: Location {
                name: origin.name.into(),
                lat: origin.at.lat,
                lon: origin.at.lon,
            },
            destination: Location {
                name: destination.name.into(),
                lat: destination.at.lat,
                lon: destination.at.lon,
            },
            device_id: Some(device_id.to_owned()),
            truck_id: Some(format!("truck-{number:02}")),
            expected_silences: Vec::new(),
        };
        let created = Shipment::create(id.clone(), draft, &self.manager, at);
        created
            .transition(Transition::Dispatch, created.version, on_road, None)
            .and_then(|s| s.transition(Transition::Start, s.version, on_road, None))
            .map_err(|error| RecordError::Shipment(id, error.to_string()))
    }
}

/// A UUID (version 4 layout) from the stream `rng`, so ids repeat with the seed.
fn uuid(rng: &mut Rng) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One truck of the recording and its HTTPS sender.
struct Sim {
    truck: Truck,
    /// Seconds after the start of its first tick (the fleet's readings
    /// spread over the period, as in a live run).
    phase: f64,
    latency: Rng,
    buffer: Vec<Outgoing>,
    /// When the oldest reading in the buffer was taken (s after the start).
    first_at: Option<f64>,
    arrived_at: Option<f64>,
}

/// A record with its arrival time.
struct Arrived {
    received_at: OffsetDateTime,
    json: String,
}

/// Everything counted along the way.
#[derive(Default)]
struct Journal {
    records: Vec<Arrived>,
    duplicates: usize,
    silenced: usize,
    rejected: usize,
    records_by_profile: BTreeMap<String, usize>,
    profiles: HashMap<String, String>,
    /// The organisation of each device (its shipments' shipper).
    owners: HashMap<String, String>,
    incidents: Vec<IncidentRecord>,
    expected_alarms: Vec<ExpectedAlarm>,
    shipments: Vec<Shipment>,
}

impl Journal {
    fn started(&mut self, shipment: Shipment) {
        self.profiles
            .insert(shipment.id.clone(), shipment.profile.kind().to_owned());
        if let Some(device) = &shipment.device_id {
            self.owners
                .insert(device.clone(), shipment.shipper_org_id.clone());
        }
        self.shipments.push(shipment);
    }

    /// The ingest receives the buffered readings of `sim` at `received_at`.
    fn deliver(&mut self, sim: &mut Sim, received_at: OffsetDateTime) {
        for outgoing in sim.buffer.drain(..) {
            match validate_reading(&outgoing.json, received_at, Source::Https) {
                Ok(mut reading) => {
                    // sent by the device itself, as the ingest stamps it
                    reading.sender =
                        self.owners
                            .get(&reading.device_id)
                            .map(|org| Principal::Device {
                                device_id: reading.device_id.clone(),
                                org_id: org.clone(),
                            });
                    if outgoing.kind == Kind::Duplicate {
                        self.duplicates += 1;
                    }
                    let profile = reading
                        .shipment_id
                        .as_ref()
                        .and_then(|id| self.profiles.get(id))
                        .cloned()
                        .unwrap_or_else(|| "NONE".into());
                    *self.records_by_profile.entry(profile).or_default() += 1;
                    match serde_json::to_string(&reading) {
                        Ok(json) => self.records.push(Arrived { received_at, json }),
                        Err(_) => self.rejected += 1,
                    }
                }
                Err(_) => self.rejected += 1,
            }
        }
        sim.first_at = None;
    }
}

fn at(start: OffsetDateTime, seconds: f64) -> OffsetDateTime {
    start + time::Duration::seconds_f64(seconds)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Records the stream of `config` in memory.
pub fn record(config: &RecordConfig) -> Result<Recording, RecordError> {
    let start = config.start;
    let seed = config.seed;
    let tag = format!("{:06x}", Rng::derive(seed, 0xB0).next_u64() & 0xff_ffff);
    let mut parties = Parties::new(seed);
    let mut journal = Journal::default();
    let mut fleet = Vec::with_capacity(config.trucks);
    for number in 1..=config.trucks {
        let device_id = format!("fleet-{tag}-truck-{number:02}");
        // as a live run picks the first shipment of a truck
        let mut rng = Rng::derive(seed, 1_000 + number as u64);
        let route = &ROUTES[rng.index(ROUTES.len())];
        let cargo = pick_cargo(&mut rng);
        let progress_km = route.polyline().length_km() * rng.range(0.0, 0.6);
        let shipment = parties.shipment(
            number,
            &device_id,
            route,
            &cargo,
            at(start, -3600.0),
            at(start, -3000.0),
        )?;
        let load = Load {
            shipment_id: shipment.id.clone(),
            route,
            profile: cargo.profile,
        };
        journal.started(shipment);
        let mut truck = Truck::new(
            number,
            &device_id,
            load,
            progress_km,
            Rng::derive(seed, number as u64),
        );
        for spec in config.incidents.iter().filter(|spec| spec.truck == number) {
            truck.schedule(spec.start.as_secs_f64(), spec.kind, false);
        }
        fleet.push(Sim {
            truck,
            phase: (number - 1) as f64 / config.trucks as f64 / config.rate_hz,
            latency: Rng::derive(seed, 2_000 + number as u64),
            buffer: Vec::new(),
            first_at: None,
            arrived_at: None,
        });
    }

    let options = TickOptions {
        transport: Transport::Https,
        duplicate_rate: config.duplicate_rate,
        malformed_rate: 0.0,
        random_incidents_per_s: config.random_incidents_per_hour / 3600.0 / config.trucks as f64,
        speedup: 1.0,
    };
    let period = 1.0 / config.rate_hz;
    let window = config.batch_window.as_secs_f64();
    let ticks = (config.duration.as_secs_f64() * config.rate_hz).round() as u64;
    for k in 0..ticks {
        for sim in &mut fleet {
            let elapsed = k as f64 * period + sim.phase;
            let now = at(start, elapsed);
            let tick = sim.truck.tick(elapsed, now, period, &options);
            if tick.silenced {
                journal.silenced += 1;
            }
            for started in &tick.started {
                journal.incidents.push(IncidentRecord {
                    kind: started.kind.as_str().into(),
                    truck: sim.truck.number,
                    device_id: sim.truck.device_id.clone(),
                    shipment_id: sim.truck.load().map(|load| load.shipment_id.clone()),
                    started_at: rfc3339(now),
                    start_s: elapsed,
                    random: started.random,
                });
            }
            journal.expected_alarms.extend(tick.expected);
            if !tick.records.is_empty() && sim.first_at.is_none() {
                sim.first_at = Some(elapsed);
            }
            sim.buffer.extend(tick.records);
            // the sender: a full batch leaves now, a window once it is over
            // (before the next reading would miss it)
            if let Some(first) = sim.first_at {
                let full = sim.buffer.len() >= config.batch_max;
                if full || elapsed + period - first > window {
                    let sent = if full {
                        elapsed
                    } else {
                        elapsed.max(first + window)
                    };
                    let latency = sim.latency.range(LATENCY_S.0, LATENCY_S.1);
                    journal.deliver(sim, at(start, sent + latency));
                }
            }
            // the delivery after unloading, and the next shipment from the hub
            if tick.arrived {
                sim.arrived_at = Some(elapsed);
            }
            if sim
                .arrived_at
                .is_some_and(|arrived| elapsed - arrived >= UNLOAD.as_secs_f64())
            {
                sim.arrived_at = None;
                let route = sim.truck.next_route();
                let cargo = pick_cargo(sim.truck.rng());
                sim.truck.unload();
                let shipment = parties.shipment(
                    sim.truck.number,
                    &sim.truck.device_id,
                    route,
                    &cargo,
                    now,
                    now,
                )?;
                sim.truck.start(Load {
                    shipment_id: shipment.id.clone(),
                    route,
                    profile: cargo.profile,
                });
                journal.started(shipment);
            }
        }
    }
    // the senders flush what they hold when the run ends
    let end = ticks as f64 * period;
    for sim in &mut fleet {
        if !sim.buffer.is_empty() {
            let latency = sim.latency.range(LATENCY_S.0, LATENCY_S.1);
            journal.deliver(sim, at(start, end + latency));
        }
    }

    // one shard: records in the order they arrived (a batch stays together)
    journal.records.sort_by_key(|record| record.received_at);
    let ended_at = journal
        .records
        .last()
        .map_or(start, |record| record.received_at);
    let manifest = Manifest {
        seed,
        trucks: config.trucks,
        rate_hz: config.rate_hz,
        duration_s: config.duration.as_secs_f64(),
        batch_window_s: window,
        batch_max: config.batch_max,
        duplicate_rate: config.duplicate_rate,
        started_at: rfc3339(start),
        ended_at: rfc3339(ended_at),
        records: journal.records.len(),
        duplicates: journal.duplicates,
        silenced: journal.silenced,
        rejected: journal.rejected,
        records_by_profile: journal.records_by_profile,
        incidents: journal.incidents,
        expected_alarms: journal.expected_alarms,
        shipments: journal.shipments,
    };
    Ok(Recording {
        records: journal.records.into_iter().map(|r| r.json).collect(),
        manifest,
    })
}

/// Writes `recording` to `out` (one record per line) and its manifest
/// beside it; returns the manifest's path.
pub fn write(recording: &Recording, out: &Path) -> Result<PathBuf, RecordError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| RecordError::Io(path, error)
    };
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let file = std::fs::File::create(out).map_err(io(out))?;
    let mut writer = BufWriter::new(file);
    for record in &recording.records {
        writer.write_all(record.as_bytes()).map_err(io(out))?;
        writer.write_all(b"\n").map_err(io(out))?;
    }
    writer.flush().map_err(io(out))?;
    let manifest = manifest_path(out);
    let json = serde_json::to_string_pretty(&recording.manifest)
        .map_err(|error| RecordError::Io(manifest.clone(), error.into()))?;
    std::fs::write(&manifest, json + "\n").map_err(io(&manifest))?;
    Ok(manifest)
}

/// `fleet-sim record`: records and writes; the line to print.
pub fn record_to_file(config: &RecordConfig) -> Result<String, RecordError> {
    let recording = record(config)?;
    let manifest_file = write(&recording, &config.out)?;
    let m = &recording.manifest;
    let mut alarms: BTreeMap<&str, usize> = BTreeMap::new();
    for alarm in &m.expected_alarms {
        *alarms.entry(alarm.alarm_type.as_str()).or_default() += 1;
    }
    Ok(format!(
        "fleet-sim record: {} records ({} duplicates) from {} trucks over {} s, {} shipments, \
         {} incidents, expected alarms {:?} → {} and {}",
        m.records,
        m.duplicates,
        m.trucks,
        m.duration_s,
        m.shipments.len(),
        m.incidents.len(),
        alarms,
        config.out.display(),
        manifest_file.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::coldchain::detector::decode_record;
    use pharmaguard_domain::shipment::ShipmentState;
    use pharmaguard_domain::telemetry::Reading;
    use std::collections::HashSet;

    fn small() -> RecordConfig {
        RecordConfig {
            trucks: 4,
            duration: Duration::from_secs(30 * 60),
            seed: 3,
            duplicate_rate: 0.02,
            incidents: vec![
                IncidentSpec::parse("door-open@1+1m").expect("spec"),
                IncidentSpec::parse("crash@2+5m").expect("spec"),
                IncidentSpec::parse("silence@3+2m").expect("spec"),
            ],
            ..RecordConfig::default()
        }
    }

    #[test]
    fn the_stream_is_what_the_detector_decodes_in_arrival_order() {
        let recording = record(&small()).expect("recorded");
        let m = &recording.manifest;
        assert_eq!(m.records, recording.records.len());
        assert_eq!(m.rejected, 0);
        // 4 trucks × 1800 s, less the 12 silent minutes, plus the resends
        assert_eq!(m.silenced, 12 * 60);
        assert_eq!(m.records, 4 * 1800 - m.silenced + m.duplicates);
        assert!((70..220).contains(&m.duplicates), "{}", m.duplicates);

        let mut ids = HashSet::new();
        let mut previous: Option<Reading> = None;
        let shipments: HashMap<&str, &Shipment> =
            m.shipments.iter().map(|s| (s.id.as_str(), s)).collect();
        for line in &recording.records {
            let reading = decode_record(line.as_bytes()).expect("a valid record");
            // the data is exactly the JSON of the Reading, as the ingest writes it
            assert_eq!(&serde_json::to_string(&reading).expect("json"), line);
            assert_eq!(reading.source, "https");
            assert!(reading.received_at > reading.ts);
            if let Some(previous) = &previous {
                assert!(reading.received_at >= previous.received_at, "arrival order");
            }
            let shipment = shipments[reading.shipment_id.as_deref().expect("on a shipment")];
            assert_eq!(
                shipment.device_id.as_deref(),
                Some(reading.device_id.as_str())
            );
            assert_eq!(shipment.state, ShipmentState::InTransit);
            ids.insert(reading.reading_id.clone());
            previous = Some(reading);
        }
        assert_eq!(
            ids.len(),
            m.records - m.duplicates,
            "resends share their id"
        );

        let kinds: Vec<&str> = m.incidents.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds, ["door-open", "silence", "crash"]);
        let alarms: HashSet<&str> = m
            .expected_alarms
            .iter()
            .map(|a| a.alarm_type.as_str())
            .collect();
        for alarm in ["TEMPERATURE_EXCURSION", "SHOCK", "DEVICE_OFFLINE"] {
            assert!(alarms.contains(alarm), "{alarm}: {alarms:?}");
        }
        assert_eq!(
            m.records_by_profile.values().sum::<usize>(),
            m.records,
            "{:?}",
            m.records_by_profile
        );
    }

    #[test]
    fn the_same_seed_records_the_same_stream() {
        let config = small();
        let a = record(&config).expect("recorded");
        let b = record(&config).expect("recorded");
        assert_eq!(a.records, b.records);
        let other = record(&RecordConfig { seed: 4, ..config }).expect("recorded");
        assert_ne!(a.records, other.records);
    }

    #[test]
    fn trucks_that_arrive_start_another_shipment() {
        // a short route from the hub: arrivals within the hour
        let config = RecordConfig {
            trucks: 12,
            duration: Duration::from_secs(3600),
            ..RecordConfig::default()
        };
        let recording = record(&config).expect("recorded");
        let m = &recording.manifest;
        assert!(m.shipments.len() > 12, "{} shipments", m.shipments.len());
        let named: HashSet<String> = recording
            .records
            .iter()
            .filter_map(|line| decode_record(line.as_bytes()).ok()?.shipment_id)
            .collect();
        let listed: HashSet<String> = m.shipments.iter().map(|s| s.id.clone()).collect();
        assert!(named.is_subset(&listed));
        assert!(m.incidents.is_empty());
    }

    #[test]
    fn the_stream_and_its_manifest_are_written_side_by_side() {
        let dir =
            std::env::temp_dir().join(format!("fleet-record-{}", uuid::Uuid::new_v4().simple()));
        let out = dir.join("stream.jsonl");
        let config = RecordConfig {
            trucks: 2,
            duration: Duration::from_secs(60),
            out: out.clone(),
            ..RecordConfig::default()
        };
        let line = record_to_file(&config).expect("written");
        assert!(line.contains("120 records"), "{line}");
        let text = std::fs::read_to_string(&out).expect("stream");
        assert_eq!(text.lines().count(), 120);
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("stream.manifest.json")).expect("manifest"),
        )
        .expect("json");
        assert_eq!(manifest["records"], 120);
        assert_eq!(manifest["shipments"].as_array().map(Vec::len), Some(2));
        let _ = std::fs::remove_dir_all(dir);
    }
}
