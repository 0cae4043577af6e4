//! What every function behind the REST API shares: the caller and the reply
//! (one error shape, no caching, and the CORS headers of every answer).
//!
//! The REST API's Lambda authorizer verifies the caller's token and passes the
//! caller to the route as the authorizer context (`principalId`, `kind`, `org`,
//! `role`; see [`pharmaguard_domain::identity::Principal::to_context`]).
//! [`caller`] reads it back; routes never look at tokens themselves.

mod reply;

pub use reply::{
    CORS_ALLOW_ORIGIN_VAR, CORS_EXPOSE_HEADERS, RETRY_AFTER_SECONDS, Reply, allowed_origin,
    allowed_origin_of,
};

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use pharmaguard_domain::identity::Principal;
use serde_json::Value;

/// The caller of a request, as the authorizer described it; `None` when the
/// request carries no valid authorizer context (a public route, or a
/// misconfigured API), which a protected route answers with 401.
pub fn caller(request: &Request) -> Option<Principal> {
    let RequestContext::ApiGatewayV1(context) = request.request_context_ref()? else {
        return None;
    };
    let fields = &context.authorizer.fields;
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    Principal::from_context(text("principalId"), text).ok()
}

/// The request as the REST API hands it to a route after its authorizer let
/// `caller` through (for tests and sample events).
pub fn with_caller(request: Request, caller: &Principal) -> Request {
    let mut context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.clone(),
        _ => Default::default(),
    };
    let (principal_id, fields) = caller.to_context();
    context
        .authorizer
        .fields
        .insert("principalId".to_owned(), Value::from(principal_id));
    for (key, value) in fields {
        context.authorizer.fields.insert(key, Value::from(value));
    }
    request.with_request_context(RequestContext::ApiGatewayV1(context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use pharmaguard_domain::identity::Role;

    fn request_with(fields: &[(&str, &str)]) -> Request {
        let mut context = ApiGatewayProxyRequestContext::default();
        for (key, value) in fields {
            context
                .authorizer
                .fields
                .insert((*key).to_owned(), Value::from(*value));
        }
        Request::default().with_request_context(RequestContext::ApiGatewayV1(context))
    }

    #[test]
    fn reads_a_user_from_the_authorizer_context() {
        let request = request_with(&[
            ("principalId", "u1"),
            ("kind", "user"),
            ("org", "org-a"),
            ("role", "MANAGER"),
        ]);
        assert_eq!(
            caller(&request),
            Some(Principal::User {
                user_id: "u1".into(),
                org_id: "org-a".into(),
                role: Role::Manager
            })
        );
    }

    #[test]
    fn reads_a_device_from_the_authorizer_context() {
        let request = request_with(&[
            ("principalId", "truck-7"),
            ("kind", "device"),
            ("org", "org-a"),
        ]);
        assert_eq!(
            caller(&request),
            Some(Principal::Device {
                device_id: "truck-7".into(),
                org_id: "org-a".into()
            })
        );
    }

    #[test]
    fn with_caller_is_read_back_by_caller() {
        let driver = Principal::User {
            user_id: "d1".into(),
            org_id: "org-a".into(),
            role: Role::Driver,
        };
        assert_eq!(
            caller(&with_caller(Request::default(), &driver)),
            Some(driver)
        );
    }

    #[test]
    fn no_or_partial_context_is_no_caller() {
        assert_eq!(caller(&Request::default()), None);
        assert_eq!(caller(&request_with(&[("principalId", "u1")])), None);
        assert_eq!(
            caller(&request_with(&[
                ("principalId", "u1"),
                ("kind", "user"),
                ("org", "a"),
                ("role", "ROOT")
            ])),
            None
        );
    }
}
