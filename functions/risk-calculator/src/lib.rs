//! The risk calculator: the estimated loss of a shipment
//! ([`estimate_risk`]), asked two ways by one function.
//!
//! - **Direct invocation** (synchronous `Invoke`, by the anomaly detector for
//!   MAJOR and CRITICAL alarms): the payload is the JSON of a [`RiskInput`];
//!   the answer is the JSON of the [`RiskEstimate`], or
//!   `{"errors": [{"field", "message"}]}` naming every bad field. Bad input
//!   is an answer, never a function error.
//! - **`POST /v1/risk/estimate`** (REST API, a manager's what-if question):
//!   the body is the same JSON. Answers, all `application/json`:
//!
//! | status | when | body |
//! |---|---|---|
//! | 200 | the estimate | [`RiskEstimate`]: `total`, `parts` (crash, excursion spoilage, MKT spoilage), `assumptions` |
//! | 400 | bad input | `{"error":"invalid_request","errors":[{"field","message"}]}`, one per bad field |
//! | 401 | no caller (the authorizer let no principal through) | `{"error":"unauthorized", …}` |
//! | 403 | not a MANAGER or an ADMIN | `{"error":"forbidden", …}` |
//! | 405 | not a `POST` | `{"error":"method_not_allowed", …}` |
//!
//! The two are told apart by the event's shape: an API Gateway REST proxy
//! event has `httpMethod` and `requestContext` ([`classify`]). Fields of the
//! input (see [`RiskInput`]): `cargo_value` `{amount, currency}` and
//! `profile` `{kind, …}` are required; `peak_vibration_g`,
//! `crash_threshold_g` (default 4 g), `excursion_minutes` (default 0) and
//! `mkt_c` are optional; unknown fields are refused.

use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::{Body, Error, Request};
use pharmaguard_domain::FieldError;
use pharmaguard_domain::coldchain::{
    DEFAULT_CRASH_THRESHOLD_G, RiskEstimate, RiskInput, estimate_risk,
};
use pharmaguard_domain::identity::{Denied, Principal, Role};
use pharmaguard_domain::shipment::validation::parse_body;
use pharmaguard_domain::shipment::{Money, TemperatureProfile};
use pharmaguard_http::Reply;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

/// The fields of a [`RiskInput`].
pub const INPUT_FIELDS: [&str; 8] = [
    "cargo_value",
    "profile",
    "peak_vibration_g",
    "crash_threshold_g",
    "excursion_minutes",
    "minutes_below_range",
    "cold_zone_minutes",
    "mkt_c",
];

/// How the function was invoked.
#[derive(Debug)]
pub enum Invocation {
    /// Through the REST API (`POST /v1/risk/estimate`).
    Http(Box<Request>),
    /// A proxy event that could not be read (answered with a 400).
    BadHttp(String),
    /// Directly, with a [`RiskInput`] as the payload.
    Direct(Value),
}

/// Tells a REST proxy event (it has `httpMethod` and `requestContext`) from a
/// direct payload.
pub fn classify(payload: Value) -> Invocation {
    let is_http = payload.get("httpMethod").is_some() && payload.get("requestContext").is_some();
    if !is_http {
        return Invocation::Direct(payload);
    }
    match lambda_http::request::from_str(&payload.to_string()) {
        Ok(request) => Invocation::Http(Box::new(request)),
        Err(error) => Invocation::BadHttp(error.to_string()),
    }
}

/// The Lambda handler: answers either way (see the crate documentation).
/// Errors only when an HTTP answer cannot be built.
pub async fn handle(payload: Value) -> Result<Value, Error> {
    match classify(payload) {
        Invocation::Direct(payload) => Ok(direct(&payload)),
        Invocation::Http(request) => {
            let caller = pharmaguard_http::caller(&request);
            let reply = what_if(
                caller.as_ref(),
                request.method().as_str(),
                request.body().as_ref(),
            );
            Ok(serde_json::to_value(proxy_response(reply)?)?)
        }
        Invocation::BadHttp(reason) => {
            warn!(%reason, "unreadable REST proxy event");
            let reply = Reply::invalid(&[FieldError::new("body", "is not a readable request")]);
            Ok(serde_json::to_value(proxy_response(reply)?)?)
        }
    }
}

/// The answer to a direct invocation: the estimate, or `{"errors": […]}`.
pub fn direct(payload: &Value) -> Value {
    match parse_risk_input(payload, "payload").and_then(|input| estimate_risk(&input)) {
        Ok(estimate) => {
            log_estimate("direct", &estimate);
            serde_json::to_value(&estimate).unwrap_or_else(|error| {
                // a RiskEstimate always serializes; this is never reached
                json!({"errors": [{"field": "payload", "message": error.to_string()}]})
            })
        }
        Err(errors) => {
            info!(errors = errors.len(), "risk input refused (direct)");
            json!({ "errors": errors })
        }
    }
}

/// Only MANAGERs and ADMINs ask what-if questions.
pub fn may_estimate(caller: &Principal) -> Result<(), Denied> {
    match caller.role() {
        Some(Role::Manager | Role::Admin) => Ok(()),
        Some(role) => Err(Denied::Role(role.to_string())),
        None => Err(Denied::Role("device".to_owned())),
    }
}

/// The answer to `POST /v1/risk/estimate` by `caller` (see the crate
/// documentation).
pub fn what_if(caller: Option<&Principal>, method: &str, body: &[u8]) -> Reply {
    if method != "POST" {
        return Reply::method_not_allowed(method, "POST");
    }
    let Some(caller) = caller else {
        return Reply::unauthorized("a valid access token is required");
    };
    if let Err(denied) = may_estimate(caller) {
        return Reply::forbidden(&denied);
    }
    let parsed = parse_body(body)
        .map_err(|error| vec![error])
        .and_then(|object| parse_risk_input(&Value::Object(object), "body"));
    match parsed.and_then(|input| estimate_risk(&input)) {
        Ok(estimate) => {
            log_estimate("what-if", &estimate);
            Reply::json(200, &estimate)
        }
        Err(errors) => {
            info!(errors = errors.len(), "risk input refused (what-if)");
            Reply::invalid(&errors)
        }
    }
}

fn log_estimate(kind: &str, estimate: &RiskEstimate) {
    info!(
        kind,
        total = %estimate.total,
        currency = %estimate.currency,
        total_fraction = estimate.total_fraction,
        "risk estimated"
    );
}

/// The REST proxy answer of a [`Reply`].
pub fn proxy_response(reply: Reply) -> Result<ApiGatewayProxyResponse, Error> {
    let (parts, body) = reply.into_response()?.into_parts();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        headers.insert(HeaderName::clone(name), HeaderValue::clone(value));
    }
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(parts.status.as_u16());
    response.headers = headers;
    response.body = match body {
        Body::Empty => None,
        body => Some(body),
    };
    Ok(response)
}

/// Reads a [`RiskInput`] from untrusted JSON, naming every bad field
/// (`cargo_value.amount`, `profile.min_c`, …; `whole` for the value as a
/// whole). The rules of the values themselves are [`RiskInput::problems`];
/// every problem is reported at once.
pub fn parse_risk_input(value: &Value, whole: &str) -> Result<RiskInput, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            whole,
            "must be a JSON object such as {\"cargo_value\": {\"amount\": \"48000.00\", \"currency\": \"EUR\"}, \"profile\": {\"kind\": \"REFRIGERATED\"}}",
        )]);
    };
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| !INPUT_FIELDS.contains(&key.as_str()))
        .map(|key| {
            FieldError::new(
                key.as_str(),
                format!("unknown field; expected {}", INPUT_FIELDS.join(", ")),
            )
        })
        .collect();

    let cargo_value = read_money(object.get("cargo_value"), &mut errors);
    let profile = read_profile(object.get("profile"), &mut errors);
    let peak_vibration_g = read_number(object, "peak_vibration_g", "g", &mut errors);
    let crash_threshold_g = read_number(object, "crash_threshold_g", "g", &mut errors);
    let excursion_minutes = read_number(object, "excursion_minutes", "minutes", &mut errors);
    let minutes_below_range = read_number(object, "minutes_below_range", "minutes", &mut errors);
    let cold_zone_minutes = read_number(object, "cold_zone_minutes", "minutes", &mut errors);
    let mkt_c = read_number(object, "mkt_c", "°C", &mut errors);

    // fields already reported stand in with valid values, so that the value
    // rules below report only the others
    let input = RiskInput {
        cargo_value: cargo_value.unwrap_or_else(|| Money {
            amount: "0".to_owned(),
            currency: "EUR".to_owned(),
        }),
        profile: profile.unwrap_or(TemperatureProfile::Refrigerated),
        peak_vibration_g: peak_vibration_g.flatten(),
        crash_threshold_g: crash_threshold_g
            .flatten()
            .unwrap_or(DEFAULT_CRASH_THRESHOLD_G),
        excursion_minutes: excursion_minutes.flatten().unwrap_or(0.0),
        minutes_below_range: minutes_below_range.flatten(),
        cold_zone_minutes: cold_zone_minutes.flatten(),
        mkt_c: mkt_c.flatten(),
    };
    let reported: Vec<String> = errors.iter().map(|error| error.field.clone()).collect();
    errors.extend(
        input
            .problems()
            .into_iter()
            .filter(|problem| !reported.iter().any(|field| covers(field, &problem.field))),
    );
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// Whether an error about `reported` already says what one about `field`
/// would (the same field, or one inside it).
fn covers(reported: &str, field: &str) -> bool {
    field == reported || field.starts_with(&format!("{reported}."))
}

/// `cargo_value`: `{"amount": "<decimal>", "currency": "<ISO 4217>"}`;
/// `None` after reporting that it is missing or not an object.
fn read_money(raw: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Money> {
    let object = match raw {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                "cargo_value",
                "is required: {\"amount\": \"48000.00\", \"currency\": \"EUR\"}",
            ));
            return None;
        }
        Some(Value::Object(object)) => object,
        Some(_) => {
            errors.push(FieldError::new(
                "cargo_value",
                "must be an object such as {\"amount\": \"48000.00\", \"currency\": \"EUR\"}",
            ));
            return None;
        }
    };
    for key in object.keys() {
        if key != "amount" && key != "currency" {
            errors.push(FieldError::new(
                format!("cargo_value.{key}"),
                "unknown field; expected amount, currency",
            ));
        }
    }
    let text = |name: &str, example: &str, errors: &mut Vec<FieldError>| match object.get(name) {
        Some(Value::String(text)) => Some(text.clone()),
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                format!("cargo_value.{name}"),
                format!("is required, e.g. \"{example}\""),
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                format!("cargo_value.{name}"),
                format!("must be a string such as \"{example}\""),
            ));
            None
        }
    };
    // a part already reported stands in with a valid value, so that the
    // value rules still check the other
    Some(Money {
        amount: text("amount", "48000.00", errors).unwrap_or_else(|| "0".to_owned()),
        currency: text("currency", "EUR", errors).unwrap_or_else(|| "EUR".to_owned()),
    })
}

/// `profile`: see [`TemperatureProfile::from_json`]; `None` after reporting
/// its problems (as `profile.<field>`).
fn read_profile(raw: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<TemperatureProfile> {
    let Some(raw) = raw.filter(|raw| !raw.is_null()) else {
        errors.push(FieldError::new(
            "profile",
            "is required, e.g. {\"kind\": \"REFRIGERATED\"}",
        ));
        return None;
    };
    match TemperatureProfile::from_json(raw) {
        Ok(profile) => Some(profile),
        Err(problems) => {
            errors.extend(problems.into_iter().map(|problem| {
                let field = if problem.field.is_empty() {
                    "profile".to_owned()
                } else {
                    format!("profile.{}", problem.field)
                };
                FieldError::new(field, problem.message)
            }));
            None
        }
    }
}

/// An optional number: `Some(None)` when absent or null, `Some(Some(x))`
/// for a number, `None` after reporting anything else.
fn read_number(
    object: &Map<String, Value>,
    name: &str,
    unit: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Option<f64>> {
    match object.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::Number(number)) => match number.as_f64() {
            Some(value) if value.is_finite() => Some(Some(value)),
            _ => {
                errors.push(FieldError::new(name, "is not a finite number"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("must be a number ({unit}) or null"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests;
