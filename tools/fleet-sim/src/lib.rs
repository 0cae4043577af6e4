//! `fleet-sim`: a fleet of refrigerated trucks for demos and a telemetry load
//! generator, talking to the deployed stack like real devices do.
//!
//! - [`world`]: the demo world set up through the REST API and remembered in
//!   the state file (organisations, users, devices, shipments);
//! - [`truck`]: one truck tick by tick ([`motion`] along a [`catalogue`]
//!   route, [`sensors`], [`incident`]s, [`reading`]s, expected alarms);
//! - [`transport`]: HTTPS batches or MQTT messages;
//! - [`run`]: the whole fleet on a clock, progress and [`stats`].
//! - [`record`]: `fleet-sim record`, the telemetry stream written to a file
//!   offline on a simulated clock (for benchmarks).

pub mod api;
pub mod catalogue;
pub mod cli;
pub mod geo;
pub mod incident;
pub mod motion;
pub mod reading;
pub mod record;
pub mod rng;
pub mod run;
pub mod sensors;
pub mod state;
pub mod stats;
pub mod transport;
pub mod truck;
pub mod world;
