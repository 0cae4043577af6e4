//! Messages the platform publishes to its event topics (SNS), independent of
//! the transport: a JSON body and typed message attributes that subscription
//! filter policies can match.

use std::collections::BTreeMap;
use std::fmt;

/// The value of one message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// A text attribute (SNS data type `String`).
    String(String),
    /// A numeric attribute (SNS data type `Number`), as its decimal text.
    Number(String),
}

impl AttributeValue {
    /// The SNS data type name: `String` or `Number`.
    pub fn data_type(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "String",
            AttributeValue::Number(_) => "Number",
        }
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        match self {
            AttributeValue::String(value) | AttributeValue::Number(value) => value,
        }
    }
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message ready to be published: the body (JSON) and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The message body, a JSON document.
    pub body: String,
    /// Message attributes by name, for subscription filter policies.
    pub attributes: BTreeMap<String, AttributeValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_know_their_sns_data_type() {
        assert_eq!(AttributeValue::String("a".into()).data_type(), "String");
        assert_eq!(AttributeValue::Number("3".into()).data_type(), "Number");
        assert_eq!(AttributeValue::Number("3".into()).to_string(), "3");
    }
}
