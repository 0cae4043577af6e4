//! The risk calculator function, invoked synchronously: the
//! [`RiskEstimator`] of the anomaly detector.
//!
//! Contract: the payload is the JSON of a [`RiskInput`]; the answer is the
//! JSON of a [`RiskEstimate`], or `{"errors": [{"field", "message"}]}` when the
//! input is refused. A function error (the function crashed or timed out) or
//! an answer of another shape is [`RiskError::Unavailable`].

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use pharmaguard_domain::FieldError;
use pharmaguard_domain::coldchain::tracking::{RiskError, RiskEstimator};
use pharmaguard_domain::coldchain::{RiskEstimate, RiskInput};
use serde::Deserialize;

use crate::errors::describe;

/// Environment variable naming the risk calculator function.
pub const RISK_CALCULATOR_FUNCTION_VAR: &str = "RISK_CALCULATOR_FUNCTION";

/// The risk calculator Lambda function.
#[derive(Debug, Clone)]
pub struct LambdaRiskEstimator {
    /// The Lambda client, built once per cold start.
    pub client: Client,
    /// The function's name or ARN.
    pub function_name: String,
}

impl LambdaRiskEstimator {
    /// The estimator calling `function_name` through `client`.
    pub fn new(client: Client, function_name: impl Into<String>) -> Self {
        Self {
            client,
            function_name: function_name.into(),
        }
    }
}

/// A refusal of the calculator.
#[derive(Debug, Deserialize)]
struct Refusal {
    errors: Vec<FieldError>,
}

/// What an answer of the calculator means.
pub fn read_answer(payload: &[u8]) -> Result<RiskEstimate, RiskError> {
    if let Ok(refusal) = serde_json::from_slice::<Refusal>(payload) {
        return Err(RiskError::Rejected(refusal.errors));
    }
    serde_json::from_slice(payload).map_err(|error| {
        let text = String::from_utf8_lossy(payload);
        let shown: String = text.chars().take(200).collect();
        RiskError::Unavailable(format!("unexpected answer ({error}): {shown}"))
    })
}

impl RiskEstimator for LambdaRiskEstimator {
    async fn estimate(&self, input: &RiskInput) -> Result<RiskEstimate, RiskError> {
        let payload = serde_json::to_vec(input)
            .map_err(|e| RiskError::Unavailable(format!("input not encodable: {e}")))?;
        let output = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|error| RiskError::Unavailable(describe(&error)))?;
        let answer = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            let text: String = String::from_utf8_lossy(answer).chars().take(200).collect();
            return Err(RiskError::Unavailable(format!(
                "the function failed ({kind}): {text}"
            )));
        }
        read_answer(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharmaguard_domain::coldchain::estimate_risk;
    use pharmaguard_domain::shipment::{Money, TemperatureProfile};

    #[test]
    fn answers_are_estimates_refusals_or_unexpected() {
        let input = RiskInput {
            cargo_value: Money {
                amount: "48000.00".into(),
                currency: "EUR".into(),
            },
            profile: TemperatureProfile::Refrigerated,
            peak_vibration_g: Some(6.0),
            crash_threshold_g: 4.0,
            excursion_minutes: 30.0,
            minutes_below_range: None,
            cold_zone_minutes: None,
            mkt_c: Some(9.0),
        };
        let estimate = estimate_risk(&input).unwrap();
        let answer = serde_json::to_vec(&estimate).unwrap();
        assert_eq!(read_answer(&answer), Ok(estimate));

        let refusal =
            br#"{"errors":[{"field":"cargo_value.amount","message":"must be a decimal"}]}"#;
        assert_eq!(
            read_answer(refusal),
            Err(RiskError::Rejected(vec![FieldError::new(
                "cargo_value.amount",
                "must be a decimal"
            )]))
        );
        for odd in [&b"null"[..], b"{}", b"not json", b""] {
            assert!(matches!(read_answer(odd), Err(RiskError::Unavailable(_))));
        }
    }
}
