//! The REST API the dashboard reads: where the caller's organisation's
//! shipments are and how cold they are, their reading history, the alarm
//! feed, and the review (acknowledgement) of an alarm.
//!
//! Every route needs a caller (the REST API's authorizer context): none is
//! `401`. Devices may do nothing here (`403`). A shipment is only ever seen by
//! its shipper and its recipient organisation: to anyone else it does not
//! exist (`404`), whatever their role. Who may do what is
//! [`pharmaguard_domain::shipment::policy`]: reading is any role of either
//! organisation; acknowledging an alarm is a MANAGER, PHARMACIST or ADMIN of
//! either.
//!
//! | route | answers |
//! |---|---|
//! | `GET /v1/tracking` | `200` `{"items": [Tracking]}`: the organisation's shipments DISPATCHED or IN_TRANSIT, and those DELIVERED in the last 24 h ([`on_the_map`]), newest first |
//! | `GET /v1/shipments/{id}/tracking` | `200` one Tracking with `alarms` (every alarm, newest first) and `risk` (the estimated loss now, or null) · `404` |
//! | `GET /v1/shipments/{id}/readings?from=&to=&limit=&next=` | `200` `{"items": [{reading_id, ts, lat, lon, temperature_c, vibration_g}], "next": token or null}`, oldest first · `400` · `404` |
//! | `GET /v1/alarms?status=active\|unreviewed\|reviewed\|all&limit=&next=` | `200` `{"items": [alarm with shipment_id, product, shipper_org_id, recipient_org_id], "next": token or null}`, newest first; `unreviewed`: cleared alarms nobody has reviewed, `reviewed`: cleared and reviewed; `active=true\|false` is `status=active\|all` · `400` |
//! | `POST /v1/shipments/{id}/alarms/{alarm_id}/acknowledge` with `{"reason": "...", "disposition": "NO_PRODUCT_IMPACT"\|...}` | `200` the alarm with its `review` (an active one `ACTIVE_ACK`, a cleared one stays `CLEARED`; unchanged when it has a review already) · `400` naming the field · `403` · `404` · `409` while the detector is writing it |
//!
//! A Tracking is [`TrackingView`]: the shipment (`shipment_id`, `state`,
//! `product`, `device_id`, `shipper_org_id`, `recipient_org_id`, `origin`,
//! `destination`) and its cold-chain status (`latest`, `mkt_c`,
//! `excursion_minutes`, `budget_minutes`, `profile`, `active_alarms`), the
//! same as the position events the anomaly detector publishes.
//!
//! # The review
//!
//! Any alarm, active or cleared, is reviewed with a reason and a disposition
//! ([`pharmaguard_domain::coldchain::review`]); reviewing an active alarm
//! acknowledges it.
//!
//! The active alarms live in the shipment's tracking item, which the anomaly
//! detector rewrites with every batch. The review of an active one goes through the
//! same versioned save: the tracking with the alarm acknowledged, the alarm
//! item and the audit record (on the shipment's trail, action
//! `alarm.acknowledged`, the alarm before and after) are written in one
//! transaction on the version read; when the detector wrote meanwhile, the
//! tracking is read again and the acknowledgement applied again (up to
//! [`ACK_ATTEMPTS`] times). So the detector never overwrites an
//! acknowledgement, and an acknowledgement never overwrites readings. A
//! cleared alarm has left the book: its review is written on its alarm item
//! (on the condition that it is still cleared and unreviewed) with the audit
//! record, in one transaction.
//! Afterwards `alarm.acknowledged` is published on the alarm topic (event id
//! `<alarm id>:ACKNOWLEDGED:<severity>`). If that fails the answer is `503`; sending the
//! request again finds the alarm acknowledged and publishes the same event
//! again (consumers drop repeats by id), so a retry never loses the event.
//!
//! The `alarm_id` in the path contains `#` (`<shipment>#<TYPE>#<millis>`):
//! clients send it percent-encoded (`%23`).
//!
//! Besides: `405` (with `Allow`) for another method on a known path, `404`
//! for an unknown path, `503` (with `Retry-After`) when a store or the topic
//! is unavailable. Errors are `{"error": code, "message": …, "errors":
//! [{"field", "message"}]}`. Bad input never causes a `5xx`.
//!
//! The work is done by [`route`], a plain function of the caller, the request
//! parts and [`Services`]; [`handle`] adapts it to `lambda_http`.

use std::collections::HashMap;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use pharmaguard_aws::sns::MessagePublisher;
use pharmaguard_domain::FieldError;
use pharmaguard_domain::coldchain::dashboard::{
    AlarmListing, LONGEST_TRIP, QueryError, ReadingPages, ShipmentLookup, TrackingDetail,
    TrackingRecords, TrackingView, alarm_audit_record, on_the_map, parse_alarms_params,
    parse_readings_params, parse_tracking_params,
};
use pharmaguard_domain::coldchain::detector::alarm_context;
use pharmaguard_domain::coldchain::tracking::{Acknowledgement, SaveError, Tracking};
use pharmaguard_domain::coldchain::{
    AckRefused, Alarm, AlarmEvent, AlarmState, AlarmTransition, ReviewRequest, ShipmentMonitor,
    ShipmentSummary, parse_review_request,
};
use pharmaguard_domain::identity::Principal;
use pharmaguard_domain::shipment::policy::{Action, Denied, authorize, may_ever};
use pharmaguard_domain::shipment::ports::Clock;
use pharmaguard_domain::shipment::validation::{MAX_SHIPMENT_ID_CHARS, is_identifier};
use pharmaguard_domain::shipment::{Shipment, ShipmentState};
pub use pharmaguard_http::Reply;
use serde_json::{Value, json};
use tracing::{error, info, warn};

/// Attempts of an acknowledgement while the detector keeps writing the
/// tracking under it.
pub const ACK_ATTEMPTS: u32 = 5;
/// Longest alarm id accepted in a path.
pub const MAX_ALARM_ID_CHARS: usize = 160;

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

/// What the routes work with: the tables (shipments, trackings and alarms,
/// readings), the alarm topic and a clock.
#[derive(Debug, Clone)]
pub struct Services<S, P, C> {
    /// The shipments, trackings, alarms and readings.
    pub store: S,
    /// The alarm events topic (`alarm.acknowledged`).
    pub alarm_topic: P,
    /// The time.
    pub clock: C,
}

/// The parts of a request [`route`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, e.g. `/v1/shipments/shp-1/tracking` (a stage prefix is
    /// ignored; segments may be percent-encoded).
    pub path: &'a str,
    /// The query parameters, in any order (a name may repeat).
    pub query: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The Lambda handler: reads the caller from the authorizer context and runs
/// [`route`] on the request.
pub async fn handle<S, P, C>(
    services: &Services<S, P, C>,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: ShipmentLookup + TrackingRecords + ReadingPages,
    P: MessagePublisher,
    C: Clock,
{
    let caller = pharmaguard_http::caller(&request);
    let path = match request.raw_http_path() {
        "" => request.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let parameters = request.query_string_parameters();
    let query: Vec<(&str, &str)> = parameters.iter().collect();
    let reply = route(
        services,
        caller.as_ref(),
        &ApiRequest {
            method: request.method().as_str(),
            path: &path,
            query: &query,
            body: request.body().as_ref(),
        },
    )
    .await;
    reply.into_response()
}

/// Which resource a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    /// `/v1/tracking`
    Map,
    /// `/v1/alarms`
    Alarms,
    /// `/v1/shipments/{id}/tracking`
    ShipmentTracking(String),
    /// `/v1/shipments/{id}/readings`
    Readings(String),
    /// `/v1/shipments/{id}/alarms/{alarm_id}/acknowledge`
    Acknowledge(String, String),
}

impl Resource {
    fn allowed_method(&self) -> &'static str {
        match self {
            Resource::Acknowledge(..) => "POST",
            _ => "GET",
        }
    }
}

/// `%XX` sequences decoded (`None` when malformed or not UTF-8).
fn percent_decode(segment: &str) -> Option<String> {
    if !segment.contains('%') {
        return Some(segment.to_owned());
    }
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The resource of a path: the part from `/v1` on (anything before it, such
/// as a stage, is ignored; a trailing slash too).
fn resource(path: &str) -> Option<Resource> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect::<Option<_>>()?;
    let start = segments.iter().position(|s| s == "v1")?;
    let rest: Vec<&str> = segments[start + 1..].iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["tracking"] => Some(Resource::Map),
        ["alarms"] => Some(Resource::Alarms),
        ["shipments", id, "tracking"] => Some(Resource::ShipmentTracking((*id).to_owned())),
        ["shipments", id, "readings"] => Some(Resource::Readings((*id).to_owned())),
        ["shipments", id, "alarms", alarm_id, "acknowledge"] => Some(Resource::Acknowledge(
            (*id).to_owned(),
            (*alarm_id).to_owned(),
        )),
        _ => None,
    }
}

/// Handles one request by `caller` (`None`: no valid authorizer context).
/// Never panics, whatever the input.
pub async fn route<S, P, C>(
    services: &Services<S, P, C>,
    caller: Option<&Principal>,
    request: &ApiRequest<'_>,
) -> Reply
where
    S: ShipmentLookup + TrackingRecords + ReadingPages,
    P: MessagePublisher,
    C: Clock,
{
    let Some(resource) = resource(request.path) else {
        return Reply::not_found("no such route");
    };
    let method = request.method;
    if method != resource.allowed_method() {
        return Reply::method_not_allowed(method, resource.allowed_method());
    }
    let Some(caller) = caller else {
        info!(method, path = request.path, "no caller");
        return Reply::unauthorized("sign in: this route needs a valid token");
    };
    let query = request.query;
    let reply = match &resource {
        Resource::Map => map(services, caller, query).await,
        Resource::Alarms => alarms(services, caller, query).await,
        Resource::ShipmentTracking(id) => shipment_tracking(services, caller, id, query).await,
        Resource::Readings(id) => readings(services, caller, id, query).await,
        Resource::Acknowledge(id, alarm_id) => {
            acknowledge(services, caller, id, alarm_id, request.body).await
        }
    };
    info!(
        method,
        path = request.path,
        caller = caller.id(),
        org = caller.org_id(),
        status = reply.status,
        "tracking request"
    );
    reply
}

/// `GET /v1/tracking`.
async fn map<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    query: &[(&str, &str)],
) -> Reply
where
    S: ShipmentLookup + TrackingRecords,
    C: Clock,
{
    if let Err(denied) = may_ever(caller, Action::List) {
        return forbidden(&denied);
    }
    if let Err(errors) = parse_tracking_params(query.iter().copied()) {
        return invalid(&errors);
    }
    let now = services.clock.now();
    let org = caller.org_id();
    let store = &services.store;
    let (dispatched, in_transit, delivered) = tokio::join!(
        store.shipments_in(org, ShipmentState::Dispatched, None),
        store.shipments_in(org, ShipmentState::InTransit, None),
        store.shipments_in(org, ShipmentState::Delivered, Some(now - LONGEST_TRIP)),
    );
    let mut shipments: Vec<Shipment> = match (dispatched, in_transit, delivered) {
        (Ok(a), Ok(b), Ok(c)) => a.into_iter().chain(b).chain(c).collect(),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            return query_failure(&error);
        }
    };
    // the listings are the organisation's own; never show more
    shipments.retain(|s| on_the_map(s, now) && authorize(caller, Action::List, s).is_ok());
    shipments.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let ids: Vec<String> = shipments.iter().map(|s| s.id.clone()).collect();
    let trackings: HashMap<String, Tracking> = match store.trackings(&ids).await {
        Ok(trackings) => trackings
            .into_iter()
            .map(|t| (t.shipment_id.clone(), t))
            .collect(),
        Err(error) => return query_failure(&error),
    };
    let items: Vec<TrackingView> = shipments
        .iter()
        .map(|s| TrackingView::of(s, trackings.get(&s.id)))
        .collect();
    Reply::json(200, &json!({ "items": items }))
}

/// The shipment `id`, if it exists and `caller` may do `action` on it:
/// otherwise the answer to give (404 for a shipment the caller's
/// organisation is not party to, as for one that does not exist).
async fn visible<S: ShipmentLookup>(
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
    let shipment = match store.shipment(id).await {
        Ok(Some(shipment)) => shipment,
        Ok(None) => return Err(no_shipment(id)),
        Err(error) => return Err(query_failure(&error)),
    };
    match authorize(caller, action, &shipment) {
        Ok(()) => Ok(shipment),
        Err(Denied::NotInvolved) => Err(no_shipment(id)),
        Err(denied) => Err(forbidden(&denied)),
    }
}

/// `GET /v1/shipments/{id}/tracking`.
async fn shipment_tracking<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    id: &str,
    query: &[(&str, &str)],
) -> Reply
where
    S: ShipmentLookup + TrackingRecords,
{
    if let Err(denied) = may_ever(caller, Action::Read) {
        return forbidden(&denied);
    }
    if let Err(errors) = parse_tracking_params(query.iter().copied()) {
        return invalid(&errors);
    }
    let store = &services.store;
    let shipment = match visible(store, caller, id, Action::Read).await {
        Ok(shipment) => shipment,
        Err(reply) => return reply,
    };
    let (tracking, alarms) = tokio::join!(store.tracking(id), store.alarms_of(id));
    match (tracking, alarms) {
        (Ok(tracking), Ok(alarms)) => Reply::json(
            200,
            &TrackingDetail::of(&shipment, tracking.as_ref(), alarms),
        ),
        (Err(error), _) | (_, Err(error)) => query_failure(&error),
    }
}

/// `GET /v1/shipments/{id}/readings`.
async fn readings<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    id: &str,
    query: &[(&str, &str)],
) -> Reply
where
    S: ShipmentLookup + ReadingPages,
{
    if let Err(denied) = may_ever(caller, Action::Read) {
        return forbidden(&denied);
    }
    let params = match parse_readings_params(query.iter().copied()) {
        Ok(params) => params,
        Err(errors) => return invalid(&errors),
    };
    let store = &services.store;
    if let Err(reply) = visible(store, caller, id, Action::Read).await {
        return reply;
    }
    match store.readings(id, &params).await {
        Ok(page) => Reply::json(200, &page),
        Err(error) => query_failure(&error),
    }
}

/// `GET /v1/alarms`.
async fn alarms<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    query: &[(&str, &str)],
) -> Reply
where
    S: ShipmentLookup + TrackingRecords,
{
    if let Err(denied) = may_ever(caller, Action::List) {
        return forbidden(&denied);
    }
    let params = match parse_alarms_params(query.iter().copied()) {
        Ok(params) => params,
        Err(errors) => return invalid(&errors),
    };
    let store = &services.store;
    let page = match store.org_alarms(caller.org_id(), &params).await {
        Ok(page) => page,
        Err(error) => return query_failure(&error),
    };
    let mut ids: Vec<String> = page.items.iter().map(|a| a.shipment_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let shipments: HashMap<String, Shipment> = match store.shipments(&ids).await {
        Ok(shipments) => shipments.into_iter().map(|s| (s.id.clone(), s)).collect(),
        Err(error) => return query_failure(&error),
    };
    let items: Vec<AlarmListing> = page
        .items
        .into_iter()
        .filter_map(|alarm| {
            let shipment = shipments.get(&alarm.shipment_id);
            match shipment {
                // the feed is the organisation's own; never show more
                Some(shipment) if authorize(caller, Action::List, shipment).is_ok() => {
                    Some(AlarmListing::of(alarm, shipment))
                }
                Some(_) => None,
                None => {
                    warn!(alarm_id = %alarm.alarm_id, "alarm of an unknown shipment left out");
                    None
                }
            }
        })
        .collect();
    Reply::json(200, &json!({ "items": items, "next": page.next }))
}

/// `POST /v1/shipments/{id}/alarms/{alarm_id}/acknowledge`: the review.
async fn acknowledge<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    id: &str,
    alarm_id: &str,
    body: &[u8],
) -> Reply
where
    S: ShipmentLookup + TrackingRecords,
    P: MessagePublisher,
    C: Clock,
{
    let request = match parse_review_request(body) {
        Ok(request) => request,
        Err(errors) => return invalid(&errors),
    };
    let store = &services.store;
    // To a caller whose organisation is not party to it, the shipment does
    // not exist: 404 before any role is looked at.
    let shipment = match visible(store, caller, id, Action::Read).await {
        Ok(shipment) => shipment,
        Err(reply) => return reply,
    };
    if let Err(denied) = authorize(caller, Action::AcknowledgeAlarm, &shipment) {
        return forbidden(&denied);
    }
    let own_alarm = alarm_id.chars().count() <= MAX_ALARM_ID_CHARS
        && alarm_id
            .strip_prefix(id)
            .is_some_and(|rest| rest.starts_with('#'));
    if !own_alarm {
        return no_alarm(alarm_id);
    }
    for attempt in 1..=ACK_ATTEMPTS {
        let tracking = match store.tracking(id).await {
            Ok(tracking) => tracking,
            Err(error) => return query_failure(&error),
        };
        let Some(tracking) = tracking else {
            return review_stored(services, caller, &shipment, None, alarm_id, &request).await;
        };
        let now = services.clock.now();
        match tracking.review(alarm_id, &request, caller.id(), now) {
            Ok(Acknowledgement::AlreadyAcknowledged(alarm)) => {
                info!(alarm_id, "alarm reviewed already");
                // published again (same event id): a retry after a failed publish
                return match publish(services, &shipment, Some(&tracking), &alarm).await {
                    Ok(()) => Reply::json(200, &alarm),
                    Err(reply) => reply,
                };
            }
            Ok(Acknowledgement::Acknowledged {
                tracking: next,
                before,
                after,
            }) => {
                let audit = alarm_audit_record(caller, id, &before, &after, now);
                match store
                    .acknowledge(&next, tracking.version, &after, &audit)
                    .await
                {
                    Ok(()) => {
                        info!(alarm_id, by = caller.id(), disposition = %request.disposition, "active alarm reviewed");
                        return match publish(services, &shipment, Some(&next), &after).await {
                            Ok(()) => Reply::json(200, &after),
                            Err(reply) => reply,
                        };
                    }
                    Err(SaveError::VersionConflict) => {
                        info!(
                            alarm_id,
                            attempt, "tracking changed meanwhile; reviewing again"
                        );
                    }
                    Err(SaveError::Unavailable(message)) => {
                        warn!(%message, "review not saved");
                        return Reply::unavailable();
                    }
                }
            }
            Err(AckRefused::NotActive { .. }) => {
                return review_stored(
                    services,
                    caller,
                    &shipment,
                    Some(&tracking),
                    alarm_id,
                    &request,
                )
                .await;
            }
        }
    }
    warn!(alarm_id, "the tracking kept changing; review given up");
    Reply::unavailable()
}

/// The review of an alarm that is not in the active book: a cleared one is
/// reviewed on its own item; an unknown one is 404.
async fn review_stored<S, P, C>(
    services: &Services<S, P, C>,
    caller: &Principal,
    shipment: &Shipment,
    tracking: Option<&Tracking>,
    alarm_id: &str,
    request: &ReviewRequest,
) -> Reply
where
    S: ShipmentLookup + TrackingRecords,
    P: MessagePublisher,
    C: Clock,
{
    let store = &services.store;
    for attempt in 1..=ACK_ATTEMPTS {
        let before = match store.alarm(&shipment.id, alarm_id).await {
            Ok(Some(alarm)) => alarm,
            Ok(None) => return no_alarm(alarm_id),
            Err(error) => return query_failure(&error),
        };
        if before.state != AlarmState::Cleared {
            // stored active but not in the book: the detector is writing it now
            warn!(alarm_id = %before.alarm_id, "alarm active in its item but not in the book");
            return Reply::conflict(
                "the alarm is changing right now; send the review again",
                &[],
            );
        }
        let now = services.clock.now();
        let mut after = before.clone();
        if !after.review(request, caller.id(), now) {
            info!(alarm_id, "cleared alarm reviewed already");
            return match publish(services, shipment, tracking, &before).await {
                Ok(()) => Reply::json(200, &before),
                Err(reply) => reply,
            };
        }
        let audit = alarm_audit_record(caller, &shipment.id, &before, &after, now);
        match store.review_cleared(shipment, &after, &audit).await {
            Ok(()) => {
                info!(alarm_id, by = caller.id(), disposition = %request.disposition, "cleared alarm reviewed");
                return match publish(services, shipment, tracking, &after).await {
                    Ok(()) => Reply::json(200, &after),
                    Err(reply) => reply,
                };
            }
            Err(SaveError::VersionConflict) => {
                info!(
                    alarm_id,
                    attempt, "alarm changed meanwhile; reviewing again"
                );
            }
            Err(SaveError::Unavailable(message)) => {
                warn!(%message, "review not saved");
                return Reply::unavailable();
            }
        }
    }
    warn!(alarm_id, "the alarm kept changing; review given up");
    Reply::unavailable()
}

/// Publishes `alarm.acknowledged` for `alarm` (reviewed) of `shipment`,
/// with the situation of `tracking`.
async fn publish<S, P, C>(
    services: &Services<S, P, C>,
    shipment: &Shipment,
    tracking: Option<&Tracking>,
    alarm: &Alarm,
) -> Result<(), Reply>
where
    P: MessagePublisher,
{
    let transition = AlarmTransition::Acknowledged {
        alarm: alarm.clone(),
    };
    let context = match tracking {
        Some(tracking) => alarm_context(
            &tracking.monitor,
            tracking.latest.as_ref(),
            &shipment.profile,
        ),
        None => alarm_context(
            &ShipmentMonitor::new(shipment.id.clone()),
            None,
            &shipment.profile,
        ),
    };
    let Some(event) =
        AlarmEvent::from_transition(&transition, ShipmentSummary::from(shipment), context)
    else {
        return Ok(());
    };
    match services.alarm_topic.publish(&event.to_message()).await {
        Ok(_) => {
            info!(event_id = %event.event_id, "alarm event published");
            Ok(())
        }
        Err(problem) => {
            error!(event_id = %event.event_id, %problem, "acknowledged, but the event was not published");
            Err(Reply::unavailable())
        }
    }
}

fn invalid(errors: &[FieldError]) -> Reply {
    info!(errors = errors.len(), "invalid tracking request");
    Reply::error(
        400,
        "invalid_request",
        "the request has errors; see `errors`",
        errors,
    )
}

fn forbidden(denied: &Denied) -> Reply {
    info!(%denied, "tracking request refused");
    Reply::forbidden(denied)
}

fn no_shipment(id: &str) -> Reply {
    let id: String = id.chars().take(MAX_SHIPMENT_ID_CHARS).collect();
    Reply::not_found(&format!("no shipment {id:?}"))
}

fn no_alarm(alarm_id: &str) -> Reply {
    let alarm_id: String = alarm_id.chars().take(MAX_ALARM_ID_CHARS).collect();
    Reply::not_found(&format!("the shipment has no alarm {alarm_id:?}"))
}

fn query_failure(failure: &QueryError) -> Reply {
    match failure {
        QueryError::InvalidPageToken => invalid(&[FieldError::new(
            "next",
            "is not a token of this listing: pass the `next` of the previous page, with the same filter",
        )]),
        QueryError::Unavailable(message) => {
            warn!(%message, "store unavailable");
            Reply::unavailable()
        }
        QueryError::Corrupt(message) => {
            error!(%message, "stored data is corrupt");
            Reply::internal()
        }
    }
}

/// The JSON of a reply body (for tests and tools).
pub fn body_json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
