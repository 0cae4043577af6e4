//! Hostile input for the property tests of every decoder and validator:
//! arbitrary JSON, arbitrary text, and date-times at the edges of what the
//! `time` crate can hold.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Date-time strings shaped like RFC 3339, most of them invalid or at the
/// edge of the representable range (years 0000 and 9999, offsets up to
/// ±23:59, leap seconds, day 0 and 32, long fractions).
pub fn rfc3339_edges() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        Just(0u32),
        Just(1969),
        Just(1970),
        Just(2026),
        Just(9000),
        Just(9999),
        0u32..=9999
    ];
    let offset = prop_oneof![
        Just("Z".to_owned()),
        Just("-01:00".to_owned()),
        Just("+23:59".to_owned()),
        (-23i32..=23, 0u32..=59).prop_map(|(h, m)| format!("{h:+03}:{m:02}")),
    ];
    (
        year,
        0u32..=13,
        0u32..=32,
        0u32..=24,
        0u32..=60,
        0u32..=61,
        offset,
        prop::option::of(0u64..=9_999_999_999),
    )
        .prop_map(|(y, mo, d, h, mi, s, offset, frac)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}")
        })
}

/// Numbers at the edges: integers of every size, huge and tiny floats.
pub fn edge_numbers() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
    ]
}

/// A JSON scalar: null, a boolean, an edge number, any text or a date-time edge.
pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_numbers(),
        ".{0,40}".prop_map(Value::String),
        rfc3339_edges().prop_map(Value::String),
    ]
}

/// Any JSON value, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with the given field names, each holding an arbitrary value
/// (mostly scalars, sometimes missing), plus maybe a stray field: the shape
/// of a request that gets past the first checks and into the field rules.
pub fn object_with(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let values = prop::collection::vec(
        prop::option::weighted(0.85, prop_oneof![4 => scalar(), 1 => json_value()]),
        fields.len(),
    );
    (values, prop::option::of((".{0,8}", scalar()))).prop_map(move |(values, stray)| {
        let mut object = Map::new();
        for (field, value) in fields.iter().zip(values) {
            if let Some(value) = value {
                object.insert((*field).to_owned(), value);
            }
        }
        if let Some((name, value)) = stray {
            object.insert(name, value);
        }
        Value::Object(object)
    })
}
