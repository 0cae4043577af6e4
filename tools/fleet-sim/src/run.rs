//! A whole run: set up the world, start one task per truck (its clock) and
//! one sender per truck, print progress, stop on the duration or a signal,
//! flush, and sum up.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::api::Api;
use crate::catalogue::{ROUTES, pick_cargo};
use crate::cli::{Config, Transport};
use crate::incident::IncidentKind;
use crate::rng::Rng;
use crate::stats::{
    Count, CountSnapshot, ExpectedAlarm, IncidentRecord, ShipmentEvent, Stats, progress_line,
};
use crate::transport::{self, Outgoing};
use crate::truck::{Load, TickOptions, Truck};
use crate::world::{Login, OnBoard, ShownLogin, World, WorldError};

/// How long a truck stands at the destination before its next shipment starts.
pub const UNLOAD: Duration = Duration::from_secs(60);

/// The run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file is missing or wrong.
    #[error("{0}")]
    Setup(String),
    /// Setting up the world failed.
    #[error("setting up the demo world: {0}")]
    World(#[from] WorldError),
}

/// What a run did, printed as JSON at the end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `https` or `mqtt`.
    pub transport: String,
    /// The REST API used.
    pub api_url: String,
    /// Number of trucks.
    pub trucks: usize,
    /// Readings per second per truck.
    pub rate_hz: f64,
    /// The seed (rerun with `--seed` to repeat routes, cargo and values).
    pub seed: u64,
    /// When the clock started (RFC 3339).
    pub started_at: String,
    /// When it stopped.
    pub ended_at: String,
    /// Seconds between the two.
    pub elapsed_s: f64,
    /// The fleet's counts.
    pub totals: CountSnapshot,
    /// Each truck's counts.
    pub per_truck: Vec<TruckSummary>,
    /// Incidents that started.
    pub incidents: Vec<IncidentRecord>,
    /// Readings that should raise or escalate an alarm, in order.
    pub expected_alarms: Vec<ExpectedAlarm>,
    /// Shipments started, resumed and delivered.
    pub shipments: Vec<ShipmentEvent>,
}

/// One truck's part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct TruckSummary {
    /// Number, from 1.
    pub truck: usize,
    /// Its device.
    pub device_id: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: CountSnapshot,
}

/// The REST API base URL: `--api-url`, else `ApiBaseUrl` of the outputs file.
pub fn api_url(config: &Config) -> Result<String, RunError> {
    if let Some(url) = &config.api_url {
        return Ok(url.clone());
    }
    let outputs = read_json(
        &config.outputs,
        "no deployed local stack; run localstack/up first",
    )?;
    outputs["ApiBaseUrl"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| RunError::Setup(format!("{} has no ApiBaseUrl", config.outputs.display())))
}

/// The first admin's login from its file.
pub fn admin_login(path: &Path) -> Result<Login, RunError> {
    let admin = read_json(
        path,
        "no first admin; run localstack/up (infra/deploy creates it)",
    )?;
    match (admin["email"].as_str(), admin["password"].as_str()) {
        (Some(email), Some(password)) => Ok(Login {
            email: email.to_owned(),
            password: password.to_owned(),
        }),
        _ => Err(RunError::Setup(format!(
            "{} has no email and password",
            path.display()
        ))),
    }
}

fn read_json(path: &Path, hint: &str) -> Result<Value, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| RunError::Setup(format!("{}: {error} ({hint})", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|error| RunError::Setup(format!("{}: not JSON: {error}", path.display())))
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// A truck ready to go: its device and the shipment on board.
struct Ready {
    number: usize,
    device_id: String,
    secret: String,
    token: Option<crate::api::Token>,
    on_board: OnBoard,
    resumed: bool,
}

async fn prepare(world: &World, number: usize, seed: u64) -> Result<Ready, WorldError> {
    let (device_id, secret, token) = world.device(number).await?;
    if let Some(on_board) = world.resume(number).await? {
        return Ok(Ready {
            number,
            device_id,
            secret,
            token,
            on_board,
            resumed: true,
        });
    }
    let mut rng = Rng::derive(seed, 1_000 + number as u64);
    let route = &ROUTES[rng.index(ROUTES.len())];
    let cargo = pick_cargo(&mut rng);
    let mut on_board = world.begin(number, &device_id, route, &cargo).await?;
    // the first shipments are already on their way, somewhere along the route
    on_board.progress_km = route.polyline().length_km() * rng.range(0.0, 0.6);
    Ok(Ready {
        number,
        device_id,
        secret,
        token,
        on_board,
        resumed: false,
    })
}

/// Sets up the world for `config.trucks` trucks; returns them, ready.
async fn set_up(world: &Arc<World>, config: &Config, seed: u64) -> Result<Vec<Ready>, RunError> {
    world.operator_id().await?;
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = JoinSet::new();
    for number in 1..=config.trucks {
        let (world, limit) = (world.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            prepare(&world, number, seed).await
        });
    }
    let mut ready = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => ready.push(result?),
            Err(error) => return Err(RunError::Setup(format!("a set-up task failed: {error}"))),
        }
    }
    ready.sort_by_key(|truck| truck.number);
    Ok(ready)
}

/// Prints the logins a person can use.
pub fn print_logins(logins: &[ShownLogin]) {
    eprintln!("fleet-sim: log in to PharmaGuard as (passwords are kept in the state file):");
    for login in logins {
        eprintln!(
            "  {:<46} {:<11} {:<58} {}",
            login.organisation, login.role, login.email, login.password
        );
    }
}

/// Runs the fleet of `config` until its duration ends or `stop` resolves.
pub async fn run(
    config: Config,
    stop: impl Future<Output = ()> + Send,
) -> Result<Summary, RunError> {
    let api = Api::new(&api_url(&config)?);
    let admin = admin_login(&config.admin)?;
    let seed = config
        .seed
        .unwrap_or_else(|| u64::from_str_radix(&crate::world::random_hex(12), 16).unwrap_or(1));
    eprintln!(
        "fleet-sim: {} trucks, {} reading(s)/s each over {}, seed {seed}; setting up the world at {}",
        config.trucks,
        config.rate_hz,
        config.transport.as_str(),
        api.base()
    );
    let world = Arc::new(World::open(api.clone(), admin, config.state.clone()).await?);
    let ready = set_up(&world, &config, seed).await?;
    print_logins(&world.logins().await);
    for truck in &ready {
        let route = truck.on_board.route;
        eprintln!(
            "fleet-sim: truck {:>2} {} {} {} → {} ({}, {:.0} km){}",
            truck.number,
            truck.device_id,
            truck.on_board.id,
            route.origin().name,
            route.destination().name,
            truck.on_board.profile.as_str(),
            route.polyline().length_km(),
            if truck.resumed { ", resumed" } else { "" }
        );
    }

    let stats = Arc::new(Stats::new(config.trucks));
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    for truck in &ready {
        stats.note(|journal| {
            journal.shipments.push(ShipmentEvent {
                event: if truck.resumed { "resumed" } else { "started" }.into(),
                truck: truck.number,
                shipment_id: truck.on_board.id.clone(),
                route: truck.on_board.route.key.into(),
                profile: truck.on_board.profile.as_str().into(),
                at: rfc3339(started_at),
            })
        });
    }
    if config.setup_only {
        return Ok(summary(&config, &api, seed, started_at, &stats, &ready));
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut senders = JoinSet::new();
    let mut trucks = JoinSet::new();
    let mqtt_target = match config.transport {
        Transport::Mqtt => {
            Some(transport::mqtt::parse_mqtt_url(&config.mqtt_url).map_err(RunError::Setup)?)
        }
        Transport::Https => None,
    };
    let api_port = Arc::new(api.clone());
    for truck in &ready {
        let (tx, rx) = mpsc::channel::<Outgoing>(1024);
        let credentials = (truck.device_id.clone(), truck.secret.clone());
        match &mqtt_target {
            Some(target) => {
                senders.spawn(transport::mqtt::run(
                    rx,
                    credentials,
                    target.clone(),
                    truck.number,
                    stats.clone(),
                ));
            }
            None => {
                let sender = transport::https::HttpsSender::new(
                    api_port.clone(),
                    credentials,
                    truck.number,
                    stats.clone(),
                    truck.token.clone(),
                )
                .with_stop(stop_rx.clone());
                senders.spawn(sender.run(rx, config.batch_window, config.batch_max));
            }
        }
        let model = Truck::new(
            truck.number,
            &truck.device_id,
            Load {
                shipment_id: truck.on_board.id.clone(),
                route: truck.on_board.route,
                profile: truck.on_board.profile,
            },
            truck.on_board.progress_km,
            Rng::derive(seed, truck.number as u64),
        );
        trucks.spawn(drive(
            model,
            tx,
            TruckContext {
                config: config.clone(),
                world: world.clone(),
                stats: stats.clone(),
                clock,
                phase: Duration::from_secs_f64(
                    (truck.number - 1) as f64 / config.trucks as f64 / config.rate_hz,
                ),
                stop: stop_rx.clone(),
            },
        ));
    }
    let progress = tokio::spawn(report_progress(
        stats.clone(),
        clock,
        config.progress_every,
        stop_rx.clone(),
    ));

    let until = async {
        match config.duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = until => {}
        () = stop => eprintln!("fleet-sim: stopping; sending what is left"),
    }
    let _ = stop_tx.send(true);
    let mut progress_km = Vec::new();
    while let Some(joined) = trucks.join_next().await {
        if let Ok(Some(km)) = joined {
            progress_km.push(km);
        }
    }
    while senders.join_next().await.is_some() {}
    let _ = progress.await;
    if let Err(error) = world.save_progress(&progress_km).await {
        eprintln!("fleet-sim: {error}");
    }
    let mut summary = summary(&config, &api, seed, started_at, &stats, &ready);
    summary.elapsed_s = clock.elapsed().as_secs_f64();
    eprintln!(
        "{}",
        progress_line(
            clock.elapsed(),
            &summary.totals,
            &CountSnapshot::default(),
            clock.elapsed()
        )
    );
    Ok(summary)
}

fn summary(
    config: &Config,
    api: &Api,
    seed: u64,
    started_at: OffsetDateTime,
    stats: &Stats,
    ready: &[Ready],
) -> Summary {
    let journal = stats.journal.lock().map(|j| j.clone()).unwrap_or_default();
    let ended_at = OffsetDateTime::now_utc();
    Summary {
        transport: config.transport.as_str().into(),
        api_url: api.base().into(),
        trucks: config.trucks,
        rate_hz: config.rate_hz,
        seed,
        started_at: rfc3339(started_at),
        ended_at: rfc3339(ended_at),
        elapsed_s: (ended_at - started_at).as_seconds_f64(),
        totals: stats.total(),
        per_truck: ready
            .iter()
            .map(|truck| TruckSummary {
                truck: truck.number,
                device_id: truck.device_id.clone(),
                counts: stats.truck(truck.number),
            })
            .collect(),
        incidents: journal.incidents,
        expected_alarms: journal.expected_alarms,
        shipments: journal.shipments,
    }
}

/// What a truck's task shares with the run.
struct TruckContext {
    config: Config,
    world: Arc<World>,
    stats: Arc<Stats>,
    clock: Instant,
    phase: Duration,
    stop: watch::Receiver<bool>,
}

type Handover = tokio::task::JoinHandle<Result<OnBoard, WorldError>>;

/// The clock of one truck: a tick every 1/rate s (phase-shifted so the
/// fleet's readings spread over the period) until the run stops. Returns the
/// truck number and its progress along the route.
async fn drive(
    mut truck: Truck,
    tx: mpsc::Sender<Outgoing>,
    mut ctx: TruckContext,
) -> Option<(usize, f64)> {
    let config = &ctx.config;
    let period = Duration::from_secs_f64(1.0 / config.rate_hz);
    let number = truck.number;
    for spec in config.incidents.iter().filter(|spec| spec.truck == number) {
        truck.schedule(spec.start.as_secs_f64(), spec.kind, false);
    }
    let options = TickOptions {
        transport: config.transport,
        duplicate_rate: config.duplicate_rate,
        malformed_rate: config.malformed_rate,
        random_incidents_per_s: config.random_incidents_per_hour / 3600.0 / config.trucks as f64,
        speedup: config.speedup,
    };
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::from_std(ctx.clock + ctx.phase),
        period,
    );
    let mut last = ctx.clock;
    let mut arrived_at: Option<Instant> = None;
    let mut handover: Option<Handover> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = ctx.stop.changed() => break,
        }
        if *ctx.stop.borrow() {
            break;
        }
        let now_instant = Instant::now();
        let dt = now_instant
            .duration_since(last)
            .as_secs_f64()
            .clamp(0.001, 60.0);
        last = now_instant;
        let elapsed = now_instant.duration_since(ctx.clock).as_secs_f64();
        let now = OffsetDateTime::now_utc();
        let tick = truck.tick(elapsed, now, dt, &options);
        record(&truck, &tick, elapsed, now, &ctx.stats);
        for record in tick.records {
            if tx.send(record).await.is_err() {
                return None;
            }
        }
        if tick.arrived {
            arrived_at = Some(now_instant);
        }
        // after the unloading time: deliver, then the next shipment
        if handover.is_none()
            && let Some(at) = arrived_at
            && at.elapsed() >= UNLOAD
        {
            arrived_at = None;
            handover = Some(start_handover(&mut truck, &ctx.world));
        }
        if handover.as_ref().is_some_and(|task| task.is_finished())
            && let Some(task) = handover.take()
        {
            match task.await {
                Ok(Ok(on_board)) => {
                    eprintln!(
                        "fleet-sim: truck {} starts shipment {} {} → {} ({})",
                        truck.number,
                        on_board.id,
                        on_board.route.origin().name,
                        on_board.route.destination().name,
                        on_board.profile.as_str()
                    );
                    ctx.stats.note(|journal| {
                        journal.shipments.push(ShipmentEvent {
                            event: "started".into(),
                            truck: truck.number,
                            shipment_id: on_board.id.clone(),
                            route: on_board.route.key.into(),
                            profile: on_board.profile.as_str().into(),
                            at: rfc3339(now),
                        })
                    });
                    truck.start(Load {
                        shipment_id: on_board.id,
                        route: on_board.route,
                        profile: on_board.profile,
                    });
                }
                Ok(Err(error)) => {
                    eprintln!(
                        "fleet-sim: truck {}: next shipment: {error}; trying again in a minute",
                        truck.number
                    );
                    arrived_at = Some(Instant::now());
                }
                Err(error) => eprintln!("fleet-sim: truck {}: {error}", truck.number),
            }
        }
    }
    drop(tx);
    if let Some(task) = handover {
        let _ = task.await;
    }
    truck.load().map(|_| (truck.number, truck.progress_km()))
}

fn start_handover(truck: &mut Truck, world: &Arc<World>) -> Handover {
    let delivered = truck.load().map(|load| load.shipment_id.clone());
    let route = truck.next_route();
    let cargo = pick_cargo(truck.rng());
    let (number, device_id, world) = (truck.number, truck.device_id.clone(), world.clone());
    truck.unload();
    tokio::spawn(async move {
        if let Some(shipment_id) = delivered {
            world.deliver(number, &shipment_id).await?;
            eprintln!("fleet-sim: truck {number} delivered shipment {shipment_id}");
        }
        world.begin(number, &device_id, route, &cargo).await
    })
}

fn record(
    truck: &Truck,
    tick: &crate::truck::Tick,
    elapsed: f64,
    now: OffsetDateTime,
    stats: &Stats,
) {
    use crate::transport::Kind;
    let number = truck.number;
    if tick.silenced {
        stats.add(number, Count::Silenced, 1);
    }
    let duplicates = tick
        .records
        .iter()
        .filter(|r| r.kind == Kind::Duplicate)
        .count();
    let malformed = tick
        .records
        .iter()
        .filter(|r| r.kind == Kind::Malformed)
        .count();
    stats.add(number, Count::Duplicates, duplicates as u64);
    stats.add(number, Count::Malformed, malformed as u64);
    if tick.arrived
        && let Some(load) = truck.load()
    {
        eprintln!(
            "fleet-sim: truck {number} arrived at {} with shipment {}",
            load.route.destination().name,
            load.shipment_id
        );
        stats.note(|journal| {
            journal.shipments.push(ShipmentEvent {
                event: "arrived".into(),
                truck: number,
                shipment_id: load.shipment_id.clone(),
                route: load.route.key.into(),
                profile: load.profile.as_str().into(),
                at: rfc3339(now),
            })
        });
    }
    for started in &tick.started {
        let shipment_id = truck.load().map(|load| load.shipment_id.clone());
        let lasts = match started.kind.lasts() {
            Some(duration) => format!("for {} min", duration.as_secs() / 60),
            None if started.kind == IncidentKind::CompressorFailure => "until delivery".into(),
            None => String::new(),
        };
        eprintln!(
            "fleet-sim: incident {}{} on truck {number} ({}, shipment {}) at +{elapsed:.0} s, {lasts}",
            started.kind,
            if started.random { " (random)" } else { "" },
            truck.device_id,
            shipment_id.as_deref().unwrap_or("none"),
        );
        stats.note(|journal| {
            journal.incidents.push(IncidentRecord {
                kind: started.kind.as_str().into(),
                truck: number,
                device_id: truck.device_id.clone(),
                shipment_id,
                started_at: rfc3339(now),
                start_s: elapsed,
                random: started.random,
            })
        });
    }
    if !tick.expected.is_empty() {
        stats.note(|journal| {
            journal
                .expected_alarms
                .extend(tick.expected.iter().cloned())
        });
    }
}

async fn report_progress(
    stats: Arc<Stats>,
    clock: Instant,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    if every.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::from_std(clock + every), every);
    let mut before = stats.total();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let now = stats.total();
        eprintln!("{}", progress_line(clock.elapsed(), &now, &before, every));
        before = now;
    }
}
