//! Batch-level checks of an ingest request body.

use serde_json::Value;

use super::FieldError;
use super::validation::READING_FIELD;

/// Most readings accepted in one request (the Kinesis `PutRecords` limit).
pub const MAX_BATCH: usize = 500;

/// Largest accepted request body, in bytes (1 MiB). The function answers
/// `413 Payload Too Large` above it, before parsing.
pub const MAX_BODY_BYTES: usize = 1_048_576;

/// The field of the wrapped body form that holds the readings.
pub const READINGS_FIELD: &str = "readings";

/// Parses a request body into its raw readings, checking only the batch shape.
///
/// Accepted forms: `{"readings": [ … ]}` (no other top-level field) or a bare
/// JSON array `[ … ]`, with 1..=[`MAX_BATCH`] entries. The entries themselves
/// are not checked here: see [`super::validate_reading`].
///
/// Errors name the field at fault: `body` when the body is not JSON or not an
/// object or array, `readings` when the array is missing, not an array, empty
/// or too long, and the name of any unknown top-level field. The body size is
/// not checked here: the caller compares it with [`MAX_BODY_BYTES`] first.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Value>, Vec<FieldError>> {
    let document: Value = serde_json::from_slice(body).map_err(|error| {
        vec![FieldError::new(
            "body",
            format!("is not valid JSON: {error}"),
        )]
    })?;
    let readings = match document {
        Value::Array(readings) => readings,
        Value::Object(mut object) => {
            let readings = object.remove(READINGS_FIELD);
            let mut errors: Vec<FieldError> = object
                .keys()
                .map(|key| FieldError::new(key.as_str(), "unknown field"))
                .collect();
            match readings {
                Some(Value::Array(readings)) if errors.is_empty() => readings,
                Some(Value::Array(_)) => return Err(errors),
                Some(_) => {
                    errors.push(FieldError::new(READINGS_FIELD, "must be an array"));
                    return Err(errors);
                }
                None => {
                    errors.push(FieldError::new(READINGS_FIELD, "is required"));
                    return Err(errors);
                }
            }
        }
        _ => {
            return Err(vec![FieldError::new(
                "body",
                "must be a JSON object with a `readings` array, or a JSON array",
            )]);
        }
    };
    check_count(readings.len())?;
    Ok(readings)
}

fn check_count(count: usize) -> Result<(), Vec<FieldError>> {
    let message = if count == 0 {
        "must contain at least one reading".to_owned()
    } else if count > MAX_BATCH {
        format!("must contain at most {MAX_BATCH} readings (got {count})")
    } else {
        return Ok(());
    };
    Err(vec![FieldError::new(READINGS_FIELD, message)])
}

/// The path of `field` of the reading at `index` in a batch, as used in
/// request-level error lists: `readings[3].temperature_c`, or `readings[3]`
/// for an error about the reading as a whole. The same path is used whether
/// the body was wrapped in `{"readings": …}` or a bare array.
pub fn reading_path(index: usize, field: &str) -> String {
    if field == READING_FIELD {
        format!("{READINGS_FIELD}[{index}]")
    } else {
        format!("{READINGS_FIELD}[{index}].{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch_of(count: usize) -> Vec<Value> {
        (0..count).map(|i| json!({ "n": i })).collect()
    }

    fn single_error(body: &[u8]) -> FieldError {
        match parse_batch(body) {
            Ok(readings) => panic!("expected an error, got {} readings", readings.len()),
            Err(mut errors) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                errors.remove(0)
            }
        }
    }

    #[test]
    fn wrapped_form_is_accepted() {
        let body = json!({ "readings": [{"a": 1}, {"b": 2}] }).to_string();
        let readings = parse_batch(body.as_bytes()).expect("valid batch");
        assert_eq!(readings, vec![json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn bare_array_is_accepted() {
        let readings = parse_batch(br#"[{"a": 1}, 7]"#).expect("valid batch");
        assert_eq!(readings, vec![json!({"a": 1}), json!(7)]);
    }

    #[test]
    fn non_json_body_is_rejected() {
        for body in [
            &b""[..],
            b"not json",
            b"{\"readings\": [",
            b"\xff\xfe",
            b"[1,]",
        ] {
            let error = single_error(body);
            assert_eq!(error.field, "body");
            assert!(error.message.starts_with("is not valid JSON"), "{error:?}");
        }
    }

    #[test]
    fn json_that_is_neither_object_nor_array_is_rejected() {
        for body in ["1", "\"readings\"", "null", "true"] {
            let error = single_error(body.as_bytes());
            assert_eq!(error.field, "body");
            assert!(error.message.contains("JSON object"), "{error:?}");
        }
    }

    #[test]
    fn missing_readings_is_rejected() {
        let error = single_error(b"{}");
        assert_eq!(error, FieldError::new("readings", "is required"));
    }

    #[test]
    fn readings_must_be_an_array() {
        let error = single_error(br#"{"readings": {"device_id": "x"}}"#);
        assert_eq!(error, FieldError::new("readings", "must be an array"));
    }

    #[test]
    fn unknown_top_level_fields_are_rejected() {
        let errors = parse_batch(br#"{"readings": [{}], "device": "x"}"#).expect_err("invalid");
        assert_eq!(errors, vec![FieldError::new("device", "unknown field")]);

        let errors = parse_batch(br#"{"reading": [{}]}"#).expect_err("invalid");
        assert_eq!(
            errors,
            vec![
                FieldError::new("reading", "unknown field"),
                FieldError::new("readings", "is required"),
            ]
        );
    }

    #[test]
    fn empty_batch_is_rejected_in_both_forms() {
        for body in [&br#"{"readings": []}"#[..], b"[]"] {
            let error = single_error(body);
            assert_eq!(error.field, "readings");
            assert_eq!(error.message, "must contain at least one reading");
        }
    }

    #[test]
    fn batch_size_limit() {
        let at_limit = json!({ "readings": batch_of(MAX_BATCH) }).to_string();
        assert_eq!(
            parse_batch(at_limit.as_bytes()).expect("500 is fine").len(),
            500
        );

        let over = json!({ "readings": batch_of(MAX_BATCH + 1) }).to_string();
        let error = single_error(over.as_bytes());
        assert_eq!(error.field, "readings");
        assert_eq!(error.message, "must contain at most 500 readings (got 501)");

        let bare_over = Value::Array(batch_of(MAX_BATCH + 1)).to_string();
        assert_eq!(single_error(bare_over.as_bytes()).field, "readings");
    }

    #[test]
    fn paths_name_the_reading_and_field() {
        assert_eq!(
            reading_path(3, "temperature_c"),
            "readings[3].temperature_c"
        );
        assert_eq!(reading_path(0, READING_FIELD), "readings[0]");
    }
}
