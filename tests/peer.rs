//! The Peer suite: one generic body per behaviour, run over the simulator and over real
//! loopback TCP. Behaviours that need exact time or injected faults are in `peer_sim.rs`.

use std::time::Duration;

use moonpool::peer::{FramedStream, OverflowPolicy, Peer, PeerConfig, PeerError};
use moonpool::{Listener, NetworkProvider};

mod common;
use common::peer::*;

/// Instantiates a generic body for both providers.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sim() {
                super::run_sim(Default::default(), super::$name);
            }
            #[test]
            fn real() {
                super::run_real(super::$name);
            }
        }
    };
}

async fn send_receive<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        assert_eq!(peer.destination(), net.addr);
        assert_eq!(peer.config(), &fast_config());
        for i in 0..100 {
            peer.send(numbered(i)).await.unwrap();
        }
        for i in 0..100 {
            assert_eq!(peer.recv().await.unwrap(), numbered(i));
        }
        let mut buf = [0u8; 64];
        peer.send(b"into a buffer".to_vec()).await.unwrap();
        let n = peer.recv_into(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"into a buffer");
        let metrics = peer.metrics();
        assert_eq!(metrics.messages_written, 101);
        assert_eq!(metrics.messages_received, 101);
        let payload: usize = (0..100).map(|i| numbered(i).len()).sum();
        let payload = (payload + b"into a buffer".len()) as u64;
        assert_eq!(metrics.bytes_received, payload);
        assert_eq!(metrics.bytes_written, payload);
        assert_eq!(metrics.connections_established, 1);
        assert!(peer.is_connected());
        peer.close().await;
    };
    let (seen, ()) = futures::join!(echo_server(&listener, 1), client);
    assert_eq!(seen[0].len(), 101);
}
both!(send_receive);

async fn queues_while_server_is_down<P: NetworkProvider>(net: Net<P>) {
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
    for i in 0..10 {
        peer.send(numbered(i)).await.unwrap();
    }
    assert!(!peer.is_connected());
    assert_eq!(peer.queue_size(), 10);
    let bytes: usize = (0..10).map(|i| numbered(i).len()).sum();
    assert_eq!(peer.queue_bytes(), bytes);
    assert_eq!(peer.metrics().queue_bytes, bytes);
    assert_eq!(
        peer.metrics().connection_attempts,
        0,
        "send only queues while disconnected"
    );
    assert!(matches!(
        peer.flush().await,
        Err(PeerError::ConnectionFailed { .. })
    ));

    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        peer.flush().await.unwrap();
        assert_eq!(peer.queue_size(), 0);
        assert_eq!(peer.queue_bytes(), 0);
        for i in 0..10 {
            assert_eq!(peer.recv().await.unwrap(), numbered(i));
        }
        peer.close().await;
    };
    let (seen, ()) = futures::join!(echo_server(&listener, 1), client);
    assert_eq!(seen[0], (0..10).map(numbered).collect::<Vec<_>>());
}
both!(queues_while_server_is_down);

async fn fifo_after_reconnect<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let server = async {
        // First connection: take three messages, then hang up.
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = FramedStream::new(stream);
        for i in 0..3 {
            assert_eq!(conn.recv().await.unwrap().unwrap(), numbered(i));
        }
        conn.close().await.unwrap();
        drop(conn);
        echo_server(&listener, 1).await
    };
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        for i in 0..3 {
            peer.send(numbered(i)).await.unwrap();
        }
        peer.flush().await.unwrap();
        let err = peer.recv().await.unwrap_err();
        assert!(
            matches!(&err, PeerError::Io { source, .. } if source.kind() == std::io::ErrorKind::UnexpectedEof),
            "{err}"
        );
        assert!(!peer.is_connected());
        for i in 3..20 {
            peer.send(numbered(i)).await.unwrap();
        }
        for i in 3..20 {
            assert_eq!(peer.recv().await.unwrap(), numbered(i));
        }
        assert_eq!(peer.metrics().connections_established, 2);
        assert_eq!(peer.metrics().disconnections, 1);
        peer.close().await;
    };
    let (seen, ()) = futures::join!(server, client);
    assert_eq!(seen[0], (3..20).map(numbered).collect::<Vec<_>>());
}
both!(fifo_after_reconnect);

async fn drop_oldest_policy<P: NetworkProvider>(net: Net<P>) {
    let config = PeerConfig {
        max_queue_size: 3,
        ..fast_config()
    };
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
    for i in 0..5 {
        peer.send(numbered(i)).await.unwrap();
    }
    let metrics = peer.metrics();
    assert_eq!((metrics.queue_size, metrics.messages_dropped), (3, 2));
    assert_eq!(metrics.messages_queued, 5);
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        peer.flush().await.unwrap();
        peer.close().await;
    };
    let (seen, ()) = futures::join!(sink_server(&listener), client);
    assert_eq!(seen, (2..5).map(numbered).collect::<Vec<_>>());
}
both!(drop_oldest_policy);

async fn reject_policy<P: NetworkProvider>(net: Net<P>) {
    let config = PeerConfig {
        max_queue_size: 3,
        overflow_policy: OverflowPolicy::Reject,
        ..fast_config()
    };
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
    for i in 0..3 {
        peer.send(numbered(i)).await.unwrap();
    }
    let err = peer.send(numbered(3)).await.unwrap_err();
    assert!(matches!(
        err,
        PeerError::QueueFull {
            max_messages: 3,
            ..
        }
    ));
    assert_eq!(err.into_message(), Some(numbered(3)));
    assert_eq!(peer.metrics().messages_rejected, 1);
    assert_eq!(peer.metrics().messages_dropped, 0);
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        peer.flush().await.unwrap();
        peer.close().await;
    };
    let (seen, ()) = futures::join!(sink_server(&listener), client);
    assert_eq!(seen, (0..3).map(numbered).collect::<Vec<_>>());
}
both!(reject_policy);

async fn reconnect_makes_a_new_connection<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(b"one".to_vec()).await.unwrap();
        assert_eq!(peer.recv().await.unwrap(), b"one");
        peer.reconnect().await.unwrap();
        assert!(peer.is_connected());
        peer.send(b"two".to_vec()).await.unwrap();
        assert_eq!(peer.recv().await.unwrap(), b"two");
        let metrics = peer.metrics();
        assert_eq!(metrics.connections_established, 2);
        assert_eq!(metrics.disconnections, 1);
        peer.close().await;
    };
    let (seen, ()) = futures::join!(echo_server(&listener, 2), client);
    assert_eq!(seen, [vec![b"one".to_vec()], vec![b"two".to_vec()]]);
}
both!(reconnect_makes_a_new_connection);

async fn close_is_final<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(b"hello".to_vec()).await.unwrap();
        assert_eq!(peer.recv().await.unwrap(), b"hello");
        peer.send(b"never sent".to_vec()).await.unwrap();
        peer.close().await;
        assert!(!peer.is_connected());
        assert_eq!(peer.queue_size(), 0);
        assert_eq!(peer.metrics().messages_dropped, 1);
        assert!(matches!(
            peer.send(b"x".to_vec()).await,
            Err(PeerError::Closed { .. })
        ));
        assert!(matches!(peer.recv().await, Err(PeerError::Closed { .. })));
        assert!(matches!(peer.flush().await, Err(PeerError::Closed { .. })));
        assert!(matches!(
            peer.reconnect().await,
            Err(PeerError::Closed { .. })
        ));
        peer.close().await; // twice is fine
    };
    // The server sees EOF after the one message: close() ended the stream.
    let (seen, ()) = futures::join!(echo_server(&listener, 1), client);
    assert_eq!(seen[0], [b"hello".to_vec()]);
}
both!(close_is_final);

async fn oversized_frame_is_a_protocol_error<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    // A header announcing 4 GiB: rejected before anything is allocated for it.
    let mut reply = u32::MAX.to_le_bytes().to_vec();
    reply.extend_from_slice(&[0; 4]);
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(b"hi".to_vec()).await.unwrap();
        let err = peer.recv().await.unwrap_err();
        assert!(matches!(err, PeerError::Protocol { .. }), "{err}");
        assert!(!peer.is_connected());
        assert_eq!(peer.metrics().protocol_errors, 1);
        peer.close().await;
    };
    futures::join!(raw_reply(&listener, reply), client);
}
both!(oversized_frame_is_a_protocol_error);

async fn corrupt_frame_is_a_protocol_error<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let mut reply = Vec::new();
    moonpool::peer::Codec::encode(
        &mut moonpool::peer::LengthChecksumCodec::default(),
        b"payload",
        &mut reply,
    )
    .unwrap();
    *reply.last_mut().unwrap() ^= 0x40;
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(b"hi".to_vec()).await.unwrap();
        let err = peer.recv().await.unwrap_err();
        assert!(
            matches!(
                err,
                PeerError::Protocol {
                    source: moonpool::peer::FrameError::ChecksumMismatch { .. },
                    ..
                }
            ),
            "{err}"
        );
        peer.close().await;
    };
    futures::join!(raw_reply(&listener, reply), client);
}
both!(corrupt_frame_is_a_protocol_error);

async fn buffer_too_small_keeps_the_message<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(vec![7; 100]).await.unwrap();
        let mut small = [0u8; 10];
        let err = peer.recv_into(&mut small).await.unwrap_err();
        assert!(matches!(
            err,
            PeerError::BufferTooSmall {
                needed: 100,
                available: 10
            }
        ));
        let mut large = [0u8; 200];
        assert_eq!(peer.recv_into(&mut large).await.unwrap(), 100);
        assert_eq!(&large[..100], &[7; 100][..]);
        peer.close().await;
    };
    futures::join!(echo_server(&listener, 1), client);
}
both!(buffer_too_small_keeps_the_message);

async fn bad_input_is_a_typed_error<P: NetworkProvider>(net: Net<P>) {
    let too_large = PeerConfig {
        max_message_size: 16,
        ..fast_config()
    };
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), too_large);
    let err = peer.send(vec![0; 17]).await.unwrap_err();
    assert!(matches!(
        err,
        PeerError::MessageTooLarge {
            size: 17,
            max: 16,
            ..
        }
    ));
    assert!(
        !err.is_disconnect(),
        "a refused message is no broken connection"
    );
    assert_eq!(err.into_message().map(|m| m.len()), Some(17));

    let bad_configs = [
        PeerConfig {
            max_queue_size: 0,
            ..fast_config()
        },
        PeerConfig {
            max_reconnect_delay: Duration::from_millis(1),
            ..fast_config()
        },
        PeerConfig {
            connection_timeout: Duration::ZERO,
            ..fast_config()
        },
        PeerConfig {
            reconnect_jitter: 1.5,
            ..fast_config()
        },
        PeerConfig {
            max_message_size: 0,
            ..fast_config()
        },
    ];
    for config in bad_configs {
        let result = Peer::try_new(net.client.clone(), net.addr.clone(), config.clone());
        assert!(matches!(result, Err(PeerError::InvalidConfig { .. })));
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
        assert!(matches!(
            peer.send(b"x".to_vec()).await,
            Err(PeerError::InvalidConfig { .. })
        ));
        assert!(matches!(
            peer.recv().await,
            Err(PeerError::InvalidConfig { .. })
        ));
    }
    let result = Peer::try_new(
        net.client.clone(),
        "not an address".to_string(),
        fast_config(),
    );
    let err = result.unwrap_err();
    assert!(err.to_string().contains("not an address"), "{err}");
    // The edges are valid: a fixed delay (cap = initial), a queue of one largest message.
    let edges = PeerConfig {
        max_reconnect_delay: fast_config().initial_reconnect_delay,
        max_queue_size: 1,
        max_queue_bytes: 1000,
        max_message_size: 1000,
        ..fast_config()
    };
    assert_eq!(edges.validate().err().map(|e| e.to_string()), None);
}
both!(bad_input_is_a_typed_error);

async fn eof_is_reported_once_then_reconnects<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream);
        echo_server(&listener, 1).await
    };
    let client = async {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        peer.send(b"first".to_vec()).await.unwrap();
        let err = peer.recv().await.unwrap_err();
        assert!(err.is_disconnect(), "{err}");
        assert!(!peer.is_connected());
        assert_eq!(peer.metrics().disconnections, 1);
        peer.send(b"again".to_vec()).await.unwrap();
        assert_eq!(peer.recv().await.unwrap(), b"again");
        peer.close().await;
    };
    let (seen, ()) = futures::join!(server, client);
    assert_eq!(seen[0], [b"again".to_vec()]);
}
both!(eof_is_reported_once_then_reconnects);

/// While connected, `send` writes each batch that fills before it returns, with no flush or
/// receive: two messages that fill a batch together go out when the second would overflow
/// it, and one message as large as a batch goes out at once.
async fn sends_write_full_batches<P: NetworkProvider>(net: Net<P>) {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let config = PeerConfig {
        write_batch_bytes: 1024,
        ..fast_config()
    };
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
    let client = async {
        peer.reconnect().await.unwrap();
        for (i, size) in [500, 500, 500, 2000, 2000].into_iter().enumerate() {
            let mut message = numbered(i);
            message.resize(size, b'.');
            peer.send(message).await.unwrap();
        }
        let m = peer.metrics();
        assert_eq!(m.messages_written, 5, "{m:?}");
        assert_eq!(m.bytes_written, 5500, "{m:?}");
        peer.close().await;
    };
    let (seen, ()) = futures::join!(sink_server(&listener), client);
    assert_eq!(seen.len(), 5);
}
both!(sends_write_full_batches);

/// A flush with nothing to write returns at once: it does not connect (nothing listens here).
async fn flush_with_nothing_queued_does_not_connect<P: NetworkProvider>(net: Net<P>) {
    let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
    peer.flush().await.unwrap();
    assert_eq!(peer.metrics().connection_attempts, 0);
    assert!(!peer.is_connected());
}
both!(flush_with_nothing_queued_does_not_connect);
