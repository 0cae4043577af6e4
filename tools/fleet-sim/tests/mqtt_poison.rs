//! A poison record never stalls a shard: while a small fleet drives over
//! MQTT, one registered device on its way publishes everything a broken or
//! hostile device could (not JSON, not an object, nesting deeper than any
//! parser allows, numbers JSON has no room for, out-of-range and far-future
//! times, forged placements on another shipment). The test shows that the
//! other trucks' readings keep being stored, that their alarms (a crash) are
//! raised, that the hostile device's own good readings and its crash alarm
//! go through as well, and that none of the poison lands on a shipment. It
//! prints the delays it measured.
//!
//! Needs the deployed local stack with its MQTT broker (`localstack/up`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fleet_sim::cli::{Config, Transport};
use fleet_sim::incident::IncidentSpec;
use fleet_sim::run::run;
use fleet_sim::state::FleetState;
use fleet_sim::transport::mqtt::{options, parse_mqtt_url, telemetry_topic};
use pharmaguard_testkit::{Api, Session, Stack, World};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a reading or alarm may take to show, poison or not.
const WAIT: Duration = Duration::from_secs(90);
/// When the poison goes out, after the fleet's readings started.
const POISON_AFTER: Duration = Duration::from_secs(15);
/// When the fleet's truck 2 crashes, after the run started.
const CRASH_AT: &str = "crash@2+40";
const CRASH_AFTER: Duration = Duration::from_secs(40);
/// The reading id prefix of the well-formed reading that claims another sender.
const SENDER_REPLACED: &str = "sender-replaced-";

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/.state")
}

fn config(state: &std::path::Path, setup_only: bool) -> Config {
    let outputs = std::env::var_os("PHARMAGUARD_OUTPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("outputs.json"));
    Config {
        trucks: 3,
        rate_hz: 1.0,
        seed: Some(11),
        duration: None,
        incidents: vec![IncidentSpec::parse(CRASH_AT).expect("an incident")],
        transport: Transport::Mqtt,
        outputs,
        admin: state_dir().join("admin.json"),
        state: state.to_path_buf(),
        progress_every: Duration::ZERO,
        setup_only,
        ..Config::default()
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("formattable")
}

/// A well-formed reading of the hostile device's own, `vibration_g` as given.
fn good_reading(reading_id: &str, vibration_g: f64) -> Vec<u8> {
    json!({
        "v": 1, "reading_id": reading_id, "ts": rfc3339(OffsetDateTime::now_utc()),
        "lat": 52.1, "lon": 5.1, "temperature_c": 5.0, "vibration_g": vibration_g,
    })
    .to_string()
    .into_bytes()
}

/// What becomes of a poison message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The rule writes no record: its payload is not a JSON object (as with
    /// AWS IoT's rules engine, which cannot add fields to it).
    NoRecord,
    /// Set aside in the rejected-telemetry queue with this reason.
    Rejected(&'static str),
    /// A reading naming a shipment that is not its device's: kept under the
    /// device, never placed on that shipment (no rules run).
    KeptUnderTheDevice,
    /// Well-formed: the rule replaces the `sender` it claims by the topic's
    /// device, and it is stored on the device's own shipment.
    StoredAsTheDevices,
}

/// Everything a broken or hostile device could publish; `victim` is another
/// shipment of the fleet (that the device does not belong to).
fn poison(victim: &str) -> Vec<(&'static str, Vec<u8>, Answer)> {
    let reading = |ts: Value, extra: Value| {
        let mut base = json!({
            "v": 1, "reading_id": format!("poison-{}", pharmaguard_testkit::unique()),
            "ts": ts, "lat": 52.1, "lon": 5.1, "temperature_c": 5.0, "vibration_g": 0.2,
        });
        for (key, value) in extra.as_object().expect("an object") {
            base[key] = value.clone();
        }
        base.to_string().into_bytes()
    };
    let now = rfc3339(OffsetDateTime::now_utc());
    let next_year = rfc3339(OffsetDateTime::now_utc() + time::Duration::days(365));
    let deep = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
    use Answer::*;
    vec![
        ("not JSON", b"the compressor is on fire".to_vec(), NoRecord),
        ("not UTF-8", vec![0xff, 0xfe, 0x00, 0x9f], NoRecord),
        ("empty", Vec::new(), Rejected("NOT_A_READING")),
        ("an array", b"[1, 2, 3]".to_vec(), NoRecord),
        ("unbalanced", b"{\"v\": 1, \"ts\": ".to_vec(), NoRecord),
        ("nested 5000 deep", deep.into_bytes(), Rejected("NOT_JSON")),
        (
            "ts in the year 9999 at -01:00",
            reading(json!("9999-12-31T23:59:59-01:00"), json!({})),
            Rejected("INVALID_READING"),
        ),
        (
            "ts beyond any calendar",
            reading(json!("+275760-09-13T00:00:00Z"), json!({})),
            Rejected("INVALID_READING"),
        ),
        (
            "ts not a date",
            reading(json!("2026-13-45T25:61:61Z"), json!({})),
            Rejected("INVALID_READING"),
        ),
        (
            "ts a number",
            reading(json!(1e20), json!({})),
            Rejected("INVALID_READING"),
        ),
        (
            "a year ahead (to blind the monitor)",
            reading(json!(next_year), json!({"temperature_c": 30.0})),
            Rejected("INVALID_READING"),
        ),
        (
            "temperature beyond f64",
            format!(
                "{{\"v\":1,\"reading_id\":\"poison-inf\",\"ts\":\"{now}\",\"lat\":52.1,\"lon\":5.1,\"temperature_c\":1e400,\"vibration_g\":0.1}}"
            )
            .into_bytes(),
            Rejected("NOT_JSON"),
        ),
        (
            "NaN",
            format!(
                "{{\"v\":1,\"reading_id\":\"poison-nan\",\"ts\":\"{now}\",\"lat\":NaN,\"lon\":5.1,\"temperature_c\":5,\"vibration_g\":0.1}}"
            )
            .into_bytes(),
            NoRecord,
        ),
        (
            "out of range values",
            reading(
                json!(now),
                json!({"lat": 91.0, "lon": -181.0, "vibration_g": -1.0}),
            ),
            Rejected("INVALID_READING"),
        ),
        (
            "wrong types",
            reading(json!(now), json!({"temperature_c": "hot", "v": "one"})),
            Rejected("NOT_A_READING"),
        ),
        (
            "schema version 99",
            reading(json!(now), json!({"v": 99})),
            Rejected("UNSUPPORTED_VERSION"),
        ),
        (
            "a reading id of 10 000 characters",
            reading(json!(now), json!({"reading_id": "x".repeat(10_000)})),
            Rejected("INVALID_READING"),
        ),
        (
            "placed on another organisation's shipment",
            reading(
                json!(now),
                json!({"shipment_id": victim, "temperature_c": 30.0, "vibration_g": 9.0}),
            ),
            KeptUnderTheDevice,
        ),
        (
            "claiming another sender",
            reading(
                json!(now),
                json!({
                    "reading_id": format!("{SENDER_REPLACED}{}", pharmaguard_testkit::unique()),
                    "sender": {"kind": "user", "user_id": "usr-x", "org_id": "org-x", "role": "ADMIN"},
                }),
            ),
            StoredAsTheDevices,
        ),
    ]
}

/// A connected MQTT client of `device_id`, and the task that drives it
/// (counting acknowledgements).
struct Device {
    client: AsyncClient,
    acks: tokio::sync::watch::Receiver<u64>,
    driver: tokio::task::JoinHandle<()>,
    sent: u64,
    device_id: String,
}

impl Device {
    fn connect(device_id: &str, secret: &str) -> Self {
        let (host, port) = parse_mqtt_url(&Config::default().mqtt_url).expect("the broker URL");
        let (client, mut events) = AsyncClient::new(options(device_id, secret, &host, port), 64);
        let (tx, acks) = tokio::sync::watch::channel(0);
        let driver = tokio::spawn(async move {
            let mut acked = 0;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked += 1;
                        let _ = tx.send(acked);
                    }
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success, "{ack:?}");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        eprintln!("poison device: {error}; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Self {
            client,
            acks,
            driver,
            sent: 0,
            device_id: device_id.to_owned(),
        }
    }

    async fn publish(&mut self, payload: Vec<u8>) {
        self.client
            .publish(
                telemetry_topic(&self.device_id),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .expect("queued");
        self.sent += 1;
    }

    /// Waits until the broker acknowledged everything published.
    async fn acknowledged(&mut self) {
        let sent = self.sent;
        tokio::time::timeout(WAIT, self.acks.wait_for(|acked| *acked >= sent))
            .await
            .expect("the broker acknowledges every message")
            .expect("the client runs");
    }
}

/// The readings of `shipment_id` stored from `from` on.
async fn readings_since(api: &Api, session: &Session, shipment_id: &str, from: &str) -> Vec<Value> {
    let reply = api
        .get(
            session,
            &format!("/v1/shipments/{shipment_id}/readings?from={from}&limit=500"),
        )
        .await;
    assert_eq!(reply.status, 200, "readings of {shipment_id}: {reply}");
    reply.body["items"].as_array().cloned().unwrap_or_default()
}

/// The alarms of `shipment_id`.
async fn alarms(api: &Api, session: &Session, shipment_id: &str) -> Vec<Value> {
    let reply = api
        .get(session, &format!("/v1/shipments/{shipment_id}/tracking"))
        .await;
    if reply.status == 404 {
        return Vec::new(); // no tracking yet
    }
    assert_eq!(reply.status, 200, "tracking of {shipment_id}: {reply}");
    reply.body["alarms"].as_array().cloned().unwrap_or_default()
}

/// Polls `found` every half second until it holds (for at most [`WAIT`]);
/// how long after `since` it did.
async fn within<F, Fut>(since: Instant, what: &str, found: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polling = Instant::now();
    while !found().await {
        assert!(polling.elapsed() < WAIT, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    since.elapsed()
}

/// The reasons of the records of `device_id` in the rejected-telemetry queue,
/// once `expected` of them arrived (each taken off the queue).
async fn rejected_reasons(stack: &Stack, device_id: &str, expected: usize) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config().await);
    let queue = stack.output("RejectedTelemetryQueueUrl");
    let mut reasons = Vec::new();
    let polling = Instant::now();
    while reasons.len() < expected && polling.elapsed() < WAIT {
        let output = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(2)
            .send()
            .await
            .expect("receive from the rejected-telemetry queue");
        for message in output.messages.unwrap_or_default() {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or("null")).unwrap_or_default();
            if body["partition_key"] != device_id {
                continue; // another test's; it shows again after the visibility timeout
            }
            reasons.push(body["reason"].as_str().unwrap_or("?").to_owned());
            sqs.delete_message()
                .queue_url(queue)
                .set_receipt_handle(message.receipt_handle)
                .send()
                .await
                .expect("delete from the rejected-telemetry queue");
        }
    }
    reasons
}

fn is_shock(alarm: &Value) -> bool {
    alarm["alarm_type"] == "SHOCK"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_over_mqtt_never_stops_the_fleets_readings_or_alarms() {
    let stack = Stack::load();
    let world = World::build(&stack).await;
    let api = &world.api;
    let manager = world.shipper.as_role("MANAGER");

    // the hostile device: registered, on a shipment of its own on the road
    let (device_id, secret) = api.register_device(manager, &world.shipper.id).await;
    let mut body = world.new_shipment();
    body["device_id"] = json!(device_id);
    let created = api.post(manager, "/v1/shipments", body).await;
    assert_eq!(created.status, 201, "{created}");
    let own_shipment = created.body["id"].as_str().expect("an id").to_owned();
    for (version, action) in [(1, "dispatch"), (2, "start")] {
        let reply = world
            .transition(manager, &own_shipment, action, version)
            .await;
        assert_eq!(reply.status, 200, "{action}: {reply}");
    }

    // the fleet: its world first, then three trucks over MQTT at 1 Hz
    let dir = std::env::temp_dir().join(format!(
        "fleet-sim-poison-{}",
        pharmaguard_testkit::unique()
    ));
    let state_file = dir.join("fleet.json");
    run(config(&state_file, true), std::future::pending())
        .await
        .expect("the fleet's world is set up");
    let state = FleetState::load(&state_file).expect("state file");
    let operator = &state.organisations["operator"];
    let fleet_manager = operator
        .users
        .iter()
        .find(|u| u.role == "MANAGER")
        .expect("a manager");
    let fleet_session = api
        .login(&fleet_manager.email, &fleet_manager.password)
        .await;
    let trucks: Vec<(usize, String)> = state
        .trucks
        .iter()
        .map(|(number, truck)| {
            let shipment = truck.shipment.as_ref().expect("a shipment on board");
            (*number, shipment.id.clone())
        })
        .collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let fleet = tokio::spawn(run(config(&state_file, false), async {
        let _ = stopped.await;
    }));
    let fleet_started = Instant::now();
    let first = within(
        fleet_started,
        "the fleet's first readings are stored",
        || async {
            let from = rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(1));
            !readings_since(api, &fleet_session, &trucks[0].1, &from)
                .await
                .is_empty()
        },
    )
    .await;
    println!(
        "fleet: first reading stored {:.1} s after the start",
        first.as_secs_f64()
    );
    tokio::time::sleep(POISON_AFTER.saturating_sub(fleet_started.elapsed())).await;

    // the poison, all of it acknowledged by the broker
    let mut device = Device::connect(&device_id, &secret);
    let payloads = poison(&trucks[0].1);
    for (_, payload, _) in &payloads {
        device.publish(payload.clone()).await;
    }
    device.acknowledged().await;
    let poisoned_at = OffsetDateTime::now_utc();
    let since_poison = Instant::now();
    println!(
        "published {} poison messages at {}",
        payloads.len(),
        rfc3339(poisoned_at)
    );

    // then, while the fleet is watched, the same device's own good readings
    // (one a second, the sixth a crash)
    let own_crash = format!("own-crash-{}", pharmaguard_testkit::unique());
    let (crash_sent_tx, crash_sent) = tokio::sync::watch::channel(None::<Instant>);
    let publishing = async {
        for second in 0..10 {
            let id = format!("own-{second}-{}", pharmaguard_testkit::unique());
            if second == 5 {
                device.publish(good_reading(&own_crash, 8.0)).await;
                let _ = crash_sent_tx.send(Some(Instant::now()));
            } else {
                device.publish(good_reading(&id, 0.2)).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        device.acknowledged().await;
    };
    // every truck of the fleet: readings after the poison are stored
    let from = rfc3339(poisoned_at);
    let fleet_readings = async {
        let mut delays = Vec::new();
        for (number, shipment_id) in &trucks {
            let delay = within(
                since_poison,
                &format!("truck {number}'s readings after the poison"),
                || async {
                    !readings_since(api, &fleet_session, shipment_id, &from)
                        .await
                        .is_empty()
                },
            )
            .await;
            delays.push((format!("truck {number}'s next reading"), delay));
        }
        delays
    };
    // the hostile device's own crash reading and its alarm
    let own_readings = async {
        let mut sent = crash_sent.clone();
        let crash_at = sent
            .wait_for(Option::is_some)
            .await
            .expect("the publisher runs")
            .expect("sent");
        let reading = within(crash_at, "the device's own crash reading", || async {
            readings_since(api, manager, &own_shipment, &from)
                .await
                .iter()
                .any(|r| r["reading_id"] == own_crash.as_str())
        })
        .await;
        let alarm = within(crash_at, "the device's own SHOCK alarm", || async {
            alarms(api, manager, &own_shipment)
                .await
                .iter()
                .any(is_shock)
        })
        .await;
        [
            (
                "the device's own crash reading, after it was sent".to_owned(),
                reading,
            ),
            (
                "the device's own SHOCK alarm, after the crash was sent".to_owned(),
                alarm,
            ),
        ]
    };
    let ((), mut delays, own) = tokio::join!(publishing, fleet_readings, own_readings);
    delays.extend(own);
    // the fleet's crash, after the poison
    let crash_truck = &trucks[1].1;
    let crashed = fleet_started + CRASH_AFTER;
    let fleet_alarm = within(crashed, "truck 2's SHOCK alarm", || async {
        alarms(api, &fleet_session, crash_truck)
            .await
            .iter()
            .any(is_shock)
    })
    .await;
    delays.push((
        format!(
            "truck 2's SHOCK alarm, after its crash ({:.0} s after the poison)",
            (CRASH_AFTER - POISON_AFTER).as_secs_f64()
        ),
        fleet_alarm,
    ));
    for (what, delay) in &delays {
        println!("{what}: {:.1} s", delay.as_secs_f64());
    }

    let _ = stop.send(());
    let summary = fleet.await.expect("the fleet task").expect("the fleet ran");
    assert_eq!(summary.totals.failed, 0, "{:?}", summary.totals);
    assert!(summary.totals.accepted > 0, "{:?}", summary.totals);

    // and no poison landed anywhere: the victim has none of it and no alarm of it; the
    // device's own shipment has only its good readings
    let since_start = rfc3339(poisoned_at - time::Duration::minutes(5));
    for (_, shipment_id) in &trucks {
        let stored = readings_since(api, &fleet_session, shipment_id, &since_start).await;
        assert!(
            stored
                .iter()
                .all(|r| !r["reading_id"].as_str().unwrap_or("").starts_with("poison")),
            "poison on {shipment_id}"
        );
    }
    assert!(
        !alarms(api, &fleet_session, &trucks[0].1)
            .await
            .iter()
            .any(is_shock),
        "the forged crash raised nothing on the victim"
    );
    let own = readings_since(api, manager, &own_shipment, &since_start).await;
    let ids: Vec<&str> = own
        .iter()
        .map(|r| r["reading_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        own.len(),
        11,
        "the device's 10 good readings and the one whose sender was replaced: {ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|id| id.starts_with("own-")).count(),
        10,
        "{ids:?}"
    );
    assert_eq!(
        ids.iter()
            .filter(|id| id.starts_with(SENDER_REPLACED))
            .count(),
        1,
        "{ids:?}"
    );

    // every poison message got its answer: the refused ones wait in the
    // rejected-telemetry queue with their reasons
    let mut expected: Vec<&str> = payloads
        .iter()
        .filter_map(|(_, _, answer)| match answer {
            Answer::Rejected(reason) => Some(*reason),
            _ => None,
        })
        .collect();
    expected.sort_unstable();
    let mut reasons = rejected_reasons(&stack, &device_id, expected.len()).await;
    reasons.sort_unstable();
    assert_eq!(reasons, expected, "the rejected-telemetry queue");
    for (what, _, answer) in &payloads {
        println!("{what:<45} {answer:?}");
    }
    device.driver.abort();
    let _ = std::fs::remove_dir_all(dir);
}
