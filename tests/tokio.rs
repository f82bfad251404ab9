//! The Tokio provider over 127.0.0.1, on current-thread and multi-thread runtimes.
#![cfg(feature = "tokio")]

use std::io;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::provider::Elapsed;
use moonpool::{Clock, Listener, NetworkProvider, TokioClock, TokioNetworkProvider};

mod common;
use common::{echo, echo_client, payload, LIMIT};

#[tokio::test]
async fn smoke_echo_current_thread() {
    echo(TokioNetworkProvider::new(), 8 * 1024).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_multi_thread_with_spawned_tasks() {
    const CLIENTS: usize = 4;
    const LEN: usize = 3000;
    let provider = TokioNetworkProvider::new();
    let listener = provider.bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            let (mut stream, _peer) = listener.accept().await?;
            handlers.push(tokio::spawn(async move {
                let mut buf = vec![0; LEN];
                stream.read_exact(&mut buf).await?;
                stream.write_all(&buf).await?;
                stream.close().await
            }));
        }
        for handler in handlers {
            handler.await.unwrap()?;
        }
        io::Result::Ok(())
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(echo_client(provider.clone(), addr.clone(), payload(LEN))))
        .collect();
    let clock = provider.clock();
    clock
        .timeout(LIMIT, async {
            for client in clients {
                client.await.unwrap().unwrap();
            }
            server.await.unwrap().unwrap();
        })
        .await
        .expect("test timed out");
    // The generic one-task echo is Send too.
    tokio::spawn(echo(provider, 1024)).await.unwrap().unwrap();
}

#[tokio::test]
async fn timeout_fires_and_does_not_fire() {
    let clock = TokioClock::new();
    let slow = clock.timeout(Duration::from_millis(20), futures::future::pending::<()>());
    assert_eq!(slow.await, Err(Elapsed));
    assert!(clock.now() >= Duration::from_millis(20));
    assert_eq!(clock.timeout(LIMIT, async { 42 }).await, Ok(42));
    let huge = clock.timeout(Duration::from_millis(1), clock.sleep(Duration::MAX));
    assert!(huge.await.is_err());
}

#[test]
fn sleep_is_created_outside_a_runtime_and_polled_inside() {
    let clock = TokioClock::new();
    let sleep = clock.sleep(Duration::from_millis(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(sleep);
    assert!(clock.now() >= Duration::from_millis(1));
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn futures_are_send() {
    let provider = TokioNetworkProvider::new();
    let clock = provider.clock();
    assert_send(&provider.connect("127.0.0.1:1"));
    let bind = provider.bind("127.0.0.1:0");
    assert_send(&bind);
    let listener = bind.await.unwrap();
    assert_send(&listener.accept());
    assert_send(&clock.sleep(Duration::from_secs(1)));
    assert_send(&clock.timeout(Duration::from_secs(1), async {}));
    assert_send(&echo(provider.clone(), 1));
    assert_ne!(provider.random_seed(), provider.random_seed());
}
