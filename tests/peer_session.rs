//! The reliable delivery modes: the session protocol between a Peer and a `SessionServer`
//! (handshake, acknowledgements, re-sends, duplicates, new epochs, heartbeats), in the
//! simulator where faults are placed exactly, and the smoke test over real loopback too.

use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::peer::{
    Codec, Delivery, FramedStream, LengthChecksumCodec, LinesCodec, OverflowPolicy, Peer,
    PeerConfig, PeerError, SessionError, SessionServer, PROTOCOL_VERSION,
};
use moonpool::{Clock, Listener, NetworkProvider};

mod common;
use common::peer::*;

fn config(delivery: Delivery) -> PeerConfig {
    PeerConfig {
        delivery,
        stable_connection_time: Duration::ZERO,
        ..fast_config()
    }
}

/// A Peer of `net`'s client in `delivery` mode.
fn reliable_peer<P: NetworkProvider>(net: &Net<P>, delivery: Delivery) -> Peer<P> {
    Peer::new(net.client.clone(), net.addr.clone(), config(delivery))
}

/// What [`session_echo`] saw: every message received, in order, over all connections, and
/// how many of its echoes the Peer acknowledged (the sessions freed them).
struct Echoed {
    seen: Vec<Vec<u8>>,
    acknowledged: u64,
}

/// Serves sessions on `connections` connections, one after another: echoes every message,
/// and after `reset_after` messages on a connection resets it.
async fn session_echo<L: Listener>(
    listener: &L,
    sessions: &SessionServer,
    connections: usize,
    reset_after: Option<usize>,
    reset: impl Fn(&L::Stream),
) -> Echoed {
    let mut seen = Vec::new();
    let mut acknowledged = 0;
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.expect("accept");
        let Ok(mut conn) = sessions.accept(stream).await else {
            continue;
        };
        let mut here = 0;
        while let Ok(Some(message)) = conn.recv().await {
            seen.push(message.clone());
            here += 1;
            if conn.send(message).await.is_err() {
                break;
            }
            if reset_after == Some(here) {
                reset(conn.get_ref());
                break;
            }
        }
        acknowledged += conn.stats().acknowledged;
    }
    Echoed { seen, acknowledged }
}

#[test]
fn smoke_exactly_once_round_trip() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(net.server.random_seed());
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::ExactlyOnce);
            for i in 0..100 {
                peer.send(numbered(i)).await.unwrap();
            }
            peer.wait_acknowledged().await.unwrap();
            assert_eq!(peer.queue_size(), 0, "acknowledged messages free the queue");
            for i in 0..100 {
                assert_eq!(peer.recv().await.unwrap(), numbered(i));
            }
            let m = peer.metrics();
            assert_eq!((m.messages_written, m.messages_acknowledged), (100, 100));
            assert_eq!((m.messages_resent, m.duplicates_dropped), (0, 0));
            // One more exchange, so the acknowledgement of the 100 echoes reaches the server.
            peer.send(numbered(100)).await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), numbered(100));
            peer.close().await;
        };
        let (echoed, ()) =
            futures::join!(session_echo(&listener, &sessions, 1, None, |_| {}), client);
        assert_eq!(echoed.seen, (0..=100).map(numbered).collect::<Vec<_>>());
        // The server keeps each echo until the Peer acknowledges it, and frees it then.
        assert!(echoed.acknowledged >= 100, "{}", echoed.acknowledged);
    });
}

/// In the reliable modes, `try_recv` and `try_recv_into` hand out the messages themselves,
/// not the session's frames, as `recv` does, also past the read-ahead limit (where frames
/// wait undecoded in the read buffer).
#[test]
fn try_recv_in_a_session_returns_the_messages() {
    const N: usize = 1000;
    let message = |i| {
        let mut message = numbered(i);
        message.resize(200, b'.');
        message
    };
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        run_sim(exact_network(), |net| async move {
            let listener = net.server.bind(&net.addr).await.unwrap();
            let sessions = SessionServer::new(net.server.random_seed());
            let client = async {
                let config = PeerConfig {
                    // A read-ahead limit of about 66 KiB: a third of the echoes.
                    max_message_size: 256,
                    ..config(delivery)
                };
                let mut peer = Peer::new(net.client.clone(), net.addr.clone(), config);
                peer.reconnect().await.unwrap();
                for i in 0..N {
                    peer.send(message(i)).await.unwrap();
                }
                // Waiting for the acknowledgements reads the echoes ahead, up to the limit,
                // where the Peer stops and says so: whole frames still undecoded in its
                // buffer.
                let stalled = peer.wait_acknowledged().await;
                assert!(
                    matches!(stalled, Err(PeerError::Stalled { .. })),
                    "{delivery:?}: {stalled:?}"
                );
                let (mut got, mut without_waiting) = (Vec::new(), 0);
                let mut buf = [0u8; 256];
                while got.len() < N {
                    let taken = if got.len() % 2 == 0 {
                        peer.try_recv().unwrap()
                    } else {
                        let len = peer.try_recv_into(&mut buf).unwrap();
                        len.map(|len| buf[..len].to_vec())
                    };
                    match taken {
                        Some(message) => {
                            without_waiting += 1;
                            got.push(message);
                        }
                        None => got.push(peer.recv().await.unwrap()),
                    }
                }
                assert!(
                    got == (0..N).map(message).collect::<Vec<_>>(),
                    "{delivery:?}"
                );
                assert!(without_waiting > N / 10, "{delivery:?}: {without_waiting}");
                peer.close().await;
            };
            futures::join!(session_echo(&listener, &sessions, 1, None, |_| {}), client);
        });
    }
}

#[test]
fn smoke_at_least_once_over_real_loopback() {
    run_real(|net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(7);
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
            for i in 0..50 {
                peer.send(numbered(i)).await.unwrap();
            }
            peer.wait_acknowledged().await.unwrap();
            for i in 0..50 {
                assert_eq!(peer.recv().await.unwrap(), numbered(i));
            }
            peer.close().await;
        };
        let (echoed, ()) =
            futures::join!(session_echo(&listener, &sessions, 1, None, |_| {}), client);
        let seen = echoed.seen;
        assert_eq!(seen.len(), 50);
    });
}

/// The server resets the connection every 7 messages, losing whatever was in flight both
/// ways; the session carries on: every request arrives once, every echo comes back once,
/// both in order.
#[test]
fn exactly_once_across_many_connection_resets() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(1);
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::ExactlyOnce);
            let mut echoes = Vec::new();
            for i in 0..200 {
                peer.send(numbered(i)).await.unwrap();
                if i % 10 == 9 {
                    while echoes.len() <= i {
                        match peer.recv().await {
                            Ok(echo) => echoes.push(echo),
                            Err(error) => assert!(error.is_disconnect(), "{error}"),
                        }
                    }
                }
            }
            let m = peer.metrics();
            assert!(m.disconnections >= 20, "{m:?}");
            assert!(m.messages_resent > 0 || m.duplicates_dropped > 0, "{m:?}");
            assert_eq!(m.session_restarts, 0);
            peer.close().await;
            echoes
        };
        let server = session_echo(&listener, &sessions, 40, Some(7), |stream| stream.reset());
        let server = async {
            // The client closes after its last echo; the server then waits on accept forever.
            net.server
                .clock()
                .timeout(Duration::from_secs(600), server)
                .await
        };
        let (seen, echoes) = futures::join!(server, client);
        assert_eq!(echoes, (0..200).map(numbered).collect::<Vec<_>>());
        if let Ok(echoed) = seen {
            assert_eq!(echoed.seen, (0..200).map(numbered).collect::<Vec<_>>());
        }
        assert_eq!(
            sessions.sessions(),
            1,
            "one session across every connection"
        );
    });
}

/// A server that forgets its sessions (a new `SessionServer` per connection: a restart)
/// makes an at-least-once Peer send again what it had not acknowledged: nothing is lost.
#[test]
fn at_least_once_resends_to_a_restarted_server() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let mut seen = Vec::new();
            for restart in 0..3u64 {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = SessionServer::new(100 + restart)
                    .accept(stream)
                    .await
                    .unwrap();
                // The first two incarnations take three messages each, then crash without
                // acknowledging them.
                let mut here = 0;
                while let Ok(Some(message)) = conn.recv().await {
                    seen.push(message);
                    here += 1;
                    if restart < 2 && here == 3 {
                        conn.get_ref().reset();
                        break;
                    }
                }
            }
            seen
        };
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
            for i in 0..5 {
                peer.send(numbered(i)).await.unwrap();
            }
            loop {
                match peer.wait_acknowledged().await {
                    Ok(()) => break,
                    Err(error) => assert!(error.is_disconnect(), "{error}"),
                }
            }
            let m = peer.metrics();
            assert_eq!(m.session_restarts, 2);
            assert!(m.messages_resent >= 3, "{m:?}");
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        for i in 0..5 {
            assert!(seen.contains(&numbered(i)), "message {i} lost: {seen:?}");
        }
        assert!(
            seen.len() > 5,
            "the restarts made duplicates: {}",
            seen.len()
        );
    });
}

/// Exactly-once against a restarted server: the messages the dead incarnation may or may not
/// have processed come back in a typed error, never silently re-sent or dropped.
#[test]
fn exactly_once_reports_a_restarted_server_and_hands_back_the_unknown() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut first = SessionServer::new(1).accept(stream).await.unwrap();
            // Take two messages out of the buffer (no wait, so no acknowledgement), then die.
            first.recv().await.unwrap().unwrap();
            first.recv().await.unwrap().unwrap();
            first.get_ref().reset();
            drop(first);
            let (stream, _) = listener.accept().await.unwrap();
            let mut second = SessionServer::new(2).accept(stream).await.unwrap();
            let mut seen = Vec::new();
            while let Ok(Some(message)) = second.recv().await {
                seen.push(message);
            }
            seen
        };
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::ExactlyOnce);
            for i in 0..4 {
                peer.send(numbered(i)).await.unwrap();
            }
            peer.flush().await.unwrap();
            // The reset shows, then the reconnect meets the new incarnation.
            let first = peer.wait_acknowledged().await.unwrap_err();
            assert!(first.is_disconnect(), "{first}");
            peer.send(numbered(4)).await.unwrap();
            let error = peer.wait_acknowledged().await.unwrap_err();
            let PeerError::SessionRestarted { unacknowledged, .. } = error else {
                panic!("expected SessionRestarted, got {error}");
            };
            assert_eq!(unacknowledged, (0..4).map(numbered).collect::<Vec<_>>());
            assert_eq!(peer.metrics().session_restarts, 1);
            // The message never written goes to the new incarnation; the caller decides
            // about the others (here: send them again).
            for message in unacknowledged {
                peer.send(message).await.unwrap();
            }
            peer.wait_acknowledged().await.unwrap();
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        let mut expected = vec![numbered(4)];
        expected.extend((0..4).map(numbered));
        assert_eq!(seen, expected);
    });
}

/// The frame of a session hello claiming `version`, as a Peer of that version would send.
fn hello_frame(version: u16) -> Vec<u8> {
    handshake_frame(b'H', version, &[0; 33])
}

/// The frame of a session hello answering `client_hello` (a hello payload): its session
/// echoed, from incarnation `instance`, holding nothing and having received nothing, with the
/// resumed flag `resumed`.
fn hello_reply(client_hello: &[u8], instance: u64, resumed: bool) -> Vec<u8> {
    let mut rest = client_hello[7..23].to_vec();
    for value in [instance, 0, 0] {
        rest.extend_from_slice(&value.to_le_bytes());
    }
    rest.push(u8::from(resumed));
    handshake_frame(b'H', PROTOCOL_VERSION, &rest)
}

/// The remote lost the session if its second hello says it did not resume, or if it comes
/// from another incarnation though it says it resumed (a handshake this side never saw
/// complete may have started a fresh session there); the same incarnation resuming is no
/// restart.
#[test]
fn a_new_epoch_is_a_hello_not_resumed_or_from_another_incarnation() {
    for (instance, resumed, restarts) in [(7, false, 1), (8, true, 1), (7, true, 0)] {
        run_sim(exact_network(), |net| async move {
            let listener = net.server.bind(&net.addr).await.unwrap();
            let server = async {
                let mut replies = [(7, false), (instance, resumed)].into_iter();
                for _ in 0..2 {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut framed = FramedStream::new(stream);
                    let hello = framed.recv().await.unwrap().unwrap();
                    let (instance, resumed) = replies.next().unwrap();
                    let reply = hello_reply(&hello, instance, resumed);
                    framed.get_mut().write_all(&reply).await.unwrap();
                    framed.recv().await.unwrap().unwrap();
                    framed.get_ref().reset();
                }
            };
            let client = async {
                let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
                peer.send(numbered(0)).await.unwrap();
                peer.flush().await.unwrap();
                let first = peer.wait_acknowledged().await.unwrap_err();
                assert!(first.is_disconnect(), "{first}");
                peer.send(numbered(1)).await.unwrap();
                peer.flush().await.unwrap();
                let m = peer.metrics();
                assert_eq!(m.connections_established, 2);
                assert_eq!(
                    m.session_restarts, restarts,
                    "second hello from incarnation {instance}, resumed {resumed}"
                );
            };
            futures::join!(server, client);
        });
    }
}

/// A hand-written session server: accepts one connection, answers its hello (incarnation 7,
/// a new session), writes the data messages `script` (number, payload) in one go, then reads
/// until the Peer closes.
async fn scripted_session<L: Listener>(listener: &L, script: &[(u64, &[u8])]) {
    session_answering(listener, scripted(script)).await;
}

/// The answer of [`scripted_session`]: the hello, then the data messages of `script`.
fn scripted<'a>(script: &'a [(u64, &[u8])]) -> impl FnOnce(&[u8]) -> Vec<u8> + 'a {
    move |hello| {
        let mut out = hello_reply(hello, 7, false);
        for (seq, payload) in script {
            let mut message = vec![b'D'];
            message.extend_from_slice(&seq.to_le_bytes());
            message.extend_from_slice(payload);
            LengthChecksumCodec::default()
                .encode(&message, &mut out)
                .unwrap();
        }
        out
    }
}

/// Accepts one connection, writes what `answer` makes of the Peer's hello in one go, then
/// reads until the Peer closes.
async fn session_answering<L: Listener>(listener: &L, answer: impl FnOnce(&[u8]) -> Vec<u8>) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut framed = FramedStream::new(stream);
    let hello = framed.recv().await.unwrap().unwrap();
    framed.get_mut().write_all(&answer(&hello)).await.unwrap();
    let mut rest = Vec::new();
    let _ = framed.get_mut().read_to_end(&mut rest).await;
}

/// A reliable Peer of `net` talking to a session server that answers its hello with
/// `answer`: its first receive fails with a protocol error whose words include `words`, and
/// the connection is dropped. Returns the Peer.
async fn first_receive_breaks_the_protocol<P: NetworkProvider>(
    net: &Net<P>,
    answer: impl FnOnce(&[u8]) -> Vec<u8>,
    words: &str,
) -> Peer<P> {
    let listener = net.server.bind(&net.addr).await.unwrap();
    let client = async {
        let mut peer = reliable_peer(net, Delivery::AtLeastOnce);
        peer.reconnect().await.unwrap();
        let error = peer.recv().await.unwrap_err();
        assert!(matches!(error, PeerError::Protocol { .. }), "{error}");
        assert!(error.to_string().contains(words), "{error}");
        assert_eq!(peer.metrics().protocol_errors, 1);
        assert!(!peer.is_connected());
        peer
    };
    futures::join!(session_answering(&listener, answer), client).1
}

/// A server that numbers a message `u64::MAX` (no number could follow it) breaks the
/// protocol: the Peer says so and drops the connection, and still hands out what came
/// before it.
#[test]
fn a_message_numbered_past_the_last_number_is_a_protocol_error() {
    run_sim(exact_network(), |net| async move {
        let script = [(1, &b"one"[..]), (u64::MAX, b"boom")];
        let mut peer =
            first_receive_breaks_the_protocol(&net, scripted(&script), "past the last number")
                .await;
        // The message read before the bad one is still there, once.
        assert_eq!(peer.try_recv().unwrap(), Some(b"one".to_vec()));
        assert_eq!(peer.try_recv().unwrap(), None);
        peer.close().await;
    });
}

/// A message the remote sends twice (a resend of one that had arrived) reaches the caller
/// once, and the Peer counts the repeat.
#[test]
fn a_repeated_message_from_the_remote_is_dropped_and_counted() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = scripted_session(&listener, &[(1, b"one"), (1, b"one"), (2, b"two")]);
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
            peer.reconnect().await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"one");
            assert_eq!(peer.recv().await.unwrap(), b"two");
            let m = peer.metrics();
            assert_eq!((m.messages_received, m.duplicates_dropped), (2, 1), "{m:?}");
            peer.close().await;
        };
        futures::join!(server, client);
    });
}

/// The frame of a session reject from a server of `version`, for `reason` (its wire byte).
fn reject_frame(version: u16, reason: u8) -> Vec<u8> {
    handshake_frame(b'R', version, &[reason])
}

fn handshake_frame(tag: u8, version: u16, rest: &[u8]) -> Vec<u8> {
    let mut payload = vec![tag];
    payload.extend_from_slice(b"mpsp");
    payload.extend_from_slice(&version.to_le_bytes());
    payload.extend_from_slice(rest);
    let mut frame = Vec::new();
    LengthChecksumCodec::default()
        .encode(&payload, &mut frame)
        .unwrap();
    frame
}

/// A connection reset before its hello is an I/O error of the accept, not a handshake the
/// client got wrong; bytes that are not a session frame are the handshake's error.
#[test]
fn a_reset_before_the_hello_is_an_io_error_and_garbage_a_handshake_error() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(1);
        let client = async {
            let reset = net.client.connect(&net.addr).await.unwrap();
            reset.reset();
            let mut garbage = net.client.connect(&net.addr).await.unwrap();
            garbage.write_all(&[0xff; 64]).await.unwrap();
            garbage
        };
        let server = async {
            let mut errors = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                errors.push(sessions.accept(stream).await.unwrap_err());
            }
            errors
        };
        let (_garbage, errors) = futures::join!(client, server);
        assert!(matches!(errors[0], SessionError::Io(_)), "{}", errors[0]);
        assert!(
            matches!(errors[1], SessionError::Handshake { .. }),
            "{}",
            errors[1]
        );
    });
}

/// A reject from a server of another version, or one whose reason is the version, is an
/// incompatible version (which waiting will not cure), not a refusal; a reject from a server
/// of this version for another reason is that refusal.
#[test]
fn a_reject_names_the_version_only_when_the_version_is_the_reason() {
    let cases = [
        (PROTOCOL_VERSION + 1, 2, Err(PROTOCOL_VERSION + 1)),
        (PROTOCOL_VERSION, 0, Err(PROTOCOL_VERSION)),
        (PROTOCOL_VERSION, 2, Ok(moonpool::peer::Refusal::Busy)),
    ];
    for (version, reason, expected) in cases {
        run_sim(exact_network(), |net| async move {
            let listener = net.server.bind(&net.addr).await.unwrap();
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut framed = FramedStream::new(stream);
                framed.recv().await.unwrap().unwrap();
                let reject = reject_frame(version, reason);
                framed.get_mut().write_all(&reject).await.unwrap();
                framed
            };
            let client = async {
                let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
                peer.reconnect().await.unwrap_err()
            };
            let (_framed, error) = futures::join!(server, client);
            match expected {
                Err(theirs) => assert!(
                    matches!(error, PeerError::IncompatibleVersion { theirs: t, .. } if t == theirs),
                    "{error}"
                ),
                Ok(refusal) => assert!(
                    matches!(error, PeerError::Refused { reason, .. } if reason == refusal),
                    "{error}"
                ),
            }
        });
    }
}

#[test]
fn an_incompatible_version_is_a_typed_error_on_both_sides() {
    run_sim(exact_network(), |net| async move {
        // The server side meets a client of version 99: it answers with a reject.
        let listener = net.server.bind(&net.addr).await.unwrap();
        let client = async {
            let mut stream = net.client.connect(&net.addr).await.unwrap();
            stream.write_all(&hello_frame(99)).await.unwrap();
            let mut framed = FramedStream::new(stream);
            framed.recv().await.unwrap().unwrap()
        };
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            SessionServer::new(1).accept(stream).await.unwrap_err()
        };
        let (reject, error) = futures::join!(client, server);
        assert!(
            matches!(error, SessionError::IncompatibleVersion { ours, theirs: 99 } if ours == PROTOCOL_VERSION),
            "{error}"
        );
        assert_eq!(reject[0], b'R');

        // The Peer meets a server of version 99.
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut framed = FramedStream::new(stream);
            framed.recv().await.unwrap().unwrap();
            framed.get_mut().write_all(&hello_frame(99)).await.unwrap();
            let _ = framed.recv().await;
        };
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::ExactlyOnce);
            peer.send(b"x".to_vec()).await.unwrap();
            let error = peer.flush().await.unwrap_err();
            assert!(
                matches!(error, PeerError::IncompatibleVersion { theirs: 99, .. }),
                "{error}"
            );
            assert_eq!(peer.metrics().connection_failures, 1);
            peer.close().await;
        };
        futures::join!(server, client);
    });
}

/// The reliable modes need a remote that speaks the session protocol, and say so, whether
/// the remote echoes, talks a line protocol, or stays silent.
#[test]
fn reliable_modes_against_a_foreign_server_say_they_need_the_protocol() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
        peer.send(b"x".to_vec()).await.unwrap();
        let echo = async {
            echo_server(&listener, 1).await;
        };
        let (_, result) = futures::join!(echo, peer.flush());
        let error = result.unwrap_err();
        assert!(matches!(error, PeerError::Handshake { .. }), "{error}");
        assert!(error.to_string().contains("session protocol"), "{error}");

        let banner = async {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(b"+OK ready\r\n").await.unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        };
        let (_, result) = futures::join!(banner, peer.reconnect());
        assert!(
            matches!(result, Err(PeerError::Handshake { .. })),
            "{result:?}"
        );

        let silent = async {
            let (stream, _) = listener.accept().await.unwrap();
            net.server.clock().sleep(Duration::from_secs(10)).await;
            drop(stream);
        };
        let (_, result) = futures::join!(silent, peer.reconnect());
        let error = result.unwrap_err();
        assert!(error.to_string().contains("no answer"), "{error}");
        // A handshake left unanswered is an attempt that timed out, the only one of the three.
        assert_eq!(peer.metrics().connection_timeouts, 1);
    });
}

/// The session's data header (a tag and a 64-bit sequence number) must fit the codec's
/// largest message: a codec one byte short cannot carry a reliable mode, one that fits
/// exactly can (its messages are empty).
#[test]
fn a_codec_too_small_for_the_session_header_is_refused() {
    const DATA_HEADER_LEN: usize = 9;
    const HELLO_LEN: usize = 48;
    run_sim(exact_network(), |net| async move {
        let cases = [
            (DATA_HEADER_LEN - 1, Some("session header")),
            (HELLO_LEN - 1, Some("session hello")),
            (HELLO_LEN, None),
        ];
        for (max, refused) in cases {
            let mut peer = Peer::with_codec(
                net.client.clone(),
                net.addr.clone(),
                config(Delivery::AtLeastOnce),
                LengthChecksumCodec::new(max),
            );
            let result = peer.send(Vec::new()).await;
            match refused {
                Some(words) => assert!(
                    matches!(&result, Err(PeerError::InvalidConfig { reason }) if reason.contains(words)),
                    "max {max}: {result:?}"
                ),
                None => assert!(result.is_ok(), "max {max}: {result:?}"),
            }
            // Its Debug names the destination and the mode.
            let debug = format!("{peer:?}");
            assert!(
                debug.contains(&net.addr) && debug.contains("AtLeastOnce"),
                "{debug}"
            );
        }
    });
}

/// With the default codec, the reliable modes need `max_message_size` of at least 39 (the
/// session hello's frame is 48 bytes, the codec's maximum the size plus a 9-byte header):
/// below it the Peer says so up front, instead of failing every handshake; at 39 it works.
#[test]
fn a_reliable_peer_needs_room_for_the_session_hello() {
    run_sim(exact_network(), |net| async move {
        let sized = |max_message_size| PeerConfig {
            max_message_size,
            ..config(Delivery::ExactlyOnce)
        };
        let error = Peer::try_new(net.client.clone(), net.addr.clone(), sized(38)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("max_message_size must be at least 39"),
            "{error}"
        );
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = SessionServer::new(1).accept(stream).await.unwrap();
            conn.recv().await.unwrap().unwrap()
        };
        let client = async {
            let mut peer = Peer::try_new(net.client.clone(), net.addr.clone(), sized(39)).unwrap();
            peer.send(vec![7; 39]).await.unwrap();
            peer.flush().await.unwrap();
            peer
        };
        let (got, _peer) = futures::join!(server, client);
        assert_eq!(got, vec![7; 39]);
    });
}

#[test]
fn a_line_codec_cannot_carry_a_reliable_mode() {
    run_sim(exact_network(), |net| async move {
        let peer = Peer::with_codec(
            net.client.clone(),
            net.addr.clone(),
            config(Delivery::ExactlyOnce),
            LinesCodec::default(),
        );
        let mut peer = peer;
        let error = peer.send(b"x".to_vec()).await.unwrap_err();
        assert!(matches!(error, PeerError::InvalidConfig { .. }), "{error}");
        assert!(error.to_string().contains("Unreliable"), "{error}");
    });
}

#[test]
fn an_invalid_config_says_so_once() {
    run_sim(exact_network(), |net| async move {
        let bad = PeerConfig {
            max_queue_size: 0,
            ..PeerConfig::default()
        };
        let error = Peer::try_new(net.client.clone(), net.addr.clone(), bad).unwrap_err();
        let text = error.to_string();
        assert_eq!(
            text.matches("invalid peer configuration").count(),
            1,
            "{text}"
        );
        let bad = PeerConfig {
            heartbeat_timeout: Duration::from_millis(500),
            ..PeerConfig::default()
        };
        let error = Peer::try_new(net.client.clone(), net.addr.clone(), bad).unwrap_err();
        assert!(error.to_string().contains("heartbeat_timeout"), "{error}");
    });
}

#[test]
fn wait_acknowledged_needs_a_reliable_mode() {
    run_sim(exact_network(), |net| async move {
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), fast_config());
        let error = peer.wait_acknowledged().await.unwrap_err();
        assert!(matches!(error, PeerError::NotReliable { .. }), "{error}");
    });
}

/// A codec that frames like [`LengthChecksumCodec`] but never finds a whole frame in what it
/// reads: it waits for more, forever.
#[derive(Debug, Default)]
struct NeverWhole(LengthChecksumCodec);

impl Codec for NeverWhole {
    fn encode(
        &mut self,
        message: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), moonpool::peer::FrameError> {
        self.0.encode(message, dst)
    }
    fn decode(
        &mut self,
        _src: &[u8],
    ) -> Result<Option<moonpool::peer::Decoded>, moonpool::peer::FrameError> {
        Ok(None)
    }
    fn max_message_size(&self) -> usize {
        1024
    }
    fn overhead(&self, len: usize) -> usize {
        self.0.overhead(len)
    }
}

/// A Peer of `net` whose codec never finds a whole frame.
fn never_whole_peer<P: NetworkProvider>(net: &Net<P>, config: PeerConfig) -> Peer<P, NeverWhole> {
    Peer::with_codec(
        net.client.clone(),
        net.addr.clone(),
        config,
        NeverWhole::default(),
    )
}

/// Accepts one connection, writes 80 KiB in which no codec finds a frame's end, then reads
/// until the Peer closes.
async fn talk_without_frames<L: Listener>(listener: &L) {
    let (mut stream, _) = listener.accept().await.unwrap();
    stream.write_all(&[b'x'; 80 << 10]).await.unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
}

/// The handshake reads at most the codec's maximum plus 64 KiB looking for the hello: a
/// remote that keeps talking without one, to a codec that keeps waiting, is refused then, not
/// read forever.
#[test]
fn the_handshake_stops_reading_a_reply_without_a_hello() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let mut peer = never_whole_peer(&net, config(Delivery::AtLeastOnce));
        let (_, result) = futures::join!(talk_without_frames(&listener), peer.reconnect());
        let error = result.unwrap_err();
        assert!(matches!(error, PeerError::Handshake { .. }), "{error}");
        assert!(
            error.to_string().contains("no hello in the reply"),
            "{error}"
        );
    });
}

/// In unreliable mode too, a receive stops at the read-ahead limit when the codec never finds
/// a whole frame: more than the codec's maximum buffered is a protocol error, not a wait
/// forever.
#[test]
fn a_receive_refuses_more_than_a_frame_without_a_whole_one() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let mut peer = never_whole_peer(&net, fast_config());
        let receive = async {
            peer.reconnect().await.unwrap();
            peer.recv().await
        };
        let (_, result) = futures::join!(talk_without_frames(&listener), receive);
        let error = result.unwrap_err();
        assert!(matches!(error, PeerError::Protocol { .. }), "{error}");
        assert_eq!(peer.metrics().protocol_errors, 1);
    });
}

/// A half-open connection (the remote accepted, then went silent: no bytes, no pongs) is
/// found by the heartbeat inside the caller's own await, and dropped.
#[test]
fn the_heartbeat_drops_a_silent_connection() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let clock = net.client.clock();
        let peer_config = PeerConfig {
            heartbeat_interval: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(1),
            ..config(Delivery::ExactlyOnce)
        };
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = SessionServer::new(1).accept(stream).await.unwrap();
            // Answers for a while (pings included), then stops reading: silence.
            let _ = clock.timeout(Duration::from_secs(3), conn.recv()).await;
            clock.sleep(Duration::from_secs(30)).await;
            drop(conn);
        };
        let client = async {
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), peer_config);
            peer.reconnect().await.unwrap();
            let start = clock.now();
            // Alive for 3 s thanks to the pongs (one per 200 ms of silence), then nothing
            // for the 1 s timeout: dropped between 3.8 s and 4 s.
            let error = peer.recv().await.unwrap_err();
            assert!(matches!(error, PeerError::Unresponsive { .. }), "{error}");
            let waited = clock.now() - start;
            assert!(
                waited >= Duration::from_millis(3790) && waited <= Duration::from_millis(4010),
                "{waited:?}"
            );
            assert!(!peer.is_connected());
            peer.close().await;
        };
        futures::join!(server, client);
    });
}

/// Messages sent with `send_unreliable` keep their place and are never re-sent; those lost
/// with a connection are counted as lost (the remote kept its session, so it did not have
/// them) or, when the remote lost its session (a new incarnation), as possibly lost (the old
/// one may have read them); the reliable ones around them are re-sent.
#[test]
fn unreliable_messages_in_a_reliable_session_are_counted_when_lost() {
    // (second incarnation, delivery, (lost, possibly lost, resent, session restarts))
    let cases = [
        (1, Delivery::ExactlyOnce, (1, 0, 2, 0)),
        (2, Delivery::AtLeastOnce, (0, 1, 2, 1)),
    ];
    for (second, delivery, expected) in cases {
        run_sim(exact_network(), |net| async move {
            let listener = net.server.bind(&net.addr).await.unwrap();
            let first_sessions = SessionServer::new(1);
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let conn = first_sessions.accept(stream).await.unwrap();
                // Reads nothing, then resets: everything written is gone.
                net.server.clock().sleep(Duration::from_millis(100)).await;
                conn.get_ref().reset();
                drop(conn);
                let sessions = match second {
                    1 => first_sessions.clone(),
                    other => SessionServer::new(other),
                };
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions.accept(stream).await.unwrap();
                let mut seen = Vec::new();
                while let Ok(Some(message)) = conn.recv().await {
                    seen.push(message);
                }
                seen
            };
            let client = async {
                let mut peer = reliable_peer(&net, delivery);
                peer.reconnect().await.unwrap();
                peer.send(numbered(0)).await.unwrap();
                peer.send_unreliable(numbered(1)).await.unwrap();
                peer.send(numbered(2)).await.unwrap();
                peer.flush().await.unwrap();
                while let Err(error) = peer.wait_acknowledged().await {
                    assert!(error.is_disconnect(), "{error}");
                }
                let m = peer.metrics();
                let counted = (
                    m.messages_lost,
                    m.messages_possibly_lost,
                    m.messages_resent,
                    m.session_restarts,
                );
                assert_eq!(counted, expected, "{m:?}");
                peer.close().await;
            };
            let (seen, ()) = futures::join!(server, client);
            assert_eq!(seen, [numbered(0), numbered(2)]);
        });
    }
}

/// While disconnected, `send_unreliable` under the drop-oldest policy makes room by dropping
/// the oldest message never written, as `send` does: the newest ones go out at the connect.
/// Under the reject policy it refuses the new one.
#[test]
fn send_unreliable_while_disconnected_drops_the_oldest_under_drop_oldest() {
    run_sim(exact_network(), |net| async move {
        let peer_config = PeerConfig {
            max_queue_size: 2,
            overflow_policy: OverflowPolicy::DropOldest,
            ..config(Delivery::AtLeastOnce)
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), peer_config);
        for i in 0..3 {
            peer.send_unreliable(numbered(i)).await.unwrap();
        }
        assert_eq!(peer.queue_size(), 2);
        assert_eq!(peer.metrics().messages_dropped, 1);
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = SessionServer::new(1).accept(stream).await.unwrap();
            let mut seen = Vec::new();
            while let Ok(Some(message)) = conn.recv().await {
                seen.push(message);
            }
            seen
        };
        let client = async {
            peer.flush().await.unwrap();
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        assert_eq!(seen, [numbered(1), numbered(2)]);

        // Under the reject policy nothing queued is dropped: the new message is refused.
        let peer_config = PeerConfig {
            max_queue_size: 2,
            overflow_policy: OverflowPolicy::Reject,
            ..config(Delivery::AtLeastOnce)
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), peer_config);
        for i in 0..2 {
            peer.send_unreliable(numbered(i)).await.unwrap();
        }
        let error = peer.send_unreliable(numbered(2)).await.unwrap_err();
        assert!(matches!(error, PeerError::QueueFull { .. }), "{error}");
        let m = peer.metrics();
        assert_eq!((m.messages_dropped, m.messages_rejected), (0, 1));
    });
}

/// `messages_resent` counts writes that happened: reconnecting again and again with a
/// message unacknowledged re-sends it once per connection that takes it, never more than
/// `messages_written`.
#[test]
fn a_resend_counts_when_it_is_written() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(1);
        // Accepts sessions and reads nothing: nothing is ever acknowledged.
        let server = async {
            let mut held = Vec::new();
            for _ in 0..7 {
                let (stream, _) = listener.accept().await.unwrap();
                held.push(sessions.accept(stream).await.unwrap());
            }
            held
        };
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
            peer.send(numbered(0)).await.unwrap();
            peer.flush().await.unwrap();
            for _ in 0..5 {
                peer.reconnect().await.unwrap();
            }
            let m = peer.metrics();
            assert!(m.messages_resent <= m.messages_written, "{m:?}");
            peer.reconnect().await.unwrap();
            peer.flush().await.unwrap();
            let m = peer.metrics();
            assert!(m.messages_resent <= m.messages_written, "{m:?}");
            assert_eq!(m.messages_resent + 1, m.messages_written, "{m:?}");
            peer.close().await;
        };
        let (_held, ()) = futures::join!(server, client);
    });
}

/// A message sent unreliably keeps its place behind the messages queued before it, even
/// while disconnected (they are framed first).
#[test]
fn an_unreliable_message_keeps_its_place_behind_queued_ones() {
    run_sim(exact_network(), |net| async move {
        let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
        peer.send(numbered(0)).await.unwrap();
        peer.send(numbered(1)).await.unwrap();
        peer.send_unreliable(numbered(2)).await.unwrap();
        peer.send(numbered(3)).await.unwrap();
        let listener = net.server.bind(&net.addr).await.unwrap();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = SessionServer::new(1).accept(stream).await.unwrap();
            let mut seen = Vec::new();
            while let Ok(Some(message)) = conn.recv().await {
                seen.push(message);
            }
            seen
        };
        let client = async {
            peer.flush().await.unwrap();
            peer.close().await;
        };
        let (seen, ()) = futures::join!(server, client);
        assert_eq!(seen, (0..4).map(numbered).collect::<Vec<_>>());
    });
}

/// The server's byte cap counts only what the Peer has not acknowledged: a 3,000-byte
/// message acknowledged frees its 3,000 bytes, so of a 100-byte cap the 10 bytes still
/// unacknowledged leave room for exactly 90 one-byte messages more.
#[test]
fn an_acknowledgement_frees_its_bytes_at_the_server() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let limits = moonpool::peer::ServerLimits {
            max_buffered_bytes: 3_100,
            max_message_size: 3_000,
            max_unacknowledged: 10_000,
            ..Default::default()
        };
        let sessions = SessionServer::new(1).with_limits(limits).unwrap();
        let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
        let (accepted, connected) = futures::join!(
            async {
                let (stream, _) = listener.accept().await.unwrap();
                sessions.accept(stream).await.unwrap()
            },
            peer.reconnect()
        );
        connected.unwrap();
        let mut conn = accepted;
        conn.send(vec![1; 3_000]).await.unwrap();
        conn.feed(vec![2; 10]).unwrap();
        assert_eq!(peer.recv().await.unwrap().len(), 3_000);
        // The Peer acknowledges it while it waits for its own message's acknowledgement;
        // the server reads that while it waits for more.
        let clock = net.server.clock();
        let server = async {
            assert_eq!(conn.recv().await.unwrap().unwrap(), b"go");
            let _ = clock.timeout(Duration::from_millis(100), conn.recv()).await;
        };
        let client = async {
            peer.send(b"go".to_vec()).await.unwrap();
            peer.wait_acknowledged().await.unwrap();
        };
        futures::join!(server, client);
        assert_eq!(conn.stats().acknowledged, 1, "{:?}", conn.stats());
        let mut fed = 0;
        while conn.feed(vec![3]).is_ok() {
            fed += 1;
            assert!(fed <= 4_000, "the cap never came");
        }
        assert_eq!(fed, 3_100 - 10);
    });
}

/// A reply a handler sends on a connection a newer one took over (the Peer reconnected while
/// the handler worked) is not lost: `send` says the connection was superseded, and the newer
/// connection writes the reply, once, and at once, whether it starts receiving after the
/// reply was given or was already waiting in another task.
#[test]
fn a_reply_sent_on_a_superseded_connection_reaches_the_peer() {
    for already_waiting in [false, true] {
        let world = moonpool::SimWorld::with_config(1, exact_network()).unwrap();
        let (server_net, client_net) = (world.provider("10.0.0.1"), world.provider("10.0.0.2"));
        let addr = "10.0.0.1:4500";
        let (got_request, request_seen) = futures::channel::oneshot::channel();
        let spawner = world.clone();
        let server = async move {
            let listener = server_net.bind(addr).await.unwrap();
            let sessions = SessionServer::new(1);
            let (stream, _) = listener.accept().await.unwrap();
            let mut old = sessions.accept(stream).await.unwrap();
            assert_eq!(old.recv().await.unwrap().unwrap(), b"req");
            got_request.send(()).unwrap();
            // The handler works; meanwhile the Peer moves to a new connection, served by its
            // own task.
            let (stream, _) = listener.accept().await.unwrap();
            let mut new = sessions.accept(stream).await.unwrap();
            assert!(new.resumed());
            let clock = server_net.clock();
            let serve = spawner.spawn("new connection", async move {
                if !already_waiting {
                    clock.sleep(Duration::from_millis(400)).await;
                }
                while let Ok(Some(_)) = new.recv().await {}
                new.stats()
            });
            // Well after the reconnect's own messages, long before the Peer's next ping.
            server_net.clock().sleep(Duration::from_millis(300)).await;
            let error = old.send(b"reply".to_vec()).await.unwrap_err();
            assert!(matches!(error, SessionError::Superseded { .. }), "{error}");
            serve.await
        };
        let client = async move {
            let mut peer = Peer::new(
                client_net.clone(),
                addr.to_string(),
                config(Delivery::ExactlyOnce),
            );
            peer.send(b"req".to_vec()).await.unwrap();
            peer.flush().await.unwrap();
            request_seen.await.unwrap();
            peer.reconnect().await.unwrap();
            assert_eq!(peer.recv().await.unwrap(), b"reply");
            let at = client_net.clock().now();
            let expected = Duration::from_millis(if already_waiting { 300 } else { 400 });
            assert!(at < expected + Duration::from_millis(20), "reply at {at:?}");
            assert_eq!(peer.try_recv().unwrap(), None);
            let m = peer.metrics();
            assert_eq!((m.messages_received, m.duplicates_dropped), (1, 0), "{m:?}");
            peer.close().await;
        };
        let (stats, ()) = world
            .block_on(async { futures::join!(server, client) })
            .unwrap();
        assert_eq!(stats.received, 0, "the request was not delivered twice");
    }
}

/// The idle deadline counts from the Peer's last frame: a server that races `recv` against
/// a housekeeping timer (dropping the receive each tick) still finds a quiet Peer idle, at
/// the deadline.
#[test]
fn the_idle_deadline_counts_from_the_last_frame_not_each_receive() {
    use futures::FutureExt;
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let limits = moonpool::peer::ServerLimits {
            idle_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let sessions = SessionServer::for_provider(&net.server)
            .with_limits(limits)
            .unwrap();
        let clock = net.server.clock();
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = sessions.accept(stream).await.unwrap();
            loop {
                futures::select_biased! {
                    received = conn.recv().fuse() => match received {
                        Ok(Some(_)) => {}
                        other => return (other.map(|_| ()), clock.now()),
                    },
                    () = clock.sleep(Duration::from_millis(300)).fuse() => {}
                }
            }
        };
        let client = async {
            let mut peer = reliable_peer(&net, Delivery::AtLeastOnce);
            peer.send(b"hello".to_vec()).await.unwrap();
            peer.flush().await.unwrap();
            let heard = net.client.clock().now();
            // Then quiet: nobody awaits the Peer, so it sends nothing, not even pings.
            net.client.clock().sleep(Duration::from_secs(10)).await;
            (peer, heard)
        };
        let ((result, at), (_peer, heard)) = futures::join!(server, client);
        assert!(
            matches!(result, Err(SessionError::Idle { .. })),
            "{result:?}"
        );
        let quiet = at - heard;
        assert!(
            quiet >= Duration::from_secs(2) && quiet < Duration::from_millis(2100),
            "idle after {quiet:?} of quiet"
        );
    });
}

/// Unacknowledged messages count against the queue caps until their acknowledgement.
#[test]
fn unacknowledged_messages_count_against_the_queue() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(1);
        let peer_config = PeerConfig {
            max_queue_size: 4,
            ..config(Delivery::ExactlyOnce)
        };
        let mut peer = Peer::new(net.client.clone(), net.addr.clone(), peer_config);
        let (accepted, connected) = futures::join!(
            async {
                let (stream, _) = listener.accept().await.unwrap();
                sessions.accept(stream).await.unwrap()
            },
            peer.reconnect()
        );
        connected.unwrap();
        let mut conn = accepted;
        for i in 0..3 {
            peer.send(numbered(i)).await.unwrap();
        }
        peer.flush().await.unwrap();
        assert_eq!(peer.queue_size(), 3, "written, not acknowledged");
        let server = async {
            for _ in 0..3 {
                conn.recv().await.unwrap().unwrap();
            }
            conn.flush().await.unwrap();
            conn
        };
        let (_conn, acked) = futures::join!(server, peer.wait_acknowledged());
        acked.unwrap();
        assert_eq!(peer.queue_size(), 0);
        assert_eq!(peer.metrics().messages_acknowledged, 3);
    });
}

/// A session id is 128 bits drawn from the provider's seed: different seeds give different
/// ids, in both halves, and the same seed the same id.
#[test]
fn session_ids_use_all_128_bits_of_their_seed() {
    let id = |seed: u64| {
        let world = moonpool::SimWorld::new(seed);
        Peer::new(
            world.provider("10.0.0.2"),
            "10.0.0.1:4500".into(),
            PeerConfig::default(),
        )
        .session_id()
    };
    let ids: Vec<u128> = (1..=8).map(id).collect();
    let mut high: Vec<u64> = ids.iter().map(|id| (id >> 64) as u64).collect();
    let mut low: Vec<u64> = ids.iter().map(|id| *id as u64).collect();
    high.sort_unstable();
    high.dedup();
    low.sort_unstable();
    low.dedup();
    assert_eq!((high.len(), low.len()), (8, 8), "{ids:x?}");
    assert_eq!(id(3), ids[2]);
}

/// In the reliable modes the session header (a kind byte and a sequence number) shares the
/// codec's frame: the largest message `send` takes is the codec's maximum less the header.
#[test]
fn the_session_header_counts_against_the_codec_maximum() {
    run_sim(exact_network(), |net| async move {
        for (delivery, max) in [
            (Delivery::Unreliable, 100),
            (Delivery::AtLeastOnce, 91),
            (Delivery::ExactlyOnce, 91),
        ] {
            let codec = LengthChecksumCodec::new(100);
            let mut peer = Peer::with_codec(
                net.client.clone(),
                net.addr.clone(),
                config(delivery),
                codec,
            );
            let error = peer.send(vec![0; max + 1]).await.unwrap_err();
            assert!(
                matches!(error, PeerError::MessageTooLarge { max: m, .. } if m == max),
                "{delivery:?}: {error}"
            );
            peer.send(vec![0; max]).await.unwrap();
        }
    });
}

/// The default overflow policy follows the delivery mode: a full queue drops the oldest
/// message in unreliable mode, and refuses the new one (handing it back) in the reliable
/// modes, so a caller who asked for a guarantee hears of every message it will not get.
#[test]
fn the_default_overflow_policy_refuses_in_the_reliable_modes() {
    run_sim(exact_network(), |net| async move {
        assert_eq!(
            PeerConfig::default().overflow_policy,
            OverflowPolicy::ByDelivery
        );
        for delivery in [
            Delivery::Unreliable,
            Delivery::AtLeastOnce,
            Delivery::ExactlyOnce,
        ] {
            let peer_config = PeerConfig {
                max_queue_size: 2,
                ..config(delivery)
            };
            // Nothing listens: every message stays queued.
            let mut peer = Peer::new(net.client.clone(), net.addr.clone(), peer_config);
            for i in 0..2 {
                peer.send(numbered(i)).await.unwrap();
            }
            let third = peer.send(numbered(2)).await;
            let m = peer.metrics();
            if delivery.is_reliable() {
                match third {
                    Err(PeerError::QueueFull { message, .. }) => assert_eq!(message, numbered(2)),
                    other => panic!("{delivery:?}: {other:?}"),
                }
                assert_eq!((m.messages_dropped, m.messages_rejected), (0, 1));
            } else {
                third.unwrap();
                assert_eq!((m.messages_dropped, m.messages_rejected), (1, 0));
            }
            assert_eq!(peer.queue_size(), 2, "{delivery:?}");
        }
    });
}

/// A second hello in the middle of a session breaks the protocol, and the error says so.
#[test]
fn a_hello_mid_session_is_a_protocol_error() {
    run_sim(exact_network(), |net| async move {
        let answer = |hello: &[u8]| hello_reply(hello, 7, false).repeat(2);
        first_receive_breaks_the_protocol(&net, answer, "a hello mid-session")
            .await
            .close()
            .await;
    });
}

/// Messages the server received but had not acknowledged when the connection broke are
/// acknowledged by its hello on the next connection, and counted so.
#[test]
fn a_resumed_session_acknowledges_what_the_server_had() {
    run_sim(exact_network(), |net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let sessions = SessionServer::new(1);
        let mut peer = reliable_peer(&net, Delivery::ExactlyOnce);
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = sessions.accept(stream).await.unwrap();
            for _ in 0..3 {
                conn.recv().await.unwrap().unwrap();
            }
            // Dropped without acknowledging (no flush).
        };
        let client = async {
            peer.reconnect().await.unwrap();
            for i in 0..3 {
                peer.send(numbered(i)).await.unwrap();
            }
            peer.flush().await.unwrap();
        };
        futures::join!(server, client);
        assert_eq!(peer.metrics().messages_acknowledged, 0);
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            sessions.accept(stream).await.unwrap()
        };
        let (_conn, reconnected) = futures::join!(server, peer.reconnect());
        reconnected.unwrap();
        let m = peer.metrics();
        assert_eq!(
            (m.messages_acknowledged, m.messages_resent),
            (3, 0),
            "{m:?}"
        );
        assert_eq!(peer.queue_size(), 0);
    });
}
