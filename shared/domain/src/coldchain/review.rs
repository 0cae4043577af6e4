//! The review of an alarm: a person who may act on the shipment says why the
//! alarm happened (or what was done) and what it means for the goods.
//!
//! - Any alarm can be reviewed, active or cleared: most alarms clear
//!   themselves (an excursion back in range, a shock after a quiet period),
//!   and a quality pharmacist still has to look at each one.
//! - A review needs a **reason** (free text, 1 to [`MAX_REASON_CHARS`]
//!   characters) and a **disposition** ([`Disposition`]); both are stored on
//!   the alarm ([`Alarm::review`]) and in the audit trail.
//! - Reviewing an active alarm acknowledges it (`ACTIVE_UNACK` →
//!   `ACTIVE_ACK`); a cleared alarm stays `CLEARED` and is then *reviewed*.
//! - A review is given once per severity: reviewing again changes nothing
//!   (the first review stays). An escalation resets it
//!   ([`Alarm::reset_review`]): the alarm is unacknowledged again, the
//!   earlier review is kept in [`Alarm::earlier_reviews`].
//! - An alarm acknowledged before reviews existed (who and when, no reason)
//!   counts as not reviewed and can be reviewed.
//!
//! [`parse_review_request`] validates the body of `POST
//! …/alarms/{alarm_id}/acknowledge`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::alarm::{Alarm, AlarmState, Severity};
use crate::FieldError;

/// Longest reason of a review, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Largest review body, in bytes.
pub const MAX_REVIEW_BODY_BYTES: usize = 4096;

/// What the alarm means for the goods, as the reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Disposition {
    /// Looked at: the product is not affected (e.g. within stability data).
    NoProductImpact,
    /// The product is set aside until quality assurance decides.
    ProductQuarantined,
    /// The product may not be used.
    ProductRejected,
    /// Handed on to quality assurance for a decision.
    EscalatedToQa,
    /// The logger or its probe was at fault, not the cargo.
    DeviceFault,
}

impl Disposition {
    /// Every disposition.
    pub const ALL: [Disposition; 5] = [
        Disposition::NoProductImpact,
        Disposition::ProductQuarantined,
        Disposition::ProductRejected,
        Disposition::EscalatedToQa,
        Disposition::DeviceFault,
    ];

    /// The wire name, e.g. `NO_PRODUCT_IMPACT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::NoProductImpact => "NO_PRODUCT_IMPACT",
            Disposition::ProductQuarantined => "PRODUCT_QUARANTINED",
            Disposition::ProductRejected => "PRODUCT_REJECTED",
            Disposition::EscalatedToQa => "ESCALATED_TO_QA",
            Disposition::DeviceFault => "DEVICE_FAULT",
        }
    }

    /// In words, for mails and reports.
    pub fn words(self) -> &'static str {
        match self {
            Disposition::NoProductImpact => "no product impact",
            Disposition::ProductQuarantined => "product quarantined",
            Disposition::ProductRejected => "product rejected",
            Disposition::EscalatedToQa => "escalated to QA",
            Disposition::DeviceFault => "device fault",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Disposition {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Disposition::ALL
            .into_iter()
            .find(|d| d.as_str() == text)
            .ok_or(())
    }
}

/// One review of an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// Who reviewed it (a user id).
    pub by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why the alarm happened or what was done about it.
    pub reason: String,
    /// What it means for the goods.
    pub disposition: Disposition,
    /// The alarm's severity when it was reviewed.
    pub severity: Severity,
    /// Whether the alarm had cleared already.
    pub after_clearing: bool,
}

/// What a reviewer sends: the reason and the disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRequest {
    /// See [`Review::reason`] (trimmed, not empty).
    pub reason: String,
    /// See [`Review::disposition`].
    pub disposition: Disposition,
}

impl Alarm {
    /// Whether the alarm has a review at its current severity.
    pub fn is_reviewed(&self) -> bool {
        self.review.is_some()
    }

    /// `by` reviews the alarm at `at`. Returns whether anything changed:
    /// `false` when it has a review already (the first one stays). An active
    /// alarm is acknowledged by it; a cleared one stays cleared.
    pub fn review(&mut self, request: &ReviewRequest, by: &str, at: OffsetDateTime) -> bool {
        if self.review.is_some() {
            return false;
        }
        self.review = Some(Review {
            by: by.to_owned(),
            at,
            reason: request.reason.clone(),
            disposition: request.disposition,
            severity: self.severity,
            after_clearing: self.state == AlarmState::Cleared,
        });
        self.acknowledged_by = Some(by.to_owned());
        self.acknowledged_at = Some(at);
        if self.state == AlarmState::ActiveUnack {
            self.state = AlarmState::ActiveAck;
        }
        true
    }

    /// After an escalation: the alarm needs a new review. The current review
    /// moves to [`Alarm::earlier_reviews`], the acknowledgement is withdrawn.
    pub fn reset_review(&mut self) {
        if let Some(review) = self.review.take() {
            self.earlier_reviews.push(review);
        }
        self.acknowledged_by = None;
        self.acknowledged_at = None;
        if self.state == AlarmState::ActiveAck {
            self.state = AlarmState::ActiveUnack;
        }
    }
}

/// Validates the body of a review: a JSON object with a `reason` (a string,
/// 1 to [`MAX_REASON_CHARS`] characters once trimmed) and a `disposition`
/// (one of [`Disposition::ALL`]); every error names its field.
pub fn parse_review_request(body: &[u8]) -> Result<ReviewRequest, Vec<FieldError>> {
    if body.len() > MAX_REVIEW_BODY_BYTES {
        return Err(vec![FieldError::new(
            "body",
            format!("must not exceed {MAX_REVIEW_BODY_BYTES} bytes"),
        )]);
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(vec![FieldError::new(
            "body",
            "must be a JSON object with a reason and a disposition",
        )]);
    };
    let mut errors = Vec::new();
    let mut reason = None;
    let mut disposition = None;
    for (name, value) in &fields {
        match (name.as_str(), value) {
            ("reason", Value::String(text)) => {
                let text = text.trim();
                if text.is_empty() {
                    errors.push(FieldError::new("reason", "must not be empty"));
                } else if text.chars().count() > MAX_REASON_CHARS {
                    errors.push(FieldError::new(
                        "reason",
                        format!("must be at most {MAX_REASON_CHARS} characters long"),
                    ));
                } else if text.chars().any(|c| c.is_control() && c != '\n') {
                    errors.push(FieldError::new(
                        "reason",
                        "must not contain control characters",
                    ));
                } else {
                    reason = Some(text.to_owned());
                }
            }
            ("reason", _) => errors.push(FieldError::new("reason", "must be a string")),
            ("disposition", Value::String(text)) => match text.parse::<Disposition>() {
                Ok(value) => disposition = Some(value),
                Err(()) => errors.push(FieldError::new("disposition", one_of())),
            },
            ("disposition", _) => errors.push(FieldError::new("disposition", one_of())),
            (other, _) => errors.push(FieldError::new(other, "unknown field")),
        }
    }
    if !fields.contains_key("reason") {
        errors.push(FieldError::new("reason", "is required"));
    }
    if !fields.contains_key("disposition") {
        errors.push(FieldError::new("disposition", "is required"));
    }
    match (reason, disposition) {
        (Some(reason), Some(disposition)) if errors.is_empty() => Ok(ReviewRequest {
            reason,
            disposition,
        }),
        _ => Err(errors),
    }
}

fn one_of() -> String {
    let names: Vec<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
    format!("must be one of {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coldchain::alarm::{AlarmBook, AlarmType, Signal};
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn request(reason: &str, disposition: Disposition) -> ReviewRequest {
        ReviewRequest {
            reason: reason.to_owned(),
            disposition,
        }
    }

    fn present(severity: Severity, minute: i64) -> Signal {
        Signal::Present {
            alarm_type: AlarmType::TemperatureExcursion,
            severity,
            value: 9.0,
            magnitude: 1.0,
            detail: "warm".into(),
            crossing: None,
            at: T0 + Duration::minutes(minute),
        }
    }

    #[test]
    fn a_cleared_alarm_can_be_reviewed_once() {
        let mut book = AlarmBook::new();
        book.apply("shp-1", present(Severity::Major, 0));
        let cleared = book.apply(
            "shp-1",
            Signal::Absent {
                alarm_type: AlarmType::TemperatureExcursion,
                at: T0 + Duration::minutes(20),
            },
        );
        let mut alarm = cleared[0].alarm().clone();
        assert!(!alarm.is_reviewed());
        let at = T0 + Duration::hours(2);
        let first = request("door left open at the depot", Disposition::NoProductImpact);
        assert!(alarm.review(&first, "usr-qa", at));
        assert_eq!(alarm.state, AlarmState::Cleared, "stays cleared");
        let review = alarm.review.clone().unwrap();
        assert_eq!(review.reason, "door left open at the depot");
        assert_eq!(review.disposition, Disposition::NoProductImpact);
        assert!(review.after_clearing);
        assert_eq!(review.severity, Severity::Major);
        assert_eq!(alarm.acknowledged_by.as_deref(), Some("usr-qa"));

        let second = request("other", Disposition::ProductRejected);
        assert!(!alarm.review(&second, "usr-other", at + Duration::minutes(1)));
        assert_eq!(alarm.review, Some(review), "the first review stays");
    }

    #[test]
    fn an_escalation_resets_the_acknowledgement_and_keeps_the_earlier_review() {
        let mut book = AlarmBook::new();
        let raised = book.apply("shp-1", present(Severity::Major, 0));
        let id = raised[0].alarm().alarm_id.clone();
        let reviewed = book
            .review(
                &id,
                &request("checking", Disposition::EscalatedToQa),
                "usr-m",
                T0 + Duration::minutes(5),
            )
            .unwrap()
            .unwrap();
        assert_eq!(reviewed.alarm().state, AlarmState::ActiveAck);

        let escalated = book.apply("shp-1", present(Severity::Critical, 30));
        let alarm = escalated[0].alarm();
        assert_eq!(alarm.severity, Severity::Critical);
        assert_eq!(
            alarm.state,
            AlarmState::ActiveUnack,
            "to be acknowledged again"
        );
        assert_eq!(alarm.acknowledged_by, None);
        assert_eq!(alarm.review, None);
        assert_eq!(alarm.earlier_reviews.len(), 1);
        assert_eq!(alarm.earlier_reviews[0].severity, Severity::Major);

        // the new severity gets its own review
        let again = book
            .review(
                &id,
                &request("quarantined on arrival", Disposition::ProductQuarantined),
                "usr-qa",
                T0 + Duration::minutes(31),
            )
            .unwrap()
            .unwrap();
        assert_eq!(again.alarm().state, AlarmState::ActiveAck);
        assert_eq!(
            again.alarm().review.as_ref().unwrap().severity,
            Severity::Critical
        );
        // a repeat at the same severity keeps the review
        let updated = book.apply("shp-1", present(Severity::Critical, 32));
        assert!(updated[0].alarm().is_reviewed());
    }

    #[test]
    fn an_old_acknowledgement_without_a_reason_is_not_a_review() {
        let mut book = AlarmBook::new();
        let raised = book.apply("shp-1", present(Severity::Major, 0));
        let mut alarm = raised[0].alarm().clone();
        alarm.state = AlarmState::ActiveAck;
        alarm.acknowledged_by = Some("usr-old".into());
        alarm.acknowledged_at = Some(T0);
        assert!(!alarm.is_reviewed());
        assert!(alarm.review(
            &request("late review", Disposition::NoProductImpact),
            "usr-qa",
            T0 + Duration::minutes(3)
        ));
        assert_eq!(alarm.state, AlarmState::ActiveAck);
        assert_eq!(alarm.acknowledged_by.as_deref(), Some("usr-qa"));
    }

    #[test]
    fn the_request_needs_a_reason_and_a_disposition() {
        let ok = parse_review_request(
            br#"{"reason": "  probe outside the load  ", "disposition": "DEVICE_FAULT"}"#,
        )
        .unwrap();
        assert_eq!(ok.reason, "probe outside the load");
        assert_eq!(ok.disposition, Disposition::DeviceFault);

        let fields = |body: &[u8]| -> Vec<String> {
            parse_review_request(body)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field.clone())
                .collect()
        };
        assert_eq!(fields(b""), ["body"]);
        assert_eq!(fields(b"[]"), ["body"]);
        assert_eq!(fields(b"{}"), ["reason", "disposition"]);
        assert_eq!(fields(br#"{"reason": "x"}"#), ["disposition"]);
        assert_eq!(
            fields(br#"{"reason": " ", "disposition": "NO_PRODUCT_IMPACT"}"#),
            ["reason"]
        );
        assert_eq!(
            fields(br#"{"reason": 3, "disposition": "MAYBE"}"#),
            ["disposition", "reason"]
        );
        assert_eq!(
            fields(br#"{"reason": "x", "disposition": "NO_PRODUCT_IMPACT", "note": "y"}"#),
            ["note"]
        );
        let long = format!(
            r#"{{"reason": "{}", "disposition": "NO_PRODUCT_IMPACT"}}"#,
            "x".repeat(501)
        );
        assert_eq!(fields(long.as_bytes()), ["reason"]);
        assert_eq!(fields(&vec![b' '; 5000]), ["body"]);
        let message = parse_review_request(br#"{"reason": "x", "disposition": "?"}"#).unwrap_err()
            [0]
        .message
        .clone();
        assert!(message.contains("ESCALATED_TO_QA"), "{message}");
    }

    #[test]
    fn wire_names() {
        for d in Disposition::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
            assert_eq!(d.as_str().parse::<Disposition>(), Ok(d));
        }
    }
}
