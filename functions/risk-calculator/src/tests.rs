//! The handler, both ways, with every role and bad input.

use std::path::PathBuf;

use pharmaguard_domain::shipment::TemperatureProfile;

use super::*;

fn good_input() -> Value {
    json!({
        "cargo_value": {"amount": "48000.00", "currency": "EUR"},
        "profile": {"kind": "REFRIGERATED"},
        "peak_vibration_g": 6.0,
        "excursion_minutes": 30,
        "mkt_c": 9.1,
    })
}

fn fields_of(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .expect("an errors array")
        .iter()
        .map(|error| error["field"].as_str().unwrap().to_owned())
        .collect()
}

/// A REST proxy event of `POST /v1/risk/estimate` (as API Gateway sends it
/// after the authorizer let `role` through; no context when `None`).
fn proxy_event(method: &str, role: Option<&str>, kind: &str, body: &str) -> Value {
    let authorizer = match role {
        Some(role) => json!({"principalId": "usr-1", "kind": kind, "org": "org-a", "role": role}),
        None => json!({}),
    };
    json!({
        "resource": "/v1/risk/estimate",
        "path": "/v1/risk/estimate",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "requestContext": {
            "accountId": "000000000000",
            "resourcePath": "/v1/risk/estimate",
            "httpMethod": method,
            "stage": "local",
            "requestId": "r-1",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

async fn http(method: &str, role: Option<&str>, body: &str) -> (u16, Value) {
    let answer = handle(proxy_event(method, role, "user", body))
        .await
        .unwrap();
    let status = answer["statusCode"].as_u64().unwrap() as u16;
    let body = answer["body"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn direct_invocation_answers_the_estimate() {
    let answer = handle(good_input()).await.unwrap();
    let input: RiskInput = serde_json::from_value(good_input()).unwrap();
    let expected = serde_json::to_value(estimate_risk(&input).unwrap()).unwrap();
    assert_eq!(answer, expected);
    // crash 20 %, excursion 1/9, MKT 11 %: 1 − 0.8 × 8/9 × 0.89
    assert_eq!(answer["currency"], "EUR");
    assert_eq!(answer["parts"].as_array().unwrap().len(), 4);
    assert!(!answer["assumptions"].as_array().unwrap().is_empty());
    let back: RiskEstimate = serde_json::from_value(answer).unwrap();
    assert_eq!(
        back.part(pharmaguard_domain::coldchain::RiskComponent::Crash)
            .unwrap()
            .amount,
        "9600.00"
    );
}

#[tokio::test]
async fn direct_invocation_names_every_bad_field_and_never_fails() {
    let bad = json!({
        "cargo_value": {"amount": 48000, "currency": "eur"},
        "profile": {"kind": "WARM"},
        "peak_vibration_g": "high",
        "excursion_minutes": -5,
        "mkt_c": 250,
        "colour": "red",
    });
    let answer = handle(bad).await.unwrap();
    let mut fields = fields_of(&answer["errors"]);
    fields.sort();
    assert_eq!(
        fields,
        [
            "cargo_value.amount",
            "cargo_value.currency",
            "colour",
            "excursion_minutes",
            "mkt_c",
            "peak_vibration_g",
            "profile.kind",
        ]
    );
    for payload in [json!(null), json!([1, 2]), json!("text"), json!(42)] {
        let answer = handle(payload).await.unwrap();
        assert_eq!(fields_of(&answer["errors"]), ["payload"]);
    }
    let answer = handle(json!({})).await.unwrap();
    assert_eq!(fields_of(&answer["errors"]), ["cargo_value", "profile"]);
}

#[tokio::test]
async fn managers_and_admins_may_ask_what_if() {
    for role in ["MANAGER", "ADMIN"] {
        let (status, body) = http("POST", Some(role), &good_input().to_string()).await;
        assert_eq!(status, 200, "{role}: {body}");
        assert_eq!(body["currency"], "EUR");
        assert_eq!(body["parts"][0]["component"], "CRASH");
        assert_eq!(body["parts"][0]["amount"], "9600.00");
        assert!(body["assumptions"].as_array().unwrap().len() >= 4);
        assert!(body["total"].as_str().is_some());
    }
}

#[tokio::test]
async fn other_roles_devices_and_anonymous_callers_are_refused() {
    for role in ["PHARMACIST", "DRIVER"] {
        let (status, body) = http("POST", Some(role), &good_input().to_string()).await;
        assert_eq!(status, 403, "{role}: {body}");
        assert_eq!(body["error"], "forbidden");
    }
    let device = proxy_event("POST", Some("unused"), "device", &good_input().to_string());
    let answer = handle(device).await.unwrap();
    assert_eq!(answer["statusCode"], 403);
    let (status, body) = http("POST", None, &good_input().to_string()).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn what_if_bad_input_is_a_400_naming_each_field() {
    let (status, body) = http(
        "POST",
        Some("MANAGER"),
        r#"{"cargo_value": {"amount": "-1", "currency": "EUR", "vat": 19},
            "profile": {"kind": "CUSTOM", "min_c": 10, "max_c": 5, "alarm_delay_minutes": 5, "excursion_budget_minutes": 30},
            "crash_threshold_g": 0, "excursion_minutes": "long"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    let fields = fields_of(&body["errors"]);
    for field in ["cargo_value.vat", "crash_threshold_g", "excursion_minutes"] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("profile.")),
        "{fields:?}"
    );
    // reported once, by its type, not again by the value rules
    assert_eq!(
        fields.iter().filter(|f| *f == "excursion_minutes").count(),
        1
    );

    for (body, field) in [
        ("", "body"),
        ("not json", "body"),
        ("[1]", "body"),
        (r#"{"profile": {"kind": "FROZEN"}}"#, "cargo_value"),
    ] {
        let (status, answer) = http("POST", Some("MANAGER"), body).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert_eq!(fields_of(&answer["errors"]), [field], "{body:?}: {answer}");
    }
}

#[tokio::test]
async fn only_post_and_json_answers() {
    let (status, _) = http("GET", Some("MANAGER"), "").await;
    assert_eq!(status, 405);
    let answer = handle(proxy_event(
        "POST",
        Some("MANAGER"),
        "user",
        &good_input().to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(answer["headers"]["content-type"], "application/json");
    assert_eq!(answer["headers"]["cache-control"], "no-store");
}

#[test]
fn the_input_parser_agrees_with_serde_on_valid_input() {
    let parsed = parse_risk_input(&good_input(), "body").unwrap();
    let serde: RiskInput = serde_json::from_value(good_input()).unwrap();
    assert_eq!(parsed, serde);
    let minimal = json!({
        "cargo_value": {"amount": "100", "currency": "JPY"},
        "profile": {"kind": "CUSTOM", "min_c": -20, "max_c": -10, "alarm_delay_minutes": 10, "excursion_budget_minutes": 0},
        "peak_vibration_g": null, "mkt_c": null,
    });
    let parsed = parse_risk_input(&minimal, "body").unwrap();
    assert_eq!(parsed.excursion_minutes, 0.0);
    assert_eq!(parsed.crash_threshold_g, DEFAULT_CRASH_THRESHOLD_G);
    assert_eq!(
        parsed.profile,
        TemperatureProfile::custom(-20.0, -10.0, 10, 0).unwrap()
    );
    assert_eq!(parsed.peak_vibration_g, None);
}

#[test]
fn only_managers_and_admins_may_estimate() {
    let user = |role| Principal::User {
        user_id: "u".into(),
        org_id: "o".into(),
        role,
    };
    assert!(may_estimate(&user(Role::Manager)).is_ok());
    assert!(may_estimate(&user(Role::Admin)).is_ok());
    assert!(may_estimate(&user(Role::Pharmacist)).is_err());
    assert!(may_estimate(&user(Role::Driver)).is_err());
    let device = Principal::Device {
        device_id: "d".into(),
        org_id: "o".into(),
    };
    assert!(may_estimate(&device).is_err());
}

#[tokio::test]
async fn the_sample_events_replay() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/risk-calculator");
    let expected = [
        ("direct.json", "estimate"),
        ("direct-invalid.json", "errors"),
        ("what-if.json", "200"),
        ("what-if-invalid.json", "400"),
        ("what-if-driver.json", "403"),
    ];
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    let mut listed: Vec<String> = expected.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(names, listed, "every sample is checked");
    for (name, outcome) in expected {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let answer = handle(serde_json::from_str(&text).unwrap()).await.unwrap();
        match outcome {
            "estimate" => {
                let amounts: Vec<&str> = answer["parts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|part| part["amount"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    amounts,
                    ["9600.00", "5333.33", "0.00", "5280.00"],
                    "{name}: {answer}"
                );
            }
            "errors" => assert!(answer["errors"].is_array(), "{name}: {answer}"),
            status => assert_eq!(answer["statusCode"].to_string(), status, "{name}: {answer}"),
        }
    }
}
