//! `infra/openapi.yaml` documents exactly the routes `infra/template.yaml` declares,
//! with the same methods, and marks public exactly the routes the template leaves
//! without the token authorizer. (Reads files only; needs no stack.)

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;

fn read(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (METHOD, path, public) of every API event of every function in the template.
fn template_routes() -> BTreeSet<(String, String, bool)> {
    let template = read("infra/template.yaml");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut routes = BTreeSet::new();
    for resource in resources.values() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() != Some("Api") {
                continue;
            }
            let properties = &event["Properties"];
            let public = properties["Auth"]["Authorizer"].as_str() == Some("NONE");
            routes.insert((
                properties["Method"]
                    .as_str()
                    .expect("Method")
                    .to_uppercase(),
                properties["Path"].as_str().expect("Path").to_owned(),
                public,
            ));
        }
    }
    routes
}

/// (METHOD, path, public) of every operation in the OpenAPI document; an operation is
/// public when it overrides the global security with an empty list.
fn openapi_routes() -> BTreeSet<(String, String, bool)> {
    let document = read("infra/openapi.yaml");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    assert!(
        document["security"]
            .as_sequence()
            .is_some_and(|s| !s.is_empty()),
        "bearer tokens required unless an operation says otherwise"
    );
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path");
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().expect("method");
            if !["get", "post", "put", "patch", "delete"].contains(&method) {
                continue;
            }
            assert!(
                operation["responses"]
                    .as_mapping()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
            let public = operation["security"]
                .as_sequence()
                .is_some_and(|s| s.is_empty());
            routes.insert((method.to_uppercase(), path.to_owned(), public));
        }
    }
    routes
}

#[test]
fn the_openapi_document_matches_the_routes_of_the_template() {
    let template = template_routes();
    let openapi = openapi_routes();
    assert!(!template.is_empty());
    let missing: Vec<_> = template.difference(&openapi).collect();
    let extra: Vec<_> = openapi.difference(&template).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(method, path, public) in the template but not documented: {missing:?}\n\
         documented but not in the template: {extra:?}"
    );
}
