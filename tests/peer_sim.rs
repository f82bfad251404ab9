//! The Peer in the simulator only: behaviour measured exactly in virtual time, and faults
//! injected by the simulated network (tiny buffers, stalls, resets, slow readers).

use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::peer::{FramedStream, OverflowPolicy, Peer, PeerConfig, PeerError};
use moonpool::{Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, SimWorld};

mod common;
use common::peer::*;

#[test]
fn backoff_doubles_and_caps_in_virtual_time() {
    run_sim(exact_network(), |net| async move {
        let clock = net.client.clock();
        let config = PeerConfig {
            initial_reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_millis(400),
            ..PeerConfig::default()
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
        let mut attempts = Vec::new();
        // `send` only queues; the first reconnect tries at once (t=0) and fails, each later
        // one waits out the backoff.
        peer.send(b"x".to_vec()).await.unwrap();
        assert_eq!(clock.now(), Duration::ZERO);
        assert!(!peer.backoff_at_cap(), "no failure yet");
        for i in 0..7 {
            let result = peer.reconnect().await;
            assert!(matches!(result, Err(PeerError::ConnectionFailed { .. })));
            // 100, 200 ms below the 400 ms cap; the third failure reaches it.
            assert_eq!(peer.backoff_at_cap(), i >= 2, "after failure {}", i + 1);
            // Each refusal takes the 1 ms connect latency.
            attempts.push(clock.now() - Duration::from_millis(1));
        }
        let ms = Duration::from_millis;
        assert_eq!(
            attempts,
            [
                ms(0),
                ms(100),
                ms(300),
                ms(700),
                ms(1100),
                ms(1500),
                ms(1900)
            ]
        );
        assert!(peer.backoff_at_cap());
        let metrics = peer.metrics();
        assert_eq!(metrics.connection_attempts, 7);
        assert_eq!(metrics.connection_failures, 7);
        assert_eq!(metrics.consecutive_failures, 7);
        assert_eq!(metrics.current_backoff, ms(400));
        assert_eq!(metrics.last_failure, Some(ms(1901)));
    });
}

#[test]
fn send_never_connects_nor_waits_while_disconnected() {
    run_sim(exact_network(), |net| async move {
        let clock = net.client.clock();
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        for i in 0..50 {
            peer.send(numbered(i)).await.unwrap();
        }
        // Nothing listens; send only queues, in no time at all.
        assert_eq!(clock.now(), Duration::ZERO);
        assert_eq!(peer.metrics().connection_attempts, 0);
        assert_eq!(peer.queue_size(), 50);
        let queued: usize = (0..50).map(|i| numbered(i).len()).sum();
        let metrics = peer.metrics();
        assert_eq!((metrics.queue_size, metrics.queue_bytes), (50, queued));
        assert!(peer.flush().await.unwrap_err().is_disconnect());
        assert_eq!(peer.metrics().connection_attempts, 1);
    });
}

/// Issue 14: a destination whose connects stall must not make each `send` wait out
/// `connection_timeout`; `send` queues and returns, as its docs say.
#[test]
fn send_to_a_stalling_destination_returns_at_once() {
    let config = NetworkConfig {
        connect_stall_probability: 1.0,
        connect_stall: Duration::from_secs(60),
        ..exact_network()
    };
    run_sim(config, |net| async move {
        let clock = net.client.clock();
        let _listener = net.server.bind(&net.addr).await.unwrap();
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        for i in 0..100 {
            peer.send(numbered(i)).await.unwrap();
        }
        assert_eq!(clock.now(), Duration::ZERO, "100 sends took no time");
        assert_eq!(peer.queue_size(), 100);
        // The connection attempt happens in a call that may wait, bounded by the timeout.
        let error = peer.flush().await.unwrap_err();
        assert!(matches!(error, PeerError::Timeout { .. }), "{error}");
        assert_eq!(clock.now(), fast_config().connection_timeout);
    });
}

#[test]
fn connect_timeout_in_virtual_time() {
    let slow = NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_secs(10)),
        ..NetworkConfig::default()
    };
    run_sim(slow, |net| async move {
        let _listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let config = PeerConfig {
            connection_timeout: Duration::from_secs(1),
            ..fast_config()
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
        let err = peer.reconnect().await.unwrap_err();
        assert!(
            matches!(err, PeerError::Timeout { timeout, .. } if timeout == Duration::from_secs(1))
        );
        assert_eq!(clock.now(), Duration::from_secs(1));
        assert_eq!(peer.metrics().connection_timeouts, 1);
    });
}

#[test]
fn connect_timeout_against_a_listener_that_never_accepts() {
    let tiny_backlog = NetworkConfig {
        accept_backlog: 1,
        ..exact_network()
    };
    run_sim(tiny_backlog, |net| async move {
        let _listener = net.server.bind(&net.addr).await.unwrap();
        // Fill the backlog: nobody accepts.
        let _first = net.client.connect(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let start = clock.now();
        let config = PeerConfig {
            connection_timeout: Duration::from_millis(300),
            ..fast_config()
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
        assert!(matches!(
            peer.reconnect().await,
            Err(PeerError::Timeout { .. })
        ));
        assert_eq!(clock.now() - start, Duration::from_millis(300));
    });
}

#[test]
fn half_written_message_goes_out_again_whole() {
    let tiny_buffer = NetworkConfig {
        send_buffer_bytes: 32,
        ..exact_network()
    };
    run_sim(tiny_buffer, |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let big = vec![9u8; 200];
        let server = async {
            // First connection: read a little of the frame, then reset.
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut some = [0u8; 16];
            stream.read_exact(&mut some).await.unwrap();
            stream.reset();
            echo_server(&listener, 1).await
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            peer.send(big.clone()).await.unwrap();
            let err = peer.flush().await.unwrap_err();
            assert!(matches!(err, PeerError::Io { .. }), "{err}");
            assert_eq!(peer.queue_size(), 1, "the message is still queued");
            assert_eq!(peer.metrics().messages_requeued, 1);
            assert_eq!(peer.recv().await.unwrap(), big);
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        assert_eq!(seen[0], [big]);
    });
}

#[test]
fn backpressure_while_connected_waits_instead_of_dropping() {
    let small = NetworkConfig {
        send_buffer_bytes: 1024,
        ..exact_network()
    };
    run_sim(small, |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let config = PeerConfig {
            max_queue_size: 4,
            write_batch_bytes: 256,
            ..fast_config()
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
            peer.reconnect().await.unwrap();
            for i in 0..200 {
                peer.send(vec![i as u8; 100]).await.unwrap();
                assert!(peer.queue_size() <= 4);
            }
            peer.flush().await.unwrap();
            assert_eq!(peer.metrics().messages_dropped, 0);
            peer.close().await;
        };
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let mut n = 0u32;
            while let Ok(Some(message)) = conn.recv().await {
                assert_eq!(message, vec![n as u8; 100]);
                n += 1;
            }
            n
        };
        let (n, ()) = futures::join!(server, client);
        assert_eq!(n, 200);
    });
}

#[test]
fn jitter_is_deterministic_per_seed() {
    let run = |seed: u64| {
        let world = SimWorld::with_config(seed, exact_network()).unwrap();
        let client = world.provider("10.0.0.2");
        world
            .block_on(async move {
                let config = PeerConfig {
                    reconnect_jitter: 0.5,
                    ..fast_config()
                };
                let mut peer = Peer::new(client.clone(), "10.0.0.1:1".to_string(), config);
                let mut times = Vec::new();
                for _ in 0..5 {
                    let _ = peer.reconnect().await;
                    times.push(client.clock().now());
                }
                times
            })
            .unwrap()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn a_pluggable_codec_speaks_a_line_protocol() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            // A plain line server: no moonpool framing at all.
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
                request.push(byte[0]);
            }
            stream.write_all(b"HELLO ").await.unwrap();
            stream.write_all(&request).await.unwrap();
            stream.write_all(b"\r\n").await.unwrap();
            request
        };
        let client = async {
            let codec = moonpool::peer::LinesCodec::default();
            let mut peer =
                Peer::with_codec(net.client.clone(), net.addr.clone(), fast_config(), codec);
            peer.send(b"world".to_vec()).await.unwrap();
            let reply = peer.recv().await.unwrap();
            // A message the codec cannot frame is refused up front and handed back.
            let err = peer.send(b"two\nlines".to_vec()).await.unwrap_err();
            assert!(matches!(err, PeerError::InvalidMessage { .. }), "{err}");
            assert_eq!(err.into_message().unwrap(), b"two\nlines");
            // Refused by the codec as it encoded (connected): nothing of it stays behind.
            assert_eq!(peer.metrics().messages_queued, 1);
            assert_eq!(peer.queue_size(), 0);
            peer.close().await;
            reply
        };
        let (request, reply) = futures::join!(server, client);
        assert_eq!(request, b"world");
        assert_eq!(reply, b"HELLO world");
    });
}

#[test]
fn a_cancelled_connect_attempt_counts_as_failed() {
    let slow = NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_secs(3)),
        ..NetworkConfig::default()
    };
    run_sim(slow, |net| async move {
        let _listener = net.server.bind(&net.addr).await.unwrap();
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        // The caller gives up on the receive while the attempt is still connecting.
        let gave_up = net
            .client
            .clock()
            .timeout(Duration::from_secs(1), peer.recv())
            .await;
        assert!(gave_up.is_err());
        assert_eq!(peer.metrics().connection_attempts, 1);
        let result = peer.reconnect().await;
        assert!(
            matches!(result, Err(PeerError::Timeout { .. })),
            "2 s timeout < 3 s connect"
        );
        let metrics = peer.metrics();
        assert_eq!(metrics.connection_attempts, 2);
        assert_eq!(
            metrics.connection_failures, 2,
            "the cancelled one and the timed-out one"
        );
        assert_eq!(metrics.connection_timeouts, 1);
    });
}

#[test]
fn receive_writes_queued_requests_even_when_a_reply_is_buffered() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            assert_eq!(conn.recv().await.unwrap().unwrap(), b"q1");
            // Two replies in one write: the second is buffered at the client with the first.
            conn.feed(b"r1").unwrap();
            conn.feed(b"r2").unwrap();
            conn.flush().await.unwrap();
            conn.recv().await.unwrap()
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            peer.send(b"q1".to_vec()).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"r1");
            peer.send(b"q2".to_vec()).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"r2", "already buffered");
            // The client now waits on something else; q2 must already be on its way.
            net.client.clock().sleep(Duration::from_secs(1)).await;
            peer
        };
        let (second, peer) = futures::join!(server, client);
        assert_eq!(second.as_deref(), Some(&b"q2"[..]));
        drop(peer);
    });
}

/// `try_recv_into` never waits: `None` before anything arrived, then each buffered message
/// copied out whole; a buffer too small is refused with both sizes and keeps the message;
/// once the Peer is closed, `Closed`.
#[test]
fn try_recv_into_copies_buffered_messages_and_keeps_one_too_big() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            assert_eq!(conn.recv().await.unwrap().unwrap(), b"q1");
            for reply in [&b"first"[..], b"second reply", b"r3"] {
                conn.feed(reply).unwrap();
            }
            conn.flush().await.unwrap();
            conn
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            let mut buf = [0u8; 64];
            assert_eq!(peer.try_recv_into(&mut buf).unwrap(), None, "nothing yet");
            peer.send(b"q1".to_vec()).await.unwrap();
            let len = peer.recv_into(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], b"first");
            let mut small = [0u8; 4];
            match peer.try_recv_into(&mut small) {
                Err(PeerError::BufferTooSmall { needed, available }) => {
                    assert_eq!((needed, available), (12, 4));
                }
                other => panic!("expected BufferTooSmall, got {other:?}"),
            }
            assert_eq!(peer.try_recv_into(&mut buf).unwrap(), Some(12));
            assert_eq!(&buf[..12], b"second reply");
            assert_eq!(peer.try_recv_into(&mut small).unwrap(), Some(2));
            assert_eq!(&small[..2], b"r3");
            assert_eq!(peer.try_recv_into(&mut buf).unwrap(), None, "all taken");
            let metrics = peer.metrics();
            assert_eq!(metrics.messages_received, 3);
            assert_eq!(metrics.bytes_received, 5 + 12 + 2);
            // A closed Peer says so, even in the unreliable mode's short path.
            peer.close().await;
            assert!(
                matches!(peer.try_recv_into(&mut buf), Err(PeerError::Closed { .. })),
                "a closed Peer's try_recv_into"
            );
            peer
        };
        let (conn, peer) = futures::join!(server, client);
        drop((conn, peer));
    });
}

#[test]
fn receive_writes_queued_requests_once_when_it_takes_the_last_buffered_reply() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            assert_eq!(conn.recv().await.unwrap().unwrap(), b"q1");
            // Three replies in one write: all three are buffered at the client at once.
            for reply in [b"r1", b"r2", b"r3"] {
                conn.feed(reply).unwrap();
            }
            conn.flush().await.unwrap();
            let mut later = Vec::new();
            for _ in 0..3 {
                later.push(conn.recv().await.unwrap().unwrap());
            }
            (later, conn)
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            peer.send(b"q1".to_vec()).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"r1");
            assert_eq!(peer.metrics().messages_written, 1);
            peer.send_slice(b"q2").await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"r2");
            assert_eq!(
                peer.metrics().messages_written,
                1,
                "r3 is still buffered: q2 waits for the receive that takes it"
            );
            peer.send_slice(b"q3").await.unwrap();
            assert_eq!(peer.try_recv().unwrap(), Some(b"r3".to_vec()));
            assert_eq!(peer.try_recv().unwrap(), None, "nothing else buffered");
            assert_eq!(peer.metrics().messages_written, 1, "try_recv never writes");
            peer.send_slice(b"q4").await.unwrap();
            // Nothing buffered: this receive writes q2, q3 and q4 at once, then waits.
            let waited = net
                .client
                .clock()
                .timeout(Duration::from_secs(1), peer.recv())
                .await;
            assert!(waited.is_err(), "no fourth reply comes");
            assert_eq!(peer.metrics().messages_written, 4);
            peer
        };
        let ((later, conn), peer) = futures::join!(server, client);
        assert_eq!(later, [b"q2".to_vec(), b"q3".to_vec(), b"q4".to_vec()]);
        drop((conn, peer));
    });
}

#[test]
fn drop_oldest_applies_to_the_write_batch_after_a_disconnect() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let config = PeerConfig {
            max_queue_size: 4,
            ..fast_config()
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
        peer.reconnect().await.unwrap();
        // Connected, below the batch size: these four sit encoded in the write batch.
        for i in 0..4 {
            peer.send(numbered(i)).await.unwrap();
        }
        assert!(peer.is_connected());
        let (stream, _) = listener.accept().await.unwrap();
        stream.reset();
        drop(listener);
        assert!(peer.flush().await.is_err(), "the reset shows");
        for i in 4..8 {
            peer.send(numbered(i)).await.unwrap();
        }
        let metrics = peer.metrics();
        assert_eq!(metrics.messages_rejected, 0);
        assert_eq!(metrics.messages_dropped, 4);
        assert_eq!(metrics.queue_size, 4);
        let listener = net.server.bind(&net.addr).await.unwrap();
        let (seen, ()) = futures::join!(sink_server(&listener), async {
            peer.flush().await.unwrap();
            peer.close().await;
        });
        assert_eq!(seen, (4..8).map(numbered).collect::<Vec<_>>());
    });
}

#[test]
fn a_requested_reconnect_is_not_a_failure() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let config = PeerConfig {
            stable_connection_time: Duration::from_secs(10),
            ..fast_config()
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
            peer.send(b"a".to_vec()).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"a");
            let before = clock.now();
            peer.reconnect().await.unwrap();
            peer.reconnect().await.unwrap();
            // Each reconnect took only the 1 ms connect latency: no backoff applied.
            assert_eq!(clock.now() - before, Duration::from_millis(2));
            let metrics = peer.metrics();
            assert_eq!(metrics.last_failure, None);
            assert_eq!(metrics.connection_failures, 0);
            assert_eq!(metrics.consecutive_failures, 0);
            assert_eq!(metrics.disconnections, 2);
            peer.close().await;
        };
        futures::join!(echo_server(&listener, 3), client);
    });
}

#[test]
fn framed_stream_flush_is_cancel_safe() {
    let config = NetworkConfig {
        send_buffer_bytes: 1024,
        ..exact_network()
    };
    run_sim(config, |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let reader = async {
            let stream = net.client.connect(&net.addr).await.unwrap();
            // Don't read yet, so the server's first flush stalls on the full buffer.
            clock.sleep(Duration::from_millis(50)).await;
            let mut conn = FramedStream::new(stream);
            let first = conn.recv().await.unwrap().unwrap();
            let second = conn.recv().await.unwrap().unwrap();
            (first.len(), second)
        };
        let writer = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let cancelled = clock
                .timeout(Duration::from_millis(10), conn.send(&[b'a'; 4000]))
                .await;
            assert!(cancelled.is_err(), "the flush was still stalled");
            conn.send(b"next").await.unwrap();
            conn
        };
        let ((len, second), _conn) = futures::join!(reader, writer);
        assert_eq!(len, 4000);
        assert_eq!(second, b"next");
    });
}

#[test]
fn send_waits_only_for_a_full_queue() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let slow_reader = async {
            let (stream, _) = listener.accept().await.unwrap();
            // Reads nothing for a long while: the socket buffer fills up.
            clock.sleep(Duration::from_secs(60)).await;
            drop(stream);
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            peer.reconnect().await.unwrap();
            let start = clock.now();
            for _ in 0..500 {
                peer.send(vec![1; 1024]).await.unwrap();
            }
            // 500 KiB into a 64 KiB socket buffer: queued, not waited for.
            assert_eq!(clock.now(), start, "no wait at all");
            assert!(peer.queue_size() > 400);
            peer.close().await;
        };
        futures::join!(slow_reader, client);
    });
}

#[test]
fn pipelining_into_an_echo_server_stalls_visibly_instead_of_hanging() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let client = async {
            let config = PeerConfig {
                max_message_size: 16 << 10,
                max_queue_bytes: 16 << 20,
                overflow_policy: OverflowPolicy::Reject,
                ..fast_config()
            };
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
            let mut sent = 0;
            let mut rejected = 0;
            for _ in 0..4096 {
                match peer.send(vec![7; 1024]).await {
                    Ok(()) => sent += 1,
                    Err(PeerError::QueueFull { .. }) => rejected += 1,
                    Err(other) => panic!("{other}"),
                }
            }
            // The echo server waits for us to take its replies: flush says so.
            let stalled = match peer.flush().await {
                Ok(()) => false,
                Err(PeerError::Stalled { unread_bytes, .. }) => {
                    assert!(unread_bytes > 0);
                    true
                }
                Err(other) => panic!("{other}"),
            };
            // The queue filled up while the server waited for us (Reject hands messages back),
            // and flush reports the stall instead of waiting forever.
            assert!(rejected > 0);
            assert!(stalled);
            // Receiving drains it all: every accepted message is answered.
            for _ in 0..sent {
                assert_eq!(peer.recv().await.unwrap(), vec![7; 1024]);
            }
            peer.close().await;
            sent
        };
        let (seen, sent) = futures::join!(echo_server(&listener, 1), client);
        assert_eq!(seen[0].len(), sent);
    });
}

#[test]
fn a_break_found_while_receiving_is_reported() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = FramedStream::new(stream);
            conn.recv().await.unwrap();
            conn.feed(b"r1").unwrap();
            conn.feed(b"r2").unwrap();
            conn.flush().await.unwrap();
            // Both replies reach the client before the reset (latency is 100 us).
            net.server.clock().sleep(Duration::from_millis(5)).await;
            conn.get_ref().reset();
            sink_server(&listener).await
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            peer.send(b"q1".to_vec()).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"r1");
            net.client.clock().sleep(Duration::from_millis(10)).await;
            peer.send(b"q2".to_vec()).await.unwrap();
            // r2 was buffered before the reset; writing q2 finds the break. Either the break
            // is reported now (r2 kept for the next call) or r2 comes first and the break next.
            let mut replies = Vec::new();
            let mut errors = 0;
            for _ in 0..2 {
                match peer.recv().await {
                    Ok(reply) => replies.push(reply),
                    Err(err) => {
                        assert!(err.is_disconnect(), "{err}");
                        errors += 1;
                    }
                }
            }
            assert_eq!(replies, [b"r2".to_vec()]);
            assert_eq!(errors, 1, "the break is reported exactly once");
            peer.flush().await.unwrap();
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        assert_eq!(
            seen,
            [b"q2".to_vec()],
            "q2 goes out again on the new connection"
        );
    });
}

#[test]
fn a_codec_without_a_size_limit_does_not_overflow() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn =
                FramedStream::with_codec(stream, moonpool::peer::LinesCodec::new(usize::MAX));
            let line = conn.recv().await.unwrap().unwrap();
            conn.send(&line).await.unwrap();
            conn.recv().await.unwrap()
        };
        let client = async {
            let codec = moonpool::peer::LinesCodec::new(usize::MAX);
            let config = PeerConfig {
                max_message_size: u32::MAX as usize,
                max_queue_bytes: usize::MAX,
                ..fast_config()
            };
            let mut peer = Peer::with_codec(net.client.clone(), net.addr.clone(), config, codec);
            peer.send(vec![b'x'; 100_000]).await.unwrap();
            assert_eq!(peer.recv().await.unwrap().len(), 100_000);
            peer.close().await;
        };
        let (end, ()) = futures::join!(server, client);
        assert_eq!(end, None, "clean end of file after close");
    });
}

/// The default `stable_connection_time` (5 s): a server that accepts and drops at once makes
/// the Peer back off, doubling, instead of reconnecting at once.
#[test]
fn a_server_that_accepts_and_drops_is_not_hammered() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let config = PeerConfig {
            initial_reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_secs(10),
            ..PeerConfig::default()
        };
        assert_eq!(config.stable_connection_time, Duration::from_secs(5));
        let server = async {
            for _ in 0..4 {
                let (stream, _) = listener.accept().await.unwrap();
                drop(stream);
            }
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
            let start = clock.now();
            for _ in 0..4 {
                let error = peer.recv().await.unwrap_err();
                assert!(error.is_disconnect(), "{error}");
            }
            let m = peer.metrics();
            assert_eq!(m.consecutive_failures, 4, "{m:?}");
            assert_eq!(m.current_backoff, Duration::from_millis(800));
            // The 2nd, 3rd and 4th connects waited 100, 200 and 400 ms.
            assert!(clock.now() - start >= Duration::from_millis(700));
        };
        futures::join!(server, client);
    });
}

/// Unreliable mode: `close` counts every message written on the connection it closes as
/// possibly lost (nothing tells whether the remote read it), and what was still queued as
/// dropped.
#[test]
fn close_counts_the_messages_it_may_cut_off() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = sink_server(&listener);
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
            for i in 0..3 {
                peer.send(numbered(i)).await.unwrap();
            }
            peer.flush().await.unwrap();
            let before = peer.metrics();
            assert_eq!(
                (before.messages_written, before.messages_possibly_lost),
                (3, 0)
            );
            peer.send(numbered(3)).await.unwrap();
            peer.close().await;
            let after = peer.metrics();
            assert!(after.messages_written >= 3, "{after:?}");
            assert_eq!(after.messages_possibly_lost, after.messages_written);
            assert_eq!(after.messages_written + after.messages_dropped, 4);
            after.messages_written
        };
        let (seen, written) = futures::join!(server, client);
        assert_eq!(seen.len() as u64, written);
    });
}

/// `recv_ref` lends each message from the read buffer; the next receive of any kind
/// (`recv_ref`, `recv_buffered_ref`, `recv_buffered`, `recv`) frees it first, so messages
/// come out once each, in order, however the calls are mixed, and end-of-file is `None`.
#[test]
fn borrowed_and_owned_receives_mix_in_order() {
    let world = SimWorld::new(11);
    let net = world.provider("10.0.0.1");
    let got = world
        .block_on(async move {
            let listener = net.bind("10.0.0.1:9100").await?;
            let mut client = FramedStream::new(net.connect("10.0.0.1:9100").await?);
            let (stream, _) = listener.accept().await?;
            let mut server = FramedStream::new(stream);
            for message in [&b"a"[..], b"bb", b"", b"dddd", b"eeeee"] {
                client.feed(message)?;
            }
            client.close().await?;
            let mut got: Vec<Vec<u8>> = Vec::new();
            got.push(server.recv_ref().await?.expect("a").to_vec());
            got.push(server.recv().await?.expect("bb"));
            got.push(server.recv_ref().await?.expect("empty").to_vec());
            // Whatever is buffered already (the close wrote the rest in one segment), without
            // reading: lent, then copied out, then nothing left.
            let lent = server
                .recv_buffered_ref()?
                .expect("dddd, buffered")
                .to_vec();
            got.push(lent);
            got.push(server.recv_buffered()?.expect("eeeee, buffered"));
            assert!(server.recv_buffered_ref()?.is_none());
            assert!(server.recv_buffered()?.is_none());
            while let Some(message) = server.recv_ref().await? {
                got.push(message.to_vec());
            }
            assert!(
                server.recv_ref().await?.is_none(),
                "end-of-file stays end-of-file"
            );
            Ok::<_, std::io::Error>(got)
        })
        .expect("world")
        .expect("io");
    let expected: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"bb".to_vec(),
        vec![],
        b"dddd".to_vec(),
        b"eeeee".to_vec(),
    ];
    assert_eq!(got, expected);
}

/// While connected, `send` encodes into the write batch and writes once a batch is full:
/// a thousand small messages take a handful of writes, not one each (counted here as the
/// simulator's delivery events, one per segment written).
#[test]
fn sends_while_connected_share_write_calls() {
    let world = SimWorld::new(3);
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let events = world
        .block_on({
            let world = world.clone();
            async move {
                let listener = server.bind("10.0.0.1:4500").await.unwrap();
                let mut peer = Peer::new(client, "10.0.0.1:4500".into(), PeerConfig::default());
                peer.reconnect().await.unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let before = world.stats().events_processed;
                let send = async {
                    for _ in 0..1000 {
                        peer.send_slice(&[7u8; 60]).await.unwrap();
                    }
                    peer.flush().await.unwrap();
                };
                let receive = async {
                    let mut conn = FramedStream::new(stream);
                    for _ in 0..1000 {
                        assert_eq!(conn.recv_ref().await.unwrap().unwrap(), [7u8; 60]);
                    }
                };
                futures::future::join(send, receive).await;
                world.stats().events_processed - before
            }
        })
        .unwrap();
    // 1000 frames of 68 bytes fill about one 64 KiB batch; a write per message would be
    // a thousand deliveries.
    assert!(events < 50, "{events} events for 1000 sends");
}

/// The length of every slice offered to a stream's `poll_write`, in order.
type WriteLog = std::rc::Rc<std::cell::RefCell<Vec<usize>>>;

/// A stream that keeps what is written until it is flushed (as a TLS or compressing stream
/// may): the simulator's TCP under a `BufWriter`; it logs the size of each write offered.
struct Buffered(futures::io::BufWriter<moonpool::SimTcpStream>, WriteLog);

impl futures::io::AsyncRead for Buffered {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl futures::io::AsyncWrite for Buffered {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.1.borrow_mut().push(buf.len());
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_close(cx)
    }
}

impl moonpool::provider::Stream for Buffered {
    fn local_addr(&self) -> std::io::Result<String> {
        self.0.get_ref().local_addr()
    }
    fn peer_addr(&self) -> std::io::Result<String> {
        self.0.get_ref().peer_addr()
    }
    fn abort(self) {
        self.0.into_inner().abort()
    }
}

/// The simulator's provider, its connections [`Buffered`], all logging into one [`WriteLog`].
#[derive(Clone)]
struct Buffering(moonpool::SimNetworkProvider, WriteLog);

struct BufferingListener(moonpool::SimTcpListener);

impl Listener for BufferingListener {
    type Stream = Buffered;
    async fn accept(&self) -> std::io::Result<(Buffered, String)> {
        let (stream, addr) = self.0.accept().await?;
        let log = WriteLog::default();
        Ok((Buffered(futures::io::BufWriter::new(stream), log), addr))
    }
    fn local_addr(&self) -> std::io::Result<String> {
        self.0.local_addr()
    }
}

impl NetworkProvider for Buffering {
    type Stream = Buffered;
    type Listener = BufferingListener;
    type Clock = moonpool::SimClock;
    async fn bind(&self, addr: &str) -> std::io::Result<BufferingListener> {
        Ok(BufferingListener(self.0.bind(addr).await?))
    }
    async fn connect(&self, addr: &str) -> std::io::Result<Buffered> {
        let stream = self.0.connect(addr).await?;
        Ok(Buffered(
            futures::io::BufWriter::new(stream),
            self.1.clone(),
        ))
    }
    fn clock(&self) -> moonpool::SimClock {
        self.0.clock()
    }
    fn random_seed(&self) -> u64 {
        self.0.random_seed()
    }
}

/// `flush` flushes the stream too: over a stream that holds writes until flushed, what was
/// sent reaches the server once `flush` returns.
#[test]
fn flush_flushes_a_buffering_stream() {
    let world = SimWorld::new(5);
    let server = world.provider("10.0.0.1");
    let client = Buffering(world.provider("10.0.0.2"), WriteLog::default());
    let clock = server.clock();
    let got = world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:4500").await.unwrap();
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), PeerConfig::default());
            peer.reconnect().await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            for message in [&b"one"[..], b"two", b"three"] {
                peer.send_slice(message).await.unwrap();
            }
            peer.flush().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let mut got = Vec::new();
            for _ in 0..3 {
                let message = clock
                    .timeout(Duration::from_secs(5), conn.recv())
                    .await
                    .expect("flushed within 5 s")
                    .unwrap()
                    .unwrap();
                got.push(message);
            }
            drop(peer);
            got
        })
        .unwrap();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
}

/// A message that would take the write batch past `write_batch_bytes` waits for the batch
/// to be written first: no write offers more than the batch size (frames of 308 bytes, a
/// batch of 1,000: three frames per write, never four).
#[test]
fn a_message_that_would_overfill_the_batch_writes_the_batch_first() {
    let world = SimWorld::new(5);
    let server = world.provider("10.0.0.1");
    let log = WriteLog::default();
    let client = Buffering(world.provider("10.0.0.2"), log.clone());
    let got = world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:4500").await.unwrap();
            let config = PeerConfig {
                write_batch_bytes: 1_000,
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), config);
            peer.reconnect().await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            for i in 0..30u8 {
                peer.send_slice(&[i; 300]).await.unwrap();
            }
            peer.flush().await.unwrap();
            let mut conn = FramedStream::new(stream);
            let mut got = Vec::new();
            for _ in 0..30 {
                got.push(conn.recv().await.unwrap().unwrap()[0]);
            }
            drop(peer);
            got
        })
        .unwrap();
    assert_eq!(got, (0..30).collect::<Vec<u8>>());
    let writes = log.borrow();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|&len| len <= 1_000),
        "writes offered {writes:?}"
    );
    assert_eq!(
        writes.iter().max(),
        Some(&924),
        "three frames fit: {writes:?}"
    );
}

/// While writing is stuck (a server that floods replies and reads nothing), sends that only
/// try to write read nothing: the server gets no more than the sockets' buffers off its
/// hands, however many messages the caller queues.
#[test]
fn sends_stuck_behind_a_full_socket_do_not_read_ahead() {
    let world = SimWorld::new(9);
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let clock = client.clock();
    let flooded = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let written = flooded.clone();
    world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:4500").await.unwrap();
            let config = PeerConfig {
                max_message_size: 1 << 10,
                max_queue_size: 100_000,
                write_batch_bytes: 1,
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), config);
            peer.reconnect().await.unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut frame = Vec::new();
            let mut codec = moonpool::peer::LengthChecksumCodec::new(1 << 10);
            moonpool::peer::Codec::encode(&mut codec, &[7u8; 1016], &mut frame).unwrap();
            let flood = async move {
                loop {
                    match stream.write(&frame).await {
                        Ok(n) if n > 0 => written.set(written.get() + n),
                        _ => break,
                    }
                }
            };
            let send = async move {
                for i in 0..20_000 {
                    peer.send_slice(&[1u8; 512]).await.unwrap();
                    if i % 10 == 0 {
                        clock.sleep(Duration::from_millis(1)).await; // the flood arrives
                    }
                }
            };
            match futures::future::select(Box::pin(send), Box::pin(flood)).await {
                futures::future::Either::Left(_) => {}
                futures::future::Either::Right(_) => panic!("the flood ended"),
            }
        })
        .unwrap();
    let flooded = flooded.get();
    assert!(flooded > 0, "the flood wrote nothing");
    assert!(
        flooded <= 512 << 10,
        "the server got {flooded} bytes off its hands"
    );
}

/// While the caller sends and never receives, the Peer reads ahead no further than one
/// largest frame and a read chunk: a server that floods replies gets no more than that (and
/// the socket's buffers) off its hands, however long the caller goes on sending.
#[test]
fn sending_without_receiving_reads_ahead_a_bounded_amount() {
    let world = SimWorld::new(9);
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let clock = client.clock();
    let flooded = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let written = flooded.clone();
    world
        .block_on(async move {
            let listener = server.bind("10.0.0.1:4500").await.unwrap();
            let config = PeerConfig {
                max_message_size: 1 << 10,
                write_batch_bytes: 1,
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), config);
            peer.reconnect().await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let (mut reader, mut writer) = stream.split();
            let mut frame = Vec::new();
            let mut codec = moonpool::peer::LengthChecksumCodec::new(1 << 10);
            moonpool::peer::Codec::encode(&mut codec, &[7u8; 1016], &mut frame).unwrap();
            let flood = async move {
                loop {
                    match writer.write(&frame).await {
                        Ok(n) if n > 0 => written.set(written.get() + n),
                        _ => break,
                    }
                }
            };
            let drain = async move {
                let mut sink = vec![0u8; 4096];
                while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
            };
            let send = async move {
                for i in 0..4000 {
                    peer.send_slice(b"request").await.unwrap();
                    if i % 10 == 0 {
                        clock.sleep(Duration::from_millis(1)).await; // the flood arrives
                    }
                }
            };
            // The flood never ends (the Peer stops reading): the sends decide when to stop.
            let background = futures::future::join(flood, drain);
            match futures::future::select(Box::pin(send), Box::pin(background)).await {
                futures::future::Either::Left(_) => {}
                futures::future::Either::Right(_) => panic!("the flood ended"),
            }
        })
        .unwrap();
    let flooded = flooded.get();
    assert!(flooded > 0, "the flood wrote nothing");
    assert!(
        flooded <= 512 << 10,
        "the server got {flooded} bytes off its hands"
    );
}

/// Under `buggify!`, a connect attempt sometimes gives up at a tenth of `connection_timeout`,
/// and says so; an attempt never waits longer than the timeout.
#[test]
fn a_buggified_connect_gives_up_early_and_reports_how_long_it_waited() {
    let never_answers = NetworkConfig {
        connect_latency: LatencyRange::fixed(Duration::from_secs(600)),
        ..exact_network()
    };
    let timeout = Duration::from_secs(10);
    let mut waited = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let world = SimWorld::with_config(seed, never_answers.clone()).unwrap();
        world.set_buggify(true);
        let (server, client) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
        let clock = client.clock();
        let waited_now = world
            .block_on(async move {
                let _listener = server.bind("10.0.0.1:4500").await.unwrap();
                let config = PeerConfig {
                    connection_timeout: timeout,
                    ..fast_config()
                };
                let mut peer = Peer::new(client, "10.0.0.1:4500".to_string(), config);
                match peer.reconnect().await {
                    Err(PeerError::Timeout { timeout, .. }) => {
                        assert_eq!(clock.now(), timeout, "seed {seed}: the error says how long");
                        timeout
                    }
                    other => panic!("seed {seed}: {other:?}"),
                }
            })
            .unwrap();
        waited.insert(waited_now);
    }
    assert_eq!(
        waited,
        [timeout / 10, timeout].into(),
        "both, and nothing else"
    );
}

/// A frame that a partial write ended exactly on is written, and counted so at once: with
/// room in the socket for two frames of three, a flush that cannot finish has written two.
#[test]
fn a_frame_a_partial_write_ended_on_counts_as_written() {
    const FRAME: usize = 8 + 10;
    let config = NetworkConfig {
        send_buffer_bytes: 2 * FRAME,
        ..exact_network()
    };
    run_sim(config, |net| async move {
        let _listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.reconnect().await.unwrap();
        for i in 0..3u8 {
            peer.send(vec![i; 10]).await.unwrap();
        }
        // Nobody reads: the flush writes what the socket takes, then waits.
        let waited = clock.timeout(Duration::from_secs(1), peer.flush()).await;
        assert!(waited.is_err(), "{waited:?}");
        assert_eq!(peer.metrics().messages_written, 2);
    });
}

/// A codec whose `check` passes every message of its size but whose `encode` refuses those
/// starting with `!`: a codec that breaks the contract `check` is there to keep.
#[derive(Debug, Default)]
struct Picky(moonpool::peer::LengthChecksumCodec);

impl moonpool::peer::Codec for Picky {
    fn encode(
        &mut self,
        message: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), moonpool::peer::FrameError> {
        if message.first() == Some(&b'!') {
            return Err(moonpool::peer::FrameError::Invalid { reason: "a bang" });
        }
        self.0.encode(message, dst)
    }
    fn decode(
        &mut self,
        src: &[u8],
    ) -> Result<Option<moonpool::peer::Decoded>, moonpool::peer::FrameError> {
        self.0.decode(src)
    }
    fn max_message_size(&self) -> usize {
        self.0.max_message_size()
    }
    fn overhead(&self, len: usize) -> usize {
        self.0.overhead(len)
    }
}

/// A queued message the codec refuses when the connect encodes it (its `check` let it in) is
/// dropped and counted, and the messages around it go out.
#[test]
fn a_queued_message_the_codec_refuses_at_the_connect_is_dropped_and_counted() {
    run_sim(exact_network(), |net| async move {
        let mut peer = Peer::with_codec(
            net.client.clone(),
            net.addr.clone(),
            fast_config(),
            Picky::default(),
        );
        for message in [&b"one"[..], b"!two", b"three"] {
            peer.send(message.to_vec()).await.unwrap();
        }
        assert_eq!(peer.queue_size(), 3);
        let listener = net.server.bind(&net.addr).await.unwrap();
        let client = async {
            peer.flush().await.unwrap();
            let m = peer.metrics();
            assert_eq!((m.messages_dropped, m.messages_written), (1, 2), "{m:?}");
            peer.close().await;
        };
        let (seen, ()) = futures::join!(sink_server(&listener), client);
        assert_eq!(seen, [b"one".to_vec(), b"three".to_vec()]);
    });
}

/// A remote that stalls (it echoes, and this side never receives, so both directions fill):
/// under the drop-oldest policy a full queue drops its oldest message never written, and
/// `send` keeps succeeding, as documented; it is never refused. Over the simulator and over
/// loopback (where the socket buffers are larger, and where messages framed into the write
/// batch while the stream was not taking bytes once made `send` refuse).
async fn drop_oldest_drops_while_the_remote_stalls<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let config = PeerConfig {
        max_queue_size: 20,
        overflow_policy: OverflowPolicy::DropOldest,
        ..fast_config()
    };
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
    let server = async {
        let _ = echo_server(&listener, 1).await;
    };
    let client = async {
        peer.reconnect().await.unwrap();
        for i in 0..400 {
            let mut message = numbered(i);
            message.resize(50_000, b'.');
            if let Err(error) = peer.send(message).await {
                panic!("send {i} refused: {error}");
            }
        }
        let m = peer.metrics();
        assert!(m.messages_dropped > 0, "{m:?}");
        assert_eq!(m.messages_rejected, 0, "{m:?}");
        assert!(peer.queue_size() <= 20, "{}", peer.queue_size());
        peer.close().await;
    };
    futures::join!(server, client);
}

#[test]
fn drop_oldest_drops_while_the_remote_stalls_sim() {
    run_sim(exact_network(), drop_oldest_drops_while_the_remote_stalls);
}

#[test]
fn drop_oldest_drops_while_the_remote_stalls_real() {
    run_real(drop_oldest_drops_while_the_remote_stalls);
}

/// In unreliable mode `send` writes without reading: even once the stream takes no more
/// bytes because the remote waits for this side to receive, the replies stay in the socket
/// until a receive (a send costs no read syscall). Then every reply arrives, in order. Over the
/// simulator (4 KiB send buffers) and over loopback.
async fn unreliable_sends_never_read<P: NetworkProvider>(net: Net<P>, rounds: usize) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let config = PeerConfig {
        write_batch_bytes: 4 << 10,
        max_queue_size: 1 << 20,
        max_queue_bytes: 1 << 30,
        ..fast_config()
    };
    let clock = net.client.clock();
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
    let server = async {
        let _ = echo_server(&listener, 1).await;
    };
    let client = async {
        peer.reconnect().await.unwrap();
        let mut sent = 0;
        for _ in 0..rounds {
            for _ in 0..8 {
                let mut message = numbered(sent);
                message.resize(16 << 10, b'.');
                peer.send(message).await.unwrap();
                sent += 1;
            }
            // Lets the echo server run (one thread): it echoes until this side's receive
            // buffer fills, then stops reading.
            clock.sleep(Duration::from_millis(1)).await;
        }
        let m = peer.metrics();
        assert!(
            peer.queue_size() > 0,
            "the stream stalled with messages left to write"
        );
        let mut reply = vec![0u8; 32 << 10];
        assert!(
            matches!(peer.try_recv_into(&mut reply), Ok(None)),
            "a send read replies: {m:?}"
        );
        assert_eq!(m.messages_received, 0);
        for i in 0..sent {
            let len = peer.recv_into(&mut reply).await.unwrap();
            assert!(reply[..len].starts_with(&numbered(i)), "reply {i}");
        }
        peer.close().await;
    };
    futures::join!(server, client);
}

#[test]
fn unreliable_sends_never_read_sim() {
    let config = NetworkConfig {
        send_buffer_bytes: 4 << 10,
        ..exact_network()
    };
    run_sim(config, |net| unreliable_sends_never_read(net, 16));
}

#[test]
fn unreliable_sends_never_read_real() {
    // 64 MiB in all: more than loopback's socket buffers hold, both ways.
    run_real(|net| unreliable_sends_never_read(net, 512));
}
