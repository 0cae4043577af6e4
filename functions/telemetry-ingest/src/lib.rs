//! `POST /v1/telemetry`: validates a batch of device readings, writes the
//! valid ones to the telemetry stream and reports the fate of every reading.
//!
//! The request body is `{"readings": [ … ]}` or a bare array of 1 to
//! [`MAX_BATCH`] readings (see [`pharmaguard_domain::telemetry`] for the
//! rules of one reading). Answers, all `application/json`:
//!
//! | status | when | body |
//! |---|---|---|
//! | 200 | every reading accepted | [`IngestReport`] |
//! | 207 | some accepted, rejected or failed | [`IngestReport`] |
//! | 400 | the batch is malformed | `{"error":"invalid_request","errors":[{"field","message"}]}` |
//! | 400 | every reading rejected | the same, with paths such as `readings[3].temperature_c`, plus the [`IngestReport`] fields |
//! | 401 | no caller (the REST API's authorizer let no principal through) | `{"error":"unauthorized", …}` |
//! | 403 | the caller may not send telemetry (only devices, drivers and admins may) | `{"error":"forbidden", …}` |
//! | 405 | not a `POST` | `{"error":"method_not_allowed", …}`, with `Allow: POST` |
//! | 413 | body over [`MAX_BODY_BYTES`] | `{"error":"payload_too_large","errors":[…]}` |
//! | 503 | every reading valid but none could be written | [`IngestReport`], with `Retry-After` |
//!
//! Provenance ([`pharmaguard_domain::telemetry::provenance`]): a device may
//! only send its own readings, and drivers and admins may relay readings only
//! of devices registered to their own organisation (and not disabled); any
//! other reading is rejected naming `device_id` (the rest of its batch is
//! not). Unknown devices and devices of other organisations get the same
//! answer, so nothing is learnt about them. Every record written carries its
//! sender (the caller), which the anomaly detector checks again.
//!
//! The work is done by [`ingest`], a plain function of the caller, the method,
//! the body and the current time; [`handle`] adapts it to `lambda_http`.

use lambda_http::http::header::RETRY_AFTER;
use lambda_http::{Body, Error, Request, Response};
use pharmaguard_domain::identity::Principal;
use std::collections::HashMap;

use pharmaguard_domain::ports::{DeviceRegistry, ReadingSink};
use pharmaguard_domain::telemetry::{
    FieldError, IngestReport, MAX_BATCH, MAX_BODY_BYTES, OutcomeStatus, Reading, ReadingOutcome,
    Refusal, RegisteredDevice, Source, may_speak_for, parse_batch, reading_path, validate_reading,
};
pub use pharmaguard_http::Reply;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{info, warn};

/// The environment variable naming the Kinesis stream the readings go to.
pub const STREAM_NAME_VAR: &str = "TELEMETRY_STREAM_NAME";
/// The environment variable naming the identity table (device items).
pub const IDENTITY_TABLE_VAR: &str = "IDENTITY_TABLE";

pub use pharmaguard_http::RETRY_AFTER_SECONDS;

/// The configuration, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// [`STREAM_NAME_VAR`].
    pub stream_name: String,
    /// [`IDENTITY_TABLE_VAR`].
    pub identity_table: String,
}

/// A required variable is missing or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {0} is required")]
pub struct MissingSetting(pub &'static str);

impl Settings {
    /// Reads the settings through `lookup` (the environment in `main`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingSetting> {
        let required = |name: &'static str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or(MissingSetting(name))
        };
        Ok(Self {
            stream_name: required(STREAM_NAME_VAR)?,
            identity_table: required(IDENTITY_TABLE_VAR)?,
        })
    }
}

/// The Lambda handler: runs [`ingest`] on the request at the current time.
///
/// Errors only when the response itself cannot be built; bad input never
/// makes it fail.
pub async fn handle<S: ReadingSink, R: DeviceRegistry>(
    sink: &S,
    devices: &R,
    request: Request,
) -> Result<Response<Body>, Error> {
    let Some(caller) = pharmaguard_http::caller(&request) else {
        return into_response(unauthorized());
    };
    let reply = ingest(
        sink,
        devices,
        &caller,
        request.method().as_str(),
        request.body().as_ref(),
        OffsetDateTime::now_utc(),
    )
    .await;
    into_response(reply)
}

/// Turns a [`Reply`] into a `lambda_http` response.
pub fn into_response(reply: Reply) -> Result<Response<Body>, Error> {
    reply.into_response()
}

/// Handles one ingest request received at `now`: checks the method, the size
/// and the shape of the body, validates every reading and who sent it
/// (`devices` tells whose a relayed device is), writes the valid ones to
/// `sink` and reports on each (see the crate documentation for the
/// answers). Never panics, whatever the input.
pub async fn ingest<S: ReadingSink, R: DeviceRegistry>(
    sink: &S,
    devices: &R,
    caller: &Principal,
    method: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Reply {
    if method != "POST" {
        return method_not_allowed(method);
    }
    if !caller.may_send_telemetry() {
        return forbidden(caller);
    }
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large(body.len());
    }
    let raw_readings = match parse_batch(body) {
        Ok(raw_readings) => raw_readings,
        Err(errors) => {
            info!(errors = errors.len(), "malformed telemetry batch");
            return invalid_request(errors);
        }
    };
    let report = process(sink, devices, caller, &raw_readings, now).await;
    info!(
        accepted = report.accepted,
        rejected = report.rejected,
        failed = report.failed,
        "telemetry batch processed"
    );
    report_reply(&report)
}

/// Validates the raw readings and their provenance, writes the valid ones and
/// collects the outcomes.
async fn process<S: ReadingSink, R: DeviceRegistry>(
    sink: &S,
    devices: &R,
    caller: &Principal,
    raw_readings: &[Value],
    now: OffsetDateTime,
) -> IngestReport {
    let checked: Vec<Result<Reading, Vec<FieldError>>> = raw_readings
        .iter()
        .map(|raw| {
            validate_reading(raw, now, Source::Https).map(|mut reading| {
                reading.sender = Some(caller.clone());
                reading
            })
        })
        .collect();
    let registry = relayed_devices(devices, caller, &checked).await;
    let mut outcomes = Vec::with_capacity(raw_readings.len());
    let mut valid: Vec<(usize, Reading)> = Vec::with_capacity(raw_readings.len());
    for (index, checked) in checked.into_iter().enumerate() {
        let reading = match checked {
            Ok(reading) => reading,
            Err(errors) => {
                outcomes.push(ReadingOutcome::rejected(index, errors));
                continue;
            }
        };
        match sent_by(caller, &registry, &reading) {
            Ok(()) => valid.push((index, reading)),
            Err(Unsent::Refused(errors)) => outcomes.push(ReadingOutcome::rejected(index, errors)),
            Err(Unsent::RegistryUnavailable) => {
                outcomes.push(ReadingOutcome::failed(index, reading.reading_id))
            }
        }
    }
    outcomes.extend(write(sink, valid).await);
    IngestReport::from_outcomes(outcomes)
}

/// What the registry holds of each device a user relays readings of (one
/// read per device per request); `Err` for a device that could not be read.
/// Empty for a device caller: a device speaks for itself alone, which needs
/// no lookup (the authorizer refuses disabled devices).
async fn relayed_devices<R: DeviceRegistry>(
    devices: &R,
    caller: &Principal,
    checked: &[Result<Reading, Vec<FieldError>>],
) -> HashMap<String, Result<Option<RegisteredDevice>, String>> {
    let mut registry = HashMap::new();
    if matches!(caller, Principal::Device { .. }) {
        return registry;
    }
    for reading in checked.iter().flatten() {
        if !registry.contains_key(&reading.device_id) {
            let found = devices.registered_device(&reading.device_id).await;
            if let Err(problem) = &found {
                warn!(device_id = %reading.device_id, %problem, "device registry unavailable");
            }
            registry.insert(reading.device_id.clone(), found);
        }
    }
    registry
}

/// Why a valid reading is not written.
enum Unsent {
    /// Its sender may not send it: rejected, with the errors.
    Refused(Vec<FieldError>),
    /// Whose the device is could not be read: failed, worth resending.
    RegistryUnavailable,
}

/// Whether `caller` may send `reading` ([`may_speak_for`]).
fn sent_by(
    caller: &Principal,
    registry: &HashMap<String, Result<Option<RegisteredDevice>, String>>,
    reading: &Reading,
) -> Result<(), Unsent> {
    let refused = |message: String| Unsent::Refused(vec![FieldError::new("device_id", message)]);
    let device = match caller {
        Principal::Device { device_id, .. } if *device_id != reading.device_id => {
            return Err(refused(format!(
                "a device may only send its own readings (authenticated as {device_id})"
            )));
        }
        Principal::Device { .. } => return Ok(()),
        Principal::User { .. } => match registry.get(&reading.device_id) {
            Some(Ok(device)) => device.as_ref(),
            _ => return Err(Unsent::RegistryUnavailable),
        },
    };
    may_speak_for(caller, &reading.device_id, device).map_err(|refusal| {
        info!(caller = caller.id(), device_id = %reading.device_id, reason = refusal.kind(), "reading refused");
        match refusal {
            Refusal::DeviceDisabled(_) => refused("is a disabled device".to_owned()),
            Refusal::RoleMayNotRelay { .. } => {
                refused("your role may not send telemetry".to_owned())
            }
            _ => refused("is not a device of your organisation".to_owned()),
        }
    })
}

/// Writes the valid readings; a reading the sink gives no result for counts
/// as failed.
async fn write<S: ReadingSink>(sink: &S, valid: Vec<(usize, Reading)>) -> Vec<ReadingOutcome> {
    if valid.is_empty() {
        return Vec::new();
    }
    let (indexes, readings): (Vec<usize>, Vec<Reading>) = valid.into_iter().unzip();
    let mut results = sink.put_readings(&readings).await.into_iter();
    indexes
        .into_iter()
        .zip(readings)
        .map(|(index, reading)| match results.next() {
            Some(Ok(())) => ReadingOutcome::accepted(index, reading.reading_id),
            Some(Err(error)) => {
                warn!(reading_id = %reading.reading_id, %error, "reading not written");
                ReadingOutcome::failed(index, reading.reading_id)
            }
            None => {
                warn!(reading_id = %reading.reading_id, "sink returned no result for the reading");
                ReadingOutcome::failed(index, reading.reading_id)
            }
        })
        .collect()
}

/// The answer carrying an ingest report, with the status the domain rules give it.
fn report_reply(report: &IngestReport) -> Reply {
    match report.http_status() {
        400 => Reply::json(400, &RejectedBatch::new(report)),
        503 => {
            let mut reply = Reply::json(503, report);
            reply
                .headers
                .push((RETRY_AFTER.as_str(), RETRY_AFTER_SECONDS.to_string()));
            reply
        }
        status => Reply::json(status, report),
    }
}

/// The body of a 400 for a batch whose readings were all rejected: the usual
/// error shape, with paths into the batch, plus the report.
#[derive(Serialize)]
struct RejectedBatch<'a> {
    error: &'static str,
    errors: Vec<FieldError>,
    #[serde(flatten)]
    report: &'a IngestReport,
}

impl<'a> RejectedBatch<'a> {
    fn new(report: &'a IngestReport) -> Self {
        let errors = report
            .results
            .iter()
            .flat_map(|outcome| match &outcome.status {
                OutcomeStatus::Rejected { errors } => errors
                    .iter()
                    .map(|e| FieldError::new(reading_path(outcome.index, &e.field), &e.message))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        Self {
            error: "invalid_request",
            errors,
            report,
        }
    }
}

fn invalid_request(errors: Vec<FieldError>) -> Reply {
    Reply::invalid(&errors)
}

fn unauthorized() -> Reply {
    Reply::unauthorized("send a device or user access token")
}

fn forbidden(caller: &Principal) -> Reply {
    info!(caller = caller.id(), "caller may not send telemetry");
    Reply::forbidden(&"only devices, drivers and admins may send telemetry")
}

fn method_not_allowed(method: &str) -> Reply {
    info!(method, "method not allowed");
    Reply::method_not_allowed(method, "POST")
}

fn payload_too_large(size: usize) -> Reply {
    info!(size, "telemetry body too large");
    Reply::error(
        413,
        "payload_too_large",
        &format!("send at most {MAX_BATCH} readings in at most {MAX_BODY_BYTES} bytes"),
        &[FieldError::new(
            "body",
            format!("must not exceed {MAX_BODY_BYTES} bytes (got {size})"),
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use lambda_http::http::header::{ALLOW, CONTENT_TYPE};
    use pharmaguard_domain::identity::Role;
    use pharmaguard_domain::ports::SinkError;
    use pharmaguard_http::with_caller;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-10 12:00:00 UTC);

    /// An in-memory sink: stores what it is given, except readings of the
    /// devices in `failing`, which fail; `drop_last` loses the last result.
    #[derive(Default)]
    struct MemorySink {
        written: Mutex<Vec<Reading>>,
        calls: Mutex<usize>,
        failing: Vec<&'static str>,
        drop_last: bool,
    }

    impl MemorySink {
        fn failing(devices: &[&'static str]) -> Self {
            Self {
                failing: devices.to_vec(),
                ..Self::default()
            }
        }

        fn written(&self) -> Vec<Reading> {
            self.written.lock().expect("lock").clone()
        }

        fn calls(&self) -> usize {
            *self.calls.lock().expect("lock")
        }
    }

    impl ReadingSink for MemorySink {
        async fn put_readings(&self, readings: &[Reading]) -> Vec<Result<(), SinkError>> {
            *self.calls.lock().expect("lock") += 1;
            let mut results: Vec<_> = readings
                .iter()
                .map(|reading| {
                    if self.failing.contains(&reading.device_id.as_str()) {
                        Err(SinkError::Unavailable("throttled".into()))
                    } else {
                        self.written.lock().expect("lock").push(reading.clone());
                        Ok(())
                    }
                })
                .collect();
            if self.drop_last {
                results.pop();
            }
            results
        }
    }

    /// A device registry: every device belongs to `org-a`, except those
    /// listed (with their organisation), `disabled` ones and `unknown` ones;
    /// `down` fails every read.
    #[derive(Default)]
    struct Fleet {
        elsewhere: HashMap<&'static str, &'static str>,
        disabled: Vec<&'static str>,
        unknown: Vec<&'static str>,
        down: bool,
        reads: Mutex<usize>,
    }

    impl Fleet {
        fn of_org_a() -> Self {
            Self::default()
        }
    }

    impl DeviceRegistry for Fleet {
        async fn registered_device(
            &self,
            device_id: &str,
        ) -> Result<Option<RegisteredDevice>, String> {
            *self.reads.lock().expect("lock") += 1;
            if self.down {
                return Err("throttled".into());
            }
            if self.unknown.contains(&device_id) {
                return Ok(None);
            }
            Ok(Some(RegisteredDevice {
                id: device_id.to_owned(),
                org_id: self
                    .elsewhere
                    .get(device_id)
                    .copied()
                    .unwrap_or("org-a")
                    .to_owned(),
                disabled: self.disabled.contains(&device_id),
            }))
        }
    }

    #[tokio::test]
    async fn users_relay_readings_only_of_enabled_devices_of_their_own_organisation() {
        let fleet = Fleet {
            elsewhere: HashMap::from([("truck-b", "org-b")]),
            disabled: vec!["truck-off"],
            unknown: vec!["truck-x"],
            ..Fleet::default()
        };
        let sink = MemorySink::default();
        let body = batch(vec![
            good("truck-1", 1),
            good("truck-b", 2),
            good("truck-x", 3),
            good("truck-off", 4),
            good("truck-1", 5),
        ]);
        let reply = ingest(&sink, &fleet, &driver(), "POST", &body, NOW).await;
        let json: Value = serde_json::from_str(&reply.body).expect("JSON");
        assert_eq!(reply.status, 207, "{json}");
        assert_eq!(
            statuses(&json),
            ["accepted", "rejected", "rejected", "rejected", "accepted"]
        );
        let message = |i: usize| {
            json["results"][i]["errors"][0]["message"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(json["results"][1]["errors"][0]["field"], "device_id");
        assert_eq!(
            message(1),
            message(2),
            "another organisation's device and an unknown one answer alike"
        );
        assert!(message(3).contains("disabled"), "{}", message(3));
        assert_eq!(*fleet.reads.lock().unwrap(), 4, "one read per device");
        let written = sink.written();
        assert_eq!(written.len(), 2);
        assert!(
            written.iter().all(|r| r.sender == Some(driver())),
            "each record carries its sender"
        );
    }

    #[tokio::test]
    async fn a_device_needs_no_registry_read_and_its_records_carry_it_as_sender() {
        let fleet = Fleet {
            down: true,
            ..Fleet::default()
        };
        let sink = MemorySink::default();
        let body = batch(vec![good("truck-1", 1)]);
        let reply = ingest(&sink, &fleet, &device("truck-1"), "POST", &body, NOW).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(*fleet.reads.lock().unwrap(), 0);
        assert_eq!(sink.written()[0].sender, Some(device("truck-1")));
    }

    #[tokio::test]
    async fn an_unreadable_registry_fails_the_relayed_readings_for_a_resend() {
        let fleet = Fleet {
            down: true,
            ..Fleet::default()
        };
        let sink = MemorySink::default();
        let body = batch(vec![good("truck-1", 1), bad("truck-1")]);
        let reply = ingest(&sink, &fleet, &driver(), "POST", &body, NOW).await;
        let json: Value = serde_json::from_str(&reply.body).expect("JSON");
        assert_eq!(statuses(&json), ["failed", "rejected"], "{json}");
        assert!(sink.written().is_empty());
    }

    #[tokio::test]
    async fn a_timestamp_at_the_end_of_time_is_a_field_error_not_a_panic() {
        let sink = MemorySink::default();
        let mut reading = good("truck-1", 1);
        reading["ts"] = json!("9999-12-31T23:59:59-01:00");
        let (status, json) = post(&sink, &batch(vec![reading])).await;
        assert_eq!(status, 400, "{json}");
        assert_eq!(json["errors"][0]["field"], "readings[0].ts");
    }

    fn good(device: &str, minute: u8) -> Value {
        json!({
            "device_id": device,
            "shipment_id": "SHP-1",
            "ts": format!("2026-03-10T11:{minute:02}:00Z"),
            "lat": 52.37,
            "lon": 4.89,
            "temperature_c": 5.0,
            "vibration_g": 0.2
        })
    }

    fn bad(device: &str) -> Value {
        json!({
            "device_id": device,
            "ts": "2026-03-10T11:00:00Z",
            "lat": 99,
            "lon": 4.89,
            "temperature_c": 500,
            "vibration_g": 0.2
        })
    }

    fn driver() -> Principal {
        Principal::User {
            user_id: "driver-1".into(),
            org_id: "org-a".into(),
            role: Role::Driver,
        }
    }

    fn device(id: &str) -> Principal {
        Principal::Device {
            device_id: id.into(),
            org_id: "org-a".into(),
        }
    }

    #[tokio::test]
    async fn a_device_may_send_only_its_own_readings() {
        let sink = MemorySink::default();
        let body = batch(vec![
            good("truck-1", 1),
            good("truck-2", 2),
            good("truck-1", 3),
        ]);
        let reply = ingest(
            &sink,
            &Fleet::of_org_a(),
            &device("truck-1"),
            "POST",
            &body,
            NOW,
        )
        .await;
        let json: Value = serde_json::from_str(&reply.body).expect("JSON");

        assert_eq!(reply.status, 207, "{json}");
        assert_eq!(statuses(&json), ["accepted", "rejected", "accepted"]);
        assert_eq!(json["results"][1]["errors"][0]["field"], "device_id");
        assert_eq!(sink.written.lock().expect("lock").len(), 2);
    }

    #[tokio::test]
    async fn only_devices_drivers_and_admins_may_send_telemetry() {
        let body = batch(vec![good("truck-1", 1)]);
        for role in Role::ALL {
            let caller = Principal::User {
                user_id: "u".into(),
                org_id: "org-a".into(),
                role,
            };
            let sink = MemorySink::default();
            let reply = ingest(&sink, &Fleet::of_org_a(), &caller, "POST", &body, NOW).await;
            let expected = if matches!(role, Role::Driver | Role::Admin) {
                200
            } else {
                403
            };
            assert_eq!(reply.status, expected, "{role}: {}", reply.body);
        }
    }

    #[tokio::test]
    async fn a_request_without_a_caller_is_401() {
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/telemetry")
            .body(Body::Text(
                String::from_utf8(batch(vec![good("t1", 1)])).expect("utf-8"),
            ))
            .expect("request");
        let response = handle(&MemorySink::default(), &Fleet::of_org_a(), request)
            .await
            .expect("response");
        assert_eq!(response.status(), 401);
    }

    fn batch(readings: Vec<Value>) -> Vec<u8> {
        json!({ "readings": readings }).to_string().into_bytes()
    }

    async fn post(sink: &MemorySink, body: &[u8]) -> (u16, Value) {
        let reply = ingest(sink, &Fleet::of_org_a(), &driver(), "POST", body, NOW).await;
        let json = serde_json::from_str(&reply.body).expect("JSON body");
        (reply.status, json)
    }

    fn statuses(body: &Value) -> Vec<&str> {
        body["results"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .filter_map(|r| r["status"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn all_good_readings_are_accepted_with_200() {
        let sink = MemorySink::default();
        let body = batch(vec![good("t1", 1), good("t2", 2), good("t1", 3)]);
        let (status, json) = post(&sink, &body).await;

        assert_eq!(status, 200);
        assert_eq!(
            (json["accepted"].as_u64(), json["rejected"].as_u64()),
            (Some(3), Some(0))
        );
        assert_eq!(statuses(&json), ["accepted"; 3]);
        assert_eq!(json["results"][0]["reading_id"], "t1-1773140460000");
        let written = sink.written();
        assert_eq!(written.len(), 3);
        assert!(
            written
                .iter()
                .all(|r| r.source == "https" && r.received_at == NOW)
        );
    }

    #[tokio::test]
    async fn a_bare_array_is_accepted_too() {
        let sink = MemorySink::default();
        let body = Value::Array(vec![good("t1", 1)]).to_string();
        let (status, _) = post(&sink, body.as_bytes()).await;
        assert_eq!(status, 200);
        assert_eq!(sink.written().len(), 1);
    }

    #[tokio::test]
    async fn a_mixed_batch_is_207_and_bad_readings_do_not_cost_the_good_ones() {
        let sink = MemorySink::default();
        let body = batch(vec![good("t1", 1), bad("t2"), good("t3", 3)]);
        let (status, json) = post(&sink, &body).await;

        assert_eq!(status, 207);
        assert_eq!(statuses(&json), ["accepted", "rejected", "accepted"]);
        let rejected = &json["results"][1];
        assert_eq!(rejected["index"], 1);
        let fields: Vec<&str> = rejected["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["lat", "temperature_c"]);
        let devices: Vec<String> = sink.written().into_iter().map(|r| r.device_id).collect();
        assert_eq!(devices, ["t1", "t3"]);
    }

    #[tokio::test]
    async fn a_fully_bad_batch_is_400_with_paths_and_the_report() {
        let sink = MemorySink::default();
        let body = batch(vec![bad("t1"), json!("not a reading")]);
        let (status, json) = post(&sink, &body).await;

        assert_eq!(status, 400);
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(
            json["errors"],
            json!([
                {"field": "readings[0].lat", "message": "must be between -90 and 90 (got 99)"},
                {"field": "readings[0].temperature_c", "message": "must be between -100 and 100 (got 500)"},
                {"field": "readings[1]", "message": "must be a JSON object"}
            ])
        );
        assert_eq!(json["rejected"], 2);
        assert_eq!(statuses(&json), ["rejected", "rejected"]);
        assert_eq!(sink.calls(), 0, "nothing valid, nothing written");
    }

    #[tokio::test]
    async fn readings_the_sink_cannot_write_are_reported_failed() {
        let sink = MemorySink::failing(&["t2"]);
        let body = batch(vec![good("t1", 1), good("t2", 2), bad("t3")]);
        let (status, json) = post(&sink, &body).await;

        assert_eq!(status, 207);
        assert_eq!(statuses(&json), ["accepted", "failed", "rejected"]);
        assert_eq!(
            json["results"][1],
            json!({"index": 1, "status": "failed", "reading_id": "t2-1773140520000",
                   "message": "stream unavailable, retry later"})
        );
        assert_eq!(
            (
                json["accepted"].as_u64(),
                json["rejected"].as_u64(),
                json["failed"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
    }

    #[tokio::test]
    async fn nothing_written_is_503_with_retry_after() {
        let sink = MemorySink::failing(&["t1", "t2"]);
        let body = batch(vec![good("t1", 1), good("t2", 2)]);
        let reply = ingest(&sink, &Fleet::of_org_a(), &driver(), "POST", &body, NOW).await;

        assert_eq!(reply.status, 503);
        assert!(reply.headers.contains(&("retry-after", "1".to_owned())));
        let json: Value = serde_json::from_str(&reply.body).expect("JSON");
        assert_eq!(statuses(&json), ["failed", "failed"]);
    }

    #[tokio::test]
    async fn a_missing_sink_result_counts_as_failed() {
        let sink = MemorySink {
            drop_last: true,
            ..MemorySink::default()
        };
        let body = batch(vec![good("t1", 1), good("t2", 2)]);
        let (status, json) = post(&sink, &body).await;
        assert_eq!(status, 207);
        assert_eq!(statuses(&json), ["accepted", "failed"]);
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_400_naming_the_body() {
        let sink = MemorySink::default();
        let (status, json) = post(&sink, b"readings: yes").await;
        assert_eq!(status, 400);
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(json["errors"][0]["field"], "body");
        assert_eq!(sink.calls(), 0);
    }

    #[tokio::test]
    async fn too_many_readings_is_400_naming_the_limit() {
        let sink = MemorySink::default();
        let body = batch((0..=MAX_BATCH).map(|_| good("t1", 1)).collect());
        let (status, json) = post(&sink, &body).await;
        assert_eq!(status, 400);
        assert_eq!(
            json["errors"],
            json!([{"field": "readings", "message": "must contain at most 500 readings (got 501)"}])
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_413() {
        let sink = MemorySink::default();
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let (status, json) = post(&sink, &body).await;
        assert_eq!(status, 413);
        assert_eq!(json["error"], "payload_too_large");
        assert_eq!(json["errors"][0]["field"], "body");

        let at_limit = vec![b' '; MAX_BODY_BYTES];
        assert_eq!(
            post(&sink, &at_limit).await.0,
            400,
            "at the limit it is parsed"
        );
    }

    #[tokio::test]
    async fn other_methods_are_405_with_allow() {
        let sink = MemorySink::default();
        for method in ["GET", "PUT", "DELETE", "post"] {
            let reply = ingest(&sink, &Fleet::of_org_a(), &driver(), method, b"[]", NOW).await;
            assert_eq!(reply.status, 405, "{method}");
            assert!(reply.headers.contains(&("allow", "POST".to_owned())));
        }
        assert_eq!(sink.calls(), 0);
    }

    #[tokio::test]
    async fn hostile_input_never_panics_nor_answers_5xx() {
        let sink = MemorySink::default();
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"[".to_vec(),
            b"null".to_vec(),
            b"[null]".to_vec(),
            b"[[]]".to_vec(),
            b"[{}]".to_vec(),
            b"{\"readings\": null}".to_vec(),
            b"{\"readings\": [1e999]}".to_vec(),
            b"[{\"device_id\": \"\\u0000\", \"ts\": 99999999999999999999}]".to_vec(),
            b"[{\"device_id\": \"d\", \"ts\": -9223372036854775808, \"lat\": 1, \"lon\": 1, \"temperature_c\": 1, \"vibration_g\": 1}]".to_vec(),
            vec![0xff; 64],
            deep.into_bytes(),
        ];
        for body in bodies {
            let reply = ingest(&sink, &Fleet::of_org_a(), &driver(), "POST", &body, NOW).await;
            assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&body));
            assert!(serde_json::from_str::<Value>(&reply.body).is_ok());
        }
        assert_eq!(sink.calls(), 0);
    }

    #[tokio::test]
    async fn handle_answers_json_through_lambda_http() {
        let sink = MemorySink::default();
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/v1/telemetry")
            .body(Body::Text(
                String::from_utf8(batch(vec![json!({"device_id": "t1"})])).expect("utf-8"),
            ))
            .expect("request");
        let response = handle(&sink, &Fleet::of_org_a(), with_caller(request, &driver()))
            .await
            .expect("response");

        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        let json: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
        assert_eq!(json["errors"][0]["field"], "readings[0].ts");
    }

    #[tokio::test]
    async fn handle_answers_405_with_allow_header() {
        let sink = MemorySink::default();
        let request = lambda_http::http::Request::builder()
            .method("GET")
            .uri("/v1/telemetry")
            .body(Body::Empty)
            .expect("request");
        let response = handle(&sink, &Fleet::of_org_a(), with_caller(request, &driver()))
            .await
            .expect("response");
        assert_eq!(response.status(), 405);
        assert_eq!(
            response.headers().get(ALLOW).map(|v| v.as_bytes()),
            Some(&b"POST"[..])
        );
    }

    #[test]
    fn settings_are_required_and_trimmed() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            Settings::from_lookup(env(&[
                ("TELEMETRY_STREAM_NAME", " telemetry\n"),
                ("IDENTITY_TABLE", "identity"),
            ])),
            Ok(Settings {
                stream_name: "telemetry".into(),
                identity_table: "identity".into()
            })
        );
        assert_eq!(
            Settings::from_lookup(env(&[
                ("TELEMETRY_STREAM_NAME", "  "),
                ("IDENTITY_TABLE", "i")
            ])),
            Err(MissingSetting(STREAM_NAME_VAR))
        );
        assert_eq!(
            Settings::from_lookup(env(&[("TELEMETRY_STREAM_NAME", "t")])),
            Err(MissingSetting(IDENTITY_TABLE_VAR))
        );
        assert!(
            MissingSetting(STREAM_NAME_VAR)
                .to_string()
                .contains("TELEMETRY_STREAM_NAME")
        );
    }
}
