//! The EventBridge schedule's invocations, told apart from a function's
//! other triggers.

use serde_json::Value;

/// Whether `event` is the schedule's (EventBridge `Scheduled Event`).
pub fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_schedule_is_told_from_sns_records() {
        assert!(is_scheduled(&json!({
            "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-12-03T10:00:00Z", "detail": {}
        })));
        assert!(!is_scheduled(&json!({ "Records": [] })));
        assert!(!is_scheduled(&json!({ "source": "aws.sns" })));
    }
}
