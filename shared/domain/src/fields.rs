//! Checks of single JSON values shared by every validation: each returns the
//! value or the message of a [`crate::FieldError`] about it.

use serde_json::{Map, Value};

/// Why an id is refused when it has other characters.
pub(crate) const IDENTIFIER_CHARS_MESSAGE: &str =
    "may contain only letters, digits, '_', '.', ':' and '-'";

/// The value of a required field; missing and `null` are both "required".
pub(crate) fn required<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a Value, String> {
    optional(object, field).ok_or_else(|| "is required".to_owned())
}

/// The value of an optional field; `null` counts as absent.
pub(crate) fn optional<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|value| !value.is_null())
}

/// An id: 1..=`max_chars` characters of `[A-Za-z0-9_.:-]`.
pub(crate) fn identifier(value: &Value, max_chars: usize) -> Result<String, String> {
    let text = value
        .as_str()
        .ok_or_else(|| "must be a string".to_owned())?;
    let length = text.chars().count();
    if length == 0 || length > max_chars {
        return Err(format!("must be 1 to {max_chars} characters long"));
    }
    if !text.chars().all(is_identifier_char) {
        return Err(IDENTIFIER_CHARS_MESSAGE.to_owned());
    }
    Ok(text.to_owned())
}

pub(crate) fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// A finite number within `min..=max`.
pub(crate) fn number_in(value: &Value, min: f64, max: f64) -> Result<f64, String> {
    let number = value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| "must be a number".to_owned())?;
    if !(min..=max).contains(&number) {
        return Err(format!("must be between {min} and {max} (got {number})"));
    }
    Ok(number)
}
