//! `/v1/shipments`: shipment orders, their state machine and audit trail.
//!
//! Every route needs a caller (the REST API's authorizer context): none is
//! `401`. Devices may do nothing here (`403`). A shipment is only ever seen by
//! its shipper and its recipient organisation: to anyone else it does not
//! exist (`404`, never `403`), whatever their role — ADMIN included. Who may
//! do what is [`pharmaguard_domain::shipment::policy`].
//!
//! | route | answers |
//! |---|---|
//! | `POST /v1/shipments` | `201` the shipment (`PENDING`, version 1, `Location` header) · `400` per-field errors · `403` · `413` |
//! | `GET /v1/shipments?state=&limit=&next=` | `200` `{"items": [...], "next": token or null}`, newest first, only the caller's organisation's · `400` |
//! | `GET /v1/shipments/{id}` | `200` the shipment · `404` |
//! | `POST /v1/shipments/{id}/dispatch\|start\|deliver\|cancel` with `{"version": n}` (cancel: optional `"reason"`) | `200` the updated shipment · `400` · `403` · `404` · `409` `invalid_transition` (message naming both states, `from`, `to`) · `409` `version_conflict` (`current_version`) |
//! | `GET /v1/shipments/{id}/audit` | `200` `{"items": [audit records, oldest first]}` · `404` |
//! | `PUT /v1/shipments/{id}/silences` with `{"version": n, "expected_silences": [...]}` (DRIVER, MANAGER, ADMIN of the shipper) | `200` the updated shipment · `400` · `403` · `404` · `409` `invalid_state` (delivered or cancelled) · `409` `version_conflict` |
//!
//! Besides: `405` (with `Allow`) for another method on a known path, `404`
//! for an unknown path, `503` (with `Retry-After`) when the store is
//! unavailable. Errors are `{"error": code, "message": …}`, with `errors`
//! (`[{"field", "message"}]`) for `400`. Bad input never causes a `5xx`.
//!
//! Device binding ([`pharmaguard_domain::shipment::binding`]): a new
//! shipment's organisations must exist (`400` naming `shipper_org_id` or
//! `recipient_org_id`); its device, when it names one, and the device of a
//! shipment being dispatched (which must have one) must be an enabled device
//! of the shipper (`400` naming `device_id`) and not on another DISPATCHED or
//! IN_TRANSIT shipment (`409` `device_busy`, naming that shipment). Of two
//! dispatches racing for one device, the store's device claim lets exactly
//! one through; the other is the same `409` ([`StoreError::DeviceClaimed`]).
//!
//! The work is done by [`route`], a plain function of the caller, the request
//! parts, a [`ShipmentStore`], the [`Parties`] and a [`Clock`]; [`handle`]
//! adapts it to `lambda_http`.

use lambda_http::http::header::LOCATION;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use pharmaguard_domain::FieldError;
use pharmaguard_domain::audit::{Actor, AuditRecord, EntityType};
use pharmaguard_domain::identity::Principal;
use pharmaguard_domain::shipment::binding::{BindingError, check_device, check_dispatch};
use pharmaguard_domain::shipment::policy::{Action, Denied, authorize, may_ever};
use pharmaguard_domain::shipment::ports::{Clock, ListQuery, Parties, ShipmentStore, StoreError};
use pharmaguard_domain::shipment::silence::{SILENCES_CHANGED, parse_silences_request};
use pharmaguard_domain::shipment::validation::{
    MAX_BODY_BYTES, MAX_SHIPMENT_ID_CHARS, is_identifier,
};
use pharmaguard_domain::shipment::{
    Shipment, SilencesRefused, Transition, TransitionError, audit_record, new_shipment_id,
    parse_create_request, parse_list_params, parse_transition_request,
};
pub use pharmaguard_http::Reply;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info, warn};

/// Seconds a client is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// A required environment variable is missing or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {0} must be set")]
pub struct MissingEnv(pub &'static str);

/// The value of the environment variable `name` (given as `value`; `None`
/// when unset), trimmed; blank counts as missing.
pub fn required_env(name: &'static str, value: Option<String>) -> Result<String, MissingEnv> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or(MissingEnv(name))
}

/// The parts of a request [`route`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, e.g. `/v1/shipments/shp-1/dispatch` (a stage prefix is ignored).
    pub path: &'a str,
    /// The query parameters, in any order (a name may repeat).
    pub query: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The Lambda handler: reads the caller from the authorizer context and runs
/// [`route`] on the request.
///
/// Errors only when the response itself cannot be built; bad input never
/// makes it fail.
pub async fn handle<S: ShipmentStore, P: Parties, C: Clock>(
    store: &S,
    parties: &P,
    clock: &C,
    request: Request,
) -> Result<Response<Body>, Error> {
    let caller = pharmaguard_http::caller(&request);
    let path = match request.raw_http_path() {
        "" => request.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let parameters = request.query_string_parameters();
    let query: Vec<(&str, &str)> = parameters.iter().collect();
    let reply = route(
        store,
        parties,
        clock,
        caller.as_ref(),
        &ApiRequest {
            method: request.method().as_str(),
            path: &path,
            query: &query,
            body: request.body().as_ref(),
        },
    )
    .await;
    into_response(reply)
}

/// Turns a [`Reply`] into a `lambda_http` response.
pub fn into_response(reply: Reply) -> Result<Response<Body>, Error> {
    reply.into_response()
}

/// Which resource a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource<'a> {
    /// `/v1/shipments`
    Collection,
    /// `/v1/shipments/{id}`
    Shipment(&'a str),
    /// `/v1/shipments/{id}/<transition>`
    Transition(&'a str, Transition),
    /// `/v1/shipments/{id}/audit`
    Audit(&'a str),
    /// `/v1/shipments/{id}/silences`
    Silences(&'a str),
}

impl Resource<'_> {
    fn allowed_methods(self) -> &'static str {
        match self {
            Resource::Collection => "GET, POST",
            Resource::Shipment(_) | Resource::Audit(_) => "GET",
            Resource::Transition(..) => "POST",
            Resource::Silences(_) => "PUT",
        }
    }
}

/// The resource of a path: the part from `/v1/shipments` on (anything before
/// it, such as a stage, is ignored; a trailing slash too).
fn resource(path: &str) -> Option<Resource<'_>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let start = segments
        .windows(2)
        .position(|pair| pair == ["v1", "shipments"])?;
    match &segments[start + 2..] {
        [] => Some(Resource::Collection),
        [id] => Some(Resource::Shipment(id)),
        [id, "audit"] => Some(Resource::Audit(id)),
        [id, "silences"] => Some(Resource::Silences(id)),
        [id, action] => action
            .parse()
            .ok()
            .map(|transition| Resource::Transition(id, transition)),
        _ => None,
    }
}

/// Handles one request by `caller` (`None`: no valid authorizer context).
/// Never panics, whatever the input.
pub async fn route<S: ShipmentStore, P: Parties, C: Clock>(
    store: &S,
    parties: &P,
    clock: &C,
    caller: Option<&Principal>,
    request: &ApiRequest<'_>,
) -> Reply {
    let Some(resource) = resource(request.path) else {
        return not_found("no such route");
    };
    let method = request.method;
    let allowed = matches!(
        (resource, method),
        (Resource::Collection, "GET" | "POST")
            | (Resource::Shipment(_) | Resource::Audit(_), "GET")
            | (Resource::Transition(..), "POST")
            | (Resource::Silences(_), "PUT")
    );
    if !allowed {
        return method_not_allowed(method, resource.allowed_methods());
    }
    let Some(caller) = caller else {
        info!(method, path = request.path, "no caller");
        return error_reply(
            401,
            "unauthorized",
            "sign in: this route needs a valid token",
        );
    };
    let reply = match resource {
        Resource::Collection if method == "POST" => {
            create(store, parties, clock, caller, request.body).await
        }
        Resource::Collection => list(store, caller, request.query).await,
        Resource::Shipment(id) => read(store, caller, id).await,
        Resource::Audit(id) => audit(store, caller, id).await,
        Resource::Transition(id, transition) => {
            change(store, parties, clock, caller, id, transition, request.body).await
        }
        Resource::Silences(id) => declare_silences(store, clock, caller, id, request.body).await,
    };
    info!(
        method,
        path = request.path,
        caller = caller.id(),
        org = caller.org_id(),
        status = reply.status,
        "shipment request"
    );
    reply
}

async fn create<S: ShipmentStore, P: Parties, C: Clock>(
    store: &S,
    parties: &P,
    clock: &C,
    caller: &Principal,
    body: &[u8],
) -> Reply {
    if let Err(denied) = may_ever(caller, Action::Create) {
        return forbidden(&denied);
    }
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large(body.len());
    }
    let draft = match parse_create_request(body) {
        Ok(draft) => draft,
        Err(errors) => return invalid_request(errors),
    };
    if let Err(denied) = authorize(caller, Action::Create, &draft) {
        return forbidden(&denied);
    }
    let now = clock.now();
    let shipment = Shipment::create(new_shipment_id(), draft, caller, now);
    if let Err(reply) = parties_exist(parties, &shipment).await {
        return reply;
    }
    if let Err(reply) = device_binding(parties, &shipment, check_device).await {
        return reply;
    }
    let record = audit_record(caller, None, &shipment, now);
    match store.create(&shipment, &record).await {
        Ok(()) => {
            info!(shipment_id = %shipment.id, "shipment created");
            let mut reply = json_reply(201, &shipment);
            reply
                .headers
                .push((LOCATION.as_str(), format!("/v1/shipments/{}", shipment.id)));
            reply
        }
        Err(error) => store_failure(&error),
    }
}

async fn list<S: ShipmentStore>(store: &S, caller: &Principal, query: &[(&str, &str)]) -> Reply {
    if let Err(denied) = may_ever(caller, Action::List) {
        return forbidden(&denied);
    }
    let params = match parse_list_params(query.iter().copied()) {
        Ok(params) => params,
        Err(errors) => return invalid_request(errors),
    };
    let query = ListQuery {
        org_id: caller.org_id().to_owned(),
        state: params.state,
        limit: params.limit,
        next: params.next,
    };
    match store.list(&query).await {
        Ok(mut page) => {
            // the store lists one organisation's partition; never show more
            page.items
                .retain(|shipment| authorize(caller, Action::List, shipment).is_ok());
            json_reply(200, &json!({ "items": page.items, "next": page.next }))
        }
        Err(StoreError::InvalidPageToken) => invalid_request(vec![FieldError::new(
            "next",
            "is not a token of this listing: pass the `next` of the previous page, with the same filter",
        )]),
        Err(error) => store_failure(&error),
    }
}

/// The shipment `id`, if it exists and `caller` may do `action` on it:
/// otherwise the answer to give (404 for a shipment the caller's
/// organisation is not party to, as for one that does not exist).
async fn visible<S: ShipmentStore>(
    store: &S,
    caller: &Principal,
    id: &str,
    action: Action,
) -> Result<Shipment, Reply> {
    if let Err(denied) = may_ever(caller, action) {
        return Err(forbidden(&denied));
    }
    if !is_identifier(id, MAX_SHIPMENT_ID_CHARS) {
        return Err(no_shipment(id));
    }
    let shipment = match store.get(id).await {
        Ok(Some(shipment)) => shipment,
        Ok(None) => return Err(no_shipment(id)),
        Err(error) => return Err(store_failure(&error)),
    };
    match authorize(caller, action, &shipment) {
        Ok(()) => Ok(shipment),
        Err(Denied::NotInvolved) => Err(no_shipment(id)),
        Err(denied) => Err(forbidden(&denied)),
    }
}

async fn read<S: ShipmentStore>(store: &S, caller: &Principal, id: &str) -> Reply {
    match visible(store, caller, id, Action::Read).await {
        Ok(shipment) => json_reply(200, &shipment),
        Err(reply) => reply,
    }
}

async fn audit<S: ShipmentStore>(store: &S, caller: &Principal, id: &str) -> Reply {
    if let Err(reply) = visible(store, caller, id, Action::Audit).await {
        return reply;
    }
    match store.audit_trail(id).await {
        Ok(records) => json_reply(200, &json!({ "items": records })),
        Err(error) => store_failure(&error),
    }
}

async fn change<S: ShipmentStore, P: Parties, C: Clock>(
    store: &S,
    parties: &P,
    clock: &C,
    caller: &Principal,
    id: &str,
    transition: Transition,
    body: &[u8],
) -> Reply {
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large(body.len());
    }
    let request = match parse_transition_request(transition, body) {
        Ok(request) => request,
        Err(errors) => return invalid_request(errors),
    };
    // To a caller whose organisation is not party to it, the shipment does
    // not exist: 404 before any role or state is looked at.
    let shipment = match visible(store, caller, id, Action::Read).await {
        Ok(shipment) => shipment,
        Err(reply) => return reply,
    };
    if let Err(denied) = authorize(caller, Action::from(transition), &shipment) {
        return forbidden(&denied);
    }
    let now = clock.now();
    let next = match shipment.transition_by(
        transition,
        request.expected_version,
        now,
        request.reason,
        caller.id(),
    ) {
        Ok(next) => next,
        Err(TransitionError::VersionConflict { current, .. }) => {
            return version_conflict(Some(current));
        }
        Err(TransitionError::Invalid(invalid)) => {
            info!(shipment_id = id, %invalid, "invalid transition");
            return json_reply(
                409,
                &json!({
                    "error": "invalid_transition",
                    "message": invalid.to_string(),
                    "from": invalid.from,
                    "to": invalid.to,
                }),
            );
        }
    };
    if transition == Transition::Dispatch
        && let Err(reply) = device_binding(parties, &next, check_dispatch).await
    {
        return reply;
    }
    let record = audit_record(caller, Some(&shipment), &next, now);
    match store.update(&next, shipment.version, &record).await {
        Ok(()) => {
            info!(shipment_id = id, state = %next.state, version = next.version, "shipment changed");
            json_reply(200, &next)
        }
        Err(StoreError::VersionConflict { current_version }) => version_conflict(current_version),
        Err(error) => store_failure(&error),
    }
}

/// `PUT /v1/shipments/{id}/silences`: replaces the trip's expected silences
/// (DRIVER, MANAGER or ADMIN of the shipper), until it is delivered or
/// cancelled; audited as `shipment.silences_changed`.
async fn declare_silences<S: ShipmentStore, C: Clock>(
    store: &S,
    clock: &C,
    caller: &Principal,
    id: &str,
    body: &[u8],
) -> Reply {
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large(body.len());
    }
    let request = match parse_silences_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid_request(errors),
    };
    let shipment = match visible(store, caller, id, Action::Read).await {
        Ok(shipment) => shipment,
        Err(reply) => return reply,
    };
    if let Err(denied) = authorize(caller, Action::DeclareSilences, &shipment) {
        return forbidden(&denied);
    }
    let now = clock.now();
    let next = match shipment.with_silences(request.silences, request.expected_version, now) {
        Ok(next) => next,
        Err(SilencesRefused::VersionConflict { current }) => {
            return version_conflict(Some(current));
        }
        Err(refused @ SilencesRefused::Final(state)) => {
            return json_reply(
                409,
                &json!({
                    "error": "invalid_state",
                    "message": refused.to_string(),
                    "state": state,
                }),
            );
        }
    };
    let record = AuditRecord::new(
        EntityType::Shipment,
        &next.id,
        Actor::from(caller),
        SILENCES_CHANGED,
        now,
        Some(shipment.to_json()),
        Some(next.to_json()),
    );
    match store.update(&next, shipment.version, &record).await {
        Ok(()) => {
            info!(
                shipment_id = id,
                silences = next.expected_silences.len(),
                version = next.version,
                "expected silences changed"
            );
            json_reply(200, &next)
        }
        Err(StoreError::VersionConflict { current_version }) => version_conflict(current_version),
        Err(error) => store_failure(&error),
    }
}

/// Both organisations of a new shipment exist (else `400` naming the field).
async fn parties_exist<P: Parties>(parties: &P, shipment: &Shipment) -> Result<(), Reply> {
    for (field, org_id) in [
        ("shipper_org_id", &shipment.shipper_org_id),
        ("recipient_org_id", &shipment.recipient_org_id),
    ] {
        match parties.organisation_exists(org_id).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(binding_refused(&BindingError::UnknownOrganisation {
                    field,
                }));
            }
            Err(error) => return Err(store_failure(&error)),
        }
    }
    Ok(())
}

/// A rule of [`pharmaguard_domain::shipment::binding`]: the shipment, its
/// registered device and the device's shipments.
type DeviceCheck = fn(
    &Shipment,
    Option<&pharmaguard_domain::telemetry::RegisteredDevice>,
    &[Shipment],
) -> Result<(), BindingError>;

/// The shipment's device passes `check` (see the crate documentation).
async fn device_binding<P: Parties>(
    parties: &P,
    shipment: &Shipment,
    check: DeviceCheck,
) -> Result<(), Reply> {
    let (device, others) = match shipment.device_id.as_deref() {
        None => (None, Vec::new()),
        Some(device_id) => {
            let device = parties
                .registered_device(device_id)
                .await
                .map_err(|e| store_failure(&e))?;
            let others = parties
                .shipments_of_device(device_id)
                .await
                .map_err(|e| store_failure(&e))?;
            (device, others)
        }
    };
    check(shipment, device.as_ref(), &others).map_err(|refused| binding_refused(&refused))
}

fn binding_refused(refused: &BindingError) -> Reply {
    info!(reason = %refused, "device binding refused");
    match refused {
        BindingError::DeviceBusy { shipment_id, .. } => json_reply(
            409,
            &json!({
                "error": "device_busy",
                "message": refused.to_string(),
                "shipment_id": shipment_id,
                "errors": [{"field": "device_id", "message": refused.to_string()}],
            }),
        ),
        BindingError::NoDevice => json_reply(
            409,
            &json!({
                "error": "no_device",
                "message": refused.to_string(),
                "errors": [{"field": "device_id", "message": "is required to dispatch"}],
            }),
        ),
        other => invalid_request(vec![FieldError::new(other.field(), other.to_string())]),
    }
}

fn version_conflict(current_version: Option<u64>) -> Reply {
    json_reply(
        409,
        &json!({
            "error": "version_conflict",
            "message": "the shipment changed since you read it: reload it and decide again",
            "current_version": current_version,
        }),
    )
}

fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    Reply::error(status, code, message, &[])
}

fn invalid_request(errors: Vec<FieldError>) -> Reply {
    info!(errors = errors.len(), "invalid shipment request");
    Reply::error(
        400,
        "invalid_request",
        "the request has errors; see `errors`",
        &errors,
    )
}

fn forbidden(denied: &Denied) -> Reply {
    info!(%denied, "shipment request refused");
    Reply::forbidden(denied)
}

fn not_found(message: &str) -> Reply {
    Reply::not_found(message)
}

fn no_shipment(id: &str) -> Reply {
    let id: String = id.chars().take(MAX_SHIPMENT_ID_CHARS).collect();
    not_found(&format!("no shipment {id:?}"))
}

fn method_not_allowed(method: &str, allow: &'static str) -> Reply {
    Reply::method_not_allowed(method, allow)
}

fn payload_too_large(size: usize) -> Reply {
    Reply::error(
        413,
        "payload_too_large",
        "the body is too large",
        &[FieldError::new(
            "body",
            format!("must not exceed {MAX_BODY_BYTES} bytes (got {size})"),
        )],
    )
}

fn store_failure(failure: &StoreError) -> Reply {
    match failure {
        StoreError::Unavailable(message) => {
            warn!(%message, "shipment store unavailable");
            Reply::unavailable()
        }
        StoreError::AlreadyExists => {
            warn!("shipment id collision");
            error_reply(
                409,
                "conflict",
                "the shipment exists already; send the request again",
            )
        }
        StoreError::VersionConflict { current_version } => version_conflict(*current_version),
        StoreError::DeviceClaimed {
            device_id,
            shipment_id,
        } => {
            let message = match shipment_id {
                Some(other) => {
                    format!("device {device_id} is on shipment {other}, which is on its way")
                }
                None => format!("device {device_id} is on another shipment on its way"),
            };
            info!(%message, "device claimed by another shipment");
            json_reply(
                409,
                &json!({
                    "error": "device_busy",
                    "message": message,
                    "shipment_id": shipment_id,
                    "errors": [{"field": "device_id", "message": message}],
                }),
            )
        }
        StoreError::InvalidPageToken => invalid_request(vec![FieldError::new(
            "next",
            "is not a token of this listing",
        )]),
        StoreError::Corrupt(message) => {
            error!(%message, "stored shipment data is corrupt");
            Reply::internal()
        }
    }
}

fn json_reply(status: u16, body: &impl Serialize) -> Reply {
    Reply::json(status, body)
}

/// The JSON of a reply body (for tests and tools).
pub fn body_json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
