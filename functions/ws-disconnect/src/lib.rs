//! The WebSocket API's `$disconnect` route: the connection leaves the
//! registry.
//!
//! API Gateway (and the local gateway) invoke it after every close, whoever
//! closed: the client, the server (`DELETE @connections/{id}`), the idle
//! timeout or the 2-hour limit. It is best effort on AWS's side: should it
//! never arrive, or fail, the entry still goes, through the table's TTL
//! (2 hours after connecting) or the broadcast's next post (410 Gone).
//!
//! [`disconnect`] deletes the entry (an unknown id is fine) and answers
//! 200; a registry failure answers 500 and is logged.

use pharmaguard_domain::live::ConnectionRegistry;
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// Environment variable naming the connections table.
pub use pharmaguard_aws::connections::CONNECTIONS_TABLE_VAR;

/// The `$disconnect` event, as far as this function reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectRequest {
    /// Who and why.
    #[serde(default)]
    pub request_context: RequestContext,
}

/// The `requestContext` of a WebSocket event, as far as it is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// API Gateway's id of the connection.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The close code, when API Gateway knows it.
    #[serde(default)]
    pub disconnect_status_code: Option<i64>,
    /// Why the connection closed, when API Gateway says.
    #[serde(default)]
    pub disconnect_reason: Option<String>,
}

/// The answer to API Gateway (which ignores it beyond the logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    /// HTTP status.
    pub status_code: u16,
}

/// Removes the closed connection from the registry.
pub async fn disconnect<R: ConnectionRegistry>(
    registry: &R,
    request: &DisconnectRequest,
) -> WsResponse {
    let context = &request.request_context;
    let Some(connection_id) = context
        .connection_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
    else {
        warn!("$disconnect without a connection id; nothing to remove");
        return WsResponse { status_code: 400 };
    };
    let reason = context.disconnect_reason.as_deref().unwrap_or_default();
    let code = context.disconnect_status_code.unwrap_or_default();
    match registry.delete(connection_id).await {
        Ok(()) => {
            info!(%connection_id, code, %reason, "connection removed");
            WsResponse { status_code: 200 }
        }
        Err(failure) => {
            // the entry expires by its TTL, and a post to it answers 410
            error!(%connection_id, error = %failure, "connection not removed");
            WsResponse { status_code: 500 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::identity::{Principal, Role};
    use pharmaguard_domain::live::Connection;
    use pharmaguard_domain::live::memory::MemoryConnectionRegistry;
    use serde_json::json;
    use std::path::PathBuf;
    use time::macros::datetime;

    fn request(connection_id: Option<&str>) -> DisconnectRequest {
        serde_json::from_value(json!({
            "requestContext": {
                "routeKey": "$disconnect", "eventType": "DISCONNECT", "connectionId": connection_id,
                "disconnectStatusCode": 1001, "disconnectReason": "Going away"
            }
        }))
        .expect("a $disconnect event")
    }

    async fn registry_with(ids: &[&str]) -> MemoryConnectionRegistry {
        let registry = MemoryConnectionRegistry::new();
        let user = Principal::User {
            user_id: "usr-1".into(),
            org_id: "org-a".into(),
            role: Role::Manager,
        };
        for id in ids {
            let connection = Connection::open(id, &user, datetime!(2026-11-21 08:00 UTC)).unwrap();
            registry.put(&connection).await.unwrap();
        }
        registry
    }

    #[tokio::test]
    async fn the_connection_leaves_the_registry() {
        let registry = registry_with(&["c-1", "c-2"]).await;
        assert_eq!(
            disconnect(&registry, &request(Some("c-1"))).await,
            WsResponse { status_code: 200 }
        );
        assert_eq!(registry.ids(), ["c-2"]);
    }

    #[tokio::test]
    async fn an_unknown_connection_is_no_error() {
        let registry = registry_with(&["c-2"]).await;
        assert_eq!(
            disconnect(&registry, &request(Some("c-9")))
                .await
                .status_code,
            200
        );
        assert_eq!(registry.ids(), ["c-2"]);
    }

    #[tokio::test]
    async fn a_nameless_event_or_a_registry_failure_is_reported() {
        let registry = registry_with(&["c-1"]).await;
        assert_eq!(disconnect(&registry, &request(None)).await.status_code, 400);
        registry.set_unavailable(true);
        assert_eq!(
            disconnect(&registry, &request(Some("c-1")))
                .await
                .status_code,
            500
        );
        registry.set_unavailable(false);
        assert_eq!(registry.ids(), ["c-1"]);
    }

    #[tokio::test]
    async fn the_sample_removes_its_connection() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/ws-disconnect/disconnect.json");
        let text = std::fs::read_to_string(&path).expect("the sample");
        let sample: DisconnectRequest = serde_json::from_str(&text).expect("a $disconnect event");
        let id = sample.request_context.connection_id.clone().expect("an id");
        let registry = registry_with(&[&id, "other"]).await;
        assert_eq!(disconnect(&registry, &sample).await.status_code, 200);
        assert_eq!(registry.ids(), ["other"]);
    }
}
