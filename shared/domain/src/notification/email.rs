//! The alarm email: [`compose_alarm_email`] turns an [`AlarmEvent`] into a
//! subject, a plain-text and a simple HTML body, for the people of one
//! organisation ([`MailContext`]): times in its time zone next to UTC, the
//! device and the route, both organisations by name, and for a reminder how
//! long the alarm has gone unacknowledged.
//!
//! # Missing values
//!
//! Whatever the event lacks (no position, no MKT yet, no risk estimate, a
//! number that is not finite) is written as `unknown`; composing never fails.

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::coldchain::alarm::AlarmType;
use crate::coldchain::events::{AlarmEvent, AlarmEventType};
use crate::coldchain::risk::{RiskComponent, RiskEstimate, budget_used, minutes_text};

/// Written for every value the event does not have.
pub const UNKNOWN: &str = "unknown";
/// Zoom level of the OpenStreetMap links (14: streets are readable).
pub const MAP_ZOOM: u8 = 14;
/// Most characters of the product name in a subject line.
pub const MAX_SUBJECT_PRODUCT_CHARS: usize = 80;

/// The subject and the bodies of one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// One line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The same as simple HTML (every value escaped).
    pub html: String,
}

/// The OpenStreetMap link of a position, with a marker:
/// `https://www.openstreetmap.org/?mlat=52.52000&mlon=13.40500#map=14/52.52000/13.40500`.
/// `None` when the position is not a valid one.
pub fn openstreetmap_link(lat: Option<f64>, lon: Option<f64>) -> Option<String> {
    let (lat, lon) = valid_position(lat, lon)?;
    Some(format!(
        "https://www.openstreetmap.org/?mlat={lat:.5}&mlon={lon:.5}#map={MAP_ZOOM}/{lat:.5}/{lon:.5}"
    ))
}

/// The dashboard page of a shipment: `{dashboard_url}/#/shipments/{id}`
/// (one slash between them whatever the base ends with). `None` without a
/// dashboard URL.
pub fn shipment_link(dashboard_url: &str, shipment_id: &str) -> Option<String> {
    let base = dashboard_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return None;
    }
    Some(format!("{base}/#/shipments/{}", encode_path(shipment_id)))
}

fn valid_position(lat: Option<f64>, lon: Option<f64>) -> Option<(f64, f64)> {
    let (lat, lon) = (lat?, lon?);
    let valid = lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon);
    valid.then_some((lat, lon))
}

/// Percent-encodes everything but unreserved characters (ids are plain, but
/// a link must stay a link whatever they hold).
fn encode_path(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The words for an alarm type.
pub fn alarm_type_words(alarm_type: AlarmType) -> &'static str {
    match alarm_type {
        AlarmType::TemperatureExcursion => "Temperature excursion",
        AlarmType::BudgetExhausted => "Excursion budget exhausted",
        AlarmType::Shock => "Shock (possible crash)",
        AlarmType::DeviceOffline => "Device offline",
        AlarmType::NoData => "No data from the logger since dispatch",
        AlarmType::PreExcursion => "Temperature trend leaving the range",
    }
}

fn transition_words(event: &AlarmEvent) -> String {
    match (event.event_type, event.from_severity) {
        (AlarmEventType::Raised, _) => "raised".to_owned(),
        (AlarmEventType::Escalated, Some(from)) => format!("escalated from {from}"),
        (AlarmEventType::Escalated, None) => "escalated".to_owned(),
        (AlarmEventType::Cleared, _) => "cleared".to_owned(),
        (AlarmEventType::Acknowledged, _) => "acknowledged".to_owned(),
    }
}

/// One line of text: control characters (line breaks included) become
/// spaces, runs of spaces one, and at most `max_chars` characters are kept
/// (with `…` when cut).
fn one_line(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= max_chars {
        return line;
    }
    let mut cut: String = line.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `at` in `zone` next to UTC, e.g. `2026-11-21 11:32:00 CET (2026-11-21
/// 10:32:00 UTC)`; in UTC alone when the zone is UTC (or unknown).
pub fn local_and_utc(at: OffsetDateTime, zone: &str) -> String {
    let Ok(timestamp) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
        return UNKNOWN.to_owned();
    };
    let utc = timestamp.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) if zone != "UTC" => {
            let local = timestamp.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %Z");
            format!("{local} ({utc})")
        }
        _ => utc,
    }
}

/// Who a mail is for and what it knows besides the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailContext<'a> {
    /// The dashboard's base URL, for the link to the shipment.
    pub dashboard_url: &'a str,
    /// The shipper organisation's name.
    pub shipper_name: &'a str,
    /// The recipient organisation's name.
    pub recipient_name: &'a str,
    /// The name of the organisation whose people get the mail.
    pub reader_name: &'a str,
    /// The IANA time zone of that organisation.
    pub time_zone: &'a str,
    /// Set for the reminders and escalations of an unacknowledged alarm.
    pub reminder: Option<ReminderNotice>,
}

/// What a reminder says besides the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderNotice {
    /// The step of the escalation chain (1 for the first reminder).
    pub step: u32,
    /// How long the alarm has gone unacknowledged.
    pub unacknowledged_minutes: i64,
    /// Whether the step adds people beyond the first mail's (an escalation
    /// to a next tier) rather than repeating it.
    pub escalated: bool,
}

fn time_text(at: Option<OffsetDateTime>, zone: &str) -> String {
    at.map_or_else(|| UNKNOWN.to_owned(), |at| local_and_utc(at, zone))
}

/// `75 min` as `1 h 15 min`.
fn waited_text(minutes: i64) -> String {
    let minutes = minutes.max(0);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn named(name: &str, id: &str) -> String {
    let name = one_line(name, 120);
    if name.is_empty() || name == id {
        id.to_owned()
    } else {
        format!("{name} ({id})")
    }
}

fn number(value: Option<f64>, decimals: usize, unit: &str) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.decimals$}{unit}"),
        _ => UNKNOWN.to_owned(),
    }
}

/// What the excursion budget line says: minutes out of range of the budget
/// and the share used. The budget is the event's, or the profile's when the
/// event carries none.
fn budget_text(event: &AlarmEvent) -> String {
    let context = &event.context;
    let budget = if context.budget_minutes > 0 {
        context.budget_minutes
    } else {
        event.shipment.profile.limits().upper.budget_minutes
    };
    let minutes = context.excursion_minutes;
    if !minutes.is_finite() || minutes < 0.0 {
        return format!("{UNKNOWN} (budget {budget} min)");
    }
    let used = if context.budget_minutes > 0 && context.budget_used.is_finite() {
        context.budget_used
    } else {
        budget_used(minutes, budget)
    };
    format!(
        "{minutes:.1} of {budget} min out of range ({:.0} % used)",
        used * 100.0
    )
}

/// Minutes above and below the range against each side's budget, and any
/// time in an outer zone.
fn sides_text(event: &AlarmEvent) -> String {
    let context = &event.context;
    let limits = event.shipment.profile.limits();
    let (Some(above), Some(below)) = (context.minutes_above, context.minutes_below) else {
        return UNKNOWN.to_owned();
    };
    let mut text = format!(
        "{above:.1} of {} min above, {below:.1} of {} min below",
        limits.upper.budget_minutes, limits.lower.budget_minutes
    );
    for (name, minutes) in [
        ("hot zone", context.hot_zone_minutes),
        ("cold zone", context.cold_zone_minutes),
    ] {
        if let Some(minutes) = minutes.filter(|m| *m > 0.0) {
            let _ = write!(text, "; {} in the {name}", minutes_text(minutes));
        }
    }
    text
}

fn component_words(component: RiskComponent) -> &'static str {
    match component {
        RiskComponent::Crash => "Crash damage",
        RiskComponent::ExcursionSpoilage => "Excursion spoilage",
        RiskComponent::ColdSpoilage => "Cold spoilage",
        RiskComponent::MktSpoilage => "MKT spoilage",
    }
}

fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1} %", fraction * 100.0)
    } else {
        UNKNOWN.to_owned()
    }
}

/// A titled block of the email.
struct Section {
    title: &'static str,
    rows: Vec<Row>,
}

struct Row {
    label: String,
    value: String,
    /// Set when the value is a URL to link.
    link: bool,
}

fn row(label: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        label: label.into(),
        value: value.into(),
        link: false,
    }
}

fn link_row(label: impl Into<String>, url: Option<String>) -> Row {
    match url {
        Some(url) => Row {
            label: label.into(),
            value: url,
            link: true,
        },
        None => row(label, UNKNOWN),
    }
}

fn sections(event: &AlarmEvent, mail: &MailContext<'_>) -> Vec<Section> {
    let zone = mail.time_zone;
    let alarm = &event.alarm;
    let context = &event.context;
    let shipment = &event.shipment;
    let limits = shipment.profile.limits();

    let what = Section {
        title: "What happened",
        rows: vec![
            row(
                "Alarm",
                format!(
                    "{} ({})",
                    alarm_type_words(alarm.alarm_type),
                    alarm.alarm_type
                ),
            ),
            row("Severity", alarm.severity.as_str()),
            row(
                "Transition",
                format!(
                    "{} ({}) at {}",
                    transition_words(event),
                    event.event_type,
                    time_text(Some(event.occurred_at), zone)
                ),
            ),
            row(
                "Detail",
                if alarm.detail.trim().is_empty() {
                    UNKNOWN.to_owned()
                } else {
                    one_line(&alarm.detail, 500)
                },
            ),
            row(
                "Limit crossed",
                alarm
                    .crossing
                    .map_or_else(|| "–".to_owned(), |crossing| crossing.describe()),
            ),
            row("Alarm id", alarm.alarm_id.as_str()),
        ],
    };

    let position = match valid_position(context.lat, context.lon) {
        Some((lat, lon)) => format!("{lat:.5}, {lon:.5}"),
        None => UNKNOWN.to_owned(),
    };
    let where_ = Section {
        title: "Where",
        rows: vec![
            row("Position", position),
            link_row("Map", openstreetmap_link(context.lat, context.lon)),
            row(
                "Route",
                format!(
                    "{} → {}",
                    one_line(&shipment.origin.name, 120),
                    one_line(&shipment.destination.name, 120)
                ),
            ),
            row("Device", device_text(shipment)),
        ],
    };

    let parties = Section {
        title: "Organisations",
        rows: vec![
            row(
                "Shipper",
                named(mail.shipper_name, &shipment.shipper_org_id),
            ),
            row(
                "Recipient",
                named(mail.recipient_name, &shipment.recipient_org_id),
            ),
        ],
    };

    let mut since_rows = vec![
        row("Raised at", time_text(Some(alarm.raised_at), zone)),
        row("Last seen", time_text(Some(alarm.last_seen), zone)),
    ];
    if event.event_type == AlarmEventType::Cleared {
        since_rows.push(row("Cleared at", time_text(alarm.cleared_at, zone)));
    }
    let since = Section {
        title: "Since when",
        rows: since_rows,
    };

    let cold_chain = Section {
        title: "Cold chain",
        rows: vec![
            row(
                "Current temperature",
                number(context.temperature_c, 1, " °C"),
            ),
            row(
                "Allowed range",
                format!(
                    "{:.1} to {:.1} °C ({})",
                    limits.min_c,
                    limits.max_c,
                    shipment.profile.kind()
                ),
            ),
            row("Mean kinetic temperature", number(context.mkt_c, 2, " °C")),
            row("Excursion budget used", budget_text(event)),
            row("Time out of range", sides_text(event)),
            row(
                "Lowest / highest",
                format!(
                    "{} / {}",
                    number(context.min_temperature_c, 1, " °C"),
                    number(context.max_temperature_c, 1, " °C")
                ),
            ),
            row("Peak vibration", number(context.peak_vibration_g, 1, " g")),
            row("Reading time", time_text(context.reading_ts, zone)),
        ],
    };

    let risk = Section {
        title: "Estimated loss",
        rows: risk_rows(event.risk.as_ref()),
    };

    let dashboard = Section {
        title: "Dashboard",
        rows: vec![link_row(
            "Shipment",
            shipment_link(mail.dashboard_url, &shipment.shipment_id),
        )],
    };

    vec![what, where_, parties, since, cold_chain, risk, dashboard]
}

fn device_text(shipment: &crate::coldchain::events::ShipmentSummary) -> String {
    let device = shipment
        .device_id
        .as_deref()
        .map_or_else(|| UNKNOWN.to_owned(), |id| one_line(id, 120));
    match shipment.truck_id.as_deref() {
        Some(truck) => format!("{device} on truck {}", one_line(truck, 120)),
        None => device,
    }
}

fn risk_rows(risk: Option<&RiskEstimate>) -> Vec<Row> {
    let Some(risk) = risk else {
        return vec![row(
            "Total",
            format!("{UNKNOWN} (no estimate with this event)"),
        )];
    };
    let currency = one_line(&risk.currency, 3);
    let mut rows = vec![row(
        "Total",
        format!(
            "{} {currency} of a cargo value of {} {currency} ({})",
            one_line(&risk.total, 40),
            one_line(&risk.cargo_value, 40),
            percent(risk.total_fraction)
        ),
    )];
    for part in &risk.parts {
        rows.push(row(
            component_words(part.component),
            format!(
                "{} {currency} ({}): {}",
                one_line(&part.amount, 40),
                percent(part.fraction),
                one_line(&part.basis, 300)
            ),
        ));
    }
    rows
}

/// The subject line, e.g. `[CRITICAL] Temperature excursion escalated from
/// MAJOR: shipment shp-1 (COVID-19 vaccine)`; an all-clear starts with
/// `[CLEARED]`.
pub fn alarm_subject(event: &AlarmEvent, reminder: Option<ReminderNotice>) -> String {
    let tag = if event.event_type == AlarmEventType::Cleared {
        "CLEARED"
    } else {
        event.alarm.severity.as_str()
    };
    let alarm = alarm_type_words(event.alarm.alarm_type);
    let transition = match event.event_type {
        AlarmEventType::Cleared => format!("cleared (was {})", event.alarm.severity),
        _ => transition_words(event),
    };
    let product = one_line(&event.shipment.product, MAX_SUBJECT_PRODUCT_CHARS);
    let (prefix, suffix) = match reminder {
        Some(notice) => (
            format!("[REMINDER {}] ", notice.step),
            format!(
                ", not acknowledged for {}",
                waited_text(notice.unacknowledged_minutes)
            ),
        ),
        None => (String::new(), String::new()),
    };
    one_line(
        &format!(
            "{prefix}[{tag}] {alarm} {transition}: shipment {} ({product}){suffix}",
            event.shipment.shipment_id
        ),
        400,
    )
}

/// The email about `event` for the people of one organisation (see the
/// module documentation).
pub fn compose_alarm_email(event: &AlarmEvent, mail: &MailContext<'_>) -> EmailContent {
    let subject = alarm_subject(event, mail.reminder);
    let shipment = &event.shipment;
    let mut intro = format!(
        "{} alarm on shipment {}: {} ({} units).",
        event.alarm.severity,
        shipment.shipment_id,
        one_line(&shipment.product, 200),
        shipment.quantity
    );
    if let Some(notice) = mail.reminder {
        let waited = waited_text(notice.unacknowledged_minutes);
        intro = if notice.escalated {
            format!(
                "Nobody has acknowledged this alarm for {waited}; it is escalated to you. {intro}"
            )
        } else {
            format!(
                "Reminder {}: nobody has acknowledged this alarm for {waited}. {intro}",
                notice.step
            )
        };
    }
    let closing = match event.event_type {
        AlarmEventType::Cleared => {
            "The condition is gone. Check the shipment's history before releasing the goods."
        }
        _ => "Please check the shipment and act on the alarm (acknowledge it on the dashboard).",
    };
    let why = format!(
        "You get this email under the notification policy of {}.",
        one_line(mail.reader_name, 120)
    );
    let sections = sections(event, mail);

    let mut text = format!("{intro}\n");
    for section in &sections {
        let _ = write!(text, "\n{}\n", section.title);
        for row in &section.rows {
            let _ = writeln!(text, "  {}: {}", row.label, row.value);
        }
    }
    let _ = write!(text, "\n{closing}\n\n{why}\n");

    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family: sans-serif\">\n",
    );
    let _ = writeln!(html, "<p><strong>{}</strong></p>", escape_html(&intro));
    for section in &sections {
        let _ = writeln!(html, "<h3>{}</h3>\n<table>", escape_html(section.title));
        for row in &section.rows {
            let value = if row.link {
                let url = escape_html(&row.value);
                format!("<a href=\"{url}\">{url}</a>")
            } else {
                escape_html(&row.value)
            };
            let _ = writeln!(
                html,
                "<tr><td style=\"padding-right: 1em\">{}</td><td>{value}</td></tr>",
                escape_html(&row.label)
            );
        }
        html.push_str("</table>\n");
    }
    let _ = write!(
        html,
        "<p>{}</p>\n<p style=\"color: #666\">{}</p>\n</body></html>\n",
        escape_html(closing),
        escape_html(&why)
    );

    EmailContent {
        subject,
        text,
        html,
    }
}

/// `text` safe inside HTML elements and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::coldchain::alarm::{AlarmState, Severity};
    use crate::coldchain::events::{AlarmContext, ShipmentSummary};
    use crate::fixtures;
    use crate::shipment::TemperatureProfile;

    const DASHBOARD: &str = "https://dashboard.example.org/";

    fn shipment() -> ShipmentSummary {
        fixtures::alarm_event(AlarmEventType::Raised, Severity::Major).shipment
    }

    fn event(event_type: AlarmEventType, severity: Severity) -> AlarmEvent {
        fixtures::alarm_event(event_type, severity)
    }

    fn mail(dashboard_url: &str) -> MailContext<'_> {
        MailContext {
            dashboard_url,
            shipper_name: "Pharma Hub Rotterdam BV",
            recipient_name: "Charité Pharmacy",
            reader_name: "Charité Pharmacy",
            time_zone: "UTC",
            reminder: None,
        }
    }

    #[test]
    fn major_raise_says_what_where_since_when_and_the_money() {
        let event = event(AlarmEventType::Raised, Severity::Major);
        let email = compose_alarm_email(&event, &mail(DASHBOARD));
        assert_eq!(
            email.subject,
            "[MAJOR] Temperature excursion raised: shipment shp-1 (COVID-19 vaccine, 6-dose vials)"
        );
        let text = &email.text;
        for expected in [
            "Alarm: Temperature excursion (TEMPERATURE_EXCURSION)",
            "Severity: MAJOR",
            "Transition: raised (alarm.raised) at 2026-11-21 10:32:00 UTC",
            "Detail: 9.5 °C above the 8.0 °C limit",
            "Position: 52.52000, 13.40500",
            "Map: https://www.openstreetmap.org/?mlat=52.52000&mlon=13.40500#map=14/52.52000/13.40500",
            "Route: Pharma Hub Rotterdam → Charité Berlin",
            "Device: truck-7",
            "Shipper: Pharma Hub Rotterdam BV (org-a)",
            "Recipient: Charité Pharmacy (org-b)",
            "Raised at: 2026-11-21 10:00:00 UTC",
            "Last seen: 2026-11-21 10:32:00 UTC",
            "Current temperature: 9.5 °C",
            "Allowed range: 2.0 to 8.0 °C (REFRIGERATED)",
            "Mean kinetic temperature: 6.21 °C",
            "Excursion budget used: 30.0 of 60 min out of range (50 % used)",
            "Limit crossed: 1.8 °C above the 8 °C upper limit",
            "Time out of range: 30.0 of 60 min above, 0.0 of 15 min below",
            "Lowest / highest: 4.1 °C / 9.8 °C",
            "Peak vibration: 1.2 g",
            // ((0.5 − 0.25) / 0.75)² = 1/9 of 48 000.00
            "Total: 5333.33 EUR of a cargo value of 48000.00 EUR (11.1 %)",
            "Crash damage: 0.00 EUR (0.0 %): peak 1.2 g, at or below",
            "Excursion spoilage: 5333.33 EUR (11.1 %): 30.0 of 60 budget minutes",
            "Cold spoilage: 0.00 EUR (0.0 %): 0.0 of 15 budget minutes below the range",
            "MKT spoilage: 0.00 EUR (0.0 %)",
            "Shipment: https://dashboard.example.org/#/shipments/shp-1",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(!text.contains(UNKNOWN), "{text}");
        assert!(!text.contains("Cleared at"));
        let html = &email.html;
        assert!(html.contains(
            "<a href=\"https://www.openstreetmap.org/?mlat=52.52000&amp;mlon=13.40500#map=14/52.52000/13.40500\">"
        ));
        assert!(html.contains("<a href=\"https://dashboard.example.org/#/shipments/shp-1\">"));
        assert!(html.contains("5333.33 EUR"));
    }

    #[test]
    fn escalation_names_the_severity_before() {
        let mut event = event(AlarmEventType::Escalated, Severity::Critical);
        event.from_severity = Some(Severity::Major);
        let email = compose_alarm_email(&event, &mail(DASHBOARD));
        assert!(
            email.subject.starts_with(
                "[CRITICAL] Temperature excursion escalated from MAJOR: shipment shp-1"
            ),
            "{}",
            email.subject
        );
        assert!(email.text.contains("Severity: CRITICAL"));
        assert!(
            email
                .text
                .contains("escalated from MAJOR (alarm.escalated)")
        );
    }

    #[test]
    fn an_all_clear_says_when_it_cleared() {
        let mut event = event(AlarmEventType::Cleared, Severity::Critical);
        event.alarm.state = AlarmState::Cleared;
        event.alarm.cleared_at = Some(datetime!(2026-11-21 10:45 UTC));
        event.risk = None;
        let email = compose_alarm_email(&event, &mail(DASHBOARD));
        assert!(
            email.subject.starts_with(
                "[CLEARED] Temperature excursion cleared (was CRITICAL): shipment shp-1"
            ),
            "{}",
            email.subject
        );
        assert!(email.text.contains("Cleared at: 2026-11-21 10:45:00 UTC"));
        assert!(
            email
                .text
                .contains("Total: unknown (no estimate with this event)")
        );
        assert!(email.text.contains("The condition is gone"));
    }

    #[test]
    fn missing_values_are_unknown_never_a_panic() {
        let mut event = event(AlarmEventType::Raised, Severity::Major);
        event.context = AlarmContext {
            excursion_minutes: f64::NAN,
            ..AlarmContext::default()
        };
        event.context.lat = Some(f64::NAN);
        event.context.lon = Some(13.4);
        event.context.temperature_c = Some(f64::INFINITY);
        event.alarm.detail = "  ".into();
        event.risk = None;
        let email = compose_alarm_email(&event, &mail(""));
        let text = &email.text;
        for expected in [
            "Position: unknown",
            "Map: unknown",
            "Current temperature: unknown",
            "Mean kinetic temperature: unknown",
            "Excursion budget used: unknown (budget 60 min)",
            "Peak vibration: unknown",
            "Reading time: unknown",
            "Detail: unknown",
            "Total: unknown",
            "Shipment: unknown",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }

        // the budget of the profile when the event carries none
        event.context = AlarmContext {
            excursion_minutes: 45.0,
            ..AlarmContext::default()
        };
        let text = compose_alarm_email(&event, &mail(DASHBOARD)).text;
        assert!(
            text.contains("Excursion budget used: 45.0 of 60 min out of range (75 % used)"),
            "{text}"
        );
        // a position out of range is no position
        assert_eq!(openstreetmap_link(Some(91.0), Some(0.0)), None);
        assert_eq!(openstreetmap_link(Some(10.0), None), None);
    }

    #[test]
    fn untrusted_text_is_escaped_and_kept_on_one_line() {
        let mut event = event(AlarmEventType::Raised, Severity::Major);
        event.shipment.product =
            "Vaccine <script>alert(1)</script>\r\nBcc: evil@example.org".into();
        event.alarm.detail = "\"hot\" & <rising>".into();
        event.shipment.shipment_id = "shp/1 x".into();
        let email = compose_alarm_email(&event, &mail(DASHBOARD));
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        assert!(
            email
                .subject
                .contains("Vaccine <script>alert(1)</script> Bcc: evil@example.org")
        );
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(email.html.contains("&quot;hot&quot; &amp; &lt;rising&gt;"));
        assert!(
            email
                .text
                .contains("https://dashboard.example.org/#/shipments/shp%2F1%20x")
        );
        let long = AlarmEvent {
            shipment: ShipmentSummary {
                product: "x".repeat(500),
                ..shipment()
            },
            ..event
        };
        let subject = alarm_subject(&long, None);
        assert!(
            subject.contains(&format!("{}…)", "x".repeat(79))),
            "{subject}"
        );
    }

    #[test]
    fn links() {
        assert_eq!(
            shipment_link("http://localhost:8080", "shp-2").as_deref(),
            Some("http://localhost:8080/#/shipments/shp-2")
        );
        assert_eq!(shipment_link("  ", "shp-2"), None);
        assert_eq!(
            openstreetmap_link(Some(-33.8688), Some(151.2093)).as_deref(),
            Some(
                "https://www.openstreetmap.org/?mlat=-33.86880&mlon=151.20930#map=14/-33.86880/151.20930"
            )
        );
        assert_eq!(escape_html("a'b"), "a&#39;b");
    }

    #[test]
    fn composes_for_every_alarm_type_and_custom_profile() {
        for alarm_type in AlarmType::ALL {
            let mut event = event(AlarmEventType::Raised, Severity::Critical);
            event.alarm.alarm_type = alarm_type;
            event.shipment.profile = TemperatureProfile::custom(-20.0, -10.0, 10, 0).unwrap();
            event.context.budget_minutes = 0;
            let email = compose_alarm_email(&event, &mail(DASHBOARD));
            assert!(email.subject.contains(alarm_type_words(alarm_type)));
            assert!(email.text.contains(alarm_type.as_str()));
            assert!(email.text.contains("-20.0 to -10.0 °C (CUSTOM)"));
        }
    }

    #[test]
    fn times_are_in_the_readers_time_zone_next_to_utc() {
        let event = event(AlarmEventType::Raised, Severity::Major);
        let context = MailContext {
            time_zone: "Europe/Berlin",
            ..mail(DASHBOARD)
        };
        let text = compose_alarm_email(&event, &context).text;
        assert!(
            text.contains("Raised at: 2026-11-21 11:00:00 CET (2026-11-21 10:00:00 UTC)"),
            "{text}"
        );
        assert!(text.contains("under the notification policy of Charité Pharmacy"));
        // summer time, and a date that differs from UTC's
        let summer = datetime!(2026-07-01 23:30 UTC);
        assert_eq!(
            local_and_utc(summer, "Europe/Berlin"),
            "2026-07-02 01:30:00 CEST (2026-07-01 23:30:00 UTC)"
        );
        assert_eq!(
            local_and_utc(summer, "America/New_York"),
            "2026-07-01 19:30:00 EDT (2026-07-01 23:30:00 UTC)"
        );
        assert_eq!(
            local_and_utc(summer, "Nowhere/Else"),
            "2026-07-01 23:30:00 UTC"
        );
    }

    #[test]
    fn a_reminder_says_how_long_nobody_acknowledged() {
        let event = event(AlarmEventType::Raised, Severity::Critical);
        let reminder = MailContext {
            reminder: Some(ReminderNotice {
                step: 1,
                unacknowledged_minutes: 15,
                escalated: false,
            }),
            ..mail(DASHBOARD)
        };
        let email = compose_alarm_email(&event, &reminder);
        assert!(
            email
                .subject
                .starts_with("[REMINDER 1] [CRITICAL] Temperature excursion raised"),
            "{}",
            email.subject
        );
        assert!(email.subject.ends_with(", not acknowledged for 15 min"));
        assert!(
            email
                .text
                .starts_with("Reminder 1: nobody has acknowledged this alarm for 15 min."),
            "{}",
            email.text
        );
        let escalated = MailContext {
            reminder: Some(ReminderNotice {
                step: 2,
                unacknowledged_minutes: 75,
                escalated: true,
            }),
            ..mail(DASHBOARD)
        };
        let email = compose_alarm_email(&event, &escalated);
        assert!(email.subject.contains("not acknowledged for 1 h 15 min"));
        assert!(email.text.contains("it is escalated to you"));
    }

    #[test]
    fn the_device_names_its_truck_and_nameless_organisations_their_id() {
        let mut event = event(AlarmEventType::Raised, Severity::Major);
        event.shipment.truck_id = Some("NL-42-TX".into());
        let context = MailContext {
            shipper_name: "",
            recipient_name: "org-b",
            ..mail(DASHBOARD)
        };
        let text = compose_alarm_email(&event, &context).text;
        assert!(text.contains("Device: truck-7 on truck NL-42-TX"), "{text}");
        assert!(text.contains("Shipper: org-a\n"), "{text}");
        assert!(text.contains("Recipient: org-b\n"), "{text}");
        event.shipment.device_id = None;
        let text = compose_alarm_email(&event, &context).text;
        assert!(text.contains("Device: unknown on truck NL-42-TX"), "{text}");
    }
}
