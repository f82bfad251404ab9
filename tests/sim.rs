//! Tests of the deterministic simulator.

use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::{Clock, Listener, NetworkConfig, NetworkProvider, SimWorld};

/// Spawns an echo server (for `conns` connections) and a client; returns the echoed bytes.
fn echo_world(seed: u64, config: NetworkConfig) -> (SimWorld, Vec<u8>) {
    let world = SimWorld::with_config(seed, config).unwrap();
    let server_net = world.provider("10.0.0.1");
    let client_net = world.provider("10.0.0.2");
    let listener = world
        .block_on(server_net.bind("10.0.0.1:4500"))
        .unwrap()
        .unwrap();
    world.spawn("server", async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await.unwrap();
        }
    });
    let mut client = world.spawn("client", async move {
        let mut stream = client_net.connect("10.0.0.1:4500").await.unwrap();
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut echoed = Vec::new();
        let (mut reader, mut writer) = stream_split(&mut stream);
        let write = async {
            writer.write_all(&payload).await.unwrap();
            writer.close().await.unwrap();
        };
        let read = async {
            reader.read_to_end(&mut echoed).await.unwrap();
        };
        futures::join!(write, read);
        echoed
    });
    world.run().unwrap();
    let echoed = client.try_take().unwrap();
    (world, echoed)
}

fn stream_split<S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin>(
    s: &mut S,
) -> (
    futures::io::ReadHalf<&mut S>,
    futures::io::WriteHalf<&mut S>,
) {
    futures::io::AsyncReadExt::split(s)
}

#[test]
fn smoke_sleep_advances_virtual_time() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    world
        .block_on(async move { clock.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(world.now(), Duration::from_millis(5));
}

#[test]
fn echo_over_sim_provider() {
    let (world, echoed) = echo_world(7, NetworkConfig::default());
    let expected: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    assert_eq!(echoed, expected);
    assert!(world.now() > Duration::ZERO);
    assert!(world.stats().events_processed > 0);
}

#[test]
fn same_seed_same_digest_and_seeds_differ() {
    let a = echo_world(11, NetworkConfig::default()).0.digest();
    let b = echo_world(11, NetworkConfig::default()).0.digest();
    assert_eq!(a, b);
    let digests: std::collections::BTreeSet<u64> = (0..20)
        .map(|seed| echo_world(seed, NetworkConfig::default()).0.digest())
        .collect();
    assert!(digests.len() >= 2, "20 seeds gave one digest");
}
