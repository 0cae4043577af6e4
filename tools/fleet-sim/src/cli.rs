//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use crate::incident::IncidentSpec;

/// The usage text.
pub const USAGE: &str = "\
usage: fleet-sim [options]
       fleet-sim record [record options]

Simulates a fleet of refrigerated trucks against the local stack: sets up a
logistics operator, hospitals and pharmacies, their managers and pharmacists,
one device and one shipment per truck through the REST API (reused across
runs through the state file), then sends one reading per truck per tick until
the duration ends or Ctrl-C. Progress goes to stderr every 10 s; the JSON
summary goes to stdout (or --summary).

fleet:
  --trucks N                 trucks (default 5)
  --rate-hz F                readings per second per truck (default 1; e.g. 0.2)
  --seed N                   makes routes, cargo and sensor values repeatable
  --speedup F                trucks cover F times the distance per second (default 1)
  --duration D               stop after D (e.g. 90s, 10m, 1h30m; default: until Ctrl-C)
incidents (trucks are numbered from 1):
  --incident KIND@T[+S]      KIND on truck T, S after the start (e.g. crash@2+90, door-open@1+5m);
                             KIND: door-open, compressor-failure, crash, silence; repeatable
  --random-incidents R       about R random incidents per hour across the fleet
transport:
  --transport https|mqtt     POST /v1/telemetry in batches (default), or MQTT QoS 1
  --batch-window D           https: send a truck's readings at least every D (default 5s)
  --batch-max N              https: at most N readings per request (default 100)
  --mqtt-url URL             mqtt: the broker (default mqtt://127.0.0.1:1883)
load:
  --duplicate-rate P         resend this share of readings with the same reading_id (0..1)
  --malformed-rate P         send this share of malformed readings (0..1)
files:
  --api-url URL              the REST API (default: ApiBaseUrl of the outputs file)
  --outputs FILE             stack outputs (default localstack/.state/outputs.json or $PHARMAGUARD_OUTPUTS)
  --admin FILE               the first admin (default localstack/.state/admin.json)
  --state FILE               ids and secrets of the demo world (default localstack/.state/fleet.json)
  --summary FILE             write the JSON summary there instead of stdout
  --setup-only               set up the world, print the logins and exit

record: no stack, a simulated clock: writes the Kinesis records the fleet's
readings become over https (one reading's JSON per line, in arrival order) and
FILE's manifest beside it (stream.jsonl -> stream.manifest.json: counts,
shipments, incidents, expected alarms). Routes and cargo as a fresh run's.
  --out FILE                 the stream (default target/bench/stream.jsonl)
  --trucks N                 trucks (default 50)
  --duration D               simulated time (default 60m; --minutes M is the same in minutes)
  --seed N                   default 7
  --start T                  the clock's start, RFC 3339 (default 2026-11-02T06:00:00Z)
  --rate-hz, --incident, --random-incidents, --duplicate-rate, --batch-window,
  --batch-max                as above";

/// How readings travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `POST /v1/telemetry` with the device's access token.
    Https,
    /// MQTT 3.1.1, QoS 1, one reading per message.
    Mqtt,
}

impl Transport {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Https => "https",
            Transport::Mqtt => "mqtt",
        }
    }
}

/// Everything a run needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of trucks.
    pub trucks: usize,
    /// Readings per second per truck.
    pub rate_hz: f64,
    /// Seed of every random choice (`None`: drawn at start and printed).
    pub seed: Option<u64>,
    /// Distance multiplier.
    pub speedup: f64,
    /// How long to run (`None`: until interrupted).
    pub duration: Option<Duration>,
    /// Scripted incidents.
    pub incidents: Vec<IncidentSpec>,
    /// Random incidents per hour across the fleet.
    pub random_incidents_per_hour: f64,
    /// How readings travel.
    pub transport: Transport,
    /// Longest time a reading waits for its batch (https).
    pub batch_window: Duration,
    /// Most readings per request (https).
    pub batch_max: usize,
    /// The MQTT broker.
    pub mqtt_url: String,
    /// Share of readings sent twice.
    pub duplicate_rate: f64,
    /// Share of malformed readings.
    pub malformed_rate: f64,
    /// The REST API base URL (`None`: from the outputs file).
    pub api_url: Option<String>,
    /// The stack outputs file.
    pub outputs: PathBuf,
    /// The first admin's credentials file.
    pub admin: PathBuf,
    /// The state file of the demo world.
    pub state: PathBuf,
    /// Where the summary goes (`None`: stdout).
    pub summary: Option<PathBuf>,
    /// Only set up the world.
    pub setup_only: bool,
    /// How often the progress line is printed.
    pub progress_every: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            trucks: 5,
            rate_hz: 1.0,
            seed: None,
            speedup: 1.0,
            duration: None,
            incidents: Vec::new(),
            random_incidents_per_hour: 0.0,
            transport: Transport::Https,
            batch_window: Duration::from_secs(5),
            batch_max: 100,
            mqtt_url: "mqtt://127.0.0.1:1883".into(),
            duplicate_rate: 0.0,
            malformed_rate: 0.0,
            api_url: None,
            outputs: PathBuf::from("localstack/.state/outputs.json"),
            admin: PathBuf::from("localstack/.state/admin.json"),
            state: PathBuf::from("localstack/.state/fleet.json"),
            summary: None,
            setup_only: false,
            progress_every: Duration::from_secs(10),
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `--help`.
    Help,
    /// Run the fleet.
    Run(Box<Config>),
    /// `record`: write a stream offline.
    Record(Box<crate::record::RecordConfig>),
}

/// The command line is wrong; the message says how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the arguments after the program name; `env` reads an environment
/// variable (`PHARMAGUARD_OUTPUTS`).
pub fn parse_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    if args.first().is_some_and(|arg| arg == "record") {
        return parse_record(&args[1..]);
    }
    let mut config = Config::default();
    if let Some(outputs) = env("PHARMAGUARD_OUTPUTS").filter(|v| !v.is_empty()) {
        config.outputs = PathBuf::from(outputs);
    }
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let flag = flag.as_str();
        match flag {
            "-h" | "--help" | "help" => return Ok(Command::Help),
            "--setup-only" => {
                config.setup_only = true;
                continue;
            }
            _ => {}
        }
        let value = args
            .next()
            .filter(|value| !value.starts_with("--"))
            .ok_or_else(|| {
                if flag.starts_with("--") {
                    UsageError(format!("{flag} needs a value"))
                } else {
                    UsageError(format!("unexpected argument {flag:?}"))
                }
            })?;
        let bad = |message: String| UsageError(format!("{flag}: {message}"));
        match flag {
            "--trucks" => config.trucks = number_in(value, 1, 1000).map_err(bad)?,
            "--rate-hz" => config.rate_hz = real_in(value, 0.001, 50.0).map_err(bad)?,
            "--seed" => {
                config.seed = Some(
                    value
                        .parse()
                        .map_err(|_| bad(format!("not a number: {value:?}")))?,
                )
            }
            "--speedup" => config.speedup = real_in(value, 1.0, 1000.0).map_err(bad)?,
            "--duration" => config.duration = Some(parse_duration(value).map_err(bad)?),
            "--incident" => config
                .incidents
                .push(IncidentSpec::parse(value).map_err(UsageError)?),
            "--random-incidents" => {
                config.random_incidents_per_hour = real_in(value, 0.0, 10_000.0).map_err(bad)?
            }
            "--transport" => {
                config.transport = match value.as_str() {
                    "https" | "http" => Transport::Https,
                    "mqtt" => Transport::Mqtt,
                    other => return Err(bad(format!("https or mqtt, not {other:?}"))),
                }
            }
            "--batch-window" => config.batch_window = parse_duration(value).map_err(bad)?,
            "--batch-max" => config.batch_max = number_in(value, 1, 500).map_err(bad)?,
            "--mqtt-url" => {
                crate::transport::mqtt::parse_mqtt_url(value).map_err(bad)?;
                config.mqtt_url = value.clone();
            }
            "--duplicate-rate" => config.duplicate_rate = real_in(value, 0.0, 1.0).map_err(bad)?,
            "--malformed-rate" => config.malformed_rate = real_in(value, 0.0, 1.0).map_err(bad)?,
            "--api-url" => config.api_url = Some(value.trim_end_matches('/').to_owned()),
            "--outputs" => config.outputs = PathBuf::from(value),
            "--admin" => config.admin = PathBuf::from(value),
            "--state" => config.state = PathBuf::from(value),
            "--summary" => config.summary = Some(PathBuf::from(value)),
            other => return Err(UsageError(format!("unknown option {other:?}"))),
        }
    }
    if let Some(spec) = config
        .incidents
        .iter()
        .find(|spec| spec.truck > config.trucks)
    {
        return Err(UsageError(format!(
            "incident {spec}: there are only {} trucks",
            config.trucks
        )));
    }
    Ok(Command::Run(Box::new(config)))
}

/// Parses the arguments of `fleet-sim record`.
fn parse_record(args: &[String]) -> Result<Command, UsageError> {
    let mut config = crate::record::RecordConfig::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let flag = flag.as_str();
        if matches!(flag, "-h" | "--help" | "help") {
            return Ok(Command::Help);
        }
        let value = args
            .next()
            .filter(|value| !value.starts_with("--"))
            .ok_or_else(|| UsageError(format!("record: {flag} needs a value")))?;
        let bad = |message: String| UsageError(format!("record: {flag}: {message}"));
        match flag {
            "--out" => config.out = PathBuf::from(value),
            "--trucks" => config.trucks = number_in(value, 1, 1000).map_err(bad)?,
            "--rate-hz" => config.rate_hz = real_in(value, 0.001, 50.0).map_err(bad)?,
            "--seed" => {
                config.seed = value
                    .parse()
                    .map_err(|_| bad(format!("not a number: {value:?}")))?
            }
            "--duration" => config.duration = parse_duration(value).map_err(bad)?,
            "--minutes" => {
                config.duration =
                    Duration::from_secs(60 * number_in(value, 1, 10_000).map_err(bad)? as u64)
            }
            "--start" => {
                config.start = time::OffsetDateTime::parse(
                    value,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| bad(format!("not an RFC 3339 time: {value:?}")))?
            }
            "--incident" => config
                .incidents
                .push(IncidentSpec::parse(value).map_err(UsageError)?),
            "--random-incidents" => {
                config.random_incidents_per_hour = real_in(value, 0.0, 10_000.0).map_err(bad)?
            }
            "--duplicate-rate" => config.duplicate_rate = real_in(value, 0.0, 1.0).map_err(bad)?,
            "--batch-window" => config.batch_window = parse_duration(value).map_err(bad)?,
            "--batch-max" => config.batch_max = number_in(value, 1, 500).map_err(bad)?,
            other => return Err(UsageError(format!("record: unknown option {other:?}"))),
        }
    }
    if let Some(spec) = config
        .incidents
        .iter()
        .find(|spec| spec.truck > config.trucks)
    {
        return Err(UsageError(format!(
            "record: incident {spec}: there are only {} trucks",
            config.trucks
        )));
    }
    Ok(Command::Record(Box::new(config)))
}

/// Parses a duration: `90`, `90s`, `500ms`, `10m`, `1h`, `1h30m`, `2m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("not a duration: {text:?} (e.g. 90s, 10m, 1h30m)");
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds).ok_or_else(invalid);
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(total).ok_or_else(invalid)
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && (0.0..=1e9).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

fn number_in(text: &str, low: usize, high: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from {low} to {high}, got {text:?}"
        )),
    }
}

fn real_in(text: &str, low: f64, high: f64) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && (low..=high).contains(&x) => Ok(x),
        _ => Err(format!(
            "must be a number from {low} to {high}, got {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::IncidentKind;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn config(line: &str) -> Config {
        match parse_args(&args(line), |_| None) {
            Ok(Command::Run(config)) => *config,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn durations_in_every_form() {
        for (text, seconds) in [
            ("90", 90.0),
            ("90s", 90.0),
            ("1.5", 1.5),
            ("500ms", 0.5),
            ("10m", 600.0),
            ("10min", 600.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("2m30s", 150.0),
            ("0", 0.0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs_f64(seconds)),
                "{text}"
            );
        }
        for bad in ["", "m", "10x", "-5", "1h-2m", "soon", "1.2.3s", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults() {
        let config = config("");
        assert_eq!(config, Config::default());
        assert_eq!(
            (config.trucks, config.rate_hz, config.transport),
            (5, 1.0, Transport::Https)
        );
        assert_eq!(config.duration, None);
    }

    #[test]
    fn every_option() {
        let config = config(
            "--trucks 100 --rate-hz 0.2 --seed 7 --speedup 20 --duration 10m \
             --incident crash@3+90 --incident door-open@1 --random-incidents 2 \
             --transport mqtt --mqtt-url mqtt://127.0.0.1:1884 --batch-window 2s --batch-max 50 \
             --duplicate-rate 0.05 --malformed-rate 0.01 --api-url http://x/ --outputs o.json \
             --admin a.json --state s.json --summary out.json --setup-only",
        );
        assert_eq!(config.trucks, 100);
        assert_eq!(config.rate_hz, 0.2);
        assert_eq!(config.seed, Some(7));
        assert_eq!(config.speedup, 20.0);
        assert_eq!(config.duration, Some(Duration::from_secs(600)));
        assert_eq!(config.incidents.len(), 2);
        assert_eq!(config.incidents[0].kind, IncidentKind::Crash);
        assert_eq!(config.incidents[0].start, Duration::from_secs(90));
        assert_eq!(config.random_incidents_per_hour, 2.0);
        assert_eq!(config.transport, Transport::Mqtt);
        assert_eq!(config.mqtt_url, "mqtt://127.0.0.1:1884");
        assert_eq!(config.batch_window, Duration::from_secs(2));
        assert_eq!(config.batch_max, 50);
        assert_eq!((config.duplicate_rate, config.malformed_rate), (0.05, 0.01));
        assert_eq!(config.api_url.as_deref(), Some("http://x"));
        assert_eq!(config.summary, Some(PathBuf::from("out.json")));
        assert!(config.setup_only);
    }

    #[test]
    fn record_takes_its_own_options() {
        let Ok(Command::Record(config)) = parse_args(
            &args(
                "record --out /tmp/s.jsonl --trucks 50 --minutes 60 --seed 9 --duplicate-rate 0.01 \
                 --incident crash@3+20m --start 2026-01-05T08:00:00Z --batch-window 2s",
            ),
            |_| None,
        ) else {
            panic!("record");
        };
        assert_eq!(config.out, PathBuf::from("/tmp/s.jsonl"));
        assert_eq!((config.trucks, config.seed), (50, 9));
        assert_eq!(config.duration, Duration::from_secs(3600));
        assert_eq!(config.duplicate_rate, 0.01);
        assert_eq!(config.incidents[0].kind, IncidentKind::Crash);
        assert_eq!(config.start.to_string(), "2026-01-05 8:00:00.0 +00:00:00");
        assert_eq!(config.batch_window, Duration::from_secs(2));
        let Ok(Command::Record(defaults)) = parse_args(&args("record"), |_| None) else {
            panic!("record");
        };
        assert_eq!(*defaults, crate::record::RecordConfig::default());
        assert_eq!(
            parse_args(&args("record --help"), |_| None),
            Ok(Command::Help)
        );
        for (line, message) in [
            ("record --trucks 0", "--trucks: must be a whole number"),
            ("record --start yesterday", "not an RFC 3339 time"),
            ("record --incident crash@51", "there are only 50 trucks"),
            ("record --out", "--out needs a value"),
            ("record --transport mqtt", "unknown option"),
        ] {
            let error = parse_args(&args(line), |_| None).expect_err(line);
            assert!(error.0.contains(message), "{line}: {error}");
        }
    }

    #[test]
    fn the_outputs_file_may_come_from_the_environment() {
        let Ok(Command::Run(config)) = parse_args(&[], |name| {
            (name == "PHARMAGUARD_OUTPUTS").then(|| "/tmp/o.json".to_owned())
        }) else {
            panic!("run");
        };
        assert_eq!(config.outputs, PathBuf::from("/tmp/o.json"));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert_eq!(parse_args(&args("--help"), |_| None), Ok(Command::Help));
        for (line, message) in [
            (
                "--trucks 0",
                "--trucks: must be a whole number from 1 to 1000",
            ),
            ("--trucks many", "--trucks: must be a whole number"),
            ("--rate-hz 0", "--rate-hz: must be a number"),
            (
                "--duplicate-rate 1.5",
                "--duplicate-rate: must be a number from 0 to 1",
            ),
            ("--duration soon", "--duration: not a duration"),
            ("--transport pigeon", "https or mqtt"),
            ("--mqtt-url http://x", "--mqtt-url"),
            ("--incident crash@6", "there are only 5 trucks"),
            ("--incident flood@1", "unknown kind"),
            ("--trucks", "--trucks needs a value"),
            ("--trucks --seed 1", "--trucks needs a value"),
            ("--colour red", "unknown option"),
            ("stray", "unexpected argument"),
        ] {
            let error = parse_args(&args(line), |_| None).expect_err(line);
            assert!(error.0.contains(message), "{line}: {error}");
        }
    }
}
