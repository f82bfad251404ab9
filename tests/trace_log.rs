//! `log` users are still served: with no tracing subscriber, moonpool's events reach a `log`
//! logger (tracing's `log` feature). Its own binary: a tracing dispatcher set by any other test
//! would switch the forwarding off.

use std::sync::Mutex;

use log::{Log, Metadata, Record};
use moonpool::{Peer, PeerConfig, SimWorld};

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Collect;

impl Log for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[test]
fn smoke_a_log_logger_receives_peer_events() {
    log::set_logger(&Collect).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let world = SimWorld::new(1);
    let net = world.provider("10.0.0.2");
    world.spawn("client", async move {
        let mut peer = Peer::new(net, "10.0.0.1:4500".into(), PeerConfig::default());
        assert!(peer.reconnect().await.is_err());
    });
    world.run().unwrap();
    let records = RECORDS.lock().unwrap();
    let failed = records
        .iter()
        .find(|r| r.contains("connection attempt failed"))
        .unwrap_or_else(|| panic!("{records:#?}"));
    assert!(
        failed.starts_with("INFO moonpool::peer::connect"),
        "{failed}"
    );
}
