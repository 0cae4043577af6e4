//! The per-reading outcome of an ingest and the HTTP status it deserves.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The message of a [`OutcomeStatus::Failed`] reading.
pub const FAILED_MESSAGE: &str = "stream unavailable, retry later";

/// What became of the reading at `index` in the request.
///
/// Serialized flat, e.g.
/// `{"index":0,"status":"accepted","reading_id":"truck-7-1767225600000"}`,
/// `{"index":1,"status":"rejected","errors":[{"field":"temperature_c","message":"…"}]}` or
/// `{"index":2,"status":"failed","reading_id":"…","message":"stream unavailable, retry later"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingOutcome {
    /// Position of the reading in the request's array, from 0.
    pub index: usize,
    /// What happened to it.
    #[serde(flatten)]
    pub status: OutcomeStatus,
}

/// The three fates of a reading, tagged by `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Valid and durably written to the stream.
    Accepted {
        /// The id under which it was stored.
        reading_id: String,
    },
    /// Invalid: the client must fix it; resending it unchanged is useless.
    Rejected {
        /// Every problem found (field names relative to the reading).
        errors: Vec<FieldError>,
    },
    /// Valid, but could not be written after retries: the client should
    /// resend it later (the id makes the resend idempotent).
    Failed {
        /// The id the reading would have been stored under.
        reading_id: String,
        /// Why, in words for the client ([`FAILED_MESSAGE`]).
        message: String,
    },
}

impl ReadingOutcome {
    /// The reading at `index` was written under `reading_id`.
    pub fn accepted(index: usize, reading_id: impl Into<String>) -> Self {
        Self {
            index,
            status: OutcomeStatus::Accepted {
                reading_id: reading_id.into(),
            },
        }
    }

    /// The reading at `index` is invalid for these reasons.
    pub fn rejected(index: usize, errors: Vec<FieldError>) -> Self {
        Self {
            index,
            status: OutcomeStatus::Rejected { errors },
        }
    }

    /// The valid reading at `index` could not be written; see [`FAILED_MESSAGE`].
    pub fn failed(index: usize, reading_id: impl Into<String>) -> Self {
        Self {
            index,
            status: OutcomeStatus::Failed {
                reading_id: reading_id.into(),
                message: FAILED_MESSAGE.to_owned(),
            },
        }
    }
}

/// The answer to an ingest request: counts and one outcome per reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Readings written to the stream.
    pub accepted: usize,
    /// Readings that failed validation.
    pub rejected: usize,
    /// Valid readings that could not be written.
    pub failed: usize,
    /// One outcome per reading of the request, ordered by `index`.
    pub results: Vec<ReadingOutcome>,
}

impl IngestReport {
    /// Builds the report from the outcomes (in any order), counting each status
    /// and ordering the results by index.
    pub fn from_outcomes(mut results: Vec<ReadingOutcome>) -> Self {
        results.sort_by_key(|outcome| outcome.index);
        let count = |wanted: fn(&OutcomeStatus) -> bool| {
            results
                .iter()
                .filter(|outcome| wanted(&outcome.status))
                .count()
        };
        Self {
            accepted: count(|s| matches!(s, OutcomeStatus::Accepted { .. })),
            rejected: count(|s| matches!(s, OutcomeStatus::Rejected { .. })),
            failed: count(|s| matches!(s, OutcomeStatus::Failed { .. })),
            results,
        }
    }

    /// The HTTP status of the answer:
    ///
    /// | readings | status | client's next step |
    /// |---|---|---|
    /// | all accepted | `200 OK` | none |
    /// | all rejected (or none at all) | `400 Bad Request` | fix the readings |
    /// | all failed | `503 Service Unavailable` | resend the whole batch later |
    /// | any other mix | `207 Multi-Status` | read `results`: fix the rejected ones, resend the failed ones |
    ///
    /// A batch of rejected and failed readings only is a mix (207), not a 503:
    /// resending it whole would not help the rejected ones.
    pub fn http_status(&self) -> u16 {
        let total = self.accepted + self.rejected + self.failed;
        if total == 0 || self.rejected == total {
            400
        } else if self.accepted == total {
            200
        } else if self.failed == total {
            503
        } else {
            207
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(accepted: usize, rejected: usize, failed: usize) -> IngestReport {
        let mut outcomes = Vec::new();
        let mut index = 0..;
        let mut next = || index.next().unwrap_or_default();
        outcomes.extend((0..accepted).map(|_| ReadingOutcome::accepted(next(), "a")));
        outcomes.extend((0..rejected).map(|_| ReadingOutcome::rejected(next(), vec![])));
        outcomes.extend((0..failed).map(|_| ReadingOutcome::failed(next(), "f")));
        IngestReport::from_outcomes(outcomes)
    }

    #[test]
    fn outcomes_serialize_flat_with_a_status_tag() {
        let accepted = serde_json::to_value(ReadingOutcome::accepted(0, "r-1")).expect("json");
        assert_eq!(
            accepted,
            json!({"index": 0, "reading_id": "r-1", "status": "accepted"})
        );

        let rejected = ReadingOutcome::rejected(
            1,
            vec![FieldError::new(
                "temperature_c",
                "must be between -100 and 100 (got 500)",
            )],
        );
        assert_eq!(
            serde_json::to_value(rejected).expect("json"),
            json!({"index": 1, "status": "rejected", "errors": [
                {"field": "temperature_c", "message": "must be between -100 and 100 (got 500)"}
            ]})
        );

        let failed = serde_json::to_value(ReadingOutcome::failed(2, "r-3")).expect("json");
        assert_eq!(
            failed,
            json!({"index": 2, "reading_id": "r-3", "status": "failed",
                   "message": "stream unavailable, retry later"})
        );
    }

    #[test]
    fn outcomes_round_trip() {
        let outcome = ReadingOutcome::failed(4, "r");
        let json = serde_json::to_string(&outcome).expect("json");
        let back: ReadingOutcome = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, outcome);
    }

    #[test]
    fn report_counts_and_orders_outcomes() {
        let report = IngestReport::from_outcomes(vec![
            ReadingOutcome::failed(2, "c"),
            ReadingOutcome::accepted(0, "a"),
            ReadingOutcome::rejected(1, vec![]),
            ReadingOutcome::accepted(3, "d"),
        ]);
        assert_eq!((report.accepted, report.rejected, report.failed), (2, 1, 1));
        let indexes: Vec<usize> = report.results.iter().map(|o| o.index).collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
    }

    #[test]
    fn all_accepted_is_200() {
        assert_eq!(report(3, 0, 0).http_status(), 200);
        assert_eq!(report(1, 0, 0).http_status(), 200);
    }

    #[test]
    fn all_rejected_is_400() {
        assert_eq!(report(0, 3, 0).http_status(), 400);
        assert_eq!(report(0, 0, 0).http_status(), 400);
    }

    #[test]
    fn all_failed_is_503() {
        assert_eq!(report(0, 0, 2).http_status(), 503);
    }

    #[test]
    fn any_mix_is_207() {
        assert_eq!(report(2, 1, 0).http_status(), 207);
        assert_eq!(report(2, 0, 1).http_status(), 207);
        assert_eq!(report(1, 1, 1).http_status(), 207);
        assert_eq!(report(0, 1, 1).http_status(), 207);
    }
}
