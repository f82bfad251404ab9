//! The Peer against real faults on 127.0.0.1: a server that is down, stopped and restarted.
//!
//! What the Peer guarantees today, and so what these tests assert:
//! - **At most once, in order, whole.** Each message reaches the server at most once, messages
//!   arrive in the order they were sent, and every one arrives whole (the default codec checks
//!   a CRC-32C). A message half-written when a connection breaks is sent again whole on the
//!   next connection.
//! - **Not at least once.** A message counts as sent once the kernel accepted its last byte.
//!   Bytes written into a socket whose remote end just died are lost, and the Peer only learns
//!   of the death at its next read or write. So messages written between the server's stop and
//!   the first error the Peer reports may be lost; messages queued after that are delivered.
//! - **Backoff.** With the server down, consecutive connection attempts are spaced by at least
//!   `initial_reconnect_delay`, doubling up to `max_reconnect_delay`.
//!
//! That is unreliable mode. The reliable modes close the gap, and the last two tests show it
//! against a server killed (its connection aborted, its listener dropped) and restarted 100
//! times: at-least-once against a server that forgets everything at each restart loses
//! nothing; exactly-once against a `SessionServer` whose sessions survive in memory loses and
//! duplicates nothing.
//!
//! The server records what it receives through a channel; the tests await those events rather
//! than sleeping. Each test is bounded by [`LIMIT`].

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_executor::Executor;
use futures::channel::mpsc;
use futures::StreamExt;
use moonpool::peer::{Delivery, FramedStream, SessionServer};
use moonpool::provider::Stream;
use moonpool::{
    Clock, Listener, NetworkProvider, Peer, PeerConfig, PeerError, RealClock, RealListener,
    RealNetworkProvider, RealStream,
};

/// Upper bound on any one test.
const LIMIT: Duration = Duration::from_secs(20);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Quick retries, so a test with the server down stays short.
fn config() -> PeerConfig {
    PeerConfig {
        initial_reconnect_delay: Duration::from_millis(5),
        max_reconnect_delay: Duration::from_millis(40),
        connection_timeout: Duration::from_secs(2),
        ..PeerConfig::default()
    }
}

/// Message `k`: its number, then 100 filler bytes that depend on `k`.
fn message(k: u32) -> Vec<u8> {
    let mut message = k.to_le_bytes().to_vec();
    message.extend((0..100u32).map(|i| (i.wrapping_mul(7) ^ k) as u8));
    message
}

/// The number of a received message, checking that it is whole.
fn number(received: &[u8]) -> u32 {
    let k = u32::from_le_bytes(received[..4].try_into().expect("at least 4 bytes"));
    assert_eq!(received, message(k), "message {k} arrived altered");
    k
}

/// Accepts connections one after the other and sends every message it receives to `log`,
/// until its task is dropped (which drops the listener and the connection).
async fn recording_server(listener: RealListener, log: mpsc::UnboundedSender<Vec<u8>>) {
    loop {
        let Ok((stream, _remote)) = listener.accept().await else {
            continue;
        };
        let mut conn = FramedStream::new(stream);
        // An error or end-of-file ends this connection; the next one is accepted.
        while let Ok(Some(message)) = conn.recv().await {
            let _ = log.unbounded_send(message);
        }
    }
}

/// The number of the next message the server recorded.
async fn next_received(received: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> u32 {
    number(&received.next().await.expect("the server's log is open"))
}

/// Binds `addr` again after a server stopped, retrying while the port is still in use.
async fn rebind(provider: &RealNetworkProvider, addr: &str) -> io::Result<RealListener> {
    let mut tries = 0;
    loop {
        match provider.bind(addr).await {
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                provider.clock().sleep(Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

/// A free address on 127.0.0.1 with nothing listening on it (connections are refused).
fn closed_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Runs `main` on an async-executor (so it can spawn server tasks), bounded by [`LIMIT`].
fn run<F, T>(main: impl FnOnce(&'static Executor<'static>) -> F) -> T
where
    F: Future<Output = Result<T, BoxError>>,
{
    // Leaked so that tasks may be spawned from inside `main` (a few bytes per test).
    let executor: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    let clock = RealClock::new();
    let main = clock.timeout(LIMIT, main(executor));
    async_io::block_on(executor.run(main))
        .expect("test timed out")
        .unwrap()
}

#[test]
fn smoke_messages_arrive_whole_and_in_order() {
    run(|executor| async move {
        let provider = RealNetworkProvider::new();
        let listener = provider.bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (log, mut received) = mpsc::unbounded();
        let _server = executor.spawn(recording_server(listener, log));
        let mut peer = Peer::new(provider, addr, config());
        for k in 0..50 {
            peer.send(message(k)).await?;
        }
        peer.flush().await?;
        for k in 0..50 {
            assert_eq!(next_received(&mut received).await, k);
        }
        Ok(())
    })
}

#[test]
fn messages_queued_before_the_server_starts_all_arrive() {
    const N: u32 = 30;
    run(|executor| async move {
        let provider = RealNetworkProvider::new();
        let addr = closed_addr();
        let mut peer = Peer::new(provider.clone(), addr.clone(), config());
        let mut failed_flushes = 0;
        for k in 0..N {
            peer.send(message(k)).await?;
            if k % 10 == 9 {
                let error = peer.flush().await.expect_err("nothing listens yet");
                assert!(
                    matches!(error, PeerError::ConnectionFailed { .. }),
                    "{error}"
                );
                failed_flushes += 1;
            }
        }
        assert_eq!(failed_flushes, 3);
        assert_eq!(peer.queue_size(), N as usize);

        let listener = provider.bind(&addr).await?;
        let (log, mut received) = mpsc::unbounded();
        let _server = executor.spawn(recording_server(listener, log));
        peer.flush().await?;
        // No connection ever died with bytes in it, so nothing may be missing.
        for k in 0..N {
            assert_eq!(next_received(&mut received).await, k);
        }
        assert_eq!(peer.queue_size(), 0);
        assert_eq!(peer.metrics().connections_established, 1);
        Ok(())
    })
}

#[test]
fn queued_messages_arrive_after_a_server_restart() {
    const BEFORE: u32 = 20; // sent and confirmed before the stop
    const DOWN: u32 = 10; // sent while the server is down
    const TOTAL: u32 = 60; // the rest is sent after the restart
    run(|executor| async move {
        let provider = RealNetworkProvider::new();
        let listener = provider.bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (log, mut received) = mpsc::unbounded();
        let server = executor.spawn(recording_server(listener, log.clone()));
        let mut peer = Peer::new(provider.clone(), addr.clone(), config());

        // 1. The server runs: everything arrives.
        for k in 0..BEFORE {
            peer.send(message(k)).await?;
            peer.flush().await?;
        }
        for k in 0..BEFORE {
            assert_eq!(next_received(&mut received).await, k);
        }

        // 2. Stop the server: its listener and its connection are dropped.
        server.cancel().await;
        let mut first_error = None;
        let mut errors = 0;
        let mut flush = |result: Result<(), PeerError>, k: u32| {
            if let Err(error) = result {
                assert!(error.is_disconnect(), "unexpected error: {error}");
                errors += 1;
                first_error.get_or_insert(k);
            }
        };
        for k in BEFORE..BEFORE + DOWN {
            peer.send(message(k)).await?;
            flush(peer.flush().await, k);
        }

        // 3. Restart it on the same port; the client keeps sending.
        let listener = rebind(&provider, &addr).await?;
        let _server = executor.spawn(recording_server(listener, log));
        for k in BEFORE + DOWN..TOTAL {
            peer.send(message(k)).await?;
            flush(peer.flush().await, k);
        }
        let mut tries = 0;
        while let Err(error) = peer.flush().await {
            tries += 1;
            assert!(tries < 10, "cannot flush after the restart: {error}");
        }
        let first_error = first_error.expect("the Peer noticed the stop");
        assert!(
            first_error < BEFORE + DOWN,
            "noticed while the server was down"
        );
        assert!(errors >= 2, "a broken connection, then refused attempts");
        assert_eq!(peer.queue_size(), 0);

        // Everything after message `first_error` must arrive; it arrives on the restarted
        // server's connection, so message TOTAL - 1 comes last.
        let mut after = Vec::new();
        loop {
            let k = next_received(&mut received).await;
            after.push(k);
            if k == TOTAL - 1 {
                break;
            }
        }
        assert!(
            after.windows(2).all(|w| w[0] < w[1]),
            "in order, none twice: {after:?}"
        );
        assert!(
            after.iter().all(|&k| k >= BEFORE),
            "0..{BEFORE} were received once already: {after:?}"
        );
        let missing: Vec<u32> = (BEFORE..TOTAL).filter(|k| !after.contains(k)).collect();
        assert!(
            missing.iter().all(|&k| k <= first_error),
            "only messages written before the Peer noticed the stop (<= {first_error}) may be \
             lost; missing: {missing:?}"
        );
        let metrics = peer.metrics();
        assert_eq!(metrics.connections_established, 2);
        assert!(metrics.disconnections >= 1);
        Ok(())
    })
}

/// The async-io provider, recording the clock time of every connection attempt.
#[derive(Debug, Clone, Default)]
struct RecordingAttempts {
    inner: RealNetworkProvider,
    attempts: Arc<Mutex<Vec<Duration>>>,
}

impl NetworkProvider for RecordingAttempts {
    type Stream = RealStream;
    type Listener = RealListener;
    type Clock = RealClock;

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<RealListener>> {
        self.inner.bind(addr)
    }

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<RealStream>> {
        let now = self.inner.clock().now();
        self.attempts.lock().unwrap().push(now);
        self.inner.connect(addr)
    }

    fn clock(&self) -> RealClock {
        self.inner.clock()
    }

    fn random_seed(&self) -> u64 {
        self.inner.random_seed()
    }
}

#[test]
fn reconnect_delays_follow_the_config() {
    let initial = Duration::from_millis(10);
    let max = Duration::from_millis(80);
    // Timers may fire late on a busy machine; they never fire early.
    let slack = Duration::from_millis(250);
    run(|_executor| async move {
        let provider = RecordingAttempts::default();
        let addr = closed_addr();
        let config = PeerConfig {
            initial_reconnect_delay: initial,
            max_reconnect_delay: max,
            reconnect_jitter: 0.0,
            // Reset the backoff on connect, to see it reset below.
            stable_connection_time: Duration::ZERO,
            ..PeerConfig::default()
        };
        let mut peer = Peer::new(provider.clone(), addr.clone(), config);
        // `send` only queues; each flush makes one attempt after waiting out the backoff.
        peer.send(b"hello".to_vec()).await?;
        assert!(provider.attempts.lock().unwrap().is_empty());
        for _ in 0..7 {
            let error = peer.flush().await.expect_err("nothing listens");
            assert!(error.is_disconnect(), "{error}");
        }
        let attempts = provider.attempts.lock().unwrap().clone();
        assert_eq!(attempts.len(), 7);
        let expected = [10, 20, 40, 80, 80, 80].map(Duration::from_millis);
        for (i, (pair, want)) in attempts.windows(2).zip(expected).enumerate() {
            let gap = pair[1] - pair[0];
            // The backoff counts from the clock read as the attempt starts; the provider
            // records its own reading a moment later, so two recordings may sit a few
            // microseconds closer than the delay.
            let early = Duration::from_millis(1);
            assert!(
                gap + early >= want && gap <= want + slack,
                "attempt {} came {gap:?} after the previous one, expected {want:?}",
                i + 2
            );
        }
        assert!(peer.backoff_at_cap());
        assert_eq!(peer.metrics().connection_failures, 7);

        // Once a server listens, the next flush connects and delivers; the backoff resets.
        let listener = provider.bind(&addr).await?;
        peer.flush().await?;
        let (stream, _) = listener.accept().await?;
        assert_eq!(
            FramedStream::new(stream).recv().await?.as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(peer.metrics().consecutive_failures, 0);
        Ok(())
    })
}

/// Serves `lives + 1` lives of a session server on `addr`: each of the first `lives` is killed
/// (its connection aborted, its listener dropped) once it received `quota` messages it had
/// not seen before; the last serves until the Peer closes. With `forgetful`, each life is a
/// new process with a new `SessionServer` (no memory of the sessions); otherwise one table
/// outlives every kill. Acknowledges each message as it arrives. Returns every arrival, in
/// order.
async fn restarting_server(
    provider: RealNetworkProvider,
    addr: String,
    lives: u32,
    quota: usize,
    forgetful: bool,
) -> io::Result<Vec<u32>> {
    let mut log = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut table = SessionServer::new(0);
    for life in 0..=lives {
        if forgetful {
            table = SessionServer::new(u64::from(life) + 1);
        }
        let listener = rebind(&provider, &addr).await?;
        'life: loop {
            let (stream, _) = listener.accept().await?;
            let Ok(mut conn) = table.accept(stream).await else {
                continue;
            };
            let mut fresh = 0;
            loop {
                match conn.recv().await {
                    Ok(Some(received)) => {
                        let k = number(&received);
                        log.push(k);
                        fresh += usize::from(seen.insert(k));
                        if conn.flush().await.is_err() {
                            continue 'life;
                        }
                        if life < lives && fresh >= quota {
                            conn.into_inner().abort();
                            break 'life;
                        }
                    }
                    Ok(None) if life == lives => return Ok(log),
                    Ok(None) | Err(_) => continue 'life,
                }
            }
        }
    }
    unreachable!("the last life returns")
}

/// Sends `total` numbered messages in steps of 10, waiting after each step until they are
/// acknowledged (retrying through every broken connection); then closes.
async fn send_through_restarts(
    provider: RealNetworkProvider,
    addr: String,
    delivery: Delivery,
    total: u32,
) -> Result<moonpool::peer::PeerMetrics, BoxError> {
    let config = PeerConfig {
        delivery,
        // Every restart breaks a young connection: keep the retries quick.
        stable_connection_time: Duration::ZERO,
        ..config()
    };
    let mut peer = Peer::new(provider, addr, config);
    for k in 0..total {
        peer.send(message(k)).await?;
        if k % 10 == 9 || k + 1 == total {
            while let Err(error) = peer.wait_acknowledged().await {
                assert!(error.is_disconnect(), "{error}");
            }
        }
    }
    let metrics = peer.metrics();
    peer.close().await;
    Ok(metrics)
}

#[test]
fn at_least_once_survives_100_server_restarts() {
    run(|_executor| async move {
        let provider = RealNetworkProvider::new();
        let addr = closed_addr();
        let server = restarting_server(provider.clone(), addr.clone(), 100, 10, true);
        let client = send_through_restarts(provider, addr, Delivery::AtLeastOnce, 1100);
        let (log, metrics) = futures::join!(server, client);
        let (log, metrics) = (log?, metrics?);
        let distinct: std::collections::BTreeSet<u32> = log.iter().copied().collect();
        assert_eq!(distinct, (0..1100).collect(), "every message arrived");
        assert!(metrics.session_restarts >= 100, "{metrics:?}");
        assert_eq!(metrics.messages_acknowledged, 1100, "{metrics:?}");
        Ok(())
    })
}

#[test]
fn exactly_once_survives_100_killed_connections() {
    run(|_executor| async move {
        let provider = RealNetworkProvider::new();
        let addr = closed_addr();
        let server = restarting_server(provider.clone(), addr.clone(), 100, 10, false);
        let client = send_through_restarts(provider, addr, Delivery::ExactlyOnce, 1100);
        let (log, metrics) = futures::join!(server, client);
        let (log, metrics) = (log?, metrics?);
        assert_eq!(log, (0..1100).collect::<Vec<_>>(), "each once, in order");
        assert_eq!(metrics.session_restarts, 0, "{metrics:?}");
        assert!(metrics.disconnections >= 100, "{metrics:?}");
        Ok(())
    })
}
