//! The async-io provider over 127.0.0.1: streams, listeners, the clock, and executors.

use std::io;
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::{Clock, Listener, NetworkProvider, RealClock, RealNetworkProvider};

mod common;
use common::{echo, echo_client, payload, LIMIT};

/// Runs `future` under `async_io::block_on`, failing the test if it takes longer than [`LIMIT`].
fn run<F: std::future::Future>(future: F) -> F::Output {
    async_io::block_on(RealClock::new().timeout(LIMIT, future)).expect("test timed out")
}

#[test]
fn smoke_echo() {
    run(echo(RealNetworkProvider::new(), 8 * 1024)).unwrap();
}

#[test]
fn echo_under_futures_block_on() {
    futures::executor::block_on(echo(RealNetworkProvider::new(), 4 * 1024)).unwrap();
}

#[test]
fn echo_under_async_executor_with_spawned_tasks() {
    const CLIENTS: usize = 4;
    const LEN: usize = 3000;
    let executor = async_executor::Executor::new();
    let provider = RealNetworkProvider::new();
    let run = async {
        let listener = provider.bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = executor.spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..CLIENTS {
                let (mut stream, _peer) = listener.accept().await?;
                handlers.push(executor_echo(&mut stream, LEN).await);
            }
            handlers.into_iter().collect::<io::Result<Vec<()>>>()
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| executor.spawn(echo_client(provider.clone(), addr.clone(), payload(LEN))))
            .collect();
        for client in clients {
            client.await?;
        }
        server.await?;
        io::Result::Ok(())
    };
    let clock = provider.clock();
    let run = clock.timeout(LIMIT, run);
    futures::executor::block_on(executor.run(run))
        .unwrap()
        .unwrap();

    async fn executor_echo(
        stream: &mut <RealNetworkProvider as NetworkProvider>::Stream,
        len: usize,
    ) -> io::Result<()> {
        let mut buf = vec![0; len];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        stream.close().await
    }
}

#[test]
fn spawned_generic_echo_is_send() {
    let executor = async_executor::Executor::new();
    let task = executor.spawn(echo(RealNetworkProvider::new(), 1024));
    async_io::block_on(executor.run(task)).unwrap();
}

#[test]
fn timeout_fires_when_the_future_is_slow() {
    let clock = RealClock::new();
    let start = Instant::now();
    let result = async_io::block_on(
        clock.timeout(Duration::from_millis(20), futures::future::pending::<()>()),
    );
    assert_eq!(result, Err(moonpool::provider::Elapsed));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn timeout_does_not_fire_when_the_future_is_fast() {
    let clock = RealNetworkProvider::new().clock();
    let result = futures::executor::block_on(clock.timeout(LIMIT, async { 42 }));
    assert_eq!(result, Ok(42));
}

#[test]
fn sleep_waits_and_now_is_monotonic() {
    let clock = RealClock::new();
    let mut last = clock.now();
    for _ in 0..1000 {
        let now = clock.now();
        assert!(now >= last);
        last = now;
    }
    let before = clock.now();
    futures::executor::block_on(clock.sleep(Duration::from_millis(5)));
    assert!(clock.now() >= before + Duration::from_millis(5));
    // Clones share the origin.
    assert!(clock.clone().now() >= clock.now() - Duration::from_millis(1));
    assert!(clock.now() < Duration::from_secs(3600));
}

#[test]
fn huge_sleep_does_not_panic() {
    let clock = RealClock::new();
    let result =
        async_io::block_on(clock.timeout(Duration::from_millis(1), clock.sleep(Duration::MAX)));
    assert!(result.is_err());
}

#[test]
fn random_seeds_differ() {
    let provider = RealNetworkProvider::new();
    let seeds: std::collections::HashSet<u64> = (0..100).map(|_| provider.random_seed()).collect();
    assert_eq!(seeds.len(), 100);
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn futures_are_send() {
    let provider = RealNetworkProvider::new();
    let clock = provider.clock();
    assert_send(&provider.connect("127.0.0.1:1"));
    let bind = provider.bind("127.0.0.1:0");
    assert_send(&bind);
    let listener = async_io::block_on(bind).unwrap();
    assert_send(&listener.accept());
    assert_send(&clock.sleep(Duration::from_secs(1)));
    assert_send(&clock.timeout(Duration::from_secs(1), async {}));
    assert_send(&echo(provider.clone(), 1));
    assert_send(&provider);
    assert_send(&listener);
}

#[test]
fn a_peer_reaches_a_server_by_host_name() {
    use moonpool::peer::FramedStream;
    use moonpool::{Peer, PeerConfig};
    run(async {
        let net = RealNetworkProvider::new();
        let listener = net.bind("127.0.0.1:0").await.unwrap();
        let port = listener
            .local_addr()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .to_string();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let message = conn.recv().await.unwrap().unwrap();
            conn.send(&message).await.unwrap();
            let _ = conn.recv().await;
        };
        let client = async {
            let mut peer = Peer::new(
                net.clone(),
                format!("localhost:{port}"),
                PeerConfig::default(),
            );
            peer.send(b"by name".to_vec()).await.unwrap();
            let echo = peer.recv().await.unwrap();
            peer.close().await;
            echo
        };
        let ((), echo) = futures::join!(server, client);
        assert_eq!(echo, b"by name");
    });
}
