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
    identifier_text(text, max_chars).map(str::to_owned)
}

/// [`identifier`] of a string already read.
pub(crate) fn identifier_text(text: &str, max_chars: usize) -> Result<&str, String> {
    // every allowed character is ASCII: for such a text bytes are characters
    if text.bytes().all(is_identifier_byte) {
        if text.is_empty() || text.len() > max_chars {
            return Err(format!("must be 1 to {max_chars} characters long"));
        }
        return Ok(text);
    }
    let length = text.chars().count();
    if length == 0 || length > max_chars {
        return Err(format!("must be 1 to {max_chars} characters long"));
    }
    Err(IDENTIFIER_CHARS_MESSAGE.to_owned())
}

fn is_identifier_byte(byte: u8) -> bool {
    IDENTIFIER_BYTES[usize::from(byte)]
}

/// Which bytes are identifier characters, looked up rather than compared.
static IDENTIFIER_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        table[byte] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-');
        byte += 1;
    }
    table
};

pub(crate) fn is_identifier_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_identifier_byte)
}

/// A finite number within `min..=max`.
pub(crate) fn number_in(value: &Value, min: f64, max: f64) -> Result<f64, String> {
    let number = value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| "must be a number".to_owned())?;
    number_between(number, min, max)
}

/// [`number_in`] of a number already read.
pub(crate) fn number_between(number: f64, min: f64, max: f64) -> Result<f64, String> {
    if !number.is_finite() {
        return Err("must be a number".to_owned());
    }
    if !(min..=max).contains(&number) {
        return Err(format!("must be between {min} and {max} (got {number})"));
    }
    Ok(number)
}
