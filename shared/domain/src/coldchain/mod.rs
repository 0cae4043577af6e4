//! Cold-chain rules: what the anomaly detector applies to every reading.
//!
//! - [`mkt`]: mean kinetic temperature, computed incrementally
//!   ([`MktAccumulator`]);
//! - [`excursion`]: time out of range per side, continuous and cumulative,
//!   and in the profile's outer zones ([`ExcursionTracker`]);
//! - [`zone`]: which limit or zone a temperature crossed, by how much
//!   ([`Crossing`]);
//! - [`clearing`]: the guard margin an excursion must clear by (hysteresis);
//! - [`coverage`]: the learned reporting interval, data coverage, longest
//!   gap, minimum and maximum ([`Coverage`]);
//! - [`shock`]: vibration peaks above the crash threshold;
//! - [`offline`]: silent devices while in transit; [`no_data`]: shipments on
//!   their way that never sent a reading;
//! - [`trend`]: the pre-excursion warning from a least-squares trend over
//!   per-minute means;
//! - [`risk`]: the estimated financial loss of a shipment ([`estimate_risk`]);
//! - [`alarm`]: the alarm lifecycle ([`AlarmBook`], [`AlarmTransition`]);
//! - [`events`]: the alarm events published for transitions ([`AlarmEvent`]);
//! - [`monitor`]: [`ShipmentMonitor`], all of the above for one shipment.
//! - [`backfill`]: late readings rebuild the trip from the history;
//! - [`detector`]: the anomaly detector's batch logic (decode, assign, group,
//!   apply); [`record`]: the stream records it decodes; [`tracking`]: its
//!   per-shipment state and ports.
//! - [`position`]: the position events ([`TrackingUpdated`]) published after
//!   a tracking is saved, and the cold-chain status the dashboard shows;
//!   [`dashboard`]: the REST views, the alarm acknowledgement and their ports;
//!   [`review`]: the review of an alarm (reason and disposition).
//!
//! Everything here is pure: no I/O, no clock — times are always passed in.
//! Durations come from [`MonitorSettings`] (defaults below).
//!
//! # Severities
//!
//! | alarm | raised | escalated | cleared |
//! |---|---|---|---|
//! | `TEMPERATURE_EXCURSION` | MAJOR, once out of range for the alarm delay of the side it is on; CRITICAL at once in an outer zone, after the zone's delay | CRITICAL at [`CRITICAL_DELAY_FACTOR`] × the delay, in an outer zone, or when a budget is exhausted | once back inside the range by the guard margin for [`DEFAULT_CLEAR_AFTER`] |
//! | `BUDGET_EXHAUSTED` | CRITICAL, when the cumulative time out of range reaches the budget | — | never during the trip (the budget stays spent) |
//! | `SHOCK` | CRITICAL, vibration above the crash threshold | — | by a reading after a quiet period with no crash |
//! | `DEVICE_OFFLINE` | MAJOR, no reading for the offline delay while IN_TRANSIT | CRITICAL at 2× the delay | by the next reading, or when no longer in transit |
//! | `NO_DATA` | MAJOR, no reading at all [`DEFAULT_NO_DATA_AFTER`] after the start while DISPATCHED or IN_TRANSIT (not during an expected silence) | — | by the first reading, or when no longer on its way |
//! | `PRE_EXCURSION` | WARNING, in range but a significant trend of per-minute means leaves the range within the horizon | — | by an in-range reading whose trend stays in range |

pub mod alarm;
pub mod backfill;
pub mod clearing;
pub mod coverage;
pub mod dashboard;
pub mod detector;
pub mod events;
pub mod excursion;
pub mod mkt;
pub mod monitor;
pub mod no_data;
pub mod offline;
pub mod position;
pub mod record;
pub mod review;
pub mod risk;
pub mod shock;
pub mod tracking;
pub mod trend;
pub mod zone;

use time::Duration;

pub use alarm::{
    AckRefused, Alarm, AlarmBook, AlarmState, AlarmTransition, AlarmType, Severity, Signal,
};
pub use clearing::DEFAULT_CLEAR_MARGIN_C;
pub use coverage::{Coverage, coverage_fraction};
pub use events::{
    ALARM_EVENT_VERSION, AlarmContext, AlarmEvent, AlarmEventType, ShipmentSummary, alarm_event_id,
};
pub use excursion::{Accounting, Band, ExcursionStatus, ExcursionTracker, Ignored};
pub use mkt::{MktAccumulator, MktError, mean_kinetic_temperature};
pub use monitor::{Observation, ShipmentMonitor};
pub use offline::{DEFAULT_OFFLINE_AFTER, offline_for, offline_signal};
pub use position::{
    AlarmSummary, ColdChainStatus, MAX_POSITION_MESSAGE_BYTES, Position, ProfileBand,
    TRACKING_BATCH, TRACKING_UPDATED, TrackingEventType, TrackingUpdated, position_messages,
    tracking_event_id,
};
pub use review::{Disposition, Review, ReviewRequest, parse_review_request};
pub use risk::{
    RiskComponent, RiskEstimate, RiskInput, RiskPart, combine, crash_fraction, estimate_risk,
    excursion_fraction, mkt_fraction,
};
pub use shock::{DEFAULT_CRASH_THRESHOLD_G, is_crash, shock_signal};
pub use trend::{Forecast, TrendWindow, pre_excursion_signal};
pub use zone::{Crossing, Limit, ZoneBand};

/// Least cap of the interval attributed to a reading (see [`excursion`] and
/// [`coverage`]): a silent device does not add hours of excursion or MKT time.
pub const DEFAULT_MAX_ATTRIBUTED_GAP: Duration = Duration::minutes(5);
/// Longest interval attributed to a reading before the device's reporting
/// interval is known: the slowest rate a logger is expected to report at.
pub const DEFAULT_MAX_REPORTING_INTERVAL: Duration = Duration::minutes(15);
/// How long readings must stay well inside the range before an excursion
/// clears (see [`clearing`]).
pub const DEFAULT_CLEAR_AFTER: Duration = Duration::minutes(5);
/// How long after the start of a shipment (its dispatch) readings out of
/// range raise no temperature alarm and count as in range, while the load
/// settles. Outer zones count at once.
pub const DEFAULT_START_UP_IGNORE: Duration = Duration::minutes(10);
/// How long after its start a shipment on its way may send nothing before
/// NO_DATA.
pub const DEFAULT_NO_DATA_AFTER: Duration = Duration::minutes(15);
/// A shock alarm clears on the first reading at least this long after the last crash.
pub const DEFAULT_SHOCK_QUIET_PERIOD: Duration = Duration::minutes(10);
/// How far back the trend looks (widened for slow loggers to
/// [`TREND_WINDOW_INTERVALS`] reporting intervals).
pub const DEFAULT_TREND_WINDOW: Duration = Duration::minutes(30);
/// The trend window holds at least this many of the device's reporting
/// intervals.
pub const TREND_WINDOW_INTERVALS: i32 = 6;
/// How far ahead the trend is extended.
pub const DEFAULT_TREND_HORIZON: Duration = Duration::minutes(30);
/// Fewest points (per-minute means) for a trend.
pub const DEFAULT_TREND_MIN_POINTS: usize = 4;
/// Shortest time the points of a trend must span.
pub const DEFAULT_TREND_MIN_SPAN: Duration = Duration::minutes(10);
/// The continuous excursion, as a multiple of the alarm delay, that makes the
/// excursion alarm CRITICAL.
pub const CRITICAL_DELAY_FACTOR: i32 = 2;

/// The tunable parameters of the rules (not stored; configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorSettings {
    /// Least cap of an attributed interval (see [`DEFAULT_MAX_ATTRIBUTED_GAP`]
    /// and [`coverage`]).
    pub max_attributed_gap: Duration,
    /// See [`DEFAULT_MAX_REPORTING_INTERVAL`].
    pub max_reporting_interval: Duration,
    /// See [`DEFAULT_CLEAR_MARGIN_C`].
    pub clear_margin_c: f64,
    /// See [`DEFAULT_CLEAR_AFTER`].
    pub clear_after: Duration,
    /// See [`DEFAULT_START_UP_IGNORE`].
    pub start_up_ignore: Duration,
    /// Crash threshold in g (see [`DEFAULT_CRASH_THRESHOLD_G`]).
    pub crash_threshold_g: f64,
    /// See [`DEFAULT_SHOCK_QUIET_PERIOD`].
    pub shock_quiet_period: Duration,
    /// Silence after which an in-transit device is offline (see [`DEFAULT_OFFLINE_AFTER`]).
    pub offline_after: Duration,
    /// See [`DEFAULT_NO_DATA_AFTER`].
    pub no_data_after: Duration,
    /// See [`DEFAULT_TREND_WINDOW`].
    pub trend_window: Duration,
    /// See [`DEFAULT_TREND_HORIZON`].
    pub trend_horizon: Duration,
    /// See [`DEFAULT_TREND_MIN_POINTS`].
    pub trend_min_points: usize,
    /// See [`DEFAULT_TREND_MIN_SPAN`].
    pub trend_min_span: Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            max_attributed_gap: DEFAULT_MAX_ATTRIBUTED_GAP,
            max_reporting_interval: DEFAULT_MAX_REPORTING_INTERVAL,
            clear_margin_c: DEFAULT_CLEAR_MARGIN_C,
            clear_after: DEFAULT_CLEAR_AFTER,
            start_up_ignore: DEFAULT_START_UP_IGNORE,
            crash_threshold_g: DEFAULT_CRASH_THRESHOLD_G,
            shock_quiet_period: DEFAULT_SHOCK_QUIET_PERIOD,
            offline_after: DEFAULT_OFFLINE_AFTER,
            no_data_after: DEFAULT_NO_DATA_AFTER,
            trend_window: DEFAULT_TREND_WINDOW,
            trend_horizon: DEFAULT_TREND_HORIZON,
            trend_min_points: DEFAULT_TREND_MIN_POINTS,
            trend_min_span: DEFAULT_TREND_MIN_SPAN,
        }
    }
}
