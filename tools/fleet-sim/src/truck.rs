//! One truck, tick by tick: where it is, what its sensor measures, which
//! incidents strike it, which records it sends and which alarms the platform
//! should raise for them. Pure: no I/O, the time is passed in.

use pharmaguard_domain::coldchain::{AlarmTransition, MonitorSettings, ShipmentMonitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::catalogue::{Profile, ROUTES, Route};
use crate::cli::Transport;
use crate::incident::IncidentKind;
use crate::motion::Motion;
use crate::reading::{SimReading, malformed_api_json, malformed_mqtt_payload};
use crate::rng::Rng;
use crate::sensors::{Cooling, Thermal, crash_g, vibration_g};
use crate::stats::ExpectedAlarm;
use crate::transport::{Kind, Outgoing};

/// The shipment a truck carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The shipment id.
    pub shipment_id: String,
    /// Its route.
    pub route: &'static Route,
    /// Its profile.
    pub profile: Profile,
}

/// The knobs of the load generator that act per reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickOptions {
    /// The transport the records are shaped for.
    pub transport: Transport,
    /// Share of readings sent again (with the next tick).
    pub duplicate_rate: f64,
    /// Share of ticks that add a malformed record.
    pub malformed_rate: f64,
    /// Random incidents per second for this truck.
    pub random_incidents_per_s: f64,
    /// Distance multiplier.
    pub speedup: f64,
}

/// An incident that started this tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// What.
    pub kind: IncidentKind,
    /// Drawn at random (not scripted).
    pub random: bool,
}

/// What one tick produced.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// The reading measured (sent unless the device is silent).
    pub reading: Option<SimReading>,
    /// The records to send.
    pub records: Vec<Outgoing>,
    /// Incidents that started.
    pub started: Vec<Started>,
    /// Alarms the records should raise or escalate.
    pub expected: Vec<ExpectedAlarm>,
    /// The truck reached the destination of its shipment this tick.
    pub arrived: bool,
    /// The device is silent (nothing sent).
    pub silenced: bool,
}

/// A truck of the fleet.
#[derive(Debug)]
pub struct Truck {
    /// Number, from 1.
    pub number: usize,
    /// Its device.
    pub device_id: String,
    rng: Rng,
    motion: Motion,
    thermal: Thermal,
    load: Option<Load>,
    monitor: Option<ShipmentMonitor>,
    settings: MonitorSettings,
    scheduled: Vec<(f64, IncidentKind, bool)>,
    /// When the open door closes or the stuck thermostat is reset, s.
    cooling_restored_at: Option<f64>,
    silent_until: Option<f64>,
    resend: Option<SimReading>,
    last_sent: Option<SimReading>,
}

impl Truck {
    /// Truck `number` with `device_id`, carrying `load` from `start_km`
    /// along its route; its random stream is `rng`.
    pub fn new(number: usize, device_id: &str, load: Load, start_km: f64, mut rng: Rng) -> Self {
        let motion = Motion::new(load.route.polyline(), start_km, &mut rng);
        let thermal = Thermal::new(load.profile, &mut rng);
        Self {
            number,
            device_id: device_id.to_owned(),
            monitor: Some(ShipmentMonitor::new(load.shipment_id.clone())),
            rng,
            motion,
            thermal,
            load: Some(load),
            settings: MonitorSettings::default(),
            scheduled: Vec::new(),
            cooling_restored_at: None,
            silent_until: None,
            resend: None,
            last_sent: None,
        }
    }

    /// The shipment on board.
    pub fn load(&self) -> Option<&Load> {
        self.load.as_ref()
    }

    /// Distance driven along the current route, km.
    pub fn progress_km(&self) -> f64 {
        self.motion.km()
    }

    /// Schedules an incident `at_s` seconds after the start of the run.
    pub fn schedule(&mut self, at_s: f64, kind: IncidentKind, random: bool) {
        self.scheduled.push((at_s, kind, random));
        self.scheduled.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// The shipment was delivered: the truck waits at the destination and
    /// reports without a shipment until [`Truck::start`].
    pub fn unload(&mut self) {
        self.load = None;
        self.monitor = None;
        self.resend = None;
    }

    /// Starts `load` from the beginning of its route (a repaired unit, a
    /// fresh monitor).
    pub fn start(&mut self, load: Load) {
        self.motion = Motion::new(load.route.polyline(), 0.0, &mut self.rng);
        self.thermal = Thermal::new(load.profile, &mut self.rng);
        self.monitor = Some(ShipmentMonitor::new(load.shipment_id.clone()));
        self.cooling_restored_at = None;
        self.load = Some(load);
    }

    /// The route of the next shipment: another route from the same hub
    /// when there is one.
    pub fn next_route(&mut self) -> &'static Route {
        let current = self.load.as_ref().map(|load| load.route);
        let hub = current.map(|route| route.from);
        let candidates: Vec<&'static Route> = ROUTES
            .iter()
            .filter(|route| Some(route.from) == hub && Some(*route) != current)
            .collect();
        if candidates.is_empty() {
            &ROUTES[self.rng.index(ROUTES.len())]
        } else {
            candidates[self.rng.index(candidates.len())]
        }
    }

    /// A draw from the truck's random stream (for choices made outside).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// One tick: `elapsed_s` after the start of the run, at wall time `now`,
    /// `dt_s` seconds after the previous tick.
    pub fn tick(
        &mut self,
        elapsed_s: f64,
        now: OffsetDateTime,
        dt_s: f64,
        options: &TickOptions,
    ) -> Tick {
        let mut tick = Tick::default();
        if self.rng.chance(options.random_incidents_per_s * dt_s) {
            let kind = IncidentKind::random(&mut self.rng);
            self.schedule(elapsed_s, kind, true);
        }
        let mut crash = false;
        while self
            .scheduled
            .first()
            .is_some_and(|(at, _, _)| *at <= elapsed_s)
        {
            let (_, kind, random) = self.scheduled.remove(0);
            match kind {
                IncidentKind::DoorOpen => {
                    if self.thermal.cooling() != Cooling::Failed {
                        self.thermal.set_cooling(Cooling::DoorOpen);
                    }
                    let lasts = kind.lasts().map_or(0.0, |d| d.as_secs_f64());
                    self.cooling_restored_at = Some(elapsed_s + lasts);
                }
                IncidentKind::CompressorFailure => self.thermal.set_cooling(Cooling::Failed),
                IncidentKind::Freeze => {
                    if self.thermal.cooling() != Cooling::Failed {
                        self.thermal.set_cooling(Cooling::Freezing);
                    }
                    let lasts = kind.lasts().map_or(0.0, |d| d.as_secs_f64());
                    self.cooling_restored_at = Some(elapsed_s + lasts);
                }
                IncidentKind::Crash => {
                    crash = true;
                    self.motion
                        .halt(kind.lasts().map_or(f64::INFINITY, |d| d.as_secs_f64()));
                }
                IncidentKind::Silence => {
                    let lasts = kind.lasts().map_or(0.0, |d| d.as_secs_f64());
                    self.silent_until = Some(elapsed_s + lasts);
                    if lasts >= self.settings.offline_after.as_seconds_f64() {
                        tick.expected.extend(self.offline_expected());
                    }
                }
            }
            tick.started.push(Started { kind, random });
        }
        if self.cooling_restored_at.is_some_and(|at| at <= elapsed_s) {
            self.cooling_restored_at = None;
            if matches!(
                self.thermal.cooling(),
                Cooling::DoorOpen | Cooling::Freezing
            ) {
                self.thermal.set_cooling(Cooling::Normal);
            }
        }

        let was_arrived = self.motion.arrived();
        let sample = self.motion.step(dt_s, options.speedup, &mut self.rng);
        let temperature_c = self.thermal.step(dt_s, &mut self.rng);
        let vibration = if crash {
            crash_g(&mut self.rng)
        } else {
            vibration_g(sample.speed_kmh, dt_s, &mut self.rng)
        };
        tick.arrived = sample.arrived && !was_arrived && self.load.is_some();
        let reading = SimReading::new(
            &self.device_id,
            self.load.as_ref().map(|load| load.shipment_id.as_str()),
            now,
            (sample.at.lat, sample.at.lon),
            temperature_c,
            vibration,
        );
        // a crash is felt even by a device that was silent: it wakes up to report it
        if crash {
            self.silent_until = None;
        }
        if self.silent_until.is_some_and(|until| until > elapsed_s) {
            tick.silenced = true;
            tick.reading = Some(reading);
            return tick;
        }
        self.silent_until = None;

        if let Some(previous) = self.resend.take() {
            tick.records
                .push(self.record(&previous, Kind::Duplicate, options.transport));
        }
        tick.records
            .push(self.record(&reading, Kind::Reading, options.transport));
        if self.rng.chance(options.malformed_rate) {
            tick.records
                .push(self.record(&reading, Kind::Malformed, options.transport));
        }
        if self.rng.chance(options.duplicate_rate) {
            self.resend = Some(reading.clone());
        }
        tick.expected.extend(self.observe(&reading, now));
        self.last_sent = Some(reading.clone());
        tick.reading = Some(reading);
        tick
    }

    fn record(&mut self, reading: &SimReading, kind: Kind, transport: Transport) -> Outgoing {
        match (kind, transport) {
            (Kind::Malformed, Transport::Https) => Outgoing {
                kind,
                json: malformed_api_json(reading, &mut self.rng),
                raw: None,
            },
            (Kind::Malformed, Transport::Mqtt) => Outgoing {
                kind,
                json: serde_json::Value::Null,
                raw: Some(malformed_mqtt_payload(reading, &mut self.rng)),
            },
            (_, Transport::Https) => Outgoing {
                kind,
                json: reading.api_json(),
                raw: None,
            },
            (_, Transport::Mqtt) => Outgoing {
                kind,
                json: reading.mqtt_json(),
                raw: None,
            },
        }
    }

    /// Feeds the reading to the same cold-chain rules the platform applies
    /// and lists the alarms it should raise or escalate.
    fn observe(&mut self, reading: &SimReading, now: OffsetDateTime) -> Vec<ExpectedAlarm> {
        let (Some(load), Some(monitor)) = (self.load.as_ref(), self.monitor.as_mut()) else {
            return Vec::new();
        };
        let Ok(domain) = reading.to_domain(now) else {
            return Vec::new();
        };
        let observation = monitor.observe(&domain, &load.profile.domain(), &self.settings);
        observation
            .transitions
            .iter()
            .filter(|t| {
                matches!(
                    t,
                    AlarmTransition::Raised { .. } | AlarmTransition::Escalated { .. }
                )
            })
            .map(|transition| {
                let alarm = transition.alarm();
                ExpectedAlarm {
                    truck: self.number,
                    device_id: self.device_id.clone(),
                    shipment_id: load.shipment_id.clone(),
                    alarm_type: alarm.alarm_type.as_str().to_owned(),
                    severity: alarm.severity.as_str().to_owned(),
                    transition: transition.kind().to_owned(),
                    alarm_id: Some(alarm.alarm_id.clone()),
                    reading_id: reading.reading_id.clone(),
                    ts: reading.ts_text(),
                    due_at: None,
                }
            })
            .collect()
    }

    fn offline_expected(&self) -> Option<ExpectedAlarm> {
        let (load, last) = (self.load.as_ref()?, self.last_sent.as_ref()?);
        let due = last.ts + self.settings.offline_after;
        Some(ExpectedAlarm {
            truck: self.number,
            device_id: self.device_id.clone(),
            shipment_id: load.shipment_id.clone(),
            alarm_type: "DEVICE_OFFLINE".into(),
            severity: "MAJOR".into(),
            transition: "RAISED".into(),
            alarm_id: None,
            reading_id: last.reading_id.clone(),
            ts: last.ts_text(),
            due_at: due.format(&Rfc3339).ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::route_by_key;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-21 10:00:00 UTC);

    fn options() -> TickOptions {
        TickOptions {
            transport: Transport::Https,
            duplicate_rate: 0.0,
            malformed_rate: 0.0,
            random_incidents_per_s: 0.0,
            speedup: 1.0,
        }
    }

    fn truck(route: &str, profile: Profile, seed: u64) -> Truck {
        let load = Load {
            shipment_id: "shp-test".into(),
            route: route_by_key(route).expect("route"),
            profile,
        };
        Truck::new(1, "fleet-test-truck-01", load, 0.0, Rng::new(seed))
    }

    /// Runs `seconds` one-second ticks; returns every tick.
    fn drive(truck: &mut Truck, from_s: u32, seconds: u32, options: &TickOptions) -> Vec<Tick> {
        (from_s..from_s + seconds)
            .map(|s| {
                truck.tick(
                    f64::from(s),
                    T0 + Duration::seconds(i64::from(s)),
                    1.0,
                    options,
                )
            })
            .collect()
    }

    fn temperatures(ticks: &[Tick]) -> Vec<f64> {
        ticks
            .iter()
            .filter_map(|t| t.reading.as_ref().map(|r| r.temperature_c))
            .collect()
    }

    #[test]
    fn a_normal_trip_sends_valid_readings_and_raises_no_alarm() {
        for (route, profile, seed) in [
            ("rotterdam-utrecht", Profile::Refrigerated, 1),
            ("venlo-koeln", Profile::Frozen, 2),
            ("antwerp-leuven", Profile::ControlledRoom, 3),
        ] {
            let mut truck = truck(route, profile, seed);
            let ticks = drive(&mut truck, 0, 2 * 3600, &options());
            let expected: Vec<&ExpectedAlarm> = ticks.iter().flat_map(|t| &t.expected).collect();
            assert!(expected.is_empty(), "{route}: {expected:?}");
            for tick in &ticks {
                assert_eq!(tick.records.len(), 1);
                let record = &tick.records[0];
                let reading = tick.reading.as_ref().expect("a reading");
                assert_eq!(record.json, reading.api_json());
                assert!(reading.to_domain(reading.ts).is_ok());
            }
            assert!(
                ticks.iter().any(|t| t.arrived),
                "{route}: arrives within 2 h"
            );
            assert_eq!(
                ticks.iter().filter(|t| t.arrived).count(),
                1,
                "arrives once"
            );
        }
    }

    #[test]
    fn a_freeze_raises_a_critical_excursion_within_minutes_and_recovers() {
        let mut truck = truck("rotterdam-amsterdam", Profile::Refrigerated, 5);
        truck.schedule(60.0, IncidentKind::Freeze, false);
        let ticks = drive(&mut truck, 0, 60 * 60, &options());
        let temps = temperatures(&ticks);
        let frozen = temps.iter().position(|t| *t < 0.0).expect("freezes");
        assert!(frozen - 60 < 8 * 60, "below 0 °C after {} s", frozen - 60);
        let expected: Vec<&ExpectedAlarm> = ticks.iter().flat_map(|t| &t.expected).collect();
        let raised = expected
            .iter()
            .find(|e| e.alarm_type == "TEMPERATURE_EXCURSION" && e.transition == "RAISED")
            .expect("an excursion alarm");
        assert_eq!(raised.severity, "CRITICAL", "the cold zone alarms at once");
        assert!(
            temps[temps.len() - 60..]
                .iter()
                .all(|t| (2.0..=8.0).contains(t)),
            "back in range once the thermostat is reset"
        );
    }

    #[test]
    fn door_open_leaves_the_band_after_minutes_raises_an_excursion_and_recovers() {
        let mut truck = truck("rotterdam-amsterdam", Profile::Refrigerated, 5);
        truck.schedule(60.0, IncidentKind::DoorOpen, false);
        let ticks = drive(&mut truck, 0, 75 * 60, &options());
        assert_eq!(
            ticks[60].started,
            [Started {
                kind: IncidentKind::DoorOpen,
                random: false
            }]
        );
        let temps = temperatures(&ticks);
        let out = temps.iter().position(|t| *t > 8.0).expect("leaves 2–8 °C");
        assert!(
            (6 * 60..16 * 60).contains(&(out - 60)),
            "after {} s",
            out - 60
        );
        let last_out = temps.iter().rposition(|t| *t > 8.0).expect("out");
        assert!(last_out > 26 * 60, "warm until the door shut");
        assert!(last_out < 45 * 60, "recovers within minutes");
        assert!(
            temps[last_out + 1..]
                .iter()
                .all(|t| (2.0..=8.0).contains(t)),
            "stays back in range"
        );
        let expected: Vec<&ExpectedAlarm> = ticks.iter().flat_map(|t| &t.expected).collect();
        let excursion = expected
            .iter()
            .find(|e| e.alarm_type == "TEMPERATURE_EXCURSION")
            .expect("an excursion alarm");
        assert_eq!(
            (excursion.severity.as_str(), excursion.transition.as_str()),
            ("MAJOR", "RAISED")
        );
        // raised by the reading 15 minutes (the alarm delay) into the excursion
        let raising = ticks
            .iter()
            .position(|t| {
                t.reading
                    .as_ref()
                    .is_some_and(|r| r.reading_id == excursion.reading_id)
            })
            .expect("the raising reading");
        let delay = (raising - out) as i64;
        assert!((15 * 60..17 * 60).contains(&delay), "{raising} vs {out}");
        assert_eq!(excursion.shipment_id, "shp-test");
        assert!(
            excursion
                .alarm_id
                .as_deref()
                .is_some_and(|id| id.starts_with("shp-test#TEMPERATURE_EXCURSION#"))
        );
    }

    #[test]
    fn a_compressor_failure_stays_out_of_range() {
        let mut truck = truck("venlo-koeln", Profile::Frozen, 6);
        truck.schedule(0.0, IncidentKind::CompressorFailure, false);
        let ticks = drive(&mut truck, 0, 40 * 60, &options());
        let temps = temperatures(&ticks);
        let out = temps.iter().position(|t| *t > -15.0).expect("out of range");
        assert!(temps[out + 30..].iter().all(|t| *t > -15.0));
        let types: Vec<&str> = ticks
            .iter()
            .flat_map(|t| &t.expected)
            .map(|e| e.alarm_type.as_str())
            .collect();
        assert!(types.contains(&"TEMPERATURE_EXCURSION"), "{types:?}");
    }

    #[test]
    fn a_crash_is_one_reading_above_4_g_and_the_truck_stops() {
        let mut truck = truck("rotterdam-utrecht", Profile::Refrigerated, 7);
        truck.schedule(300.0, IncidentKind::Crash, false);
        let ticks = drive(&mut truck, 0, 900, &options());
        let peaks: Vec<f64> = ticks
            .iter()
            .map(|t| t.reading.as_ref().expect("reading").vibration_g)
            .collect();
        let crashes: Vec<usize> = (0..peaks.len()).filter(|&i| peaks[i] > 4.0).collect();
        assert_eq!(crashes, [300], "exactly one crash reading");
        assert!((6.0..=9.0).contains(&peaks[300]));
        let position = |i: usize| {
            let r = ticks[i].reading.as_ref().expect("reading");
            (r.lat, r.lon)
        };
        assert!(
            (301..900).all(|i| position(i) == position(300)),
            "stands still"
        );
        let shock: Vec<&ExpectedAlarm> = ticks
            .iter()
            .flat_map(|t| &t.expected)
            .filter(|e| e.alarm_type == "SHOCK")
            .collect();
        assert_eq!(shock.len(), 1);
        assert_eq!(shock[0].severity, "CRITICAL");
        assert_eq!(
            shock[0].reading_id,
            ticks[300].reading.as_ref().expect("reading").reading_id
        );
    }

    #[test]
    fn silence_sends_nothing_for_a_while_and_expects_an_offline_alarm() {
        let mut truck = truck("venlo-essen", Profile::Refrigerated, 8);
        truck.schedule(120.0, IncidentKind::Silence, false);
        let ticks = drive(&mut truck, 0, 20 * 60, &options());
        let silent: Vec<usize> = (0..ticks.len()).filter(|&i| ticks[i].silenced).collect();
        assert_eq!(silent.first(), Some(&120));
        assert_eq!(silent.len(), 12 * 60);
        assert!(silent.iter().all(|&i| ticks[i].records.is_empty()));
        assert_eq!(ticks[120 + 12 * 60].records.len(), 1, "resumes");
        let offline = &ticks[120].expected;
        assert_eq!(offline.len(), 1);
        assert_eq!(offline[0].alarm_type, "DEVICE_OFFLINE");
        assert_eq!(
            offline[0].reading_id,
            ticks[119].reading.as_ref().expect("reading").reading_id
        );
        assert_eq!(offline[0].due_at.as_deref(), Some("2026-11-21T10:11:59Z"));
    }

    #[test]
    fn duplicates_repeat_the_reading_id_and_malformed_records_are_extra() {
        let mut truck = truck("venlo-essen", Profile::Refrigerated, 9);
        let options = TickOptions {
            duplicate_rate: 0.3,
            malformed_rate: 0.2,
            ..options()
        };
        let ticks = drive(&mut truck, 0, 600, &options);
        let mut ids = std::collections::HashMap::new();
        let (mut duplicates, mut malformed) = (0, 0);
        for tick in &ticks {
            for record in &tick.records {
                match record.kind {
                    Kind::Duplicate => duplicates += 1,
                    Kind::Malformed => malformed += 1,
                    Kind::Reading => {}
                }
                *ids.entry(record.json["reading_id"].as_str().expect("id").to_owned())
                    .or_insert(0) += 1;
            }
        }
        assert!((120..240).contains(&duplicates), "{duplicates}");
        assert!((70..170).contains(&malformed), "{malformed}");
        assert_eq!(
            ids.values().filter(|n| **n == 2).count(),
            duplicates,
            "each duplicate shares its id once"
        );
        assert!(
            ticks.iter().all(|t| t.expected.is_empty()),
            "malformed ones raise nothing"
        );
    }

    #[test]
    fn mqtt_records_carry_the_version_and_malformed_ones_are_not_json() {
        let mut truck = truck("venlo-essen", Profile::Refrigerated, 10);
        let options = TickOptions {
            transport: Transport::Mqtt,
            malformed_rate: 1.0,
            ..options()
        };
        let tick = truck.tick(0.0, T0, 1.0, &options);
        assert_eq!(tick.records[0].json["v"], 1);
        let bad = tick.records[1].mqtt_payload();
        assert!(serde_json::from_slice::<serde_json::Value>(&bad).is_err());
    }

    #[test]
    fn after_delivery_the_truck_reports_without_a_shipment_and_starts_another_route() {
        let mut truck = truck("rotterdam-erasmus", Profile::Refrigerated, 11);
        let ticks = drive(&mut truck, 0, 30 * 60, &options());
        assert!(ticks.iter().any(|t| t.arrived));
        let next = truck.next_route();
        assert_eq!(next.from, "rotterdam-hub");
        assert_ne!(next.key, "rotterdam-erasmus");
        truck.unload();
        let idle = truck.tick(1800.0, T0 + Duration::minutes(30), 1.0, &options());
        assert_eq!(idle.reading.as_ref().expect("reading").shipment_id, None);
        assert!(!idle.arrived);
        truck.start(Load {
            shipment_id: "shp-next".into(),
            route: next,
            profile: Profile::Frozen,
        });
        let moving = truck.tick(1801.0, T0 + Duration::seconds(1801), 1.0, &options());
        let reading = moving.reading.expect("reading");
        assert_eq!(reading.shipment_id.as_deref(), Some("shp-next"));
        assert!(reading.temperature_c < -15.0, "a frozen load");
    }

    #[test]
    fn random_incidents_happen_at_about_the_given_rate() {
        let mut truck = truck("rotterdam-amsterdam", Profile::Refrigerated, 12);
        let options = TickOptions {
            random_incidents_per_s: 10.0 / 3600.0,
            ..options()
        };
        let ticks = drive(&mut truck, 0, 3600, &options);
        let started: usize = ticks.iter().map(|t| t.started.len()).sum();
        assert!((3..=20).contains(&started), "{started}");
        assert!(ticks.iter().flat_map(|t| &t.started).all(|s| s.random));
    }
}
