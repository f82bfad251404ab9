//! One Peer round trip, written once over `P: NetworkProvider`, run under every executor we
//! claim to support: `async_io::block_on`, async-executor with spawned tasks,
//! `futures::executor::block_on`, smol (`smol::block_on`, and `smol::spawn` on its global
//! multi-threaded executor; feature `test-smol`, on in CI's `--all-features`), Tokio (current-thread, and multi-thread with `tokio::spawn`)
//! and the simulator.
//!
//! The body: a [`FramedStream`] echo server accepts one connection and echoes every message; a
//! [`Peer`] sends `N` numbered messages, flushes, and checks that the `N` echoes come back whole
//! and in order. Real-network variants use 127.0.0.1 with port 0 and a time limit.

use std::time::Duration;

use moonpool::peer::FramedStream;
use moonpool::{
    Clock, Listener, NetworkProvider, Peer, PeerConfig, RealClock, RealNetworkProvider, SimWorld,
};

/// Messages per round trip.
const N: u32 = 200;

/// Upper bound on any one real-network round trip.
const LIMIT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Message `k`: its number, then a filler whose length and bytes depend on `k`.
fn message(k: u32) -> Vec<u8> {
    let mut message = k.to_le_bytes().to_vec();
    message.extend((0..k % 97).map(|i| (i ^ k) as u8));
    message
}

/// Accepts one connection and echoes every message until end-of-file; returns how many.
async fn echo_server<L: Listener>(listener: L) -> Result<u32, BoxError> {
    let (stream, _remote) = listener.accept().await?;
    let mut conn = FramedStream::new(stream);
    let mut echoed = 0;
    while let Some(message) = conn.recv().await? {
        conn.send(&message).await?;
        echoed += 1;
    }
    Ok(echoed)
}

/// Sends `N` messages through a Peer, then checks all `N` echoes, in order, and closes.
async fn peer_client<P: NetworkProvider>(provider: P, addr: String) -> Result<(), BoxError> {
    let mut peer = Peer::new(provider, addr, PeerConfig::local());
    for k in 0..N {
        peer.send(message(k)).await?;
    }
    peer.flush().await?;
    for k in 0..N {
        assert_eq!(peer.recv().await?, message(k), "echo {k}");
    }
    let metrics = peer.metrics();
    assert_eq!(metrics.messages_written, u64::from(N));
    assert_eq!(metrics.messages_received, u64::from(N));
    assert_eq!(metrics.connections_established, 1);
    peer.close().await;
    Ok(())
}

/// The whole round trip in one task: bind `bind_addr` on `server`, run server and client
/// concurrently.
async fn round_trip<P: NetworkProvider>(
    server: P,
    client: P,
    bind_addr: &str,
) -> Result<(), BoxError> {
    let listener = server.bind(bind_addr).await?;
    let addr = listener.local_addr()?;
    let (echoed, sent) =
        futures::future::join(echo_server(listener), peer_client(client, addr)).await;
    sent?;
    assert_eq!(echoed?, N);
    Ok(())
}

/// `round_trip` over a fresh provider on 127.0.0.1, bounded by [`LIMIT`] on `clock`.
async fn bounded<C: Clock, P: NetworkProvider>(clock: C, provider: P) -> Result<(), BoxError> {
    clock
        .timeout(LIMIT, round_trip(provider.clone(), provider, "127.0.0.1:0"))
        .await
        .map_err(|_| "round trip timed out")?
}

#[test]
fn smoke_async_io_block_on() {
    async_io::block_on(bounded(RealClock::new(), RealNetworkProvider::new())).unwrap();
}

#[test]
fn async_executor_with_spawned_tasks() {
    let executor = async_executor::Executor::new();
    let provider = RealNetworkProvider::new();
    let main = async {
        let listener = provider.bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // Server and client are separate tasks; the executor needs them to be Send.
        let server = executor.spawn(echo_server(listener));
        let client = executor.spawn(peer_client(provider.clone(), addr));
        client.await?;
        assert_eq!(server.await?, N);
        Ok::<_, BoxError>(())
    };
    let clock = RealClock::new();
    async_io::block_on(executor.run(clock.timeout(LIMIT, main)))
        .expect("round trip timed out")
        .unwrap();
}

#[test]
fn futures_executor_block_on() {
    futures::executor::block_on(bounded(RealClock::new(), RealNetworkProvider::new())).unwrap();
}

#[cfg(feature = "test-smol")]
#[test]
fn smol_block_on() {
    smol::block_on(bounded(RealClock::new(), RealNetworkProvider::new())).unwrap();
}

#[cfg(feature = "test-smol")]
#[test]
fn smol_spawn_on_the_global_multi_threaded_executor() {
    // The global executor reads its thread count once, at its first spawn (only this test
    // spawns on it).
    std::env::set_var("SMOL_THREADS", "2");
    let provider = RealNetworkProvider::new();
    smol::block_on(async {
        let listener = provider.bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // `smol::spawn` takes Send + 'static futures and runs them on smol's worker threads.
        let server = smol::spawn(echo_server(listener));
        let client = smol::spawn(peer_client(provider.clone(), addr));
        let both = async { (client.await, server.await) };
        let (client, server) = RealClock::new()
            .timeout(LIMIT, both)
            .await
            .map_err(|_| "round trip timed out")?;
        client?;
        assert_eq!(server?, N);
        Ok::<_, BoxError>(())
    })
    .unwrap();
}

#[test]
fn simulator_block_on() {
    let world = SimWorld::new(7);
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    world
        .block_on(round_trip(server, client, "10.0.0.1:4500"))
        .unwrap()
        .unwrap();
    assert!(world.now() > Duration::ZERO, "virtual time advanced");
}

#[test]
fn simulator_replays_the_same_run() {
    let digest = |seed| {
        let world = SimWorld::new(seed);
        let (server, client) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
        world
            .block_on(round_trip(server, client, "10.0.0.1:4500"))
            .unwrap()
            .unwrap();
        (world.now(), world.digest())
    };
    assert_eq!(digest(11), digest(11));
}

/// A compile-time check: the futures of `Peer<RealNetworkProvider>` can move between threads.
#[test]
fn real_peer_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let mut peer = Peer::new(
        RealNetworkProvider::new(),
        "127.0.0.1:1".to_string(),
        PeerConfig::default(),
    );
    send(peer.send(Vec::new()));
    send(peer.flush());
    send(peer.recv());
    send(peer.recv_into(&mut [0; 8]));
    send(peer.reconnect());
    send(peer.close());
    send(peer);
}

#[cfg(feature = "tokio")]
mod tokio_runtimes {
    use super::*;
    use moonpool::{TokioClock, TokioNetworkProvider};

    #[test]
    fn tokio_current_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(bounded(TokioClock::new(), TokioNetworkProvider::new()))
            .unwrap();
    }

    #[test]
    fn tokio_multi_thread_with_spawned_peer_tasks() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let provider = TokioNetworkProvider::new();
            let listener = provider.bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // `tokio::spawn` requires Send + 'static futures.
            let server = tokio::spawn(echo_server(listener));
            let client = tokio::spawn(peer_client(provider.clone(), addr));
            let both = async { (client.await, server.await) };
            let (client, server) = tokio::time::timeout(LIMIT, both)
                .await
                .expect("round trip timed out");
            client.unwrap().unwrap();
            assert_eq!(server.unwrap().unwrap(), N);
        });
    }

    /// The async-io provider works under a Tokio runtime too (async-io drives its own reactor).
    #[test]
    fn async_io_provider_under_tokio_multi_thread() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let task = tokio::spawn(bounded(RealClock::new(), RealNetworkProvider::new()));
            task.await.unwrap().unwrap();
        });
    }
}
