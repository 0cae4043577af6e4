//! The deployed risk calculator on the local stack, asked both ways: through
//! the Lambda API as the anomaly detector does, and through the REST API as a
//! manager (200) and a driver (403) do. Needs `localstack/up` (or
//! `infra/deploy`) first.

use aws_sdk_lambda::primitives::Blob;
use pharmaguard_testkit::{Api, Stack};
use serde_json::{Value, json};

fn input() -> Value {
    json!({
        "cargo_value": {"amount": "48000.00", "currency": "EUR"},
        "profile": {"kind": "REFRIGERATED"},
        "peak_vibration_g": 6.0,
        "excursion_minutes": 30,
        "mkt_c": 10.5,
    })
}

/// crash 20 %, excursion spoilage 1/9, MKT spoilage 25 %:
/// 1 − 0.8 × 8/9 × 0.75 = 46.67 % of 48 000.00
fn assert_estimate(estimate: &Value) {
    assert_eq!(estimate["currency"], "EUR", "{estimate}");
    assert_eq!(estimate["cargo_value"], "48000.00");
    let parts = estimate["parts"].as_array().expect("parts");
    let amounts: Vec<(&str, &str)> = parts
        .iter()
        .map(|p| {
            (
                p["component"].as_str().unwrap(),
                p["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        [
            ("CRASH", "9600.00"),
            ("EXCURSION_SPOILAGE", "5333.33"),
            ("COLD_SPOILAGE", "0.00"),
            ("MKT_SPOILAGE", "12000.00"),
        ]
    );
    assert_eq!(estimate["total"], "22400.00");
    assert!(parts.iter().all(|p| p["basis"].as_str().is_some()));
    assert!(estimate["assumptions"].as_array().unwrap().len() >= 4);
}

async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: &Value) -> Value {
    let output = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .expect("the Lambda API answers");
    assert_eq!(
        output.function_error(),
        None,
        "no function error for any input"
    );
    let answer = output.payload().expect("a payload").as_ref().to_vec();
    serde_json::from_slice(&answer).expect("a JSON answer")
}

#[tokio::test]
async fn direct_invocation_through_the_lambda_api() {
    let stack = Stack::load();
    let client = aws_sdk_lambda::Client::new(&stack.sdk_config().await);
    let function = stack.output("RiskCalculatorFunctionName");

    assert_estimate(&invoke(&client, function, &input()).await);

    let bad = json!({"cargo_value": {"amount": "lots", "currency": "EUR"},
        "profile": {"kind": "REFRIGERATED"}, "mkt_c": 500});
    let answer = invoke(&client, function, &bad).await;
    let fields: Vec<&str> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["cargo_value.amount", "mkt_c"], "{answer}");
}

#[tokio::test]
async fn what_if_through_the_rest_api() {
    let stack = Stack::load();
    let api = Api::new(&stack);
    let admin = api.admin().await;
    let org = api
        .create_organisation(&admin, "Risk org", "LOGISTICS_OPERATOR")
        .await;
    let manager = api.create_user(&admin, &org, "MANAGER").await;
    let driver = api.create_user(&admin, &org, "DRIVER").await;
    let (manager, driver) = tokio::join!(api.login_as(&manager), api.login_as(&driver));

    let reply = api.post(&manager, "/v1/risk/estimate", input()).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_estimate(&reply.body);

    let reply = api
        .post(
            &manager,
            "/v1/risk/estimate",
            json!({"cargo_value": {"amount": "1", "currency": "EUR"}, "profile": {"kind": "FROZEN"},
                "excursion_minutes": -1, "colour": "red"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{reply}");
    let mut fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["colour", "excursion_minutes"]);

    let reply = api.post(&driver, "/v1/risk/estimate", input()).await;
    assert_eq!(reply.status, 403, "{reply}");
    let reply = api
        .call("POST", "/v1/risk/estimate", None, Some(&input()))
        .await;
    assert_eq!(reply.status, 401, "{reply}");
}
