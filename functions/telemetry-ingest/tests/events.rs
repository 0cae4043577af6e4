//! The sample events in `events/telemetry-ingest/` parse as API Gateway REST
//! proxy requests and get the answers `events/README.md` promises.

use std::path::PathBuf;
use std::process::Command;

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_http::{Body, Request, RequestExt};
use pharmaguard_domain::ports::{DeviceRegistry, ReadingSink, SinkError};
use pharmaguard_domain::telemetry::{Reading, RegisteredDevice};
use serde_json::Value;
use telemetry_ingest::{handle, ingest};
use time::OffsetDateTime;
use time::macros::datetime;

/// When the committed samples were recorded.
const RECORDED_AT: OffsetDateTime = datetime!(2026-11-21 07:00:30 UTC);

/// A sink that stores everything.
struct AcceptAll;

impl ReadingSink for AcceptAll {
    async fn put_readings(&self, readings: &[Reading]) -> Vec<Result<(), SinkError>> {
        vec![Ok(()); readings.len()]
    }
}

/// A registry in which every device belongs to one organisation (the
/// samples' caller's).
struct AllOf(String);

impl DeviceRegistry for AllOf {
    async fn registered_device(&self, device_id: &str) -> Result<Option<RegisteredDevice>, String> {
        Ok(Some(RegisteredDevice {
            id: device_id.to_owned(),
            org_id: self.0.clone(),
            disabled: false,
        }))
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/telemetry-ingest")
}

fn read_event(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn request(event: &str) -> Request {
    lambda_http::request::from_str(event).expect("a lambda_http request")
}

/// Replays a committed sample at its recording time: (status, body).
async fn replay(name: &str) -> (u16, Value) {
    let request = request(&read_event(name));
    let caller = pharmaguard_http::caller(&request).expect("samples carry an authorizer context");
    let reply = ingest(
        &AcceptAll,
        &AllOf(caller.org_id().to_owned()),
        &caller,
        request.method().as_str(),
        request.body().as_ref(),
        RECORDED_AT,
    )
    .await;
    let body = serde_json::from_str(&reply.body).expect("JSON body");
    (reply.status, body)
}

fn statuses(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|r| r["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_sample_is_an_api_gateway_rest_proxy_request() {
    for name in ["post-batch.json", "post-mixed.json", "post-malformed.json"] {
        let event: ApiGatewayProxyRequest =
            serde_json::from_str(&read_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.http_method, "POST", "{name}");
        assert_eq!(event.path.as_deref(), Some("/v1/telemetry"), "{name}");
        assert!(event.body.is_some(), "{name}");

        let request = request(&read_event(name));
        assert!(request.request_context_ref().is_some(), "{name}");
        assert!(
            pharmaguard_http::caller(&request).is_some(),
            "{name}: no authorizer context"
        );
        assert!(matches!(request.body(), Body::Text(_)), "{name}");
    }
}

#[tokio::test]
async fn post_batch_is_accepted() {
    let (status, body) = replay("post-batch.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(statuses(&body), ["accepted"; 3]);
    assert_eq!(body["results"][0]["reading_id"], "truck-0042-seq-1017");
}

#[tokio::test]
async fn post_mixed_is_partly_rejected() {
    let (status, body) = replay("post-mixed.json").await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(statuses(&body), ["accepted", "rejected", "accepted"]);
    let fields: Vec<&str> = body["results"][1]["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["lat", "temperature_c"]);
}

#[tokio::test]
async fn post_malformed_is_a_bad_request() {
    let (status, body) = replay("post-malformed.json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["errors"][0]["field"], "body");
}

/// Runs `make-batch.sh KIND`; `None` where bash is not available.
fn make_batch(kind: &str) -> Option<String> {
    let script = events_dir().join("make-batch.sh");
    let output = match Command::new("bash").arg(&script).arg(kind).output() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("skipping make-batch.sh check: cannot run bash: {error}");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "make-batch.sh {kind}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("UTF-8 output"))
}

async fn invoke_now(event: &str) -> (u16, Value) {
    let request = request(event);
    let org = pharmaguard_http::caller(&request)
        .map(|c| c.org_id().to_owned())
        .unwrap_or_default();
    let response = handle(&AcceptAll, &AllOf(org), request)
        .await
        .expect("response");
    let body = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn make_batch_prints_fresh_events() {
    let Some(good) = make_batch("good") else {
        return;
    };
    serde_json::from_str::<ApiGatewayProxyRequest>(&good).expect("good event shape");
    let (status, body) = invoke_now(&good).await;
    assert_eq!(status, 200, "{body}");

    let Some(mixed) = make_batch("mixed") else {
        return;
    };
    let (status, body) = invoke_now(&mixed).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(statuses(&body), ["accepted", "rejected", "accepted"]);
}
