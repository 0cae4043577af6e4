//! The demo world, set up through the REST API and remembered in the state
//! file: the logistics operator, one organisation per recipient place, a
//! manager and a pharmacist in each, one device per truck and the shipments.
//! Everything in the state file is checked against the API first, so a run
//! against a fresh stack recreates what is gone and a rerun reuses the rest.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::api::{Api, ApiError, Token};
use crate::catalogue::{Cargo, Place, Route};
use crate::state::{FleetState, OrgRecord, ShipmentRecord, StateError, TruckRecord, UserRecord};

/// The key of the logistics operator in the state file.
pub const OPERATOR_KEY: &str = "operator";
/// The logistics operator's name.
pub const OPERATOR_NAME: &str = "Lowlands Pharma Logistics";
/// The roles created in every organisation.
pub const ROLES: [&str; 2] = ["MANAGER", "PHARMACIST"];
/// The domain of the demo users' e-mail addresses.
pub const EMAIL_DOMAIN: &str = "fleet.pharmaguard.local";

/// Setting up or changing the world failed.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The API failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The state file failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Something else, said in words.
    #[error("{0}")]
    Other(String),
}

/// Email and password.
#[derive(Debug, Clone)]
pub struct Login {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A user to show a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownLogin {
    /// The organisation's name.
    pub organisation: String,
    /// The role.
    pub role: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A signed-in user whose token is renewed before it expires.
#[derive(Debug)]
struct Session {
    login: Login,
    token: Mutex<Option<(Token, Instant)>>,
}

impl Session {
    fn new(login: Login) -> Self {
        Self {
            login,
            token: Mutex::new(None),
        }
    }

    async fn token(&self, api: &Api) -> Result<String, WorldError> {
        let mut token = self.token.lock().await;
        if let Some((current, issued)) = token.as_ref()
            && issued.elapsed() + Duration::from_secs(60) < current.expires_in
        {
            return Ok(current.access_token.clone());
        }
        let fresh = api
            .login(&self.login.email, &self.login.password)
            .await?
            .ok_or_else(|| WorldError::Other(format!("login of {} refused", self.login.email)))?;
        let access = fresh.access_token.clone();
        *token = Some((fresh, Instant::now()));
        Ok(access)
    }
}

/// The world of one run.
#[derive(Debug)]
pub struct World {
    api: Api,
    path: PathBuf,
    state: Mutex<FleetState>,
    admin: Session,
    operator: Mutex<Option<std::sync::Arc<Session>>>,
}

/// A shipment on board a truck, as the run needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnBoard {
    /// The shipment.
    pub id: String,
    /// Its route.
    pub route: &'static Route,
    /// Its profile.
    pub profile: crate::catalogue::Profile,
    /// How far the truck got, km.
    pub progress_km: f64,
}

impl World {
    /// Opens the world of `path` for the API `api` with the first admin's
    /// `admin` login. What the API does not know any more is forgotten (and
    /// recreated when needed).
    pub async fn open(api: Api, admin: Login, path: PathBuf) -> Result<Self, WorldError> {
        let mut state = FleetState::load(&path)?;
        if state.tag.is_empty() {
            state.tag = random_hex(6);
        }
        state.api_base = api.base().to_owned();
        let world = Self {
            api,
            path,
            state: Mutex::new(state),
            admin: Session::new(admin),
            operator: Mutex::new(None),
        };
        world.forget_what_is_gone().await?;
        world.save().await?;
        Ok(world)
    }

    /// The API.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The world's tag.
    pub async fn tag(&self) -> String {
        self.state.lock().await.tag.clone()
    }

    /// Drops organisations and users the API does not know (any more).
    async fn forget_what_is_gone(&self) -> Result<(), WorldError> {
        let token = self.admin.token(&self.api).await?;
        let reply = self.api.get(&token, "/v1/auth/organisations").await?;
        if reply.status != 200 {
            return Err(ApiError::unexpected("list organisations", reply).into());
        }
        let known: HashSet<String> = ids(&reply.body, "organisations");
        let mut state = self.state.lock().await;
        state.organisations.retain(|_, org| known.contains(&org.id));
        for org in state.organisations.values_mut() {
            let reply = self
                .api
                .get(&token, &format!("/v1/auth/users?org_id={}", org.id))
                .await?;
            if reply.status != 200 {
                return Err(ApiError::unexpected("list users", reply).into());
            }
            let users = ids(&reply.body, "users");
            org.users.retain(|user| users.contains(&user.id));
        }
        Ok(())
    }

    /// Writes the state file.
    pub async fn save(&self) -> Result<(), WorldError> {
        let state = self.state.lock().await;
        state.save(&self.path)?;
        Ok(())
    }

    /// The logistics operator's id (created with its users when missing).
    pub async fn operator_id(&self) -> Result<String, WorldError> {
        self.ensure_org(OPERATOR_KEY, OPERATOR_NAME, "LOGISTICS_OPERATOR")
            .await
    }

    /// The organisation of a recipient place (created with its users when missing).
    pub async fn recipient_id(&self, place: &Place) -> Result<String, WorldError> {
        self.ensure_org(place.key, place.name, place.kind.organisation_kind())
            .await
    }

    async fn ensure_org(&self, key: &str, name: &str, kind: &str) -> Result<String, WorldError> {
        let mut state = self.state.lock().await;
        let token = self.admin.token(&self.api).await?;
        if !state.organisations.contains_key(key) {
            let reply = self
                .api
                .post(
                    Some(&token),
                    "/v1/auth/organisations",
                    &json!({"name": name, "kind": kind}),
                )
                .await?;
            let id = created_id(reply, &format!("create organisation {name}"))?;
            state.organisations.insert(
                key.to_owned(),
                OrgRecord {
                    id,
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    users: Vec::new(),
                },
            );
        }
        let tag = state.tag.clone();
        let org = state
            .organisations
            .get_mut(key)
            .ok_or_else(|| WorldError::Other(format!("organisation {key} vanished")))?;
        for role in ROLES {
            if org.users.iter().any(|user| user.role == role) {
                continue;
            }
            let user = self.create_user(&token, &org.id, key, role, &tag).await?;
            org.users.push(user);
        }
        let id = org.id.clone();
        state.save(&self.path)?;
        Ok(id)
    }

    async fn create_user(
        &self,
        token: &str,
        org_id: &str,
        key: &str,
        role: &str,
        tag: &str,
    ) -> Result<UserRecord, WorldError> {
        let password = format!("Fleet-{}", random_hex(20));
        let mut email = format!("{}.{key}.{tag}@{EMAIL_DOMAIN}", role.to_lowercase());
        for _ in 0..3 {
            let body = json!({
                "email": email, "password": password, "role": role, "org_id": org_id,
                "name": format!("{} {}", title(role), title(key)),
            });
            let reply = self.api.post(Some(token), "/v1/auth/users", &body).await?;
            match reply.status {
                201 => {
                    return Ok(UserRecord {
                        id: created_id(reply, "create user")?,
                        role: role.to_owned(),
                        email,
                        password,
                    });
                }
                // taken by a world whose state file is lost: another address
                409 => {
                    email = format!(
                        "{}.{key}.{tag}-{}@{EMAIL_DOMAIN}",
                        role.to_lowercase(),
                        random_hex(4)
                    )
                }
                _ => return Err(ApiError::unexpected(format!("create user {email}"), reply).into()),
            }
        }
        Err(WorldError::Other(format!(
            "no free e-mail address for the {role} of {key}"
        )))
    }

    /// The device of truck `number`: registered when missing; returns
    /// `(device_id, secret, a fresh token if one was issued on the way)`.
    pub async fn device(
        &self,
        number: usize,
    ) -> Result<(String, String, Option<Token>), WorldError> {
        let known = self.state.lock().await.trucks.get(&number).cloned();
        if let Some(truck) = known
            && let Some(token) = self
                .api
                .device_token(&truck.device_id, &truck.secret)
                .await?
        {
            return Ok((truck.device_id, truck.secret, Some(token)));
        }
        let operator = self.operator_id().await?;
        let token = self.admin.token(&self.api).await?;
        let tag = self.tag().await;
        let mut device_id = format!("fleet-{tag}-truck-{number:02}");
        for _ in 0..3 {
            let body = json!({
                "device_id": device_id,
                "name": format!("Truck {number:02} cargo sensor"),
                "org_id": operator,
            });
            let reply = self
                .api
                .post(Some(&token), "/v1/auth/devices", &body)
                .await?;
            match reply.status {
                201 => {
                    let secret = reply.body["secret"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::unexpected("register device", reply.clone()))?;
                    let mut state = self.state.lock().await;
                    state.trucks.insert(
                        number,
                        TruckRecord {
                            device_id: device_id.clone(),
                            secret: secret.clone(),
                            shipment: None,
                        },
                    );
                    state.save(&self.path)?;
                    return Ok((device_id, secret, None));
                }
                409 => device_id = format!("fleet-{tag}-truck-{number:02}-{}", random_hex(4)),
                _ => {
                    return Err(ApiError::unexpected(
                        format!("register device {device_id}"),
                        reply,
                    )
                    .into());
                }
            }
        }
        Err(WorldError::Other(format!(
            "no free device id for truck {number}"
        )))
    }

    async fn operator_session(&self) -> Result<std::sync::Arc<Session>, WorldError> {
        self.operator_id().await?;
        let mut session = self.operator.lock().await;
        if let Some(session) = session.as_ref() {
            return Ok(session.clone());
        }
        let state = self.state.lock().await;
        let manager = state
            .organisations
            .get(OPERATOR_KEY)
            .and_then(|org| org.users.iter().find(|user| user.role == "MANAGER"))
            .ok_or_else(|| WorldError::Other("the operator has no manager".into()))?;
        let created = std::sync::Arc::new(Session::new(Login {
            email: manager.email.clone(),
            password: manager.password.clone(),
        }));
        *session = Some(created.clone());
        Ok(created)
    }

    async fn manager_token(&self) -> Result<String, WorldError> {
        self.operator_session().await?.token(&self.api).await
    }

    /// The shipment truck `number` carried when the last run ended, if it is
    /// still on its way (moved on to IN_TRANSIT if it was not yet).
    pub async fn resume(&self, number: usize) -> Result<Option<OnBoard>, WorldError> {
        let Some(record) = self
            .state
            .lock()
            .await
            .trucks
            .get(&number)
            .and_then(|truck| truck.shipment.clone())
        else {
            return Ok(None);
        };
        let (Some(route), Some(profile)) = (
            crate::catalogue::route_by_key(&record.route),
            profile_named(&record.profile),
        ) else {
            return Ok(None);
        };
        let token = self.manager_token().await?;
        let reply = self
            .api
            .get(&token, &format!("/v1/shipments/{}", record.id))
            .await?;
        if reply.status != 200 {
            return Ok(None);
        }
        let mut version = reply.body["version"].as_u64().unwrap_or(record.version);
        let steps: &[&str] = match reply.body["state"].as_str() {
            Some("IN_TRANSIT") => &[],
            Some("DISPATCHED") => &["start"],
            Some("PENDING") => &["dispatch", "start"],
            _ => return Ok(None),
        };
        for step in steps {
            version = self.transition(&token, &record.id, step, version).await?;
        }
        self.remember(
            number,
            Some((&record.id, route, profile, version, record.progress_km)),
        )
        .await?;
        Ok(Some(OnBoard {
            id: record.id,
            route,
            profile,
            progress_km: record.progress_km,
        }))
    }

    /// Creates a shipment of `cargo` on `route` for truck `number` and moves
    /// it to IN_TRANSIT.
    pub async fn begin(
        &self,
        number: usize,
        device_id: &str,
        route: &'static Route,
        cargo: &Cargo,
    ) -> Result<OnBoard, WorldError> {
        let shipper = self.operator_id().await?;
        let recipient = self.recipient_id(route.destination()).await?;
        let token = self.manager_token().await?;
        let (origin, destination) = (route.origin(), route.destination());
        let body = json!({
            "product": cargo.product,
            "quantity": cargo.quantity,
            "cargo_value": {"amount": cargo.value_eur, "currency": "EUR"},
            "profile": {"kind": cargo.profile.as_str()},
            "shipper_org_id": shipper,
            "recipient_org_id": recipient,
            "origin": {"name": origin.name, "lat": origin.at.lat, "lon": origin.at.lon},
            "destination": {"name": destination.name, "lat": destination.at.lat, "lon": destination.at.lon},
            "device_id": device_id,
            "truck_id": format!("truck-{number:02}"),
        });
        let reply = self.api.post(Some(&token), "/v1/shipments", &body).await?;
        let version = reply.body["version"].as_u64().unwrap_or(1);
        let id = created_id(reply, "create shipment")?;
        let version = self.transition(&token, &id, "dispatch", version).await?;
        let version = self.transition(&token, &id, "start", version).await?;
        self.remember(number, Some((&id, route, cargo.profile, version, 0.0)))
            .await?;
        Ok(OnBoard {
            id,
            route,
            profile: cargo.profile,
            progress_km: 0.0,
        })
    }

    /// Marks the shipment of truck `number` DELIVERED.
    pub async fn deliver(&self, number: usize, shipment_id: &str) -> Result<(), WorldError> {
        let token = self.manager_token().await?;
        let reply = self
            .api
            .get(&token, &format!("/v1/shipments/{shipment_id}"))
            .await?;
        if reply.status != 200 {
            return Err(ApiError::unexpected("read shipment", reply).into());
        }
        if reply.body["state"] != "DELIVERED" {
            let version = reply.body["version"].as_u64().unwrap_or(1);
            self.transition(&token, shipment_id, "deliver", version)
                .await?;
        }
        self.remember(number, None).await
    }

    /// Saves how far each truck got.
    pub async fn save_progress(&self, progress: &[(usize, f64)]) -> Result<(), WorldError> {
        let mut state = self.state.lock().await;
        for (number, km) in progress {
            if let Some(shipment) = state
                .trucks
                .get_mut(number)
                .and_then(|truck| truck.shipment.as_mut())
            {
                shipment.progress_km = *km;
            }
        }
        state.save(&self.path)?;
        Ok(())
    }

    async fn remember(
        &self,
        number: usize,
        shipment: Option<(&str, &Route, crate::catalogue::Profile, u64, f64)>,
    ) -> Result<(), WorldError> {
        let mut state = self.state.lock().await;
        if let Some(truck) = state.trucks.get_mut(&number) {
            truck.shipment =
                shipment.map(
                    |(id, route, profile, version, progress_km)| ShipmentRecord {
                        id: id.to_owned(),
                        route: route.key.to_owned(),
                        profile: profile.as_str().to_owned(),
                        version,
                        progress_km,
                    },
                );
        }
        state.save(&self.path)?;
        Ok(())
    }

    async fn transition(
        &self,
        token: &str,
        id: &str,
        action: &str,
        version: u64,
    ) -> Result<u64, WorldError> {
        let path = format!("/v1/shipments/{id}/{action}");
        let reply = self
            .api
            .post(Some(token), &path, &json!({"version": version}))
            .await?;
        match reply.status {
            200 => Ok(reply.body["version"].as_u64().unwrap_or(version + 1)),
            _ => Err(ApiError::unexpected(format!("{action} shipment {id}"), reply).into()),
        }
    }

    /// The users a person can log in as.
    pub async fn logins(&self) -> Vec<ShownLogin> {
        let state = self.state.lock().await;
        let mut shown = Vec::new();
        let operator_first = state
            .organisations
            .iter()
            .filter(|(key, _)| key.as_str() == OPERATOR_KEY)
            .chain(
                state
                    .organisations
                    .iter()
                    .filter(|(key, _)| key.as_str() != OPERATOR_KEY),
            );
        for (_, org) in operator_first {
            for user in &org.users {
                shown.push(ShownLogin {
                    organisation: org.name.clone(),
                    role: user.role.clone(),
                    email: user.email.clone(),
                    password: user.password.clone(),
                });
            }
        }
        shown
    }
}

/// The ids of the list under `key` (or `items`) of a listing.
fn ids(body: &Value, key: &str) -> HashSet<String> {
    body[key]
        .as_array()
        .or_else(|| body["items"].as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn created_id(reply: crate::api::Reply, what: &str) -> Result<String, WorldError> {
    match (reply.status, reply.body["id"].as_str()) {
        (201, Some(id)) => Ok(id.to_owned()),
        _ => Err(ApiError::unexpected(what, reply).into()),
    }
}

fn profile_named(name: &str) -> Option<crate::catalogue::Profile> {
    use crate::catalogue::Profile;
    [
        Profile::Refrigerated,
        Profile::Frozen,
        Profile::ControlledRoom,
    ]
    .into_iter()
    .find(|profile| profile.as_str() == name)
}

/// `n` random lowercase hex digits (not from the seed: secrets and tags must
/// differ between worlds).
pub fn random_hex(n: usize) -> String {
    let mut text = String::new();
    while text.len() < n {
        text.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    text.truncate(n);
    text
}

/// `"uk-koeln"` → `"Uk Koeln"`, `"MANAGER"` → `"Manager"`.
fn title(text: &str) -> String {
    text.split(['-', '_'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_give_their_ids() {
        let body = serde_json::json!({"organisations": [{"id": "org-1"}, {"id": "org-2"}, {"name": "no id"}]});
        assert_eq!(
            ids(&body, "organisations"),
            HashSet::from(["org-1".to_owned(), "org-2".to_owned()])
        );
        let items = serde_json::json!({"items": [{"id": "usr-1"}]});
        assert_eq!(ids(&items, "users"), HashSet::from(["usr-1".to_owned()]));
        assert!(ids(&serde_json::json!({}), "users").is_empty());
    }

    #[test]
    fn names_and_tags() {
        assert_eq!(title("uk-koeln"), "Uk Koeln");
        assert_eq!(title("MANAGER"), "Manager");
        let tag = random_hex(40);
        assert_eq!(tag.len(), 40);
        assert!(tag.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_hex(6), random_hex(6));
        assert_eq!(
            profile_named("FROZEN"),
            Some(crate::catalogue::Profile::Frozen)
        );
        assert_eq!(profile_named("ULTRA_COLD"), None);
    }
}
