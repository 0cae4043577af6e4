//! The WebSocket protocol, version 1 (`docs/websocket-protocol.md`).
//!
//! Every message is a JSON object in a text frame with `"v": 1`.
//!
//! Client → server (API Gateway picks the route from `action`):
//!
//! | message | meaning | answer |
//! |---|---|---|
//! | `{"v":1,"action":"subscribe","shipment_id":"…"}` | only this shipment's events from now on | `subscribed`, or an `error` (`not_found` when the organisation may not see it) |
//! | `{"v":1,"action":"unsubscribe"}` | every event of the organisation again | `unsubscribed` |
//! | `{"v":1,"action":"ping"}` | keep-alive (the idle timeout is 10 minutes) | `pong` |
//!
//! [`parse_client_message`] reads one and names the field at fault.
//!
//! Server → client: events (see [`event_message`]) and the replies above
//! ([`Reply`]): `{"v":1,"type":"pong"}`, `{"v":1,"type":"subscribed","shipment_id":"…"}`,
//! `{"v":1,"type":"unsubscribed"}`,
//! `{"v":1,"type":"error","code":"…","message":"…","field":"…"}` (`field`
//! only when one field is at fault).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::event::LiveEvent;
use crate::fields::{identifier, required};
use crate::shipment::validation::MAX_SHIPMENT_ID_CHARS;

/// The protocol version, `v` of every message.
pub const PROTOCOL_VERSION: u8 = 1;

/// The largest message the server sends: API Gateway's WebSocket limit
/// (128 KB). An event that would be larger is sent truncated.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// The largest client message read; the actions are a few dozen bytes.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4 * 1024;

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Only this shipment's events from now on.
    Subscribe {
        /// The shipment.
        shipment_id: String,
    },
    /// Every event of the organisation again.
    Unsubscribe,
    /// Keep-alive; answered with `pong`.
    Ping,
}

impl ClientAction {
    /// The action's name, as in `action`.
    pub fn name(&self) -> &'static str {
        match self {
            ClientAction::Subscribe { .. } => "subscribe",
            ClientAction::Unsubscribe => "unsubscribe",
            ClientAction::Ping => "ping",
        }
    }
}

/// The `code` of an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON.
    InvalidJson,
    /// The frame is JSON but not an object.
    InvalidMessage,
    /// The frame is longer than [`MAX_CLIENT_MESSAGE_BYTES`].
    MessageTooLarge,
    /// `v` is not [`PROTOCOL_VERSION`].
    UnsupportedVersion,
    /// `action` is missing or not one the server knows.
    UnknownAction,
    /// A field is missing, has the wrong type or value, or is not known.
    InvalidField,
    /// The shipment does not exist or the organisation may not see it (the
    /// two are not told apart).
    NotFound,
    /// The connection is not (or no longer) registered; the server closes
    /// it and the client should connect again.
    NotConnected,
    /// The server could not answer now; try again.
    Unavailable,
}

impl ErrorCode {
    /// The wire name, e.g. `invalid_field`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client message the server does not accept, or an action it cannot
/// carry out: becomes an `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}: {message}", field.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct ProtocolError {
    /// What kind of error.
    pub code: ErrorCode,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong, in words meant for a developer.
    pub message: String,
}

impl ProtocolError {
    /// An error about no field in particular.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            message: message.into(),
        }
    }

    /// An error about `field`.
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The `error` reply telling the client.
    pub fn to_reply(&self) -> Reply {
        Reply::Error {
            code: self.code,
            message: self.message.clone(),
            field: self.field.clone(),
        }
    }
}

/// Reads one client message (the text of a frame). The first problem found
/// is reported, in this order: size, JSON, object, `v`, `action`, unknown
/// fields, the action's own fields.
pub fn parse_client_message(text: &str) -> Result<ClientAction, ProtocolError> {
    if text.len() > MAX_CLIENT_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "the message has {} bytes; at most {MAX_CLIENT_MESSAGE_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|error| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("the message is not JSON: {error}"),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(ProtocolError::new(
            ErrorCode::InvalidMessage,
            "the message must be a JSON object",
        ));
    };
    check_version(&object)?;
    let action = match required(&object, "action") {
        Err(message) => Err(message),
        Ok(Value::String(action)) => Ok(action.as_str()),
        Ok(_) => Err("must be a string".to_owned()),
    }
    .map_err(|message| ProtocolError::field(ErrorCode::UnknownAction, "action", message))?;
    let known: &[&str] = match action {
        "subscribe" => &["v", "action", "shipment_id"],
        "unsubscribe" | "ping" => &["v", "action"],
        other => {
            return Err(ProtocolError::field(
                ErrorCode::UnknownAction,
                "action",
                format!("unknown action {other:?}; expected subscribe, unsubscribe or ping"),
            ));
        }
    };
    if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(ProtocolError::field(
            ErrorCode::InvalidField,
            unknown.clone(),
            format!("is not a field of {action}"),
        ));
    }
    match action {
        "subscribe" => {
            let shipment_id = required(&object, "shipment_id")
                .and_then(|value| identifier(value, MAX_SHIPMENT_ID_CHARS))
                .map_err(|message| {
                    ProtocolError::field(ErrorCode::InvalidField, "shipment_id", message)
                })?;
            Ok(ClientAction::Subscribe { shipment_id })
        }
        "unsubscribe" => Ok(ClientAction::Unsubscribe),
        _ => Ok(ClientAction::Ping),
    }
}

fn check_version(object: &Map<String, Value>) -> Result<(), ProtocolError> {
    let value = required(object, "v")
        .map_err(|message| ProtocolError::field(ErrorCode::InvalidField, "v", message))?;
    match value.as_u64() {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(v) => Err(ProtocolError::field(
            ErrorCode::UnsupportedVersion,
            "v",
            format!("version {v} is not supported; the server speaks version {PROTOCOL_VERSION}"),
        )),
        None => Err(ProtocolError::field(
            ErrorCode::InvalidField,
            "v",
            format!("must be the number {PROTOCOL_VERSION}"),
        )),
    }
}

/// A reply of the server to a client's action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// To `ping`.
    Pong,
    /// To `subscribe`: only this shipment's events from now on.
    Subscribed {
        /// The shipment.
        shipment_id: String,
    },
    /// To `unsubscribe`: every event of the organisation again.
    Unsubscribed,
    /// The message was not accepted or could not be carried out.
    Error {
        /// What kind of error.
        code: ErrorCode,
        /// What is wrong.
        message: String,
        /// The field at fault, when one is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
}

/// A reply with the protocol version in front, as sent.
#[derive(Serialize)]
struct Versioned<'a> {
    v: u8,
    #[serde(flatten)]
    reply: &'a Reply,
}

impl Reply {
    /// The reply as sent: `{"v":1,"type":…}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Versioned {
            v: PROTOCOL_VERSION,
            reply: self,
        })
        .expect("a reply always serializes")
    }
}

/// An event as sent to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMessage {
    /// The text frame.
    pub text: String,
    /// Whether `data` was left out (the event is over the size limit).
    pub truncated: bool,
}

/// The message pushing `event` to a client:
/// `{"v":1,"type":"<event_type>","id":"<event_id>","shipment_id":"…","data":<the body as published>}`.
///
/// `data` is the SNS message body byte for byte. When the message would
/// exceed [`MAX_MESSAGE_BYTES`], `data` is left out and `"truncated": true`
/// is set instead: the client refetches the shipment over REST.
pub fn event_message(event: &LiveEvent) -> EventMessage {
    let head = format!(
        "{{\"v\":{PROTOCOL_VERSION},\"type\":{},\"id\":{},\"shipment_id\":{}",
        json_string(&event.event_type),
        json_string(&event.event_id),
        json_string(&event.shipment_id),
    );
    const DATA: &str = ",\"data\":";
    let body = event.body();
    // the closing brace makes one more byte
    if head.len() + DATA.len() + body.len() < MAX_MESSAGE_BYTES {
        EventMessage {
            text: format!("{head}{DATA}{body}}}"),
            truncated: false,
        }
    } else {
        EventMessage {
            text: format!("{head},\"truncated\":true}}"),
            truncated: true,
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn parse(value: Value) -> Result<ClientAction, ProtocolError> {
        parse_client_message(&value.to_string())
    }

    fn error_of(value: Value) -> (ErrorCode, Option<String>) {
        let error = parse(value).expect_err("refused");
        (error.code, error.field)
    }

    #[test]
    fn the_three_actions_are_read() {
        assert_eq!(
            parse(json!({"v": 1, "action": "subscribe", "shipment_id": "shp-1"})),
            Ok(ClientAction::Subscribe {
                shipment_id: "shp-1".into()
            })
        );
        assert_eq!(
            parse(json!({"v": 1, "action": "unsubscribe"})),
            Ok(ClientAction::Unsubscribe)
        );
        assert_eq!(
            parse(json!({"action": "ping", "v": 1})),
            Ok(ClientAction::Ping)
        );
        assert_eq!(
            parse(json!({"v": 1, "action": "ping", "shipment_id": null})).map_err(|e| e.code),
            Err(ErrorCode::InvalidField),
            "even a null unknown field is named"
        );
    }

    #[test]
    fn what_is_not_a_json_object_is_refused() {
        for (text, code) in [
            ("", ErrorCode::InvalidJson),
            ("ping", ErrorCode::InvalidJson),
            ("{\"v\": 1, \"action\": \"ping\"", ErrorCode::InvalidJson),
            ("[1, 2]", ErrorCode::InvalidMessage),
            ("\"ping\"", ErrorCode::InvalidMessage),
            ("null", ErrorCode::InvalidMessage),
        ] {
            let error = parse_client_message(text).expect_err(text);
            assert_eq!((error.code, error.field), (code, None), "{text}");
        }
        let huge = format!(
            "{{\"v\":1,\"action\":\"ping\",\"pad\":\"{}\"}}",
            "x".repeat(MAX_CLIENT_MESSAGE_BYTES)
        );
        assert_eq!(
            parse_client_message(&huge).map_err(|e| e.code),
            Err(ErrorCode::MessageTooLarge)
        );
    }

    #[test]
    fn the_version_is_required_and_must_be_one() {
        assert_eq!(
            error_of(json!({"action": "ping"})),
            (ErrorCode::InvalidField, Some("v".into()))
        );
        assert_eq!(
            error_of(json!({"v": 2, "action": "ping"})),
            (ErrorCode::UnsupportedVersion, Some("v".into()))
        );
        for v in [json!("1"), json!(1.5), json!(-1), json!(null)] {
            assert_eq!(
                error_of(json!({"v": v, "action": "ping"})),
                (ErrorCode::InvalidField, Some("v".into())),
                "{v}"
            );
        }
    }

    #[test]
    fn unknown_or_missing_actions_name_the_action_field() {
        for action in [json!(null), json!("publish"), json!("PING"), json!(7)] {
            assert_eq!(
                error_of(json!({"v": 1, "action": action})),
                (ErrorCode::UnknownAction, Some("action".into())),
                "{action}"
            );
        }
        assert_eq!(
            error_of(json!({"v": 1})),
            (ErrorCode::UnknownAction, Some("action".into()))
        );
        let error = parse(json!({"v": 1, "action": "publish"})).unwrap_err();
        assert!(error.message.contains("subscribe, unsubscribe or ping"));
    }

    #[test]
    fn subscribe_needs_a_valid_shipment_id_and_nothing_else() {
        for id in [
            json!(null),
            json!(""),
            json!(42),
            json!("shp 1"),
            json!("shp/1"),
            json!("x".repeat(65)),
        ] {
            assert_eq!(
                error_of(json!({"v": 1, "action": "subscribe", "shipment_id": id})),
                (ErrorCode::InvalidField, Some("shipment_id".into())),
                "{id}"
            );
        }
        assert_eq!(
            error_of(json!({"v": 1, "action": "subscribe"})),
            (ErrorCode::InvalidField, Some("shipment_id".into()))
        );
        assert_eq!(
            error_of(json!({"v": 1, "action": "subscribe", "shipment_id": "s", "org_id": "o"})),
            (ErrorCode::InvalidField, Some("org_id".into()))
        );
        assert_eq!(
            error_of(json!({"v": 1, "action": "unsubscribe", "shipment_id": "s"})),
            (ErrorCode::InvalidField, Some("shipment_id".into()))
        );
    }

    #[test]
    fn replies_carry_the_version_and_their_type() {
        assert_eq!(Reply::Pong.to_json(), r#"{"v":1,"type":"pong"}"#);
        assert_eq!(
            Reply::Unsubscribed.to_json(),
            r#"{"v":1,"type":"unsubscribed"}"#
        );
        assert_eq!(
            Reply::Subscribed {
                shipment_id: "shp-1".into()
            }
            .to_json(),
            r#"{"v":1,"type":"subscribed","shipment_id":"shp-1"}"#
        );
        let error = parse(json!({"v": 1, "action": "subscribe", "shipment_id": ""})).unwrap_err();
        let json: Value = serde_json::from_str(&error.to_reply().to_json()).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "error");
        assert_eq!(json["code"], "invalid_field");
        assert_eq!(json["field"], "shipment_id");
        assert!(json["message"].as_str().unwrap().contains("1 to 64"));
        let unfielded = ProtocolError::new(ErrorCode::Unavailable, "try again").to_reply();
        assert_eq!(
            unfielded.to_json(),
            r#"{"v":1,"type":"error","code":"unavailable","message":"try again"}"#
        );
        // a client can read them back
        let back: Reply = serde_json::from_str(&unfielded.to_json()).unwrap();
        assert_eq!(back, unfielded);
    }

    #[test]
    fn every_error_code_has_its_wire_name() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidMessage,
            ErrorCode::MessageTooLarge,
            ErrorCode::UnsupportedVersion,
            ErrorCode::UnknownAction,
            ErrorCode::InvalidField,
            ErrorCode::NotFound,
            ErrorCode::NotConnected,
            ErrorCode::Unavailable,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }

    fn event_with_body(body: &str) -> LiveEvent {
        let attributes = BTreeMap::from([
            ("shipper_org_id".to_owned(), "org-a".to_owned()),
            ("recipient_org_id".to_owned(), "org-b".to_owned()),
        ]);
        LiveEvent::from_notification(body, &attributes).expect("an event")
    }

    #[test]
    fn an_event_message_carries_the_body_exactly_as_published() {
        let body = r#"{"event_id":"shp-1:v2","event_type":"shipment.dispatched","shipment_id":"shp-1","z":1,"a":{"nested":[1,2.50]}}"#;
        let message = event_message(&event_with_body(body));
        assert!(!message.truncated);
        let message = message.text;
        assert_eq!(
            message,
            format!(
                r#"{{"v":1,"type":"shipment.dispatched","id":"shp-1:v2","shipment_id":"shp-1","data":{body}}}"#
            )
        );
        let json: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(json["data"], serde_json::from_str::<Value>(body).unwrap());
    }

    #[test]
    fn an_event_too_large_for_one_message_is_sent_truncated() {
        let padding = |n: usize| {
            format!(
                r#"{{"event_id":"e-1","event_type":"tracking.updated","shipment_id":"shp-1","pad":"{}"}}"#,
                "x".repeat(n)
            )
        };
        // find the largest body that still fits, then one byte more
        let overhead = event_message(&event_with_body(&padding(0))).text.len() - padding(0).len();
        let fits = padding(MAX_MESSAGE_BYTES - overhead - padding(0).len());
        let message = event_message(&event_with_body(&fits));
        assert!(!message.truncated);
        let message = message.text;
        assert_eq!(message.len(), MAX_MESSAGE_BYTES);
        assert!(message.contains("\"data\":"));

        let too_big = padding(MAX_MESSAGE_BYTES - overhead - padding(0).len() + 1);
        let message = event_message(&event_with_body(&too_big));
        assert!(message.truncated);
        let message = message.text;
        assert!(message.len() < 1024, "{message}");
        let json: Value = serde_json::from_str(&message).unwrap();
        assert_eq!(
            json,
            json!({"v": 1, "type": "tracking.updated", "id": "e-1", "shipment_id": "shp-1", "truncated": true})
        );
    }
}
