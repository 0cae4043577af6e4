//! The detector core on a recorded telemetry stream: readings per second on
//! one core for what the anomaly detector does with a batch without I/O.
//!
//! Run it with `bench/detector/run` (records the stream first when it is
//! missing, then compares with the JavaScript baseline), or alone (the run
//! script also scripts a few incidents):
//!
//! ```sh
//! cargo run -p fleet-sim -- record --trucks 50 --duration 60m --seed 7 --out target/bench/stream.jsonl
//! cargo bench -p pharmaguard-domain --bench detector
//! ```
//!
//! The stream (`DETECTOR_BENCH_STREAM`, default `target/bench/stream.jsonl`)
//! holds one Kinesis record's data per line, the JSON of a `Reading` as the
//! ingest writes it; its manifest (`stream.manifest.json`, written beside it
//! by `fleet-sim record`) lists the shipments, as the shipments table holds
//! them while their readings arrive.
//!
//! Two benchmarks in the group `detector-core`: `decode-rules-mkt`, the whole
//! core, and `decode-only`, its first step alone.
//!
//! One iteration is the whole stream in batches of 100 records (the event
//! source mapping's batch size), from a fresh state, with the trackings
//! carried from batch to batch as the tracking table would carry them. Per
//! batch it calls the domain functions `functions/anomaly-detector` calls, in
//! the same order: `decode_record` (JSON and the full reading validation),
//! one directory and registry lookup per shipment or device (`Lookup`, `vet`, `pick`;
//! here a map, like a cache for one invocation), `assign`, `group_readings`,
//! and per shipment: load the tracking, `apply_readings` (every rule and the
//! MKT through `ShipmentMonitor::observe`), `alarm_events` and their
//! messages, `Tracking::next` and `alarm_states`, store the tracking.
//!
//! Criterion measures the CPU time of the benchmark's thread (Linux:
//! `/proc/thread-self/schedstat`), not wall time, so the figure is per core
//! even when other processes share the machine; the first pass prints both.
//!
//! Left out, because they are I/O: the Kinesis event's parsing and base64,
//! the history write, the DynamoDB reads and writes (and their
//! (de)serialization), the risk calculator call and the SNS and SQS calls.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use pharmaguard_domain::coldchain::detector::{
    Lookup, Owner, alarm_events, alarm_states, apply_readings, assign, decode_record,
    group_readings, pick, vet, with_owners,
};
use pharmaguard_domain::coldchain::tracking::Tracking;
use pharmaguard_domain::coldchain::{MonitorSettings, ShipmentSummary};
use pharmaguard_domain::shipment::Shipment;
use pharmaguard_domain::telemetry::{Reading, Refusal, RegisteredDevice};
use serde::Deserialize;
use time::OffsetDateTime;

/// Records per invocation: the event source mapping's `BatchSize`.
const BATCH_SIZE: usize = 100;
/// The criterion group and benchmark: their estimates are in
/// `target/criterion/detector-core/decode-rules-mkt/new/estimates.json`.
const GROUP: &str = "detector-core";
const BENCH: &str = "decode-rules-mkt";
/// The same stream decoded only (`decode_record` on every record), to show
/// what share of the time the decoding and validation take.
const DECODE_ONLY: &str = "decode-only";

/// The CPU time of the calling thread and the time it waited for a CPU, ns
/// (the first two fields of `/proc/thread-self/schedstat`).
fn thread_times() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

/// Criterion's measurement: CPU time of the benchmark's thread, ns.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_times().map_or(0, |(cpu, _)| cpu)
    }
    fn end(&self, start: u64) -> u64 {
        thread_times().map_or(0, |(cpu, _)| cpu.saturating_sub(start))
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Shows CPU nanoseconds as seconds (or ms) and throughputs per CPU second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical_ns < 1e9 {
            (1e-6, "ms CPU")
        } else {
            (1e-9, "s CPU")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        _typical_ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Elements(n)
            | Throughput::Bytes(n)
            | Throughput::BytesDecimal(n)
            | Throughput::Bits(n) => n,
        } as f64;
        values
            .iter_mut()
            .for_each(|v| *v = per_iteration * 1e9 / *v / 1e3);
        "K/CPU-s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The shipments a recorded stream's readings belong to.
#[derive(Debug, Deserialize)]
struct Manifest {
    shipments: Vec<Shipment>,
}

/// The shipments table, as one invocation would have cached it.
#[derive(Debug, Default)]
struct Directory {
    by_id: HashMap<String, Shipment>,
    by_device: HashMap<String, Vec<Shipment>>,
}

impl Directory {
    fn new(shipments: Vec<Shipment>) -> Self {
        let mut directory = Self::default();
        for shipment in shipments {
            if let Some(device) = &shipment.device_id {
                directory
                    .by_device
                    .entry(device.clone())
                    .or_default()
                    .push(shipment.clone());
            }
            directory.by_id.insert(shipment.id.clone(), shipment);
        }
        directory
    }

    /// What the handler's `look_up` answers, from memory: the candidates.
    fn look_up(&self, lookup: &Lookup) -> Vec<Shipment> {
        match lookup {
            Lookup::Shipment(id) => self.by_id.get(id).cloned().into_iter().collect(),
            Lookup::DeviceShipment(device) => {
                self.by_device.get(device).cloned().unwrap_or_default()
            }
        }
    }

    /// What the device registry answers, from memory: each device belongs to
    /// its shipments' shipper.
    fn device(&self, device_id: &str) -> Option<RegisteredDevice> {
        self.by_device
            .get(device_id)
            .and_then(|shipments| shipments.first())
            .map(|shipment| RegisteredDevice {
                id: device_id.to_owned(),
                org_id: shipment.shipper_org_id.clone(),
                disabled: false,
            })
    }
}

/// What one pass over the stream did (printed once, to show the rules fire).
#[derive(Debug, Default)]
struct Tally {
    records: usize,
    batches: usize,
    rejected: usize,
    unassigned: usize,
    duplicates: usize,
    shipment_groups: usize,
    applied: usize,
    ignored: usize,
    transitions: usize,
    events: BTreeMap<String, usize>,
    alarm_writes: usize,
}

/// The stream and what the detector looks up.
struct Stream {
    records: Vec<Vec<u8>>,
    directory: Directory,
    now: OffsetDateTime,
}

fn stream_path() -> PathBuf {
    match std::env::var_os("DETECTOR_BENCH_STREAM") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench/stream.jsonl"),
    }
}

fn manifest_path(stream: &Path) -> PathBuf {
    stream.with_extension("manifest.json")
}

fn load(path: &Path) -> Result<Stream, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let records: Vec<Vec<u8>> = text
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let manifest_path = manifest_path(path);
    let manifest =
        std::fs::read(&manifest_path).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let manifest: Manifest = serde_json::from_slice(&manifest)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    // the handler stamps writes with its clock; any fixed time does here
    let now = manifest
        .shipments
        .iter()
        .map(|s| s.updated_at)
        .max()
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Ok(Stream {
        records,
        directory: Directory::new(manifest.shipments),
        now,
    })
}

/// One batch, as `Detector::process_batch` handles it, without the I/O.
fn process_batch(
    records: &[Vec<u8>],
    directory: &Directory,
    trackings: &mut HashMap<String, Tracking>,
    settings: &MonitorSettings,
    now: OffsetDateTime,
    tally: &mut Tally,
) {
    tally.batches += 1;
    tally.records += records.len();

    // 1. decode and validate; poison would go to the rejected queue
    let mut readings: Vec<(usize, Reading)> = Vec::with_capacity(records.len());
    for (index, data) in records.iter().enumerate() {
        match decode_record(data) {
            Ok(reading) => readings.push((index, reading)),
            Err(poison) => {
                black_box(poison);
                tally.rejected += 1;
            }
        }
    }

    // 2. one lookup per shipment or device, then place each reading
    let lookups: Vec<Lookup> = readings.iter().map(|(_, r)| Lookup::of(r)).collect();
    let mut found: HashMap<&Lookup, Vec<Shipment>> = HashMap::default();
    let mut devices: HashMap<&str, Option<RegisteredDevice>> = HashMap::default();
    for ((_, reading), lookup) in readings.iter().zip(&lookups) {
        if !found.contains_key(lookup) {
            found.insert(lookup, directory.look_up(lookup));
        }
        if !devices.contains_key(reading.device_id.as_str()) {
            devices.insert(&reading.device_id, directory.device(&reading.device_id));
        }
    }
    // a device whose lookup failed is held back whole (none fails here)
    let held_devices: HashSet<String> = readings
        .iter()
        .zip(&lookups)
        .filter(|(_, lookup)| !found.contains_key(lookup))
        .map(|((_, r), _)| r.device_id.clone())
        .collect();
    let mut shipments: HashMap<&str, &Shipment> = HashMap::default();
    let mut placed_readings = Vec::with_capacity(readings.len());
    for ((index, reading), lookup) in readings.iter().zip(&lookups) {
        if held_devices.contains(reading.device_id.as_str()) {
            continue;
        }
        let device = devices
            .get(reading.device_id.as_str())
            .and_then(Option::as_ref);
        let candidates = found.get(lookup).map_or(&[][..], Vec::as_slice);
        let placed = vet(reading, device).and_then(|()| match device {
            Some(device) => {
                let shipment = pick(lookup, candidates, device);
                assign(reading, shipment, device).map(|placed| (placed, shipment))
            }
            None => Err(Refusal::UnknownDevice(reading.device_id.clone())),
        });
        let ((owner, unassigned), shipment) = match placed {
            Ok(placed) => placed,
            Err(refusal) => {
                black_box(refusal);
                tally.rejected += 1;
                continue;
            }
        };
        if let (Owner::Shipment(_), Some(shipment)) = (&owner, shipment) {
            shipments.entry(shipment.id.as_str()).or_insert(shipment);
        }
        if unassigned.is_some() {
            tally.unassigned += 1;
        }
        placed_readings.push((*index, owner));
    }
    // the readings move on to their groups (no copy)
    let owned = with_owners(readings, placed_readings);

    // 3. group per owner (by time, a repeated reading id once)
    let groups = group_readings(owned);
    tally.duplicates += groups.iter().map(|g| g.duplicates).sum::<usize>();

    // 4. the rules, per shipment, on the tracking carried from the last batch
    //    (changed in place, as a tracking just loaded would be)
    for group in &groups {
        let Owner::Shipment(id) = &group.owner else {
            continue;
        };
        let shipment = shipments[id.as_str()];
        tally.shipment_groups += 1;
        let mut tracking = trackings
            .remove(&shipment.id)
            .unwrap_or_else(|| Tracking::new(shipment, now));
        let applied = apply_readings(
            &mut tracking.monitor,
            &group.plain_readings(),
            &shipment.profile,
            settings,
        );
        tally.ignored += applied.ignored.len();
        if applied.changed() {
            tally.applied += applied.applied;
            tally.transitions += applied.transitions.len();
            if !applied.transitions.is_empty() {
                let summary = ShipmentSummary::from(shipment);
                for event in alarm_events(&applied.transitions, &summary) {
                    *tally
                        .events
                        .entry(format!(
                            "{} {} {}",
                            event.event_type.as_str(),
                            event.alarm.alarm_type.as_str(),
                            event.alarm.severity.as_str()
                        ))
                        .or_default() += 1;
                    black_box(event.to_message());
                }
            }
            let alarms = alarm_states(applied.transitions.iter().map(|(t, _)| t));
            tally.alarm_writes += alarms.len();
            black_box(alarms);
            tracking.advance(shipment, applied.latest, now);
        }
        trackings.insert(shipment.id.clone(), tracking);
    }
}

/// The whole stream, batch by batch, from a fresh state.
fn run_stream(stream: &Stream, settings: &MonitorSettings) -> Tally {
    let mut tally = Tally::default();
    let mut trackings: HashMap<String, Tracking> = HashMap::default();
    for batch in stream.records.chunks(BATCH_SIZE) {
        process_batch(
            batch,
            &stream.directory,
            &mut trackings,
            settings,
            stream.now,
            &mut tally,
        );
    }
    black_box(trackings);
    tally
}

/// Only step 1: every record decoded and validated.
fn decode_all(records: &[Vec<u8>]) -> usize {
    records
        .iter()
        .filter(|data| black_box(decode_record(data)).is_ok())
        .count()
}

fn print_tally(path: &Path, stream: &Stream, tally: &Tally) {
    println!(
        "stream {}: {} records, {} shipments in the directory",
        path.display(),
        stream.records.len(),
        stream.directory.by_id.len()
    );
    println!(
        "one pass: {} batches of up to {BATCH_SIZE}; {} rejected, {} unassigned, {} duplicates dropped, \
         {} shipment groups, {} readings applied, {} ignored, {} alarm transitions, {} alarm writes",
        tally.batches,
        tally.rejected,
        tally.unassigned,
        tally.duplicates,
        tally.shipment_groups,
        tally.applied,
        tally.ignored,
        tally.transitions,
        tally.alarm_writes
    );
    for (event, count) in &tally.events {
        println!("  event {event}: {count}");
    }
}

fn detector_core(c: &mut Criterion<ThreadCpuTime>) {
    let path = stream_path();
    let stream = match load(&path) {
        Ok(stream) => stream,
        Err(problem) => {
            eprintln!(
                "detector bench: no recorded stream ({problem}); bench/detector/run records it"
            );
            // `cargo test --benches` runs this too: nothing to measure there
            if std::env::args().any(|arg| arg == "--bench") {
                std::process::exit(2);
            }
            return;
        }
    };
    if thread_times().is_none() {
        eprintln!(
            "detector bench: /proc/thread-self/schedstat is missing; it measures CPU time on Linux"
        );
        std::process::exit(2);
    }
    let settings = MonitorSettings::default();
    let (cpu, waited) = thread_times().unwrap_or_default();
    let wall = Instant::now();
    let tally = run_stream(&stream, &settings);
    let wall = wall.elapsed().as_secs_f64();
    let (cpu_after, waited_after) = thread_times().unwrap_or_default();
    print_tally(&path, &stream, &tally);
    println!(
        "first pass: {wall:.3} s wall, {:.3} s CPU, {:.3} s waiting for a CPU (other load)",
        (cpu_after - cpu) as f64 / 1e9,
        (waited_after - waited) as f64 / 1e9
    );

    let seconds = std::env::var("DETECTOR_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(20);
    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Elements(stream.records.len() as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(seconds));
    group.bench_function(BENCH, |b| {
        b.iter(|| run_stream(black_box(&stream), &settings))
    });
    group.measurement_time(Duration::from_secs(seconds.div_ceil(2)));
    group.bench_function(DECODE_ONLY, |b| {
        b.iter(|| decode_all(black_box(&stream.records)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = detector_core
}
criterion_main!(benches);
/// The allocator the `anomaly-detector` Lambda runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
