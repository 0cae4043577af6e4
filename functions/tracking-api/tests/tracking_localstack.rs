//! End to end against the deployed local stack: readings posted through
//! `POST /v1/telemetry` by a registered device reach the anomaly detector and
//! come back through the dashboard's REST API — the reading history, the live
//! map, the shipment's tracking with its SHOCK alarm and risk, the alarm feed —
//! to both parties and to nobody else (404); the alarm is acknowledged through
//! the API (ACTIVE_ACK, an audit record on the shipment's trail,
//! `alarm.acknowledged` on the alarm topic, read from a subscribed SQS queue),
//! survives the detector's next writes, and once cleared can no longer be
//! acknowledged (409). A second test checks CORS: the preflight `OPTIONS`
//! without a token on every kind of path, and the headers of the functions'
//! answers, successes and errors. (The API's own answers — a missing or bad
//! token — get theirs from the template's gateway responses, which
//! LocalStack's free core does not import.)
//!
//! Needs `localstack/up` (the test command in README.md runs everything).

use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use pharmaguard_testkit::{Reply, Session, Stack, World};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// How long the detector may take to get to a reading (LocalStack under load).
const PATIENCE: StdDuration = StdDuration::from_secs(180);

/// Polls `check` every half second until it gives a value, or panics after
/// [`PATIENCE`] saying what was awaited.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// A reading as the device posts it.
fn reading(device: &str, shipment: &str, n: i64, at: OffsetDateTime, vibration_g: f64) -> Value {
    json!({
        "device_id": device, "shipment_id": shipment, "reading_id": format!("{device}-{n}"),
        "ts": rfc3339(at), "lat": 51.9 + n as f64 / 100.0, "lon": 4.5 + n as f64 / 100.0,
        "temperature_c": 4.0 + n as f64 / 10.0, "vibration_g": vibration_g,
    })
}

struct Harness {
    stack: Stack,
    world: World,
    sqs: aws_sdk_sqs::Client,
}

impl Harness {
    async fn new() -> Self {
        let stack = Stack::load();
        let config = stack.sdk_config().await;
        let world = World::build(&stack).await;
        Self {
            sqs: aws_sdk_sqs::Client::new(&config),
            world,
            stack,
        }
    }

    /// A registered device of the shipper and a shipment IN_TRANSIT with it.
    async fn shipment_on_the_road(&self) -> (Session, String) {
        let manager = self.world.shipper.as_role("MANAGER");
        let device = self
            .world
            .api
            .create_device(manager, &self.world.shipper.id)
            .await;
        let mut body = self.world.new_shipment();
        body["device_id"] = json!(device.id);
        let reply = self.world.api.post(manager, "/v1/shipments", body).await;
        assert_eq!(reply.status, 201, "{reply}");
        let id = reply.body["id"].as_str().unwrap().to_owned();
        for (step, version) in [("dispatch", 1), ("start", 2)] {
            let reply = self.world.transition(manager, &id, step, version).await;
            assert_eq!(reply.status, 200, "{step}: {reply}");
        }
        (device, id)
    }

    /// Posts readings as `device` (a 5xx is resent: reading ids make it idempotent).
    async fn post_readings(&self, device: &Session, readings: Vec<Value>) {
        let body = json!({ "readings": readings });
        for attempt in 1..=5 {
            let reply = self
                .world
                .api
                .post(device, "/v1/telemetry", body.clone())
                .await;
            if reply.status < 500 || attempt == 5 {
                assert_eq!(reply.status, 200, "telemetry: {reply}");
                return;
            }
            tokio::time::sleep(StdDuration::from_secs(2)).await;
        }
    }

    async fn get(&self, session: &Session, path: &str) -> Reply {
        self.world.api.get(session, path).await
    }

    /// The shipment's tracking once its latest reading is `reading_id`.
    async fn tracking_at(&self, session: &Session, id: &str, reading_id: &str) -> Value {
        let path = format!("/v1/shipments/{id}/tracking");
        eventually(&format!("the tracking of {id} at {reading_id}"), || {
            let path = path.clone();
            async move {
                let reply = self.get(session, &path).await;
                assert_eq!(reply.status, 200, "{reply}");
                (reply.body["latest"]["reading_id"] == reading_id).then_some(reply.body)
            }
        })
        .await
    }

    /// The messages waiting in a queue (taken off it).
    async fn drain(&self, queue_url: &str) -> Vec<Value> {
        let mut bodies = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// A review body with `reason` and no product impact.
fn review(reason: &str) -> Value {
    json!({"reason": reason, "disposition": "NO_PRODUCT_IMPACT"})
}

fn ack_path(id: &str, alarm_id: &str) -> String {
    format!(
        "/v1/shipments/{id}/alarms/{}/acknowledge",
        alarm_id.replace('#', "%23")
    )
}

fn alarm_of_type<'a>(alarms: &'a Value, alarm_type: &str) -> Option<&'a Value> {
    alarms
        .as_array()?
        .iter()
        .find(|a| a["alarm_type"] == alarm_type)
}

#[tokio::test]
async fn readings_tracking_and_an_acknowledged_alarm_seen_by_both_parties_only() {
    let h = Harness::new().await;
    let world = &h.world;
    let (device, id) = h.shipment_on_the_road().await;
    let acknowledged_events = pharmaguard_testkit::queues::subscribed_queue(
        &h.sqs,
        &aws_sdk_sns::Client::new(&h.stack.sdk_config().await),
        h.stack.output("AlarmEventsTopicArn"),
        "it-acknowledged",
        Some(json!({ "shipment_id": [id], "event_type": ["alarm.acknowledged"] })),
    )
    .await;

    // five readings a minute apart, the third a 7.5 g crash
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::minutes(20);
    let readings: Vec<Value> = (0..5)
        .map(|n| {
            let g = if n == 2 { 7.5 } else { 0.2 };
            reading(&device.id, &id, n, t0 + Duration::minutes(n), g)
        })
        .collect();
    h.post_readings(&device, readings.clone()).await;
    let last_id = format!("{}-4", device.id);

    // the shipment's tracking, to both parties: latest reading, SHOCK, risk
    let pharmacist = world.recipient.as_role("PHARMACIST");
    let detail = h.tracking_at(pharmacist, &id, &last_id).await;
    assert_eq!(detail["state"], "IN_TRANSIT");
    assert_eq!(detail["device_id"], json!(device.id));
    assert_eq!(
        detail["latest"]["ts"],
        json!(rfc3339(t0 + Duration::minutes(4)))
    );
    assert_eq!(detail["latest"]["temperature_c"], 4.4);
    assert_eq!(
        detail["profile"],
        json!({"kind": "REFRIGERATED", "min_c": 2.0, "max_c": 8.0,
               "hot_zone_c": 25.0, "cold_zone_c": 0.0})
    );
    assert_eq!(detail["budget_minutes"], 75.0);
    let shock = alarm_of_type(&detail["alarms"], "SHOCK")
        .expect("a SHOCK alarm")
        .clone();
    assert_eq!(shock["state"], "ACTIVE_UNACK");
    assert_eq!(shock["severity"], "CRITICAL");
    assert_eq!(
        shock["raised_at"],
        json!(rfc3339(t0 + Duration::minutes(2)))
    );
    assert!(alarm_of_type(&detail["active_alarms"], "SHOCK").is_some());
    assert_eq!(detail["risk"]["cargo_value"], "48000.00");
    assert!(detail["risk"]["parts"][0]["fraction"].as_f64().unwrap() > 0.0);
    let alarm_id = shock["alarm_id"].as_str().unwrap().to_owned();
    let driver = world.shipper.as_role("DRIVER");
    let reply = h.get(driver, &format!("/v1/shipments/{id}/tracking")).await;
    assert_eq!(reply.status, 200, "{reply}");

    // the history, oldest first, paged within a window
    let path = format!("/v1/shipments/{id}/readings");
    let reply = h.get(driver, &path).await;
    assert_eq!(reply.status, 200, "{reply}");
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{reply}");
    for (item, posted) in items.iter().zip(&readings) {
        for field in [
            "reading_id",
            "ts",
            "lat",
            "lon",
            "temperature_c",
            "vibration_g",
        ] {
            assert_eq!(item[field], posted[field], "{field}");
        }
    }
    let window = format!(
        "{path}?from={}&to={}&limit=2",
        rfc3339(t0 + Duration::minutes(1)),
        rfc3339(t0 + Duration::minutes(3))
    );
    let first = h.get(pharmacist, &window).await;
    assert_eq!(first.status, 200, "{first}");
    let next = first.body["next"].as_str().expect("a next page").to_owned();
    let second = h.get(pharmacist, &format!("{window}&next={next}")).await;
    assert_eq!(second.status, 200, "{second}");
    let ids: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|r| r["reading_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=3)
            .map(|n| format!("{}-{n}", device.id))
            .collect::<Vec<_>>()
    );
    let bad = h
        .get(pharmacist, &format!("{path}?limit=0&from=soon"))
        .await;
    assert_eq!(bad.status, 400, "{bad}");
    let mut fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["from", "limit"]);

    // the live map and the alarm feed of both parties
    for session in [driver, world.recipient.as_role("MANAGER")] {
        let map = h.get(session, "/v1/tracking").await;
        assert_eq!(map.status, 200, "{map}");
        let mine = map.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["shipment_id"] == json!(id))
            .expect("the shipment on the map")
            .clone();
        assert_eq!(mine["latest"]["reading_id"], json!(last_id));
        assert!(alarm_of_type(&mine["active_alarms"], "SHOCK").is_some());
        let feed = h.get(session, "/v1/alarms").await;
        assert_eq!(feed.status, 200, "{feed}");
        let listed = feed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alarm_id"] == json!(alarm_id))
            .expect("the SHOCK in the feed")
            .clone();
        assert_eq!(listed["product"], "COVID-19 vaccine, 6-dose vials");
        assert_eq!(listed["shipper_org_id"], json!(world.shipper.id));
        assert_eq!(listed["recipient_org_id"], json!(world.recipient.id));
        assert_eq!(listed["state"], "ACTIVE_UNACK");
    }

    // another organisation: the shipment does not exist, its alarm neither
    let outsider = world.outsider.as_role("MANAGER");
    for path in [
        format!("/v1/shipments/{id}/tracking"),
        format!("/v1/shipments/{id}/readings"),
    ] {
        let reply = h.get(outsider, &path).await;
        assert_eq!(reply.status, 404, "{path}: {reply}");
    }
    let reply = world
        .api
        .post(outsider, &ack_path(&id, &alarm_id), review("forged"))
        .await;
    assert_eq!(reply.status, 404, "{reply}");
    let map = h.get(world.outsider.as_role("ADMIN"), "/v1/tracking").await;
    assert!(!map.body.to_string().contains(&id), "{map}");
    let feed = h.get(outsider, "/v1/alarms?active=false").await;
    assert!(!feed.body.to_string().contains(&id), "{feed}");

    // a driver may not acknowledge; the recipient's manager may
    let reply = world
        .api
        .post(driver, &ack_path(&id, &alarm_id), review("not mine to say"))
        .await;
    assert_eq!(reply.status, 403, "{reply}");
    let manager = world.recipient.as_role("MANAGER");
    let reply = world
        .api
        .post(
            manager,
            &ack_path(&id, &alarm_id),
            review("pallets checked"),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let acknowledged = reply.body;
    assert_eq!(acknowledged["alarm_id"], json!(alarm_id));
    assert_eq!(acknowledged["state"], "ACTIVE_ACK");
    assert_eq!(acknowledged["acknowledged_by"], json!(manager.id));
    assert!(acknowledged["acknowledged_at"].is_string());

    // again, by the shipper's pharmacist: unchanged
    let reply = world
        .api
        .post(
            world.shipper.as_role("PHARMACIST"),
            &ack_path(&id, &alarm_id),
            review("second opinion"),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body, acknowledged);

    // audited on the shipment's trail, once
    let trail = h.get(driver, &format!("/v1/shipments/{id}/audit")).await;
    assert_eq!(trail.status, 200, "{trail}");
    let records: Vec<&Value> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "alarm.acknowledged")
        .collect();
    assert_eq!(records.len(), 1, "{trail}");
    assert_eq!(records[0]["actor"]["id"], json!(manager.id));
    assert_eq!(records[0]["actor"]["org_id"], json!(world.recipient.id));
    assert_eq!(records[0]["before"]["state"], "ACTIVE_UNACK");
    assert_eq!(records[0]["after"]["state"], "ACTIVE_ACK");
    assert_eq!(records[0]["after"]["review"]["reason"], "pallets checked");
    assert_eq!(
        records[0]["after"]["review"]["disposition"],
        "NO_PRODUCT_IMPACT"
    );

    // alarm.acknowledged on the alarm topic (the repeat may publish the same id again)
    let events = eventually("alarm.acknowledged on the topic", || async {
        let events = h.drain(&acknowledged_events).await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    for event in &events {
        assert_eq!(event["event_type"], "alarm.acknowledged");
        assert_eq!(
            event["event_id"],
            json!(format!("{alarm_id}:ACKNOWLEDGED:CRITICAL"))
        );
        assert_eq!(event["alarm"]["state"], "ACTIVE_ACK");
        assert_eq!(event["alarm"]["acknowledged_by"], json!(manager.id));
        assert_eq!(event["shipment"]["shipment_id"], json!(id));
    }

    // the detector's next write keeps the acknowledgement
    h.post_readings(
        &device,
        vec![reading(&device.id, &id, 5, t0 + Duration::minutes(5), 0.2)],
    )
    .await;
    let detail = h
        .tracking_at(pharmacist, &id, &format!("{}-5", device.id))
        .await;
    let shock = alarm_of_type(&detail["active_alarms"], "SHOCK").expect("still active");
    assert_eq!(shock["state"], "ACTIVE_ACK", "{detail}");
    let feed = h.get(manager, "/v1/alarms").await;
    let listed = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alarm_id"] == json!(alarm_id))
        .expect("still in the active feed")
        .clone();
    assert_eq!(listed["state"], "ACTIVE_ACK");

    // quiet for ten minutes after the crash: cleared, with its review
    h.post_readings(
        &device,
        vec![reading(
            &device.id,
            &id,
            13,
            t0 + Duration::minutes(13),
            0.2,
        )],
    )
    .await;
    let detail = h
        .tracking_at(pharmacist, &id, &format!("{}-13", device.id))
        .await;
    let shock = detail["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alarm_id"] == json!(alarm_id))
        .unwrap();
    assert_eq!(shock["state"], "CLEARED", "{detail}");
    assert_eq!(shock["review"]["reason"], "pallets checked", "{detail}");
    let reply = world
        .api
        .post(manager, &ack_path(&id, &alarm_id), review("again"))
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.body["review"]["reason"], "pallets checked", "{reply}");
    let reviewed = h.get(manager, "/v1/alarms?status=reviewed").await;
    assert!(reviewed.body.to_string().contains(&alarm_id), "{reviewed}");
    let unreviewed = h.get(manager, "/v1/alarms?status=unreviewed").await;
    assert!(
        !unreviewed.body.to_string().contains(&alarm_id),
        "{unreviewed}"
    );
    let feed = h.get(manager, "/v1/alarms?active=false").await;
    let listed = feed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alarm_id"] == json!(alarm_id))
        .expect("in the whole feed")
        .clone();
    assert_eq!(listed["state"], "CLEARED");
    let feed = h.get(manager, "/v1/alarms").await;
    assert!(
        !feed.body.to_string().contains(&alarm_id),
        "not active any more"
    );

    let _ = h
        .sqs
        .delete_queue()
        .queue_url(&acknowledged_events)
        .send()
        .await;
}

/// One raw HTTP exchange: status and headers.
async fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the REST API answers");
    (response.status().as_u16(), response.headers().clone())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_dashboard_origin_may_call_every_route() {
    let stack = Stack::load();
    let api = pharmaguard_testkit::Api::new(&stack);
    let admin = api.admin().await;
    let origin = ("origin", "http://dashboard.test:5173");

    // the preflight: no token, every path, its methods and the two headers
    for (path, method) in [
        ("/v1/tracking", "GET"),
        ("/v1/alarms", "GET"),
        ("/v1/shipments/shp-x/tracking", "GET"),
        ("/v1/shipments/shp-x/readings", "GET"),
        (
            "/v1/shipments/shp-x/alarms/shp-x%23SHOCK%231/acknowledge",
            "POST",
        ),
        ("/v1/shipments", "POST"),
        ("/v1/auth/login", "POST"),
        ("/v1/auth/organisations", "GET"),
        ("/v1/telemetry", "POST"),
    ] {
        let (status, headers) = exchange(
            "OPTIONS",
            &stack.api_url(path),
            &[
                origin,
                ("access-control-request-method", method),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
        )
        .await;
        assert_eq!(status, 200, "OPTIONS {path}: {headers:?}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            "*",
            "{path}"
        );
        let methods = header(&headers, "access-control-allow-methods");
        assert!(methods.contains(method), "{path}: {methods}");
        assert!(methods.contains("OPTIONS"), "{path}: {methods}");
        let allowed = header(&headers, "access-control-allow-headers").to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{path}: {allowed}"
        );
    }

    // the functions' answers, success and error
    let bearer = format!("Bearer {}", admin.access_token);
    for (path, expected) in [
        ("/v1/tracking", 200),
        ("/v1/auth/me", 200),
        ("/v1/shipments", 200),
        ("/v1/shipments/shp-x/tracking", 404),
        ("/v1/alarms?active=perhaps", 400),
    ] {
        let (status, headers) = exchange(
            "GET",
            &stack.api_url(path),
            &[origin, ("authorization", &bearer)],
        )
        .await;
        assert_eq!(status, expected, "GET {path}");
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            "*",
            "{path}"
        );
    }
}
