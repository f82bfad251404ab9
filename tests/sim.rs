//! Tests of the deterministic simulator.

use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use std::io::ErrorKind;

use moonpool::{
    Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, SimError, SimTcpListener,
    SimWorld,
};

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

/// A world's `Debug` shows its seed, its time and its live tasks.
#[test]
fn a_world_debugs_as_its_seed_time_and_tasks() {
    let world = SimWorld::new(7);
    let _idle = world.spawn("idle", futures::future::pending::<()>());
    let _waiting = world.spawn("waiting", futures::future::pending::<()>());
    let text = format!("{world:?}");
    assert!(
        text.starts_with("SimWorld { seed: 7, now: 0ns, tasks: 2"),
        "{text}"
    );
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

/// Prints the digest of a hostile echo world when run as the child of
/// `same_digest_in_another_process`; does nothing in a normal test run.
#[test]
fn digest_child() {
    if let Ok(seed) = std::env::var("MOONPOOL_DIGEST_CHILD") {
        let seed = seed.parse().expect("a u64 seed");
        let digest = echo_world(seed, NetworkConfig::hostile()).0.digest();
        println!("digest={digest:016x}");
    }
}

#[test]
fn same_digest_in_another_process() {
    let seed = 99;
    let here = echo_world(seed, NetworkConfig::hostile()).0.digest();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "digest_child", "--nocapture", "--test-threads=1"])
        .env("MOONPOOL_DIGEST_CHILD", seed.to_string())
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let there = stdout
        .split("digest=")
        .nth(1)
        .and_then(|rest| rest.get(..16))
        .unwrap_or_else(|| panic!("no digest in the child's output: {stdout}"));
    assert_eq!(there, format!("{here:016x}"));
}

/// A world with fixed latencies, so tests can assert exact virtual times.
fn fixed_config() -> NetworkConfig {
    NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_millis(3)),
        write_latency: LatencyRange::fixed(Duration::from_millis(1)),
        ..NetworkConfig::default()
    }
}

/// Binds `addr` on a fresh provider, inside the world.
fn bind(world: &SimWorld, addr: &str) -> SimTcpListener {
    let net = world.provider("10.0.0.1");
    let addr = addr.to_string();
    world
        .block_on(async move { net.bind(&addr).await })
        .unwrap()
        .unwrap()
}

#[test]
fn one_hour_of_sleeps_and_traffic_lands_exactly() {
    let world = SimWorld::new(5);
    world.set_time_budget(Duration::from_secs(7200));
    let clock = world.clock();
    world.spawn("ticker", async move {
        for _ in 0..3600 {
            clock.sleep(Duration::from_secs(1)).await;
        }
    });
    let listener = bind(&world, "10.0.0.1:80");
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    world.spawn("server", async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 60 * 100);
    });
    world.spawn("client", async move {
        let mut s = net.connect("10.0.0.1:80").await.unwrap();
        for _ in 0..60 {
            s.write_all(&[7; 100]).await.unwrap();
            clock.sleep(Duration::from_secs(30)).await;
        }
    });
    world.run().unwrap();
    assert_eq!(world.now(), Duration::from_secs(3600));
    assert_eq!(world.stats().sim_time, Duration::from_secs(3600));
    assert_eq!(world.stats().tasks_spawned, 3);
}

/// `stats().polls` counts every poll of a task: one that sleeps three times is polled four
/// times (the `run` itself polls nothing).
#[test]
fn stats_count_every_poll() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    world.spawn("sleeper", async move {
        for _ in 0..3 {
            clock.sleep(Duration::from_secs(1)).await;
        }
    });
    world.run().unwrap();
    assert_eq!(world.stats().polls, 4);
}

#[test]
fn deadlock_names_the_waiting_task() {
    let world = SimWorld::new(1);
    let (_sender, receiver) = futures::channel::oneshot::channel::<()>();
    world.spawn("fine", async {});
    world.spawn("waiter", async move {
        let _ = receiver.await;
    });
    match world.run() {
        Err(SimError::Deadlock { time, tasks }) => {
            assert_eq!(time, Duration::ZERO);
            assert_eq!(tasks, vec!["waiter".to_string()]);
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
    let err = world.block_on(std::future::pending::<()>()).unwrap_err();
    assert!(err.to_string().contains("\"block_on\""), "{err}");
}

#[test]
fn time_budget_exceeded() {
    let world = SimWorld::new(1);
    world.set_time_budget(Duration::from_secs(10));
    let clock = world.clock();
    world.spawn("sleeper", async move {
        clock.sleep(Duration::from_secs(60)).await;
    });
    let err = world.run().unwrap_err();
    assert_eq!(
        err,
        SimError::TimeBudgetExceeded {
            budget: Duration::from_secs(10),
            tasks: vec!["sleeper".into()],
        }
    );
    assert!(world.now() <= Duration::from_secs(10));
    // A larger budget lets the same world continue.
    world.set_time_budget(Duration::from_secs(120));
    world.run().unwrap();
    assert_eq!(world.now(), Duration::from_secs(60));
}

#[test]
fn refused_connect_after_connect_latency() {
    let world = SimWorld::with_config(1, fixed_config()).unwrap();
    let net = world.provider("10.0.0.2");
    let err = world
        .block_on(async move { net.connect("10.0.0.1:9").await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(world.now(), Duration::from_millis(3));
}

#[test]
fn bad_addresses_are_invalid_input() {
    let world = SimWorld::new(1);
    let net = world.provider("10.0.0.2");
    let bad_ip = world.provider("not-an-ip");
    assert_eq!(bad_ip.ip(), std::net::IpAddr::from([0, 0, 0, 0]));
    let kinds = world
        .block_on(async move {
            let bind = net.bind("nonsense").await.unwrap_err().kind();
            let connect = net.connect("10.0.0.1").await.unwrap_err().kind();
            let _listener = net.bind("10.0.0.2:1").await.unwrap();
            let from_bad_ip = bad_ip.connect("10.0.0.2:1").await.unwrap_err().kind();
            [bind, connect, from_bad_ip]
        })
        .unwrap();
    assert_eq!(kinds, [ErrorKind::InvalidInput; 3]);
    assert_eq!(world.now(), Duration::ZERO, "nothing waited for latency");
}

#[test]
fn backpressure_blocks_writer_until_reader_reads() {
    let config = NetworkConfig {
        send_buffer_bytes: 100,
        ..fixed_config()
    };
    let world = SimWorld::with_config(3, config).unwrap();
    let listener = bind(&world, "10.0.0.1:80");
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    let reader = world.spawn("reader", async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let start = clock.now();
        clock.sleep(Duration::from_secs(1)).await;
        let mut buf = [0; 30];
        let n = s.read(&mut buf).await.unwrap();
        clock.sleep(Duration::from_secs(1)).await;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        (start, n, rest.len())
    });
    let clock = world.clock();
    let writer = world.spawn("writer", async move {
        let mut s = net.connect("10.0.0.1:80").await.unwrap();
        let first = s.write(&[1; 250]).await.unwrap();
        let before = clock.now();
        let second = s.write(&[2; 150]).await.unwrap();
        let resumed = clock.now();
        (first, second, before, resumed)
    });
    world.run().unwrap();
    let (mut reader, mut writer) = (reader, writer);
    let (start, read_n, rest) = reader.try_take().unwrap();
    let (first, second, before, resumed) = writer.try_take().unwrap();
    assert_eq!(first, 100, "a write takes only what fits in the buffer");
    assert_eq!(read_n, 30);
    assert_eq!(
        second, 30,
        "the writer resumes with exactly the room the reader made"
    );
    assert!(before < start + Duration::from_secs(1));
    assert_eq!(resumed, start + Duration::from_secs(1));
    assert_eq!(
        rest, 100,
        "70 left of the first write plus 30 of the second"
    );
}

#[test]
fn hundred_concurrent_connects_all_accepted() {
    let world = SimWorld::new(4);
    let listener = bind(&world, "10.0.0.1:80");
    let server = world.spawn("server", async move {
        let mut peers = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let (mut s, peer) = listener.accept().await.unwrap();
            let mut b = [0; 1];
            s.read_exact(&mut b).await.unwrap();
            peers.insert((peer, b[0]));
        }
        peers
    });
    for i in 0..100u8 {
        let net = world.provider("10.0.0.2");
        world.spawn(format!("client-{i}"), async move {
            let mut s = net.connect("10.0.0.1:80").await.unwrap();
            s.write_all(&[i]).await.unwrap();
        });
    }
    world.run().unwrap();
    let mut server = server;
    let peers = server.try_take().unwrap();
    assert_eq!(peers.len(), 100);
    let bytes: std::collections::BTreeSet<u8> = peers.iter().map(|p| p.1).collect();
    assert_eq!(bytes.len(), 100);
}

#[test]
fn pending_reader_is_woken_when_data_arrives() {
    let world = SimWorld::with_config(5, fixed_config()).unwrap();
    let listener = bind(&world, "10.0.0.1:80");
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    let w = world.clone();
    let out = world
        .block_on(async move {
            let client = net.connect("10.0.0.1:80");
            let (accepted, client) = futures::join!(listener.accept(), client);
            let (mut server, _) = accepted.unwrap();
            let mut client = client.unwrap();
            let mut buf = [0; 4];
            let mut read = server.read(&mut buf);
            assert!(futures::poll!(&mut read).is_pending());
            w.spawn("writer", async move {
                clock.sleep(Duration::from_millis(10)).await;
                client.write_all(b"ping").await.unwrap();
                client
            });
            let n = read.await.unwrap();
            (n, buf)
        })
        .unwrap();
    assert_eq!(out, (4, *b"ping"));
    assert_eq!(world.now(), Duration::from_millis(3 + 10 + 1));
}

#[test]
fn invalid_configs_are_rejected() {
    let ms = Duration::from_millis;
    let cases: Vec<(NetworkConfig, &str)> = vec![
        (
            NetworkConfig {
                connect_latency: LatencyRange::new(ms(5), ms(1)),
                ..NetworkConfig::default()
            },
            "connect_latency",
        ),
        (
            NetworkConfig {
                write_latency: LatencyRange::new(ms(5), ms(1)),
                ..NetworkConfig::default()
            },
            "write_latency",
        ),
        (
            NetworkConfig {
                connect_failure_probability: 1.5,
                ..NetworkConfig::default()
            },
            "connect_failure_probability",
        ),
        (
            NetworkConfig {
                connect_stall_probability: -0.1,
                ..NetworkConfig::default()
            },
            "connect_stall_probability",
        ),
        (
            NetworkConfig {
                reset_probability: f64::NAN,
                ..NetworkConfig::default()
            },
            "reset_probability",
        ),
        (
            NetworkConfig {
                send_buffer_bytes: 0,
                ..NetworkConfig::default()
            },
            "send_buffer_bytes",
        ),
        (
            NetworkConfig {
                accept_backlog: 0,
                ..NetworkConfig::default()
            },
            "accept_backlog",
        ),
    ];
    for (config, field) in cases {
        match SimWorld::with_config(1, config) {
            Err(SimError::InvalidConfig { reason }) => assert!(reason.contains(field), "{reason}"),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
    }
    NetworkConfig::default().validate().unwrap();
    NetworkConfig::hostile().validate().unwrap();
}

#[test]
fn stalled_connect_outlasts_a_timeout() {
    let config = NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_millis(1)),
        connect_stall_probability: 1.0,
        connect_stall: Duration::from_secs(10),
        ..NetworkConfig::default()
    };
    let world = SimWorld::with_config(7, config).unwrap();
    let listener = bind(&world, "10.0.0.1:80");
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    let w = world.clone();
    world
        .block_on(async move {
            let timed = clock.timeout(Duration::from_secs(1), net.connect("10.0.0.1:80"));
            assert!(timed.await.is_err());
            assert_eq!(w.now(), Duration::from_secs(1));
            let start = clock.now();
            let (accepted, stream) = futures::join!(listener.accept(), net.connect("10.0.0.1:80"));
            accepted.unwrap();
            stream.unwrap();
            assert_eq!(clock.now() - start, Duration::from_millis(10_001));
        })
        .unwrap();
}

#[test]
fn connect_waits_while_the_backlog_is_full() {
    let config = NetworkConfig {
        accept_backlog: 1,
        ..fixed_config()
    };
    let world = SimWorld::with_config(8, config).unwrap();
    let listener = bind(&world, "10.0.0.1:80");
    let clock = world.clock();
    world.spawn("server", async move {
        clock.sleep(Duration::from_secs(5)).await;
        listener.accept().await.unwrap();
        listener.accept().await.unwrap();
    });
    let mut times = Vec::new();
    for name in ["first", "second"] {
        let net = world.provider("10.0.0.2");
        let clock = world.clock();
        times.push(world.spawn(name, async move {
            let _s = net.connect("10.0.0.1:80").await.unwrap();
            let connected = clock.now();
            clock.sleep(Duration::from_secs(10)).await;
            connected
        }));
    }
    world.run().unwrap();
    let mut times: Vec<Duration> = times.iter_mut().map(|h| h.try_take().unwrap()).collect();
    times.sort();
    assert_eq!(times, [Duration::from_millis(3), Duration::from_secs(5)]);
}

/// Yields once: wakes itself and returns `Pending` the first time it is polled.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[test]
fn livelock_is_detected() {
    let world = SimWorld::new(1);
    world.set_poll_limit(1000);
    world.spawn("spinner", async {
        loop {
            YieldNow(false).await;
        }
    });
    match world.run() {
        Err(SimError::Livelock { time, polls }) => {
            assert_eq!(time, Duration::ZERO);
            assert_eq!(polls, 1000);
        }
        other => panic!("expected a livelock, got {other:?}"),
    }
}

#[test]
fn cancelled_sleep_neither_advances_time_nor_hides_a_deadlock() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    let (_sender, receiver) = futures::channel::oneshot::channel::<()>();
    world.spawn("stuck", async move {
        let quick = clock.timeout(Duration::from_secs(86_400), async {}).await;
        assert!(quick.is_ok());
        let zero = std::pin::pin!(clock.sleep(Duration::ZERO));
        assert!(
            futures::poll!(zero).is_ready(),
            "sleep(ZERO) is ready at once"
        );
        let _ = receiver.await;
    });
    let err = world.run().unwrap_err();
    assert!(
        matches!(err, SimError::Deadlock { time, .. } if time == Duration::ZERO),
        "{err}"
    );
}

#[test]
fn join_handles_are_awaitable_from_tasks() {
    let world = SimWorld::new(9);
    let clock = world.clock();
    let inner = world.spawn("inner", async move {
        clock.sleep(Duration::from_millis(7)).await;
        41
    });
    assert!(!inner.is_finished());
    let outer = world.spawn("outer", async move { inner.await + 1 });
    let total = world.block_on(outer).unwrap();
    assert_eq!(total, 42);
    assert_eq!(world.now(), Duration::from_millis(7));
    world.run().unwrap();
}

#[test]
fn nested_run_is_an_error() {
    let world = SimWorld::new(1);
    let weak = world.downgrade();
    let nested = world.spawn("nested", async move { weak.upgrade().unwrap().run() });
    world.run().unwrap();
    let mut nested = nested;
    assert_eq!(nested.try_take().unwrap(), Err(SimError::NestedRun));
}

#[test]
fn dropped_world_makes_io_errors_not_panics() {
    let world = SimWorld::new(1);
    let weak = world.downgrade();
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    drop(world);
    assert!(weak.upgrade().is_none());
    assert_eq!(weak.try_upgrade().unwrap_err(), SimError::WorldDropped);
    let connect = futures::executor::block_on(net.connect("10.0.0.1:80"));
    assert_eq!(connect.unwrap_err().kind(), ErrorKind::NotConnected);
    let bind = futures::executor::block_on(net.bind("10.0.0.1:80"));
    assert_eq!(bind.unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(clock.now(), Duration::ZERO);
    assert_eq!(net.random_seed(), 0);
}

/// Under hostile faults, a receiver sees either every byte then EOF, or a prefix then an
/// error: never a silent gap. Returns the world's digest and the client's connect attempts.
fn hostile_transfer(seed: u64) -> (u64, u32) {
    let mut config = NetworkConfig::hostile();
    config.reset_probability = 0.01;
    let world = SimWorld::with_config(seed, config).unwrap();
    world.set_time_budget(Duration::from_secs(600));
    let listener = bind(&world, "10.0.0.1:80");
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    world.spawn("server", async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0; 1500];
            let ended = loop {
                match s.read(&mut buf).await {
                    Ok(0) => break true,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
                        break false;
                    }
                }
            };
            assert_eq!(got[..], expected[..got.len()], "bytes are a prefix");
            if ended {
                assert_eq!(got, expected, "EOF only after every byte");
                return;
            }
        }
    });
    let net = world.provider("10.0.0.2");
    let clock = world.clock();
    let attempts = world.spawn("client", async move {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = clock.timeout(Duration::from_secs(1), net.connect("10.0.0.1:80"));
            let Ok(Ok(mut s)) = attempt.await else {
                continue;
            };
            if s.write_all(&payload).await.is_ok() && s.close().await.is_ok() {
                return attempts;
            }
        }
    });
    world.run().unwrap();
    let mut attempts = attempts;
    (world.digest(), attempts.try_take().unwrap())
}

#[test]
fn hostile_network_never_loses_bytes_silently_and_replays() {
    let mut retried = 0;
    for seed in 0..20 {
        let run = hostile_transfer(seed);
        assert_eq!(run, hostile_transfer(seed), "seed {seed} did not replay");
        if run.1 > 1 {
            retried += 1;
        }
    }
    assert!(
        retried >= 3,
        "faults were injected in only {retried} of 20 seeds"
    );
}

#[test]
fn public_types_have_the_expected_auto_traits() {
    fn unpin<T: Unpin>() {}
    fn clone_debug<T: Clone + std::fmt::Debug>() {}
    unpin::<moonpool::SimTcpStream>();
    clone_debug::<SimWorld>();
    clone_debug::<moonpool::WeakSimWorld>();
    clone_debug::<moonpool::SimClock>();
    clone_debug::<moonpool::SimNetworkProvider>();
    clone_debug::<LatencyRange>();
    fn copy<T: Copy>() {}
    copy::<moonpool::SimStats>();
    copy::<LatencyRange>();
}

#[test]
fn a_panicking_task_leaves_the_world_usable() {
    let world = SimWorld::new(1);
    world.spawn("boom", async { panic!("task failure") });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.run()));
    assert!(caught.is_err());
    assert_eq!(world.block_on(async { 5 }).unwrap(), 5);
}

#[test]
fn random_draws_replay_and_respect_ranges() {
    let a = SimWorld::new(77);
    let b = SimWorld::new(77);
    for _ in 0..100 {
        assert_eq!(a.random_u64(), b.random_u64());
        let r = a.random_range(10..20);
        assert!((10..20).contains(&r));
        assert_eq!(r, b.random_range(10..20));
    }
    assert_eq!(a.random_range(5..5), 5);
    assert!(!a.random_bool(0.0));
    assert!(a.random_bool(1.0));
    assert_eq!(a.seed(), 77);
}

mod common;

/// The generic echo the real and Tokio suites run, here over the simulator.
#[test]
fn generic_echo_over_the_simulator() {
    let world = SimWorld::new(3);
    let provider = world.provider("10.0.0.2");
    world
        .block_on(common::echo(provider, 8 * 1024))
        .expect("simulation completes")
        .expect("echo succeeds");
    assert!(
        world.now() > std::time::Duration::ZERO,
        "latency is simulated"
    );
}

/// Virtual time ends at u64::MAX nanoseconds (about 584 years): with no budget to stop it, a
/// longer sleep completes there instead of waiting forever (a false deadlock).
#[test]
fn a_sleep_past_the_end_of_virtual_time_ends_there() {
    let world = SimWorld::new(1);
    world.set_time_budget(Duration::MAX);
    let clock = world.clock();
    for nap in [Duration::from_secs(1 << 40), Duration::MAX] {
        let clock = clock.clone();
        world
            .block_on(async move { clock.sleep(nap).await })
            .unwrap();
        assert_eq!(world.now(), Duration::from_nanos(u64::MAX));
    }
}

/// A weak handle says in its `Debug` whether its world is still alive.
#[test]
fn a_weak_world_says_whether_it_is_alive() {
    let world = SimWorld::new(1);
    let weak = world.downgrade();
    assert!(format!("{weak:?}").contains("alive: true"), "{weak:?}");
    drop(world);
    assert!(format!("{weak:?}").contains("alive: false"), "{weak:?}");
}

/// A sleep dropped before its time (a timeout whose future finished first) cancels its
/// timer: the event neither fires nor counts.
#[test]
fn a_dropped_sleep_leaves_no_event() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    world
        .block_on(async move {
            let nap = clock.sleep(Duration::from_secs(1));
            let quick = clock.timeout(Duration::from_secs(10), nap).await;
            assert!(quick.is_ok());
            clock.sleep(Duration::from_secs(20)).await;
        })
        .unwrap();
    assert_eq!(world.now(), Duration::from_secs(21));
    assert_eq!(
        world.stats().events_processed,
        2,
        "the 1 s and 21 s timers only"
    );
}

/// A world reports the network configuration it was made with, not the default one.
#[test]
fn a_world_reports_its_network_config() {
    let config = NetworkConfig {
        reset_probability: 0.25,
        send_buffer_bytes: 1234,
        ..NetworkConfig::hostile()
    };
    let world = SimWorld::with_config(7, config.clone()).unwrap();
    assert_eq!(world.network_config(), config);
    assert_ne!(world.network_config(), NetworkConfig::default());
}

/// A read polled again with another waker (the stream moved to another task) wakes the
/// newest one when bytes arrive, not the one it first registered.
#[test]
fn a_read_wakes_the_waker_it_was_last_polled_with() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    #[derive(Default)]
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let world = SimWorld::new(1);
    let (server, client) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
    let (mut c, mut s) = world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:80").await.unwrap();
            let c = client.connect("10.0.0.1:80").await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            (c, s)
        })
        .unwrap();
    let (first, second) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    let mut buf = [0u8; 8];
    for flag in [&first, &second] {
        let waker = Waker::from(flag.clone());
        let poll = futures::io::AsyncRead::poll_read(
            std::pin::Pin::new(&mut s),
            &mut Context::from_waker(&waker),
            &mut buf,
        );
        assert!(poll.is_pending());
    }
    let clock = world.clock();
    world
        .block_on(async move {
            c.write_all(b"wake").await.unwrap();
            clock.sleep(Duration::from_millis(100)).await;
        })
        .unwrap();
    assert!(second.0.load(Ordering::SeqCst), "the newest waker is woken");
}
