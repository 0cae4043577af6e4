//! MQTT 3.1.1 over plain TCP, as the truck's device: client id and user name
//! = device id, password = device secret, one reading per message on
//! `pharmaguard/devices/{device_id}/telemetry`, QoS 1. A record counts as
//! accepted when the broker acknowledges it (PUBACK). The connection is
//! retried with a backoff; messages written but never acknowledged when the
//! run ends count as failed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use super::Outgoing;
use crate::stats::{Count, Stats};

/// The broker the local stack runs.
pub const DEFAULT_PORT: u16 = 1883;

/// How long the sender waits for the acknowledgements of the last messages.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The topic a device publishes its readings to.
pub fn telemetry_topic(device_id: &str) -> String {
    format!("pharmaguard/devices/{device_id}/telemetry")
}

/// Host and port of `mqtt://host:port`, `tcp://host:port`, `host:port` or `host`.
pub fn parse_mqtt_url(url: &str) -> Result<(String, u16), String> {
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some(("mqtts" | "ssl", _)) => {
            return Err(format!(
                "{url:?}: TLS is not supported; use mqtt://host:port"
            ));
        }
        Some((scheme, _)) => return Err(format!("{url:?}: not an MQTT URL (scheme {scheme:?})")),
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| format!("{url:?}: bad port {port:?}"))?,
        ),
        None => (rest, DEFAULT_PORT),
    };
    if host.is_empty() || host.contains('/') {
        return Err(format!("{url:?}: no host"));
    }
    Ok((host.to_owned(), port))
}

/// The connection settings of a device.
pub fn options(device_id: &str, secret: &str, host: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(device_id, host, port);
    options
        .set_credentials(device_id, secret)
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(128 * 1024, 128 * 1024);
    options
}

#[derive(Debug, Default)]
struct Progress {
    queued: AtomicU64,
    acked: AtomicU64,
    stopping: AtomicBool,
}

/// Sends what arrives on `rx` as truck `number` until `rx` closes, then
/// waits (at most [`DRAIN_TIMEOUT`]) for the last acknowledgements.
pub async fn run(
    mut rx: mpsc::Receiver<Outgoing>,
    (device_id, secret): (String, String),
    (host, port): (String, u16),
    number: usize,
    stats: Arc<Stats>,
) {
    let (client, eventloop) = AsyncClient::new(options(&device_id, &secret, &host, port), 256);
    let progress = Arc::new(Progress::default());
    let events = tokio::spawn(drive(eventloop, number, stats.clone(), progress.clone()));
    let topic = telemetry_topic(&device_id);
    while let Some(record) = rx.recv().await {
        stats.add(number, Count::Sent, 1);
        progress.queued.fetch_add(1, Ordering::Relaxed);
        if client
            .publish(
                topic.as_str(),
                QoS::AtLeastOnce,
                false,
                record.mqtt_payload(),
            )
            .await
            .is_err()
        {
            stats.add(number, Count::Failed, 1);
            progress.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
    progress.stopping.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while progress.acked.load(Ordering::Relaxed) < progress.queued.load(Ordering::Relaxed)
        && !events.is_finished()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = client.disconnect().await;
    if tokio::time::timeout(Duration::from_secs(1), events)
        .await
        .is_err()
    {
        // the event loop is stuck reconnecting; it ends with the runtime
    }
    let unacked = progress
        .queued
        .load(Ordering::Relaxed)
        .saturating_sub(progress.acked.load(Ordering::Relaxed));
    stats.add(number, Count::Failed, unacked);
}

async fn drive(
    mut eventloop: EventLoop,
    number: usize,
    stats: Arc<Stats>,
    progress: Arc<Progress>,
) {
    let mut inflight = HashSet::new();
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if failures > 0 {
                    eprintln!("fleet-sim: truck {number}: connected to the MQTT broker");
                }
                failures = 0;
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                inflight.insert(pkid);
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if inflight.remove(&ack.pkid) {
                    progress.acked.fetch_add(1, Ordering::Relaxed);
                    stats.add(number, Count::Accepted, 1);
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => break,
            Err(error) => {
                // the messages in flight are lost with the session
                inflight.clear();
                if failures == 0 {
                    eprintln!("fleet-sim: truck {number}: MQTT connection: {error}; retrying");
                }
                failures += 1;
                stats.add(number, Count::Retries, 1);
                if progress.stopping.load(Ordering::Relaxed) {
                    break;
                }
                let pause = Duration::from_millis(250 * 2u64.pow(failures.min(5)));
                tokio::time::sleep(pause.min(Duration::from_secs(8))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Kind;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn urls_and_topics() {
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1883"),
            Ok(("127.0.0.1".into(), 1883))
        );
        assert_eq!(
            parse_mqtt_url("tcp://broker:1884/"),
            Ok(("broker".into(), 1884))
        );
        assert_eq!(parse_mqtt_url("localhost"), Ok(("localhost".into(), 1883)));
        assert_eq!(
            parse_mqtt_url("localhost:2000"),
            Ok(("localhost".into(), 2000))
        );
        for bad in [
            "http://x:1",
            "mqtts://x:8883",
            "mqtt://:1883",
            "mqtt://x:port",
            "mqtt://x:0",
        ] {
            assert!(parse_mqtt_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            telemetry_topic("truck-7"),
            "pharmaguard/devices/truck-7/telemetry"
        );
    }

    /// One MQTT 3.1.1 packet read from a stream: (type, flags, body).
    async fn packet(stream: &mut tokio::net::TcpStream) -> Option<(u8, u8, Vec<u8>)> {
        let header = stream.read_u8().await.ok()?;
        let (mut length, mut shift) = (0usize, 0);
        loop {
            let byte = stream.read_u8().await.ok()?;
            length |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.ok()?;
        Some((header >> 4, header & 0x0f, body))
    }

    fn string_at(body: &[u8], at: usize) -> (String, usize) {
        let len = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        (
            String::from_utf8_lossy(&body[at + 2..at + 2 + len]).into_owned(),
            at + 2 + len,
        )
    }

    /// What the stub broker saw: the CONNECT's client id, user name and
    /// password, and each PUBLISH's topic, QoS and payload.
    #[derive(Debug, Default, Clone)]
    struct Seen {
        connect: Option<(String, String, String)>,
        publishes: Vec<(String, u8, Vec<u8>)>,
    }

    /// A minimal MQTT 3.1.1 broker for one connection: CONNACK accepted, a
    /// PUBACK for each QoS 1 PUBLISH, PINGRESP, ends on DISCONNECT.
    async fn stub_broker(listener: TcpListener) -> Seen {
        let (mut stream, _) = listener.accept().await.expect("a client");
        let mut seen = Seen::default();
        while let Some((kind, flags, body)) = packet(&mut stream).await {
            match kind {
                1 => {
                    let (protocol, at) = string_at(&body, 0);
                    assert_eq!((protocol.as_str(), body[at]), ("MQTT", 4), "MQTT 3.1.1");
                    let connect_flags = body[at + 1];
                    assert!(
                        connect_flags & 0x80 != 0 && connect_flags & 0x40 != 0,
                        "user name and password"
                    );
                    let (client_id, at) = string_at(&body, at + 4);
                    let (user, at) = string_at(&body, at);
                    let (password, _) = string_at(&body, at);
                    seen.connect = Some((client_id, user, password));
                    stream.write_all(&[0x20, 2, 0, 0]).await.expect("connack");
                }
                3 => {
                    let qos = (flags >> 1) & 3;
                    let (topic, at) = string_at(&body, 0);
                    let (payload_at, pkid) = if qos > 0 {
                        (at + 2, [body[at], body[at + 1]])
                    } else {
                        (at, [0, 0])
                    };
                    seen.publishes
                        .push((topic, qos, body[payload_at..].to_vec()));
                    if qos == 1 {
                        stream
                            .write_all(&[0x40, 2, pkid[0], pkid[1]])
                            .await
                            .expect("puback");
                    }
                }
                12 => stream.write_all(&[0xd0, 0]).await.expect("pingresp"),
                14 => break,
                _ => {}
            }
        }
        seen
    }

    #[tokio::test]
    async fn readings_are_published_with_qos_1_on_the_device_topic_and_acknowledged() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let broker = tokio::spawn(stub_broker(listener));
        let stats = Arc::new(Stats::new(1));
        let (tx, rx) = mpsc::channel(16);
        let sender = tokio::spawn(run(
            rx,
            ("truck-7".into(), "the-secret".into()),
            ("127.0.0.1".into(), port),
            1,
            stats.clone(),
        ));
        let reading = json!({"v": 1, "reading_id": "truck-7-1", "device_id": "truck-7"});
        for kind in [Kind::Reading, Kind::Duplicate] {
            tx.send(Outgoing {
                kind,
                json: reading.clone(),
                raw: None,
            })
            .await
            .expect("send");
        }
        tx.send(Outgoing {
            kind: Kind::Malformed,
            json: json!(null),
            raw: Some(b"not json".to_vec()),
        })
        .await
        .expect("send");
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), sender)
            .await
            .expect("in time")
            .expect("sender");
        let seen = tokio::time::timeout(Duration::from_secs(5), broker)
            .await
            .expect("in time")
            .expect("broker");
        assert_eq!(
            seen.connect,
            Some(("truck-7".into(), "truck-7".into(), "the-secret".into()))
        );
        assert_eq!(seen.publishes.len(), 3);
        for (topic, qos, _) in &seen.publishes {
            assert_eq!(
                (topic.as_str(), *qos),
                ("pharmaguard/devices/truck-7/telemetry", 1)
            );
        }
        let first: serde_json::Value = serde_json::from_slice(&seen.publishes[0].2).expect("JSON");
        assert_eq!(first, reading);
        assert_eq!(
            seen.publishes[1].2, seen.publishes[0].2,
            "a duplicate is the same message"
        );
        assert_eq!(seen.publishes[2].2, b"not json");
        let counts = stats.total();
        assert_eq!((counts.sent, counts.accepted, counts.failed), (3, 3, 0));
    }

    #[tokio::test]
    async fn an_absent_broker_counts_the_records_as_failed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let stats = Arc::new(Stats::new(1));
        let (tx, rx) = mpsc::channel(16);
        tx.send(Outgoing {
            kind: Kind::Reading,
            json: json!({}),
            raw: None,
        })
        .await
        .expect("send");
        drop(tx);
        let started = std::time::Instant::now();
        run(
            rx,
            ("t".into(), "s".into()),
            ("127.0.0.1".into(), port),
            1,
            stats.clone(),
        )
        .await;
        assert!(started.elapsed() < DRAIN_TIMEOUT + Duration::from_secs(3));
        let counts = stats.total();
        assert_eq!((counts.sent, counts.accepted, counts.failed), (1, 0, 1));
        assert!(counts.retries >= 1);
    }
}
