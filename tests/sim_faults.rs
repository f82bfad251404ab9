//! Each fault of the hostile network, with exact virtual times: what it delays, what it
//! breaks, and that it never loses bytes on a live connection.

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use futures::future::FutureExt;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::sim::{CrashKind, FaultKind, LatencyTail, NetOp, TailShape, Verdict};
use moonpool::{Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, SimWorld};

const MS: Duration = Duration::from_millis(1);

/// Fixed latencies: connect 1 ms, write 1 ms.
fn exact() -> NetworkConfig {
    NetworkConfig {
        connect_latency: LatencyRange::fixed(MS),
        dns_latency: LatencyRange::fixed(MS),
        write_latency: LatencyRange::fixed(MS),
        ..NetworkConfig::default()
    }
}

fn world(config: NetworkConfig) -> SimWorld {
    SimWorld::with_config(1, config).unwrap()
}

/// A connected pair between 10.0.0.2 (client) and 10.0.0.1 (server), at 1 ms.
async fn pair(
    world: &SimWorld,
) -> (
    moonpool::SimTcpStream,
    moonpool::SimTcpStream,
    moonpool::SimTcpListener,
) {
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let listener = server.bind("10.0.0.1:80").await.unwrap();
    let c = client.connect("10.0.0.1:80").await.unwrap();
    let (s, _) = listener.accept().await.unwrap();
    (c, s, listener)
}

#[test]
fn smoke_no_faults_by_default() {
    let w = world(exact());
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        c.write_all(b"calm").await.unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await.unwrap();
    })
    .unwrap();
    assert!(w.fault_counts().is_empty());
}

#[test]
fn a_clog_of_200_ms_delays_delivery_by_200_ms_and_loses_nothing() {
    let w = world(exact());
    let w2 = w.clone();
    let (arrived, data) = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            let t0 = w2.now();
            w2.clog("10.0.0.2", "10.0.0.1", 200 * MS).unwrap();
            c.write_all(b"held, not lost").await.unwrap();
            let mut buf = [0; 14];
            s.read_exact(&mut buf).await.unwrap();
            (w2.now() - t0, buf)
        })
        .unwrap();
    assert_eq!(arrived, 200 * MS);
    assert_eq!(&data, b"held, not lost");
    assert_eq!(w.fault_counts()[&FaultKind::Clog], 1);
}

#[test]
fn a_clogged_connection_gives_its_writer_backpressure() {
    let config = NetworkConfig {
        send_buffer_bytes: 1000,
        ..exact()
    };
    let w = world(config);
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        w2.clog("10.0.0.2", "10.0.0.1", Duration::from_secs(1))
            .unwrap();
        assert_eq!(c.write(&[1; 1000]).await.unwrap(), 1000);
        assert!(
            c.write(&[2; 10]).now_or_never().is_none(),
            "the writer must wait"
        );
        let mut got = vec![0; 1000];
        s.read_exact(&mut got).await.unwrap();
        // Clogged at 1 ms (after the connect) for 1 s: everything arrives when it ends.
        assert_eq!(w2.now(), Duration::from_secs(1) + MS);
        assert!(got.iter().all(|b| *b == 1));
        assert_eq!(c.write(&[2; 10]).await.unwrap(), 10);
    })
    .unwrap();
}

#[test]
fn a_one_way_partition_lets_replies_through_but_not_requests() {
    let w = world(exact());
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        w2.partition_one_way(&["10.0.0.2"], &["10.0.0.1"]).unwrap();
        c.write_all(b"request").await.unwrap();
        s.write_all(b"reply").await.unwrap();
        let mut reply = [0; 5];
        c.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"reply");
        let mut request = [0; 7];
        let waited = w2
            .clock()
            .timeout(Duration::from_secs(5), s.read_exact(&mut request))
            .await;
        assert!(waited.is_err(), "the request crossed a partition");
        w2.heal();
        s.read_exact(&mut request).await.unwrap();
        assert_eq!(&request, b"request");
    })
    .unwrap();
}

#[test]
fn a_connect_across_a_partition_times_out_as_linux_does() {
    let w = world(exact());
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    w.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
    let err = w
        .block_on(async move {
            let _l = server.bind("10.0.0.1:80").await.unwrap();
            client.connect("10.0.0.1:80").await.err().map(|e| e.kind())
        })
        .unwrap();
    assert_eq!(err, Some(ErrorKind::TimedOut));
    assert_eq!(w.now(), MS + Duration::from_secs(127));
    let counts = w.fault_counts();
    assert_eq!(counts[&FaultKind::SynLost], 6);
    assert_eq!(counts[&FaultKind::ConnectTimeout], 1);
}

#[test]
fn a_connect_succeeds_at_the_first_syn_after_the_partition_heals() {
    let w = world(exact());
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    w.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
    let healer = w.clone();
    w.spawn("healer", async move {
        healer.clock().sleep(Duration::from_secs(2)).await;
        healer.heal();
    });
    let connected = w
        .block_on(async move {
            let _l = server.bind("10.0.0.1:80").await.unwrap();
            client.connect("10.0.0.1:80").await.is_ok()
        })
        .unwrap();
    assert!(connected);
    // SYNs at 1 ms, 1.001 s and 3.001 s: the third is answered.
    assert_eq!(w.now(), MS + Duration::from_secs(3));
}

#[test]
fn a_short_partition_stalls_a_connection_and_loses_nothing() {
    let w = world(exact());
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        w2.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
        let t0 = w2.now();
        c.write_all(b"waits").await.unwrap();
        let healer = w2.clone();
        w2.spawn("healer", async move {
            healer.clock().sleep(Duration::from_secs(10)).await;
            healer.heal();
        });
        let mut buf = [0; 5];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"waits");
        assert_eq!(w2.now() - t0, Duration::from_secs(10));
    })
    .unwrap();
}

/// An exact network whose senders give up after 30 s of retransmitting.
fn world_with_30s_rto() -> SimWorld {
    world(NetworkConfig {
        retransmission_timeout: Duration::from_secs(30),
        ..exact()
    })
}

#[test]
fn a_partition_outlasting_the_retransmission_timeout_times_the_sender_out() {
    let w = world_with_30s_rto();
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        w2.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
        let t0 = w2.now();
        c.write_all(b"never").await.unwrap();
        let mut buf = [0; 8];
        let read = c.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(read, Some(ErrorKind::TimedOut));
        assert_eq!(w2.now() - t0, MS + Duration::from_secs(30));
        // The receiver was never told: half-open, its read still waits.
        let waited = w2
            .clock()
            .timeout(Duration::from_secs(60), s.read(&mut buf))
            .await;
        assert!(waited.is_err());
    })
    .unwrap();
    assert_eq!(w.fault_counts()[&FaultKind::RetransmitTimeout], 1);
}

/// A reset loses what was in flight; the lost segment's delivery, due during a partition,
/// then finds nothing to hold back: no retransmission wait starts, and nobody times out.
#[test]
fn a_reset_under_a_partition_leaves_nothing_to_time_out() {
    let w = world_with_30s_rto();
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        c.write_all(b"lost").await.unwrap();
        c.reset();
        w2.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
        w2.clock().sleep(Duration::from_secs(60)).await;
        let mut buf = [0; 4];
        let read = s.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(read, Some(ErrorKind::ConnectionReset));
    })
    .unwrap();
    assert_eq!(w.fault_counts().get(&FaultKind::RetransmitTimeout), None);
}

#[test]
fn a_power_off_leaves_the_other_side_half_open_until_a_write_times_out() {
    let config = NetworkConfig {
        retransmission_timeout: Duration::from_secs(20),
        ..exact()
    };
    let w = world(config);
    let w2 = w.clone();
    let server_net = w.provider("10.0.0.1");
    w.spawn_process("server", "10.0.0.1", move || {
        let net = server_net.clone();
        async move {
            let listener = net.bind("10.0.0.1:80").await.unwrap();
            let (_s, _) = listener.accept().await.unwrap();
            futures::future::pending::<()>().await;
        }
    })
    .unwrap();
    let client = w.provider("10.0.0.2");
    w.block_on(async move {
        let mut c = client.connect("10.0.0.1:80").await.unwrap();
        w2.clock().sleep(10 * MS).await;
        assert!(!w2.is_down("10.0.0.1"), "up before the crash");
        w2.crash("10.0.0.1", CrashKind::PowerOff).unwrap();
        assert!(w2.is_down("10.0.0.1"));
        assert!(!w2.is_down("10.0.0.2"), "only the crashed host is down");
        // Nothing was sent: reads wait, writes are accepted.
        let mut buf = [0; 4];
        let waited = w2
            .clock()
            .timeout(Duration::from_secs(5), c.read(&mut buf))
            .await;
        assert!(waited.is_err(), "a powered-off host sent something");
        assert_eq!(c.write(b"lost").await.unwrap(), 4);
        let t0 = w2.now();
        let err = c.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::TimedOut));
        // Retransmissions start once the segment reaches the dead host's link (1 ms).
        assert_eq!(w2.now() - t0, MS + Duration::from_secs(20));
    })
    .unwrap();
}

#[test]
fn a_killed_process_resets_its_connections_and_restarts_on_the_same_ip() {
    let w = world(exact());
    let w2 = w.clone();
    let runs = Rc::new(Cell::new(0));
    let (server_net, counter) = (w.provider("10.0.0.1"), runs.clone());
    w.spawn_process("server", "10.0.0.1", move || {
        let (net, counter) = (server_net.clone(), counter.clone());
        async move {
            counter.set(counter.get() + 1);
            let listener = net.bind("10.0.0.1:80").await.unwrap();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                s.write_all(&[counter.get() as u8]).await.unwrap();
                std::mem::forget(s);
            }
        }
    })
    .unwrap();
    let client = w.provider("10.0.0.2");
    w.block_on(async move {
        let mut c = client.connect("10.0.0.1:80").await.unwrap();
        let mut one = [0; 1];
        c.read_exact(&mut one).await.unwrap();
        assert_eq!(one, [1]);
        w2.crash("10.0.0.1", CrashKind::Kill).unwrap();
        let mut buf = [0; 1];
        let err = c.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::ConnectionReset));
        let refused = client.connect("10.0.0.1:80").await.err().map(|e| e.kind());
        assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
        w2.restart("10.0.0.1", Duration::from_secs(1)).unwrap();
        w2.clock().sleep(Duration::from_secs(1) + MS).await;
        let mut again = client.connect("10.0.0.1:80").await.unwrap();
        again.read_exact(&mut one).await.unwrap();
        assert_eq!(one, [2], "the second incarnation answers");
    })
    .unwrap();
    assert_eq!(runs.get(), 2);
    assert_eq!(w.incarnation("10.0.0.1"), 1);
}

#[test]
fn after_a_power_off_and_restart_old_connections_meet_an_rst() {
    let w = world(exact());
    let w2 = w.clone();
    let server_net = w.provider("10.0.0.1");
    w.spawn_process("server", "10.0.0.1", move || {
        let net = server_net.clone();
        async move {
            let listener = net.bind("10.0.0.1:80").await.unwrap();
            let (_s, _) = listener.accept().await.unwrap();
            futures::future::pending::<()>().await;
        }
    })
    .unwrap();
    let client = w.provider("10.0.0.2");
    w.block_on(async move {
        let mut c = client.connect("10.0.0.1:80").await.unwrap();
        w2.clock().sleep(MS).await;
        w2.crash("10.0.0.1", CrashKind::PowerOff).unwrap();
        c.write_all(b"waits for the host").await.unwrap();
        w2.restart("10.0.0.1", Duration::from_secs(3)).unwrap();
        let t0 = w2.now();
        let mut buf = [0; 4];
        let err = c.read(&mut buf).await.err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::ConnectionReset));
        assert_eq!(w2.now() - t0, Duration::from_secs(3) + MS);
    })
    .unwrap();
}

#[test]
fn short_reads_and_writes_keep_every_byte_in_order() {
    let config = NetworkConfig {
        short_io_probability: 1.0,
        ..exact()
    };
    let w = world(config);
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let n = c.write(&data).await.unwrap();
        assert!(n < data.len(), "the write was not shortened");
        c.write_all(&data[n..]).await.unwrap();
        c.close().await.unwrap();
        let mut buf = vec![0; 5000];
        let first = s.read(&mut buf).await.unwrap();
        assert!(first < 5000);
        let mut got = buf[..first].to_vec();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, data);
    })
    .unwrap();
    let counts = w.fault_counts();
    assert!(counts[&FaultKind::ShortWrite] > 0 && counts[&FaultKind::ShortRead] > 0);
}

#[test]
fn corruption_flips_exactly_one_bit_of_a_segment() {
    let config = NetworkConfig {
        corrupt_probability: 1.0,
        ..exact()
    };
    let w = world(config);
    let w2 = w.clone();
    let got = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            c.write_all(&[0u8; 64]).await.unwrap();
            let mut buf = [0u8; 64];
            s.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap();
    let flipped: u32 = got.iter().map(|b| b.count_ones()).sum();
    assert_eq!(flipped, 1);
    assert_eq!(w.fault_counts()[&FaultKind::Corrupt], 1);
}

/// The flipped bit is drawn over the whole segment: over 40 writes of 64 bytes, flips land
/// in both halves.
#[test]
fn corruption_can_hit_any_byte_of_a_segment() {
    let w = world(NetworkConfig {
        corrupt_probability: 1.0,
        ..exact()
    });
    let w2 = w.clone();
    let positions = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            let mut positions = Vec::new();
            for _ in 0..40 {
                c.write_all(&[0u8; 64]).await.unwrap();
                let mut buf = [0u8; 64];
                s.read_exact(&mut buf).await.unwrap();
                let flipped: Vec<usize> = (0..64).filter(|&i| buf[i] != 0).collect();
                assert_eq!(flipped.len(), 1, "{buf:?}");
                positions.push(flipped[0]);
            }
            positions
        })
        .unwrap();
    assert!(positions.iter().any(|&p| p < 32), "{positions:?}");
    assert!(positions.iter().any(|&p| p >= 32), "{positions:?}");
}

/// The exact network, with a latency tail of `delay` on every segment.
fn tail_of(delay: Duration) -> NetworkConfig {
    NetworkConfig {
        latency_tail: LatencyTail {
            probability: 1.0,
            shape: TailShape::Uniform(LatencyRange::fixed(delay)),
        },
        ..exact()
    }
}

#[test]
fn a_latency_tail_and_a_slow_link_add_their_delay_exactly() {
    let w = world(tail_of(50 * MS));
    w.set_link_latency("10.0.0.1", "10.0.0.2", 30 * MS).unwrap();
    let w2 = w.clone();
    let took = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            let t0 = w2.now();
            c.write_all(b"slow").await.unwrap();
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await.unwrap();
            w2.now() - t0
        })
        .unwrap();
    assert_eq!(took, MS + 30 * MS + 50 * MS);
}

/// A link slowed by hand to `Duration::MAX` (on top of the tail and the write latency)
/// never delivers: the write succeeds, the read waits, and closing the streams is fine.
#[test]
fn a_link_slowed_to_the_longest_duration_never_delivers() {
    let w = world(tail_of(50 * MS));
    w.set_link_latency("10.0.0.1", "10.0.0.2", Duration::MAX)
        .unwrap();
    let w2 = w.clone();
    let read = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            c.write_all(b"never").await.unwrap();
            let mut buf = [0; 5];
            let read = w2
                .clock()
                .timeout(Duration::from_secs(60), s.read(&mut buf))
                .await;
            drop((c, s));
            read.is_err()
        })
        .unwrap();
    assert!(read, "nothing arrives within a minute");
}

/// A listener a crash unbound stays unbound: after the host binds the address again, the
/// old handle accepts nothing of the new listener's (an error instead) and dropping it leaves
/// the new one bound.
#[test]
fn a_listener_unbound_by_a_crash_never_reaches_the_next_bind() {
    let w = world(exact());
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    let w2 = w.clone();
    w.block_on(async move {
        let old = server.bind("10.0.0.1:80").await.unwrap();
        w2.crash("10.0.0.1", CrashKind::Kill).unwrap();
        let new = server.bind("10.0.0.1:80").await.unwrap();
        let mut c = client.connect("10.0.0.1:80").await.unwrap();
        let stale = old.accept().await.err().map(|e| e.kind());
        assert_eq!(stale, Some(ErrorKind::NotConnected));
        drop(old);
        let (mut s, _) = new.accept().await.unwrap();
        c.write_all(b"hi").await.unwrap();
        let mut buf = [0; 2];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        let _second = client.connect("10.0.0.1:80").await.unwrap();
        let taken = server.bind("10.0.0.1:80").await.err().map(|e| e.kind());
        assert_eq!(
            taken,
            Some(ErrorKind::AddrInUse),
            "the new bind holds the port"
        );
    })
    .unwrap();
}

/// A fault of one host (a crash, a restart) names that host in the timeline.
#[test]
fn a_fault_of_one_host_names_it_in_the_timeline() {
    let w = world(exact());
    w.crash("10.0.0.7", CrashKind::Kill).unwrap();
    let timeline = w.fault_timeline();
    let line = timeline.last().expect("the crash is recorded").to_string();
    assert!(
        line.contains("crash") && line.contains(" 10.0.0.7"),
        "{line}"
    );
    assert!(!line.contains("->"), "{line}");
}

#[test]
fn an_exponential_tail_stays_under_its_cap() {
    let config = NetworkConfig {
        latency_tail: LatencyTail {
            probability: 1.0,
            shape: TailShape::Exponential {
                mean: 10 * MS,
                max: 40 * MS,
            },
        },
        ..exact()
    };
    let w = world(config);
    let w2 = w.clone();
    let extras = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            let mut extras = Vec::new();
            for _ in 0..50 {
                let t0 = w2.now();
                c.write_all(b"x").await.unwrap();
                let mut buf = [0; 1];
                s.read_exact(&mut buf).await.unwrap();
                let took = w2.now() - t0;
                assert!(took >= MS && took <= 41 * MS, "{took:?}");
                extras.push(took - MS);
            }
            extras
        })
        .unwrap();
    // Exponential, not pinned at either end: a mean near 10 ms (9.8 ms with the cap), most
    // draws under the cap.
    let mean = extras.iter().sum::<Duration>() / extras.len() as u32;
    assert!(
        mean >= 5 * MS && mean <= 16 * MS,
        "mean extra delay {mean:?}"
    );
    let capped = extras.iter().filter(|&&d| d >= 40 * MS).count();
    assert!(capped <= 5, "{capped} of 50 draws at the cap");
}

#[test]
fn a_rule_decides_before_the_config() {
    let w = world(NetworkConfig {
        connect_failure_probability: 1.0,
        partition_probability: 1.0,
        ..exact()
    });
    // The config refuses every connect and partitions at every first SYN; the rule lets the
    // ones from 10.0.0.2 pass, at once (no partition drawn for them).
    w.add_rule(|op| match op {
        NetOp::Connect { from, .. } if from.to_string() == "10.0.0.2" => Some(Verdict::Pass),
        _ => None,
    });
    let (server, ok, refused) = (
        w.provider("10.0.0.1"),
        w.provider("10.0.0.2"),
        w.provider("10.0.0.3"),
    );
    let w2 = w.clone();
    w.block_on(async move {
        let _l = server.bind("10.0.0.1:80").await.unwrap();
        assert!(ok.connect("10.0.0.1:80").await.is_ok());
        assert_eq!(w2.now(), MS, "one connect latency");
        let err = refused.connect("10.0.0.1:80").await.err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::ConnectionRefused));
    })
    .unwrap();
}

#[test]
fn a_calm_host_passes_every_operation_while_the_others_stay_faulty() {
    let w = world(NetworkConfig {
        connect_failure_probability: 1.0,
        short_io_probability: 1.0,
        partition_probability: 1.0,
        ..exact()
    });
    w.calm_host("10.0.0.2").unwrap();
    let (server, calm, faulty) = (
        w.provider("10.0.0.1"),
        w.provider("10.0.0.2"),
        w.provider("10.0.0.3"),
    );
    let w2 = w.clone();
    w.block_on(async move {
        let listener = server.bind("10.0.0.1:80").await.unwrap();
        let mut c = calm.connect("10.0.0.1:80").await.unwrap();
        assert_eq!(w2.now(), MS, "no partition, no stall: one connect latency");
        let (mut s, _) = listener.accept().await.unwrap();
        // Short writes and reads are certain by the odds; the calm host's are whole, both
        // ways (the server's reads of what it wrote too).
        assert_eq!(c.write(&[7; 1000]).await.unwrap(), 1000);
        let mut buf = [0; 1000];
        assert_eq!(s.read(&mut buf).await.unwrap(), 1000);
        assert_eq!(s.write(&buf).await.unwrap(), 1000);
        assert_eq!(c.read(&mut buf).await.unwrap(), 1000);
        assert!(w2.fault_counts().is_empty(), "{:?}", w2.fault_counts());
        let err = faulty.connect("10.0.0.1:80").await.err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::ConnectionRefused));
    })
    .unwrap();
    assert_eq!(w.fault_counts().get(&FaultKind::Refused), Some(&1));
}

#[test]
fn the_timeline_tells_what_happened_and_when() {
    let w = world(exact());
    let w2 = w.clone();
    w.block_on(async move {
        let (_c, _s, _l) = pair(&w2).await;
        w2.clock().sleep(Duration::from_secs(1)).await;
        w2.partition(&["10.0.0.1"], &["10.0.0.2"]).unwrap();
        w2.clock().sleep(Duration::from_secs(1)).await;
        w2.heal();
    })
    .unwrap();
    let timeline = w.fault_timeline();
    let kinds: Vec<_> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [FaultKind::Partition, FaultKind::Heal]);
    assert_eq!(timeline[0].time, MS + Duration::from_secs(1));
    assert_eq!(timeline[1].time, MS + Duration::from_secs(2));
    let line = timeline[0].to_string();
    assert!(line.contains("partition 10.0.0.1 -> 10.0.0.2"), "{line}");
}

/// Everything hostile at once, for a while: every byte that arrives arrives in order, and a
/// stream ends only with EOF or a visible error.
fn hostile_run(seed: u64) -> (u64, Vec<(FaultKind, u64)>) {
    let w = SimWorld::with_config(seed, NetworkConfig::hostile()).unwrap();
    let w2 = w.clone();
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    w.spawn("server", async move {
        let listener = server.bind("10.0.0.1:80").await.unwrap();
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut expect = 0u8;
            let mut buf = [0; 512];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        for b in &buf[..n] {
                            assert_eq!(*b, expect, "a byte lost or reordered");
                            expect = expect.wrapping_add(1);
                        }
                    }
                }
            }
        }
    });
    w.block_on(async move {
        let mut sent = 0u32;
        while sent < 200 {
            let Ok(Ok(mut c)) = w2
                .clock()
                .timeout(Duration::from_secs(2), client.connect("10.0.0.1:80"))
                .await
            else {
                sent += 1;
                continue;
            };
            let data: Vec<u8> = (0..=255).collect();
            let _ = c.write_all(&data).await;
            sent += 1;
        }
    })
    .unwrap();
    let counts = w.fault_counts().into_iter().collect();
    (w.digest(), counts)
}

#[test]
fn the_hostile_network_replays_exactly_and_injects_many_kinds() {
    let (a, counts) = hostile_run(11);
    let (b, _) = hostile_run(11);
    assert_eq!(a, b, "same seed, same run");
    assert!(counts.len() >= 5, "{counts:?}");
}

#[test]
fn configs_drawn_per_seed_range_from_calm_to_hostile() {
    let configs: Vec<_> = (0..200).map(NetworkConfig::random_for_seed).collect();
    assert!(configs.iter().all(|c| c.validate().is_ok()));
    let hostile = NetworkConfig::hostile();
    let calm = NetworkConfig::default();
    // Each fault is off in some configs, on in others, never past its hostile odds.
    type Odds = fn(&NetworkConfig) -> f64;
    let faults: [(&str, Odds); 8] = [
        ("connect_failure", |c| c.connect_failure_probability),
        ("connect_stall", |c| c.connect_stall_probability),
        ("reset", |c| c.reset_probability),
        ("clog", |c| c.clog_probability),
        ("partition", |c| c.partition_probability),
        ("short_io", |c| c.short_io_probability),
        ("slow_link", |c| c.slow_link_probability),
        ("latency_tail", |c| c.latency_tail.probability),
    ];
    for (name, odds) in faults {
        assert!(configs.iter().any(|c| odds(c) == 0.0), "{name} never off");
        assert!(configs.iter().any(|c| odds(c) > 0.0), "{name} never on");
        assert!(
            configs.iter().all(|c| odds(c) <= odds(&hostile)),
            "{name} past its hostile odds"
        );
    }
    // Latencies are the calm ones in some configs and the hostile ones in others.
    let calm_latency = |c: &NetworkConfig| c.connect_latency == calm.connect_latency;
    assert!(configs.iter().any(calm_latency));
    assert!(!configs.iter().all(calm_latency));
    assert_eq!(
        NetworkConfig::random_for_seed(3),
        NetworkConfig::random_for_seed(3)
    );
    assert_ne!(
        NetworkConfig::random_for_seed(3),
        NetworkConfig::random_for_seed(4)
    );
}

/// A campaign whose server is rebooted at random: clients retry until they get answers.
fn rebooted_campaign(seeds: std::ops::Range<u64>) -> moonpool::SimulationReport {
    use moonpool::testing::{Attrition, SimulationBuilder};
    let mut attrition = Attrition::new(&["server"]);
    attrition.interval = LatencyRange::new(20 * MS, 200 * MS);
    attrition.downtime = LatencyRange::new(10 * MS, 100 * MS);
    SimulationBuilder::new()
        .seed_from_env(false)
        .seed_range(seeds)
        .attrition(attrition)
        .expect_faults(&[FaultKind::Crash, FaultKind::Restart])
        .register_workload("server", |_seed, net, topology| async move {
            let listener = net.bind(&format!("{}:80", topology.my_ip)).await?;
            loop {
                // `select_biased!`, not `select!`: the latter draws from the thread's own
                // randomness, which no seed controls.
                let accepted = futures::select_biased! {
                    a = listener.accept().fuse() => a,
                    () = topology.shutdown.wait().fuse() => return Ok::<(), std::io::Error>(()),
                };
                let Ok((mut s, _)) = accepted else { continue };
                let mut byte = [0; 1];
                if s.read_exact(&mut byte).await.is_ok() {
                    let _ = s.write_all(&byte).await;
                }
            }
        })
        .register_workload("client", |_seed, net, topology| async move {
            let clock = net.clock();
            let server = format!("{}:80", topology.peer_ips[0]);
            let mut answered = 0;
            for i in 0..30u8 {
                loop {
                    let attempt = async {
                        let mut c = net.connect(&server).await?;
                        c.write_all(&[i]).await?;
                        let mut back = [0; 1];
                        c.read_exact(&mut back).await?;
                        Ok::<_, std::io::Error>(back[0])
                    };
                    match clock.timeout(Duration::from_secs(1), attempt).await {
                        Ok(Ok(back)) => {
                            moonpool::always_assert!("echo is right", back == i);
                            answered += 1;
                            break;
                        }
                        _ => clock.sleep(10 * MS).await,
                    }
                }
                clock.sleep(10 * MS).await;
            }
            moonpool::always_assert!("every request answered", answered == 30);
            Ok::<(), std::io::Error>(())
        })
        .run()
}

/// A graceful reboot whose server returns when asked to stop is the server going down, not
/// finishing: it is restarted, the iteration waits for the client, and the client's last
/// check runs in every iteration.
#[test]
fn a_workload_returning_at_a_graceful_stop_is_rebooted_not_finished() {
    use moonpool::sim::CrashKind;
    use moonpool::testing::{Attrition, SimulationBuilder};
    let mut attrition = Attrition::new(&["server"]);
    attrition.kind = CrashKind::Graceful;
    attrition.interval = LatencyRange::new(500 * MS, 2000 * MS);
    let report = SimulationBuilder::new()
        .seed_from_env(false)
        .iterations(10)
        .attrition(attrition)
        .register_workload("server", |_seed, net, topology| async move {
            let stop = net.stop_requested();
            futures::select_biased! {
                () = stop.fuse() => {},
                () = topology.shutdown.wait().fuse() => {},
            }
            Ok::<(), String>(())
        })
        .register_workload("client", |_seed, net, _topology| async move {
            net.clock().sleep(Duration::from_secs(30)).await;
            moonpool::sometimes_assert!("client_finished", true);
            Ok::<(), String>(())
        })
        .run();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.assertions["client_finished"].checks, 10, "{report}");
    assert!(report.faults["restart"] > 0, "{report}");
    assert!(
        report.mean_sim_time() >= Duration::from_secs(30),
        "{report}"
    );
}

/// A stop by hand, with no restart to come, ends the workload that returns for it as any
/// return does: the iteration finishes.
#[test]
fn a_workload_returning_at_a_stop_by_hand_has_finished() {
    use moonpool::testing::SimulationBuilder;
    let report = SimulationBuilder::new()
        .seed_from_env(false)
        .iterations(2)
        .register_workload("stopped", |_seed, net, _topology| async move {
            net.stop_requested().await;
            Ok::<(), String>(())
        })
        .register_workload("stopper", |_seed, net, topology| async move {
            net.clock().sleep(5 * MS).await;
            let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
            world
                .stop(&topology.peer_ips[0], Duration::from_secs(1))
                .map_err(|e| e.to_string())
        })
        .run();
    assert!(report.is_success(), "{report}");
}

/// An attrition that names a workload nobody registered (a typo would turn the reboots off
/// silently), or whose interval is zero (a reboot loop that never lets time move), is
/// refused before anything runs.
#[test]
fn an_invalid_attrition_is_refused() {
    use moonpool::testing::{Attrition, CampaignConfigError, SimulationBuilder};
    let campaign = |attrition: Attrition| {
        SimulationBuilder::new()
            .seed_from_env(false)
            .iterations(1)
            .attrition(attrition)
            .register_workload("server", |_, _, _| async { Ok::<(), String>(()) })
            .try_run()
    };
    let error = campaign(Attrition::new(&["srever"])).unwrap_err();
    assert!(
        matches!(&error, CampaignConfigError::InvalidAttrition { reason } if reason.contains("\"srever\"")),
        "{error}"
    );
    let mut zero = Attrition::new(&["server"]);
    zero.interval = LatencyRange::new(Duration::ZERO, Duration::ZERO);
    let error = campaign(zero).unwrap_err();
    assert!(error.to_string().contains("interval"), "{error}");
    let mut backwards = Attrition::new(&["server"]);
    backwards.downtime = LatencyRange {
        min: Duration::from_secs(5),
        max: Duration::from_secs(1),
    };
    let error = campaign(backwards).unwrap_err();
    assert!(error.to_string().contains("downtime"), "{error}");
    let mut none = Attrition::new(&["server"]);
    none.max_down = 0;
    let error = campaign(none).unwrap_err();
    assert!(error.to_string().contains("max_down"), "{error}");
    assert!(campaign(Attrition::new(&["server"])).is_ok());
}

#[test]
fn attrition_reboots_the_server_and_the_clients_live_through_it() {
    let report = rebooted_campaign(0..20);
    assert!(report.is_success(), "{report}");
    assert!(
        report.faults["crash"] > 0 && report.faults["restart"] > 0,
        "{report}"
    );
    let again = rebooted_campaign(0..20);
    let differ: Vec<u64> = report
        .iterations
        .iter()
        .zip(&again.iterations)
        .filter(|(a, b)| a.digest != b.digest)
        .map(|(a, _)| a.seed)
        .collect();
    assert!(differ.is_empty(), "seeds {differ:?} did not replay");
}

#[test]
fn buggify_fires_only_inside_campaigns_and_only_at_enabled_sites() {
    use moonpool::testing::SimulationBuilder;
    assert!(
        (0..1000).all(|_| !moonpool::buggify!(1.0)),
        "outside a simulation"
    );
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let fired = Arc::new(AtomicU32::new(0));
    let campaign = |buggify: bool, fired: Arc<AtomicU32>| {
        SimulationBuilder::new()
            .seed_from_env(false)
            .iterations(64)
            .buggify(buggify)
            .register_workload("w", move |_seed, _net, _topology| {
                let fired = fired.clone();
                async move {
                    let mut here = 0;
                    for _ in 0..10 {
                        if moonpool::buggify!(1.0) {
                            here += 1;
                        }
                    }
                    // A site is on or off for a whole run: with probability 1, all or nothing.
                    moonpool::always_assert!("site drawn once per run", here == 0 || here == 10);
                    fired.fetch_add(here, Ordering::Relaxed);
                    Ok::<(), String>(())
                }
            })
            .run()
    };
    let on = campaign(true, fired.clone());
    assert!(on.is_success(), "{on}");
    let runs_fired = fired.load(Ordering::Relaxed) / 10;
    // About a quarter of the runs enable the site.
    assert!((4..=32).contains(&runs_fired), "{runs_fired} of 64");
    assert_eq!(
        on.faults["buggify"],
        u64::from(fired.load(Ordering::Relaxed))
    );
    fired.store(0, Ordering::Relaxed);
    let off = campaign(false, fired.clone());
    assert!(off.is_success());
    assert_eq!(fired.load(Ordering::Relaxed), 0);
}

#[test]
fn an_expected_fault_that_never_happens_fails_coverage() {
    use moonpool::testing::SimulationBuilder;
    let report = SimulationBuilder::new()
        .seed_from_env(false)
        .iterations(5)
        .expect_faults(&[FaultKind::Partition])
        .register_workload(
            "w",
            |_seed, _net, _topology| async move { Ok::<(), String>(()) },
        )
        .run();
    assert!(!report.is_success());
    assert_eq!(report.unreached(), ["fault_partition"]);
}

#[test]
fn a_graceful_stop_signals_first_and_closes_what_is_left_after_the_grace() {
    let w = world(exact());
    let (polite, stubborn) = (w.provider("10.0.0.1"), w.provider("10.0.0.3"));
    let exited = Rc::new(Cell::new(false));
    let flag = exited.clone();
    w.spawn_process("polite", "10.0.0.1", move || {
        let (net, flag) = (polite.clone(), flag.clone());
        async move {
            net.stop_requested().await;
            flag.set(true);
        }
    })
    .unwrap();
    w.spawn_process("stubborn", "10.0.0.3", move || {
        let net = stubborn.clone();
        async move {
            let listener = net.bind("10.0.0.3:80").await.unwrap();
            let (_s, _) = listener.accept().await.unwrap();
            futures::future::pending::<()>().await;
        }
    })
    .unwrap();
    let (w2, client) = (w.clone(), w.provider("10.0.0.2"));
    w.block_on(async move {
        let mut c = client.connect("10.0.0.3:80").await.unwrap();
        w2.stop("10.0.0.1", Duration::from_secs(1)).unwrap();
        w2.stop("10.0.0.3", Duration::from_secs(1)).unwrap();
        let t0 = w2.now();
        let mut buf = [0; 1];
        // The stubborn one is closed after the grace: a FIN, read as end-of-file.
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
        assert_eq!(w2.now() - t0, Duration::from_secs(1) + MS);
    })
    .unwrap();
    assert!(exited.get(), "the polite process saw the signal");
    let crashes: Vec<_> = w
        .fault_timeline()
        .into_iter()
        .filter(|e| e.kind == FaultKind::Crash)
        .map(|e| e.from.unwrap().to_string())
        .collect();
    assert_eq!(
        crashes,
        ["10.0.0.3"],
        "only the stubborn one had to be closed"
    );
}

/// A delay may last exactly the time budget, not longer; the longest delay allowed at all is
/// 100 years of virtual time; each refusal names its limit.
#[test]
fn delays_are_checked_against_the_budget_and_the_longest_allowed() {
    use moonpool::LatencyRange;
    let year = Duration::from_secs(365 * 24 * 3600);
    assert_eq!(NetworkConfig::MAX_DELAY, 100 * year);
    let with_write = |latency: Duration| NetworkConfig {
        write_latency: LatencyRange::fixed(latency),
        ..NetworkConfig::default()
    };
    let budget = Duration::from_secs(60);
    assert!(with_write(budget).validate_within(budget).is_ok());
    let over = with_write(budget + Duration::from_nanos(1))
        .validate_within(budget)
        .unwrap_err()
        .to_string();
    assert!(over.contains("the time budget"), "{over}");
    assert!(with_write(99 * year).validate().is_ok());
    let never = with_write(101 * year).validate().unwrap_err().to_string();
    assert!(never.contains("the longest delay allowed"), "{never}");
}

/// A random partition drawn at a connect lasts its drawn time: nothing crosses it until then
/// (here every connect draws one, of exactly 2 s, in one direction or both), and the
/// exchange completes after it ends, none of it lost.
#[test]
fn a_timed_partition_holds_traffic_until_it_ends() {
    let world = world(NetworkConfig {
        partition_probability: 1.0,
        partition_duration: LatencyRange::fixed(Duration::from_secs(2)),
        ..exact()
    });
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let clock = client.clock();
    let (echoed, at) = world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:80").await.unwrap();
            let echo = async {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut byte = [0u8; 1];
                s.read_exact(&mut byte).await.unwrap();
                s.write_all(&byte).await.unwrap();
            };
            let ask = async {
                let mut c = client.connect("10.0.0.1:80").await.unwrap();
                c.write_all(b"x").await.unwrap();
                let mut byte = [0u8; 1];
                c.read_exact(&mut byte).await.unwrap();
                (byte, clock.now())
            };
            futures::future::join(echo, ask).await.1
        })
        .unwrap();
    assert_eq!(&echoed, b"x");
    assert!(
        at >= Duration::from_secs(2),
        "the round trip crossed the partition at {at:?}"
    );
    // A SYN held by the partition is retransmitted (1 s, then 3 s after the connect, as
    // Linux does): the one at 3 s gets through.
    assert!(at < Duration::from_secs(4), "held past its end: {at:?}");
    assert!(
        world
            .fault_counts()
            .get(&FaultKind::Partition)
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

/// A random crash is a kill or a power-off, drawn from the seed: over a few seeds, both.
#[test]
fn a_random_crash_is_sometimes_a_kill_and_sometimes_a_power_off() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..16 {
        let w = SimWorld::new(seed);
        let _host = w.provider("10.0.0.1");
        w.crash("10.0.0.1", CrashKind::Random).unwrap();
        let crash = w
            .fault_timeline()
            .into_iter()
            .find(|event| event.kind == FaultKind::Crash)
            .expect("the crash is recorded");
        assert_ne!(crash.detail, "Random", "a random crash is one of the two");
        kinds.insert(crash.detail);
    }
    assert_eq!(kinds.len(), 2, "{kinds:?}");
}

/// A world's `Debug` says which world it is.
#[test]
fn a_world_debugs_as_its_seed_and_time() {
    let w = SimWorld::new(42);
    let text = format!("{w:?}");
    assert!(
        text.starts_with("SimWorld") && text.contains("seed: 42"),
        "{text}"
    );
}

/// A link latency set while a connection is open applies to its next segments (and to both
/// directions), not only to connections made after.
#[test]
fn a_link_latency_set_mid_connection_applies_at_once() {
    let w = world(exact());
    w.set_link_latency("10.0.0.1", "10.0.0.2", 10 * MS).unwrap();
    let w2 = w.clone();
    let (before, after, back) = w
        .block_on(async move {
            let (mut c, mut s, _l) = pair(&w2).await;
            let mut buf = [0; 1];
            let t0 = w2.now();
            c.write_all(b"a").await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
            let before = w2.now() - t0;
            w2.set_link_latency("10.0.0.2", "10.0.0.1", 20 * MS)
                .unwrap();
            let t1 = w2.now();
            c.write_all(b"b").await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
            let after = w2.now() - t1;
            let t2 = w2.now();
            s.write_all(b"c").await.unwrap();
            c.read_exact(&mut buf).await.unwrap();
            (before, after, w2.now() - t2)
        })
        .unwrap();
    assert_eq!(
        (before, after, back),
        (MS + 10 * MS, MS + 20 * MS, MS + 20 * MS)
    );
}

/// A rule holding a connect until a time makes the connect complete then (a stall the
/// timeline records), not at once.
#[test]
fn a_rule_can_hold_a_connect_until_a_time() {
    let w = SimWorld::with_config(1, exact()).unwrap();
    w.add_rule(|op| match op {
        NetOp::Connect { now, .. } => Some(Verdict::HoldUntil(Duration::from_secs(1).max(*now))),
        _ => None,
    });
    let (server, client, w2) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"), w.clone());
    let connected_at = w
        .block_on(async move {
            let _listener = server.bind("10.0.0.1:80").await.unwrap();
            let _c = client.connect("10.0.0.1:80").await.unwrap();
            w2.now()
        })
        .unwrap();
    assert!(connected_at >= Duration::from_secs(1), "{connected_at:?}");
    assert!(
        connected_at < Duration::from_millis(1100),
        "{connected_at:?}"
    );
    assert_eq!(w.fault_counts().get(&FaultKind::ConnectStall), Some(&1));
}

/// A clog drawn for one write holds that connection alone or, half the time ("all
/// traffic"), everything from its host to the other; the timeline says which.
#[test]
fn a_clog_holds_its_connection_or_the_host_pair_as_the_timeline_says() {
    let mut seen = [false; 2];
    for seed in 0..16 {
        let w = SimWorld::with_config(seed, exact()).unwrap();
        // The first write of all is held for a second.
        let held = Rc::new(Cell::new(false));
        let h = held.clone();
        w.add_rule(move |op| match op {
            NetOp::Send { now, .. } if !h.replace(true) => {
                Some(Verdict::HoldUntil(*now + Duration::from_secs(1)))
            }
            _ => None,
        });
        let (server, client, w2) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"), w.clone());
        let waited = w
            .block_on(async move {
                let listener = server.bind("10.0.0.1:80").await.unwrap();
                let mut a = client.connect("10.0.0.1:80").await.unwrap();
                let (_sa, _) = listener.accept().await.unwrap();
                let mut b = client.connect("10.0.0.1:80").await.unwrap();
                let (mut sb, _) = listener.accept().await.unwrap();
                a.write_all(b"a").await.unwrap();
                let start = w2.now();
                b.write_all(b"b").await.unwrap();
                let mut buf = [0; 1];
                sb.read_exact(&mut buf).await.unwrap();
                w2.now() - start
            })
            .unwrap();
        let clogs: Vec<_> = w
            .fault_timeline()
            .into_iter()
            .filter(|e| e.kind == FaultKind::Clog)
            .collect();
        assert_eq!(clogs.len(), 1, "seed {seed}: {clogs:?}");
        let all = clogs[0].detail.contains("all traffic");
        if all {
            assert!(
                waited >= Duration::from_millis(990),
                "seed {seed}: {waited:?}"
            );
        } else {
            assert!(
                waited < 10 * MS,
                "seed {seed}: the other connection waited {waited:?}"
            );
        }
        seen[usize::from(all)] = true;
    }
    assert_eq!(seen, [true, true], "both kinds of clog in 16 seeds");
}

/// A corrupted segment arrives with exactly one bit flipped, whatever the bytes were (a
/// corruption that left them as they were would pass the checksum unseen).
#[test]
fn a_corruption_flips_exactly_one_bit() {
    for (seed, fill) in [(1, 0xff_u8), (2, 0x00), (3, 0xa5)] {
        let w = SimWorld::with_config(seed, exact()).unwrap();
        let corrupt_once = Rc::new(Cell::new(true));
        let c = corrupt_once.clone();
        w.add_rule(move |op| match op {
            NetOp::Send { .. } if c.replace(false) => Some(Verdict::Corrupt),
            _ => None,
        });
        let w2 = w.clone();
        let got = w
            .block_on(async move {
                let (mut client, mut server, _listener) = pair(&w2).await;
                client.write_all(&[fill; 64]).await.unwrap();
                let mut got = [0; 64];
                server.read_exact(&mut got).await.unwrap();
                got
            })
            .unwrap();
        let flipped: u32 = got.iter().map(|b| (b ^ fill).count_ones()).sum();
        assert_eq!(flipped, 1, "seed {seed}, bytes of {fill:#04x}: {got:?}");
    }
}

/// A rule can reset a connection at a read: that read returns the bytes it was reading,
/// and the connection is reset behind it: the reader's next read and the other end's read
/// fail with `ConnectionReset` (not a clean end of stream), and the timeline records one
/// reset.
#[test]
fn a_reset_at_a_read_fails_both_ends_after_it() {
    let w = world(exact());
    w.add_rule(|op| match op {
        NetOp::Receive { .. } => Some(Verdict::Reset),
        _ => None,
    });
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        c.write_all(b"doomed").await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(s.read(&mut buf).await.unwrap(), 6);
        for (end, stream) in [("the reader", &mut s), ("the other end", &mut c)] {
            let read = stream.read(&mut buf).await;
            assert_eq!(
                read.map_err(|e| e.kind()),
                Err(ErrorKind::ConnectionReset),
                "{end}"
            );
        }
    })
    .unwrap();
    assert_eq!(w.fault_counts().get(&FaultKind::Reset), Some(&1));
    let timeline = w.fault_timeline();
    let line = timeline[0].to_string();
    assert!(line.ends_with(" 10.0.0.1 conn 0 (on read)"), "{line}");
}

/// A rule that shortens a read to no less than it would return changes nothing: the read
/// returns what is there, and no short read is recorded (a write likewise), whether the
/// shortening is past the length or equal to it.
#[test]
fn a_shortening_past_the_length_is_no_fault() {
    let w = world(exact());
    w.add_rule(|op| match op {
        NetOp::Receive { .. } | NetOp::Send { .. } => Some(Verdict::Shorten(16)),
        _ => None,
    });
    let w2 = w.clone();
    w.block_on(async move {
        let (mut c, mut s, _l) = pair(&w2).await;
        for message in [&b"whole"[..], b"sixteen bytes..."] {
            c.write_all(message).await.unwrap();
            let mut buf = [0; 16];
            assert_eq!(s.read(&mut buf).await.unwrap(), message.len());
            assert_eq!(&buf[..message.len()], message);
        }
    })
    .unwrap();
    let counts = w.fault_counts();
    assert_eq!(counts.get(&FaultKind::ShortRead), None);
    assert_eq!(counts.get(&FaultKind::ShortWrite), None);
}

/// `StopRequested` says in its `Debug` whether the stop was asked for.
#[test]
fn stop_requested_debugs_as_whether_it_was_asked() {
    let w = world(exact());
    let stop = w.provider("10.0.0.9").stop_requested();
    assert_eq!(format!("{stop:?}"), "StopRequested { requested: false }");
}

/// With `buggify!` on, a read can return a single byte of many waiting (legal for TCP, and
/// rare enough to hide bugs): over a few hundred seeds some read of 64 waiting bytes does.
#[test]
fn buggify_sometimes_reads_one_byte_of_many() {
    let one_byte_reads = (1..=200u64)
        .filter(|&seed| {
            let w = SimWorld::with_config(seed, exact()).unwrap();
            w.set_buggify(true);
            let w2 = w.clone();
            w.block_on(async move {
                let (mut c, mut s, _l) = pair(&w2).await;
                c.write_all(&[9; 64]).await.unwrap();
                // The reader comes once every byte is there.
                w2.clock().sleep(100 * MS).await;
                let mut buf = [0; 64];
                s.read(&mut buf).await.unwrap() == 1
            })
            .unwrap()
        })
        .count();
    assert!(one_byte_reads > 0);
}

/// A rule can drop a SYN: the connect is retried as TCP does (a second after the first SYN),
/// succeeds then, and the timeline records the lost SYN.
#[test]
fn a_rule_dropping_the_first_syn_delays_the_connect_by_a_retransmission() {
    let w = world(exact());
    let dropped = Rc::new(Cell::new(false));
    let once = dropped.clone();
    w.add_rule(move |op| match op {
        NetOp::Connect { .. } if !once.replace(true) => Some(Verdict::Drop),
        _ => None,
    });
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    let w2 = w.clone();
    w.block_on(async move {
        let _l = server.bind("10.0.0.1:80").await.unwrap();
        client.connect("10.0.0.1:80").await.unwrap();
        assert!(w2.now() >= Duration::from_secs(1), "{:?}", w2.now());
    })
    .unwrap();
    assert!(dropped.get());
    assert_eq!(w.fault_counts().get(&FaultKind::SynLost), Some(&1));
}

/// A rule holding a connect until a time already past holds nothing: the connect goes
/// through at once, with no stall recorded.
#[test]
fn a_hold_until_a_past_time_does_not_stall_a_connect() {
    let w = world(exact());
    w.add_rule(|op| match op {
        NetOp::Connect { .. } => Some(Verdict::HoldUntil(5 * MS)),
        _ => None,
    });
    let (server, client) = (w.provider("10.0.0.1"), w.provider("10.0.0.2"));
    let w2 = w.clone();
    w.block_on(async move {
        let _l = server.bind("10.0.0.1:80").await.unwrap();
        w2.clock().sleep(10 * MS).await;
        client.connect("10.0.0.1:80").await.unwrap();
        assert_eq!(w2.now(), 11 * MS, "one connect latency");
    })
    .unwrap();
    assert_eq!(w.fault_counts().get(&FaultKind::ConnectStall), None);
}
