//! The error of one field of a request, shared by every validation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem with one field of the input, as reported to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field concerned, e.g. `temperature_c`, or a path such as
    /// `readings[3].temperature_c` (see [`crate::telemetry::reading_path`]).
    pub field: String,
    /// What is wrong with it, in words meant for a developer.
    pub message: String,
}

impl FieldError {
    /// A new error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
