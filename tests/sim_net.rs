//! Simulator-only network rules: what the TCP contract cannot check over one real host
//! (many hosts, port exhaustion, the world's DNS, network resets), with exact virtual times.

use std::io::ErrorKind;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::provider::Stream;
use moonpool::{Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, SimWorld};

fn fixed() -> NetworkConfig {
    NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_millis(1)),
        dns_latency: LatencyRange::fixed(Duration::from_millis(2)),
        write_latency: LatencyRange::fixed(Duration::from_micros(100)),
        ..NetworkConfig::default()
    }
}

#[test]
fn smoke_two_hosts_talk() {
    let world = SimWorld::with_config(1, fixed()).unwrap();
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    let got = world
        .block_on(async move {
            let listener = a.bind("10.0.0.1:80").await.unwrap();
            let mut c = b.connect("10.0.0.1:80").await.unwrap();
            let (mut s, from) = listener.accept().await.unwrap();
            assert!(from.starts_with("10.0.0.2:"));
            c.write_all(b"hi").await.unwrap();
            let mut buf = [0; 2];
            s.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap();
    assert_eq!(&got, b"hi");
}

#[test]
fn a_host_binds_only_its_own_addresses() {
    let world = SimWorld::new(2);
    let a = world.provider("10.0.0.1");
    world
        .block_on(async move {
            let err = a.bind("10.0.0.2:80").await.err().map(|e| e.kind());
            assert_eq!(err, Some(ErrorKind::AddrNotAvailable));
            a.bind("127.0.0.1:80").await.unwrap();
            a.bind("10.0.0.1:80").await.unwrap();
        })
        .unwrap();
}

/// `[::]` is dual stack, as on Linux by default: it takes the port for both families, in
/// either order, while two specific addresses share it, of different families or the same.
#[test]
fn the_ipv6_wildcard_conflicts_with_every_address_of_the_port() {
    let world = SimWorld::new(2);
    let a = world.provider("10.0.0.1");
    world
        .block_on(async move {
            let in_use = Some(ErrorKind::AddrInUse);
            let any6 = a.bind("[::]:80").await.unwrap();
            assert_eq!(a.bind("10.0.0.1:80").await.err().map(|e| e.kind()), in_use);
            assert_eq!(a.bind("0.0.0.0:80").await.err().map(|e| e.kind()), in_use);
            drop(any6);
            let _v4 = a.bind("10.0.0.1:81").await.unwrap();
            assert_eq!(a.bind("[::]:81").await.err().map(|e| e.kind()), in_use);
            let _loop4 = a.bind("127.0.0.1:82").await.unwrap();
            a.bind("[::1]:82").await.unwrap();
            let _loop4 = a.bind("127.0.0.1:83").await.unwrap();
            a.bind("10.0.0.1:83").await.unwrap();
        })
        .unwrap();
}

#[test]
fn each_host_has_its_own_loopback_and_ports() {
    let world = SimWorld::new(3);
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    world
        .block_on(async move {
            let _on_a = a.bind("127.0.0.1:80").await.unwrap();
            // The same port on another host is free, and A's loopback is not reachable from B.
            let _on_b = b.bind("0.0.0.0:80").await.unwrap();
            let err = b.connect("10.0.0.1:80").await.err().map(|e| e.kind());
            assert_eq!(err, Some(ErrorKind::ConnectionRefused));
            let local = b.connect("127.0.0.1:80").await.unwrap();
            assert!(local.local_addr().unwrap().starts_with("127.0.0.1:"));
        })
        .unwrap();
}

#[test]
fn ephemeral_ports_run_out_with_addr_not_available() {
    let world = SimWorld::new(4);
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    let (opened, err) = world
        .block_on(async move {
            let listener = a.bind("10.0.0.1:80").await.unwrap();
            let mut live = Vec::new();
            loop {
                match b.connect("10.0.0.1:80").await {
                    Ok(c) => {
                        live.push(c);
                        // Accept, so the backlog never fills.
                        let _ = listener.accept().await.unwrap();
                    }
                    Err(e) => return (live.len(), e.kind()),
                }
            }
        })
        .unwrap();
    assert_eq!(err, ErrorKind::AddrNotAvailable);
    assert_eq!(opened, 60999 - 32768 + 1);
}

/// Each host starts its ephemeral ports at its own offset in the range, as Linux's hashed
/// start does: the first ports of 16 hosts spread over the range.
#[test]
fn each_host_starts_its_ephemeral_ports_at_its_own_offset() {
    let world = SimWorld::new(4);
    let server = world.provider("10.0.0.1");
    let clients: Vec<_> = (2..18)
        .map(|i| world.provider(&format!("10.0.0.{i}")))
        .collect();
    let ports = world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:80").await.unwrap();
            let mut ports = Vec::new();
            for client in &clients {
                let stream = client.connect("10.0.0.1:80").await.unwrap();
                let _ = listener.accept().await.unwrap();
                let local = stream.local_addr().unwrap();
                ports.push(local.rsplit(':').next().unwrap().parse::<u16>().unwrap());
            }
            ports
        })
        .unwrap();
    assert!(
        ports.iter().all(|p| (32768..=60999).contains(p)),
        "{ports:?}"
    );
    let (min, max) = (ports.iter().min().unwrap(), ports.iter().max().unwrap());
    assert!(
        max - min > 10_000,
        "first ports bunched together: {ports:?}"
    );
}

#[test]
fn thirty_thousand_short_connections_never_reuse_a_live_address() {
    let world = SimWorld::new(5);
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    world
        .block_on(async move {
            let listener = a.bind("10.0.0.1:80").await.unwrap();
            let live = b.connect("10.0.0.1:80").await.unwrap();
            let _live_server = listener.accept().await.unwrap();
            let held = live.local_addr().unwrap();
            for _ in 0..30_000 {
                let c = b.connect("10.0.0.1:80").await.unwrap();
                let (_s, from) = listener.accept().await.unwrap();
                assert_ne!(from, held, "a live address handed out again");
                drop(c);
            }
        })
        .unwrap();
}

#[test]
fn registered_names_resolve_after_the_dns_latency() {
    let world = SimWorld::with_config(6, fixed()).unwrap();
    world.register_name("Server", "10.0.0.1").unwrap();
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    let clock = world.clock();
    world
        .block_on(async move {
            let listener = a.bind("10.0.0.1:4500").await.unwrap();
            let t0 = clock.now();
            let c = b.connect("server:4500").await.unwrap();
            // 2 ms of DNS, then 1 ms of connect.
            assert_eq!(clock.now() - t0, Duration::from_millis(3));
            assert_eq!(c.peer_addr().unwrap(), "10.0.0.1:4500");
            drop(listener);
        })
        .unwrap();
}

#[test]
fn an_unknown_name_fails_as_a_resolver_does() {
    let world = SimWorld::with_config(7, fixed()).unwrap();
    let b = world.provider("10.0.0.2");
    let err = world
        .block_on(async move { b.connect("nowhere:80").await.err().map(|e| e.kind()) })
        .unwrap();
    assert_eq!(err, Some(ErrorKind::NotFound));
    assert_eq!(
        world.now(),
        Duration::from_millis(2),
        "the lookup took its time"
    );
    assert!(world.register_name("x", "not an ip").is_err());
    assert!(world.register_name("", "10.0.0.1").is_err());
}

#[test]
fn a_network_reset_breaks_both_sides_and_keeps_what_arrived() {
    let world = SimWorld::with_config(8, fixed()).unwrap();
    let (a, b) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    let clock = world.clock();
    world
        .block_on(async move {
            let listener = a.bind("10.0.0.1:80").await.unwrap();
            let mut c = b.connect("10.0.0.1:80").await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            c.write_all(b"arrived").await.unwrap();
            clock.sleep(Duration::from_millis(1)).await;
            c.write_all(b"in flight").await.unwrap();
            c.reset();
            let mut buf = [0; 7];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"arrived");
            let mut more = [0; 16];
            let err = s.read(&mut more).await.err().map(|e| e.kind());
            assert_eq!(err, Some(ErrorKind::ConnectionReset));
            assert_eq!(
                s.read(&mut more).await.unwrap(),
                0,
                "the in-flight bytes are gone"
            );
            let err = c.write(b"x").await.err().map(|e| e.kind());
            assert_eq!(err, Some(ErrorKind::ConnectionReset));
        })
        .unwrap();
}

#[test]
fn each_workload_name_resolves_to_its_ip() {
    use moonpool::testing::SimulationBuilder;
    let report = SimulationBuilder::new()
        .register_workload("server", |_seed, net, topology| async move {
            let listener = net.bind("server:4500").await?;
            let (mut s, _) = listener.accept().await?;
            s.write_all(topology.my_ip.as_bytes()).await?;
            Ok::<(), std::io::Error>(())
        })
        .register_workload("client", |_seed, net, topology| async move {
            let mut c = net.connect("server:4500").await?;
            let mut ip = String::new();
            c.read_to_string(&mut ip).await?;
            moonpool::always_assert!("the name reached the server", ip == topology.peer_ips[0]);
            Ok::<(), std::io::Error>(())
        })
        .iterations(5)
        .run();
    assert!(report.is_success(), "{report}");
}

#[test]
fn a_peer_resolves_its_destination_again_on_each_reconnect() {
    use moonpool::peer::FramedStream;
    use moonpool::{Peer, PeerConfig};
    let world = SimWorld::with_config(9, fixed()).unwrap();
    world.register_name("server", "10.0.0.1").unwrap();
    for ip in ["10.0.0.1", "10.0.0.3"] {
        let net = world.provider(ip);
        world.spawn(ip, async move {
            let listener = net.bind("0.0.0.0:4500").await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let message = conn.recv().await.unwrap().unwrap();
            let reply = [&message[..], b"@", ip.as_bytes()].concat();
            conn.send(&reply).await.unwrap();
            // Stay until the client is done with this connection.
            let _ = conn.recv().await;
        });
    }
    let net = world.provider("10.0.0.2");
    let renamer = world.clone();
    let replies = world
        .block_on(async move {
            let mut peer = Peer::new(net, "server:4500".to_string(), PeerConfig::default());
            peer.send(b"a".to_vec()).await.unwrap();
            let first = peer.recv().await.unwrap();
            // The server moved: the name now points at another host.
            renamer.register_name("server", "10.0.0.3").unwrap();
            peer.reconnect().await.unwrap();
            peer.send(b"b".to_vec()).await.unwrap();
            let second = peer.recv().await.unwrap();
            peer.close().await;
            (first, second)
        })
        .unwrap();
    assert_eq!(replies.0, b"a@10.0.0.1");
    assert_eq!(replies.1, b"b@10.0.0.3");
}
