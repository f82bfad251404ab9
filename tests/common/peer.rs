//! Helpers of the Peer suites: providers for a test body, echo and sink servers, configs.

use std::future::Future;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::peer::{FramedStream, PeerConfig};
use moonpool::{
    Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, RealNetworkProvider,
    SimNetworkProvider, SimWorld,
};

/// Two providers (server side, client side) and the address the server listens on.
pub struct Net<P> {
    pub server: P,
    pub client: P,
    pub addr: String,
}

pub fn run_sim<F, Fut>(config: NetworkConfig, body: F)
where
    F: FnOnce(Net<SimNetworkProvider>) -> Fut,
    Fut: Future<Output = ()>,
{
    let world = SimWorld::with_config(1, config).expect("valid config");
    let net = Net {
        server: world.provider("10.0.0.1"),
        client: world.provider("10.0.0.2"),
        addr: "10.0.0.1:4500".to_string(),
    };
    world.block_on(body(net)).expect("simulation completes");
}

pub fn run_real<F, Fut>(body: F)
where
    F: FnOnce(Net<RealNetworkProvider>) -> Fut,
    Fut: Future<Output = ()>,
{
    // A free loopback port, first got by binding port 0.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("loopback")
        .port();
    let provider = RealNetworkProvider::new();
    let clock = provider.clock();
    let net = Net {
        server: provider.clone(),
        client: provider,
        addr: format!("127.0.0.1:{port}"),
    };
    async_io::block_on(async {
        clock
            .timeout(Duration::from_secs(20), body(net))
            .await
            .expect("test finished within 20 s");
    });
}

pub fn fast_config() -> PeerConfig {
    PeerConfig {
        initial_reconnect_delay: Duration::from_millis(10),
        max_reconnect_delay: Duration::from_millis(80),
        connection_timeout: Duration::from_secs(2),
        ..PeerConfig::default()
    }
}

/// Echoes every message of `connections` connections, one after the other, until EOF.
/// Returns the messages received per connection.
pub async fn echo_server<L: Listener>(listener: &L, connections: usize) -> Vec<Vec<Vec<u8>>> {
    let mut seen = Vec::new();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut conn = FramedStream::new(stream);
        let mut messages = Vec::new();
        while let Ok(Some(message)) = conn.recv().await {
            messages.push(message.clone());
            if conn.send(&message).await.is_err() {
                break;
            }
        }
        seen.push(messages);
    }
    seen
}

/// Records the messages of one connection without answering, until EOF.
pub async fn sink_server<L: Listener>(listener: &L) -> Vec<Vec<u8>> {
    let (stream, _) = listener.accept().await.expect("accept");
    let mut conn = FramedStream::new(stream);
    let mut messages = Vec::new();
    while let Ok(Some(message)) = conn.recv().await {
        messages.push(message);
    }
    messages
}

pub fn numbered(n: usize) -> Vec<u8> {
    format!("message {n}").into_bytes()
}

/// A server that answers the first message with raw bytes, then waits for EOF.
pub async fn raw_reply<L: Listener>(listener: &L, reply: Vec<u8>) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut conn = FramedStream::new(stream);
    conn.recv().await.unwrap().unwrap();
    conn.get_mut().write_all(&reply).await.unwrap();
    let mut rest = Vec::new();
    let _ = conn.get_mut().read_to_end(&mut rest).await;
}

/// Fixed latencies, so tests can assert exact virtual times.
pub fn exact_network() -> NetworkConfig {
    NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_millis(1)),
        write_latency: LatencyRange::fixed(Duration::from_micros(100)),
        ..NetworkConfig::default()
    }
}
