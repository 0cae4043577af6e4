//! The simulator against the deployed local stack over HTTPS: it sets up its
//! world through the REST API, the API accepts its readings (and rejects
//! exactly the malformed ones), and a second run reuses the same world.

use std::path::PathBuf;
use std::time::Duration;

use fleet_sim::cli::{Config, Transport};
use fleet_sim::run::{Summary, run};
use fleet_sim::state::FleetState;
use pharmaguard_testkit::{Api, Stack};

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../localstack/.state")
}

fn config(state: &std::path::Path, seconds: u64) -> Config {
    let outputs = std::env::var_os("PHARMAGUARD_OUTPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("outputs.json"));
    Config {
        trucks: 2,
        rate_hz: 2.0,
        seed: Some(7),
        duration: Some(Duration::from_secs(seconds)),
        transport: Transport::Https,
        batch_window: Duration::from_secs(1),
        duplicate_rate: 0.3,
        malformed_rate: 0.3,
        outputs,
        admin: state_dir().join("admin.json"),
        state: state.to_path_buf(),
        progress_every: Duration::ZERO,
        ..Config::default()
    }
}

async fn fleet(config: Config) -> Summary {
    run(config, std::future::pending())
        .await
        .expect("the fleet runs")
}

fn check_counts(summary: &Summary) {
    let totals = summary.totals;
    // 2 trucks × 2 Hz × the run, plus duplicates and malformed records
    assert!(totals.sent >= 10, "{totals:?}");
    assert_eq!(totals.failed, 0, "{totals:?}");
    assert_eq!(
        totals.rejected, totals.malformed,
        "only the malformed ones are rejected: {totals:?}"
    );
    assert_eq!(totals.accepted + totals.rejected, totals.sent, "{totals:?}");
    assert!(totals.malformed > 0 && totals.duplicates > 0, "{totals:?}");
    for truck in &summary.per_truck {
        assert!(truck.counts.accepted > 0, "{truck:?}");
    }
}

#[tokio::test]
async fn a_small_fleet_sends_accepted_readings_and_reuses_its_world() {
    let stack = Stack::load();
    let dir =
        std::env::temp_dir().join(format!("fleet-sim-test-{}", pharmaguard_testkit::unique()));
    let state_file = dir.join("fleet.json");

    let first = fleet(config(&state_file, 5)).await;
    check_counts(&first);
    assert_eq!(first.transport, "https");
    assert_eq!(first.per_truck.len(), 2);
    assert!(first.shipments.iter().all(|s| s.event == "started"));

    // the world is in the state file and real: the shipper's manager sees the
    // trucks' shipments in transit with their devices
    let state = FleetState::load(&state_file).expect("state file");
    let operator = &state.organisations["operator"];
    let manager = operator
        .users
        .iter()
        .find(|u| u.role == "MANAGER")
        .expect("a manager");
    let api = Api::new(&stack);
    let session = api.login(&manager.email, &manager.password).await;
    for (number, truck) in &state.trucks {
        let shipment = truck.shipment.as_ref().expect("a shipment on board");
        let reply = api
            .get(&session, &format!("/v1/shipments/{}", shipment.id))
            .await;
        assert_eq!(reply.status, 200, "{reply}");
        assert_eq!(reply.body["state"], "IN_TRANSIT");
        assert_eq!(reply.body["device_id"], truck.device_id.as_str());
        assert_eq!(reply.body["shipper_org_id"], operator.id.as_str());
        assert_eq!(first.per_truck[number - 1].device_id, truck.device_id);
        assert!(shipment.progress_km > 0.0, "progress saved");
    }
    for org in state.organisations.values() {
        assert_eq!(
            org.users.len(),
            2,
            "a manager and a pharmacist in {}",
            org.name
        );
    }

    // a second run reuses devices, organisations and shipments
    let second = fleet(config(&state_file, 3)).await;
    check_counts(&second);
    let again = FleetState::load(&state_file).expect("state file");
    assert_eq!(again.organisations, state.organisations);
    for (number, truck) in &state.trucks {
        assert_eq!(again.trucks[number].device_id, truck.device_id);
        assert_eq!(again.trucks[number].secret, truck.secret);
        let (before, after) = (
            truck.shipment.as_ref(),
            again.trucks[number].shipment.as_ref(),
        );
        assert_eq!(before.map(|s| &s.id), after.map(|s| &s.id));
    }
    assert!(
        second.shipments.iter().all(|s| s.event == "resumed"),
        "{:?}",
        second.shipments
    );
    let _ = std::fs::remove_dir_all(dir);
}
