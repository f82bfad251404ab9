//! The accept side against a hostile client, in the simulator (virtual time, one seed): for
//! each of `ServerLimits`' limits a misbehaving client on the same server as three
//! well-behaved exactly-once Peers, which lose nothing and finish within a stated bound of
//! the time they take with no attacker. One test runs the handshake deadline on real loopback.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use moonpool::peer::{
    Codec, Delivery, FramedStream, LengthChecksumCodec, Peer, PeerConfig, PeerError, Refusal,
    ServerLimits, SessionError, SessionServer, SessionStats, PROTOCOL_VERSION,
};
use moonpool::{Clock, Listener, NetworkProvider, SimNetworkProvider, SimWorld};

mod common;
use common::peer::{exact_network, numbered};

/// Records the largest allocation made on the current thread while `TRACKING` is set.
struct Largest;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; the thread-locals are const-initialized
// `Cell`s without destructors, so touching them does not allocate.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    let _ = TRACKING.try_with(|tracking| {
        if tracking.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

const ADDR: &str = "10.0.0.1:4500";
const PEERS: usize = 3;
const MESSAGES: usize = 40;
/// Messages per round of a well-behaved Peer, and its pause between rounds.
const ROUND: usize = 5;
const PAUSE: Duration = Duration::from_millis(20);

/// The server's limits in these tests: small, so an attacker reaches them quickly.
fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 8,
        max_sessions: 8,
        max_sessions_per_identity: 8,
        max_message_size: 4096,
        max_unacknowledged: 64,
        max_buffered_bytes: 16 << 10,
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(1),
    }
}

fn peer_config() -> PeerConfig {
    PeerConfig {
        delivery: Delivery::ExactlyOnce,
        initial_reconnect_delay: Duration::from_millis(10),
        max_reconnect_delay: Duration::from_millis(80),
        connection_timeout: Duration::from_secs(2),
        stable_connection_time: Duration::ZERO,
        ..PeerConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Attack {
    /// Opens `n` connections at once and says nothing on them; counts those closed.
    ConnectionFlood(usize),
    /// Opens `n` sessions one after another, each with a new id, closing each.
    SessionFlood(usize),
    /// A frame header announcing 4 GiB, then silence.
    HugeFrameHeader,
    /// Connects and says nothing.
    Silent,
    /// Sends a valid hello one byte per interval.
    Trickle(Duration),
    /// Completes a handshake, then sends messages and never reads the echoes.
    BufferFlood,
    /// Presents the first well-behaved Peer's session id.
    StolenSession,
}

/// What the server saw go wrong, with the virtual time.
type Errors = Rc<RefCell<Vec<(Duration, SessionError)>>>;

struct Outcome {
    /// When the last well-behaved Peer had all its echoes.
    finished: Duration,
    errors: Vec<(Duration, SessionError)>,
    /// What the attacker observed (a reject's reason, say).
    attacker: Option<Vec<u8>>,
    sessions_at_end: usize,
}

/// The identity a server grants a connection in these tests: the client's IP (what a TLS
/// provider's certificate fingerprint would be).
fn identity(remote: &str) -> Vec<u8> {
    remote.rsplit_once(':').map_or(remote, |(ip, _)| ip).into()
}

/// Accepts forever; each connection echoes in its own task; errors are recorded.
async fn serve(
    world: moonpool::WeakSimWorld,
    net: SimNetworkProvider,
    sessions: SessionServer<moonpool::SimClock>,
    errors: Errors,
) {
    let listener = net.bind(ADDR).await.expect("bind");
    let clock = net.clock();
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            return;
        };
        let (sessions, errors, clock) = (sessions.clone(), Rc::clone(&errors), clock.clone());
        let task = async move {
            let record = |error| errors.borrow_mut().push((clock.now(), error));
            let mut conn = match sessions
                .accept_with_identity(stream, Some(&identity(&remote)))
                .await
            {
                Ok(conn) => conn,
                Err(error) => return record(error),
            };
            loop {
                match conn.recv().await {
                    Ok(Some(message)) => {
                        if let Err(error) = conn.send(message).await {
                            return record(error);
                        }
                    }
                    Ok(None) => return,
                    Err(error) => return record(error),
                }
            }
        };
        world.upgrade().expect("world").spawn("conn", task);
    }
}

/// One well-behaved Peer: sends its messages, waits for their acknowledgement, receives the
/// echoes; retries through whatever the attacker causes. Returns its metrics' losses.
async fn well_behaved(net: SimNetworkProvider, me: usize, id: Rc<Cell<Option<u128>>>) -> u64 {
    let clock = net.clock();
    clock.sleep(Duration::from_millis(5)).await;
    let mut peer = Peer::new(net, ADDR.into(), peer_config());
    if me == 0 {
        id.set(Some(peer.session_id()));
    }
    let sent: Vec<_> = (0..MESSAGES).map(|i| numbered(me * 1000 + i)).collect();
    let mut echoes = Vec::new();
    let mut tries = 0;
    let mut retry = |error: PeerError| {
        assert!(error.is_disconnect(), "{error}");
        tries += 1;
        assert!(tries < 500, "no progress: {error}");
    };
    // Rounds of a few messages, a pause between: the workload spans the attacks.
    for round in sent.chunks(ROUND) {
        for message in round {
            peer.send(message.clone()).await.expect("queued");
        }
        while let Err(error) = peer.wait_acknowledged().await {
            retry(error);
        }
        let target = echoes.len() + round.len();
        while echoes.len() < target {
            match peer.recv().await {
                Ok(echo) => echoes.push(echo),
                Err(error) => retry(error),
            }
        }
        clock.sleep(PAUSE).await;
    }
    assert_eq!(echoes, sent, "peer {me}: every echo once, in order");
    let m = peer.metrics();
    assert_eq!(m.session_restarts, 0, "peer {me} kept its session");
    peer.close().await;
    m.messages_lost + m.messages_possibly_lost
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    LengthChecksumCodec::new(1 << 16)
        .encode(payload, &mut out)
        .expect("encodable");
    out
}

/// A hello frame as a Peer of this version sends it.
fn hello(session: u128, instance: u64) -> Vec<u8> {
    let mut payload = b"Hmpsp".to_vec();
    payload.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    payload.extend_from_slice(&session.to_le_bytes());
    for value in [instance, 0, 0] {
        payload.extend_from_slice(&value.to_le_bytes());
    }
    payload.push(0);
    frame(&payload)
}

fn data(seq: u64, message: &[u8]) -> Vec<u8> {
    let mut payload = vec![b'D'];
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend_from_slice(message);
    frame(&payload)
}

async fn attack(net: SimNetworkProvider, attack: Attack, id: Rc<Cell<Option<u128>>>) -> Vec<u8> {
    let clock = net.clock();
    match attack {
        Attack::ConnectionFlood(n) => {
            let connects = (0..n).map(|_| net.connect(ADDR));
            let mut held: Vec<_> = futures::future::join_all(connects)
                .await
                .into_iter()
                .map(|stream| stream.expect("connect"))
                .collect();
            // Hold them past the handshake deadline, reading whatever comes.
            // After the Peers arrived: count the connections the server closed.
            clock.sleep(Duration::from_millis(10)).await;
            let mut closed = 0u8;
            for stream in &mut held {
                let mut buf = [0; 64];
                if let Ok(Ok(0)) = clock
                    .timeout(Duration::from_millis(1), stream.read(&mut buf))
                    .await
                {
                    closed += 1;
                }
            }
            clock.sleep(Duration::from_secs(5)).await;
            vec![closed]
        }
        Attack::SessionFlood(n) => {
            clock.sleep(Duration::from_millis(20)).await;
            let mut answers = Vec::new();
            for i in 0..n {
                let mut stream = FramedStream::new(net.connect(ADDR).await.expect("connect"));
                stream
                    .get_mut()
                    .write_all(&hello(1 << 100 | i as u128, 7))
                    .await
                    .expect("write");
                let reply = stream.recv().await.ok().flatten().unwrap_or_default();
                answers.push(reply.first().copied().unwrap_or(0));
                stream.close().await.ok();
            }
            answers
        }
        Attack::HugeFrameHeader => {
            let mut stream = net.connect(ADDR).await.expect("connect");
            stream
                .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
                .await
                .expect("write");
            let mut buf = [0; 16];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            buf[..n].to_vec()
        }
        Attack::Silent => {
            let mut stream = net.connect(ADDR).await.expect("connect");
            let mut buf = [0; 16];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            buf[..n].to_vec()
        }
        Attack::Trickle(every) => {
            let mut stream = net.connect(ADDR).await.expect("connect");
            for byte in hello(99, 99) {
                if stream.write_all(&[byte]).await.is_err() {
                    break;
                }
                clock.sleep(every).await;
            }
            Vec::new()
        }
        Attack::BufferFlood => {
            let mut stream = net.connect(ADDR).await.expect("connect");
            stream.write_all(&hello(5, 5)).await.expect("write");
            let mut sent = 0u32;
            for seq in 0..2_000 {
                let frame = data(seq, &[7; 1024]);
                let write = clock.timeout(Duration::from_secs(1), stream.write_all(&frame));
                match write.await {
                    Ok(Ok(())) => sent += 1,
                    _ => break,
                }
            }
            sent.to_le_bytes().to_vec()
        }
        Attack::StolenSession => {
            clock.sleep(Duration::from_millis(20)).await;
            let stolen = id.get().expect("the victim's id");
            let mut stream = FramedStream::new(net.connect(ADDR).await.expect("connect"));
            stream
                .get_mut()
                .write_all(&hello(stolen, 12345))
                .await
                .expect("write");
            stream.recv().await.ok().flatten().unwrap_or_default()
        }
    }
}

/// Starts the echoing server at `10.0.0.1` under `limits`; its sessions and recorded errors.
fn start_server(
    world: &SimWorld,
    limits: ServerLimits,
) -> (SessionServer<moonpool::SimClock>, Errors) {
    let server_net = world.provider("10.0.0.1");
    let errors: Errors = Rc::default();
    let sessions = SessionServer::for_provider(&server_net)
        .with_limits(limits)
        .expect("valid limits");
    let server = serve(
        world.downgrade(),
        server_net,
        sessions.clone(),
        Rc::clone(&errors),
    );
    world.spawn("server", server);
    (sessions, errors)
}

fn run(attacker: Option<Attack>) -> Outcome {
    let world = SimWorld::with_config(7, exact_network()).expect("config");
    let (sessions, errors) = start_server(&world, limits());
    let id = Rc::new(Cell::new(None));
    let attacked = attacker.map(|a| {
        world.spawn(
            "attacker",
            attack(world.provider("10.0.0.66"), a, Rc::clone(&id)),
        )
    });
    let clients: Vec<_> = (0..PEERS)
        .map(|me| {
            well_behaved(
                world.provider(&format!("10.0.0.{}", 10 + me)),
                me,
                Rc::clone(&id),
            )
        })
        .collect();
    let clock = world.clock();
    let (lost, finished, attacker) = world
        .block_on(async move {
            let lost: u64 = futures::future::join_all(clients).await.into_iter().sum();
            let finished = clock.now();
            let attacker = match attacked {
                Some(handle) => Some(handle.await),
                None => None,
            };
            (lost, finished, attacker)
        })
        .expect("the simulation completes");
    assert_eq!(lost, 0, "well-behaved Peers lose nothing");
    let errors = std::mem::take(&mut *errors.borrow_mut());
    Outcome {
        finished,
        errors,
        attacker,
        sessions_at_end: sessions.sessions(),
    }
}

fn baseline() -> Duration {
    run(None).finished
}

/// Asserts the attack cost the well-behaved Peers at most `bound` of virtual time.
fn slowed_by_at_most(outcome: &Outcome, bound: Duration) {
    let base = baseline();
    assert!(
        outcome.finished <= base + bound,
        "finished at {:?}, {:?} without the attacker: slowed by more than {bound:?}",
        outcome.finished,
        base
    );
}

#[test]
fn smoke_well_behaved_peers_alone() {
    let outcome = run(None);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(
        outcome.finished < Duration::from_secs(1),
        "{:?}",
        outcome.finished
    );
    // The same seed, the same run.
    assert_eq!(run(None).finished, outcome.finished);
}

#[test]
fn invalid_limits_are_typed_errors() {
    let cases = [
        ServerLimits {
            max_connections: 0,
            ..limits()
        },
        ServerLimits {
            max_sessions: 0,
            ..limits()
        },
        ServerLimits {
            max_sessions_per_identity: 0,
            ..limits()
        },
        ServerLimits {
            max_message_size: 0,
            ..limits()
        },
        ServerLimits {
            max_buffered_bytes: 100,
            ..limits()
        },
        ServerLimits {
            handshake_timeout: Duration::ZERO,
            ..limits()
        },
        ServerLimits {
            write_timeout: Duration::ZERO,
            ..limits()
        },
    ];
    for bad in cases {
        let error = SessionServer::new(1).with_limits(bad).unwrap_err();
        assert!(
            matches!(error, SessionError::InvalidConfig { .. }),
            "{error}"
        );
    }
    assert_eq!(ServerLimits::default().validate().ok(), Some(()));
}

#[test]
fn a_connection_flood_gives_way_to_peers_and_is_dropped_at_the_deadline() {
    let outcome = run(Some(Attack::ConnectionFlood(20)));
    let count =
        |what: fn(&SessionError) -> bool| outcome.errors.iter().filter(|(_, e)| what(e)).count();
    let displaced = count(|e| matches!(e, SessionError::Displaced { max: 8 }));
    let timed_out = count(|e| matches!(e, SessionError::HandshakeTimeout { .. }));
    // 20 silent connections for 8 places: each newcomer displaced the oldest still in its
    // handshake (12 of the flood's own, then one per Peer), and the rest met the deadline.
    assert_eq!(displaced, 12 + PEERS, "{:?}", outcome.errors);
    assert_eq!(timed_out, 8 - PEERS, "{:?}", outcome.errors);
    assert_eq!(outcome.errors.len(), displaced + timed_out);
    assert_eq!(outcome.attacker.clone().unwrap(), [15]);
    // The Peers never waited for the flood.
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

#[test]
fn a_session_flood_evicts_only_sessions_without_a_connection() {
    let outcome = run(Some(Attack::SessionFlood(30)));
    let answers = outcome.attacker.clone().unwrap();
    // Each got a session (evicting the flood's own idle ones), none a well-behaved Peer's.
    assert_eq!(answers, vec![b'H'; 30]);
    assert!(outcome.sessions_at_end <= limits().max_sessions);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

#[test]
fn a_full_table_of_connected_sessions_refuses_a_newcomer_as_busy() {
    let world = SimWorld::with_config(3, exact_network()).expect("config");
    let server_net = world.provider("10.0.0.1");
    let client_net = world.provider("10.0.0.2");
    let sessions = SessionServer::for_provider(&server_net).max_sessions(1);
    let (server_error, peer_error, held) = world
        .block_on(async move {
            let listener = server_net.bind(ADDR).await.unwrap();
            let mut first = Peer::new(client_net.clone(), ADDR.into(), peer_config());
            let mut second = Peer::new(client_net, ADDR.into(), peer_config());
            first.send(b"one".to_vec()).await.unwrap();
            second.send(b"two".to_vec()).await.unwrap();
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions.accept(stream).await.unwrap();
                assert_eq!(conn.recv().await.unwrap(), Some(b"one".to_vec()));
                conn.flush().await.unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let error = sessions.accept(stream).await.unwrap_err();
                (error, conn)
            };
            let clients = async {
                first.wait_acknowledged().await.unwrap();
                second.flush().await.unwrap_err()
            };
            let ((server_error, conn), peer_error) = futures::join!(server, clients);
            (server_error, peer_error, conn.session())
        })
        .unwrap();
    assert!(
        matches!(server_error, SessionError::TooManySessions { max: 1 }),
        "{server_error}"
    );
    assert!(
        matches!(
            peer_error,
            PeerError::Refused {
                reason: Refusal::Busy,
                ..
            }
        ),
        "{peer_error}"
    );
    assert!(
        peer_error
            .to_string()
            .ends_with("the server is at its connection or session limit"),
        "{peer_error}"
    );
    assert_ne!(held, 0);
}

#[test]
fn a_huge_frame_header_is_refused_from_the_header_alone() {
    let outcome = run(Some(Attack::HugeFrameHeader));
    let [(at, error)] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors)
    };
    assert!(matches!(error, SessionError::Handshake { .. }), "{error}");
    // At once: not waiting for 4 GiB, nor for the deadline.
    assert!(*at < Duration::from_millis(10), "{at:?}");
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

/// An exact network with a session server on `10.0.0.1` (the test limits) and a client
/// host `10.0.0.2`: the world, the client's provider, the server and its listener.
fn session_world() -> (
    SimWorld,
    SimNetworkProvider,
    SessionServer<moonpool::SimClock>,
    moonpool::SimTcpListener,
) {
    let world = SimWorld::with_config(5, exact_network()).expect("config");
    let server_net = world.provider("10.0.0.1");
    let sessions = SessionServer::for_provider(&server_net)
        .with_limits(limits())
        .unwrap();
    let listener = world.block_on(server_net.bind(ADDR)).unwrap().unwrap();
    let client_net = world.provider("10.0.0.2");
    (world, client_net, sessions, listener)
}

/// The frame header is checked before anything is allocated for the payload: a server
/// meeting a header that announces 4 GiB makes no allocation larger than its read buffer.
#[test]
fn a_huge_frame_header_allocates_nothing_for_its_payload() {
    let (world, client_net, sessions, listener) = session_world();
    let error = world
        .block_on(async move {
            let client = async {
                let mut stream = client_net.connect(ADDR).await.unwrap();
                stream
                    .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
                    .await
                    .unwrap();
                stream
            };
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                TRACKING.with(|t| t.set(true));
                let error = sessions.accept(stream).await.err();
                TRACKING.with(|t| t.set(false));
                error
            };
            futures::join!(client, server).1
        })
        .unwrap();
    assert!(
        matches!(error, Some(SessionError::Handshake { .. })),
        "{error:?}"
    );
    let largest = LARGEST.with(Cell::get);
    assert!(largest > 0, "the allocator recorded the handshake");
    // A read chunk (2 KiB, growing as reads fill it) and a frame of the 4 KiB limit, far
    // from 4 GiB.
    assert!(largest <= 64 << 10, "an allocation of {largest} bytes");
}

/// A session whose client, once the handshake is done and the server waits for a frame,
/// writes `bytes` in one segment: what the server's first `receives` calls return, then the
/// error of the next.
/// What a session did with the bytes [`session_fed`] wrote: the messages its `recv`s returned,
/// the error of the next `recv` if any, and its statistics then.
type Fed = (Vec<Option<Vec<u8>>>, Option<SessionError>, SessionStats);

fn session_fed(bytes: Vec<u8>, receives: usize) -> Fed {
    let (world, client_net, sessions, listener) = session_world();
    let clock = world.clock();
    world
        .block_on(async move {
            let client = async {
                let mut stream = FramedStream::new(client_net.connect(ADDR).await.unwrap());
                stream.get_mut().write_all(&hello(77, 1)).await.unwrap();
                let reply = stream.recv().await.unwrap().expect("the server's hello");
                assert_eq!(reply.first(), Some(&b'H'));
                // The server now waits for a frame.
                clock.sleep(Duration::from_millis(10)).await;
                stream.get_mut().write_all(&bytes).await.unwrap();
                stream
            };
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions.accept(stream).await.expect("a session");
                let mut received = Vec::new();
                for _ in 0..receives {
                    received.push(conn.recv().await.unwrap());
                }
                let error = conn.recv().await.err();
                (received, error, conn.stats())
            };
            futures::join!(client, server).1
        })
        .unwrap()
}

/// A 4 GiB frame header, over the size limit.
const HUGE_HEADER: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// Mid-session, a frame header over the size limit that arrives while the session waits is
/// a protocol error (the connection should be dropped), not an I/O failure.
#[test]
fn a_huge_frame_header_mid_session_is_a_protocol_error() {
    let (_, error, _) = session_fed(HUGE_HEADER.to_vec(), 0);
    assert!(
        matches!(error, Some(SessionError::Protocol { .. })),
        "{error:?}"
    );
}

/// A bad frame already buffered behind a message (a 4 GiB header in the same segment) is a
/// protocol error, as one found by a fresh read is (it was reported as `Io`, which says the
/// session survives).
#[test]
fn a_huge_frame_header_behind_a_message_is_a_protocol_error() {
    let mut bytes = data(0, b"x");
    bytes.extend_from_slice(&HUGE_HEADER);
    let (received, error, _) = session_fed(bytes, 1);
    assert_eq!(received, [Some(b"x".to_vec())]);
    assert!(
        matches!(error, Some(SessionError::Protocol { .. })),
        "{error:?}"
    );
}

/// A message whose sequence number the session already received is dropped and counted, and
/// the session goes on.
#[test]
fn a_repeated_message_is_dropped_and_counted() {
    let bytes = [data(0, b"a"), data(0, b"a"), data(1, b"b"), data(0, b"a")].concat();
    let (received, error, stats) = session_fed(bytes, 2);
    assert_eq!(received, [Some(b"a".to_vec()), Some(b"b".to_vec())]);
    // The last repeat is dropped too: the session then waits for more, until its idle limit.
    assert!(
        matches!(error, Some(SessionError::Idle { .. })),
        "{error:?}"
    );
    assert_eq!((stats.received, stats.duplicates_dropped), (2, 2));
}

/// A message numbered `u64::MAX` (no number could follow it) is a protocol error of the
/// session, not an overflow: before it, the session delivers as usual.
#[test]
fn a_message_numbered_past_the_last_number_is_a_protocol_error() {
    let bytes = [data(1, b"a"), data(u64::MAX, b"boom"), data(1, b"a")].concat();
    let (received, error, stats) = session_fed(bytes, 1);
    assert_eq!(received, [Some(b"a".to_vec())]);
    let error = error.expect("the bad number ends the session's connection");
    assert!(matches!(error, SessionError::Protocol { .. }), "{error}");
    assert!(
        error.to_string().contains("past the last number"),
        "{error}"
    );
    assert_eq!((stats.received, stats.duplicates_dropped), (1, 0));
}

#[test]
fn a_silent_client_is_dropped_at_the_handshake_deadline() {
    let outcome = run(Some(Attack::Silent));
    let [(at, error)] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors)
    };
    assert!(
        matches!(error, SessionError::HandshakeTimeout { timeout } if *timeout == limits().handshake_timeout),
        "{error}"
    );
    let deadline = limits().handshake_timeout;
    assert!(
        *at >= deadline && *at < deadline + Duration::from_millis(10),
        "{at:?}"
    );
    assert_eq!(
        outcome.attacker.clone().unwrap(),
        b"",
        "the attacker saw its connection end"
    );
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

#[test]
fn a_trickled_hello_is_dropped_at_the_handshake_deadline() {
    // A byte every 100 ms (each read is quick, the whole is not) and a byte a minute.
    for every in [Duration::from_millis(100), Duration::from_secs(60)] {
        let outcome = run(Some(Attack::Trickle(every)));
        let [(at, error)] = &outcome.errors[..] else {
            panic!("{:?}", outcome.errors)
        };
        assert!(
            matches!(error, SessionError::HandshakeTimeout { .. }),
            "{error}"
        );
        let deadline = limits().handshake_timeout;
        assert!(
            *at >= deadline && *at < deadline + Duration::from_millis(10),
            "{at:?}"
        );
        slowed_by_at_most(&outcome, Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_never_reads_is_held_to_the_buffer_limit() {
    let outcome = run(Some(Attack::BufferFlood));
    let [(at, error)] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors)
    };
    assert!(
        matches!(error, SessionError::Backlog { max_bytes, .. } if *max_bytes == limits().max_buffered_bytes)
            || matches!(error, SessionError::WriteStalled { .. }),
        "{error}"
    );
    assert!(
        *at < limits().write_timeout + Duration::from_millis(100),
        "{at:?}"
    );
    let sent = u32::from_le_bytes(outcome.attacker.clone().unwrap().try_into().unwrap());
    assert!(
        sent < 2_000,
        "the connection was dropped mid-flood ({sent} sent)"
    );
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

#[test]
fn a_stolen_session_id_is_refused_and_the_session_untouched() {
    let outcome = run(Some(Attack::StolenSession));
    let [(_, error)] = &outcome.errors[..] else {
        panic!("{:?}", outcome.errors)
    };
    assert!(
        matches!(error, SessionError::SessionTaken { .. }),
        "{error}"
    );
    // A reject on the wire: magic, our version, reason 1 (session taken).
    let reject = outcome.attacker.clone().unwrap();
    assert_eq!(&reject[..5], b"Rmpsp");
    assert_eq!(reject[5..7], PROTOCOL_VERSION.to_le_bytes());
    assert_eq!(reject[7], 1);
    // The victim lost nothing and kept its session (asserted in `well_behaved`).
    slowed_by_at_most(&outcome, Duration::from_millis(50));
}

/// A session opened under one client identity, presented again under another (a server that
/// sees the client's certificate change): refused on the wire and a typed error at the Peer;
/// the session stays, and the first identity resumes it.
#[test]
fn a_session_under_another_identity_is_refused_at_the_peer() {
    let world = SimWorld::with_config(9, exact_network()).expect("config");
    let server_net = world.provider("10.0.0.1");
    let client_net = world.provider("10.0.0.2");
    let sessions = SessionServer::for_provider(&server_net);
    let (refused, peer_error, resumed) = world
        .block_on(async move {
            let listener = server_net.bind(ADDR).await.unwrap();
            let mut peer = Peer::new(client_net, ADDR.into(), peer_config());
            peer.send(b"one".to_vec()).await.unwrap();
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions
                    .accept_with_identity(stream, Some(b"alice"))
                    .await
                    .unwrap();
                assert_eq!(conn.recv().await.unwrap(), Some(b"one".to_vec()));
                conn.flush().await.unwrap();
                drop(conn.into_inner());
                let (stream, _) = listener.accept().await.unwrap();
                let refused = sessions
                    .accept_with_identity(stream, Some(b"mallory"))
                    .await
                    .unwrap_err();
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions
                    .accept_with_identity(stream, Some(b"alice"))
                    .await
                    .unwrap();
                let resumed = conn.resumed();
                assert_eq!(conn.recv().await.unwrap(), Some(b"two".to_vec()));
                conn.flush().await.unwrap();
                (refused, resumed)
            };
            let client = async {
                peer.wait_acknowledged().await.unwrap();
                peer.send(b"two".to_vec()).await.unwrap();
                let mut error = None;
                while let Err(e) = peer.wait_acknowledged().await {
                    if matches!(e, PeerError::Refused { .. }) {
                        error = Some(e);
                    } else {
                        assert!(e.is_disconnect(), "{e}");
                    }
                }
                assert_eq!(peer.metrics().session_restarts, 0);
                peer.close().await;
                error
            };
            let ((refused, resumed), peer_error) = futures::join!(server, client);
            (refused, peer_error, resumed)
        })
        .unwrap();
    assert!(
        matches!(refused, SessionError::SessionTaken { .. }),
        "{refused}"
    );
    assert!(
        matches!(
            peer_error,
            Some(PeerError::Refused {
                reason: Refusal::SessionTaken,
                ..
            })
        ),
        "{peer_error:?}"
    );
    assert!(resumed, "the refusal left the session as it was");
}

/// Every place in a session: a newcomer is sent a busy reject and dropped unread; the session
/// carries on.
#[test]
fn a_connection_over_the_cap_of_sessions_in_progress_is_refused_as_busy() {
    let world = SimWorld::with_config(11, exact_network()).expect("config");
    let server_net = world.provider("10.0.0.1");
    let client_net = world.provider("10.0.0.2");
    let sessions = SessionServer::for_provider(&server_net)
        .with_limits(ServerLimits {
            max_connections: 1,
            ..limits()
        })
        .unwrap();
    let (error, reject) = world
        .block_on(async move {
            let listener = server_net.bind(ADDR).await.unwrap();
            let mut peer = Peer::new(client_net.clone(), ADDR.into(), peer_config());
            peer.send(b"one".to_vec()).await.unwrap();
            let server = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = sessions.accept(stream).await.unwrap();
                assert_eq!(conn.recv().await.unwrap(), Some(b"one".to_vec()));
                conn.flush().await.unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                let error = sessions.accept(stream).await.unwrap_err();
                assert_eq!(sessions.connections(), 1);
                conn.send(b"still here".to_vec()).await.unwrap();
                error
            };
            let client = async {
                peer.wait_acknowledged().await.unwrap();
                let mut other = FramedStream::new(client_net.connect(ADDR).await.unwrap());
                other.get_mut().write_all(&hello(3, 3)).await.unwrap();
                let reject = other.recv().await.unwrap().unwrap();
                assert_eq!(peer.recv().await.unwrap(), b"still here");
                peer.close().await;
                reject
            };
            futures::join!(server, client)
        })
        .unwrap();
    assert!(
        matches!(error, SessionError::TooManyConnections { max: 1 }),
        "{error}"
    );
    assert_eq!(&reject[..5], b"Rmpsp");
    assert_eq!(reject[7], 2, "reason: busy");
}

/// The same attack on the same seed gives the same run: the same errors at the same times.
#[test]
fn an_attacked_run_replays() {
    let render = |outcome: Outcome| {
        let errors: Vec<_> = outcome
            .errors
            .iter()
            .map(|(at, error)| format!("{at:?} {error}"))
            .collect();
        (outcome.finished, errors, outcome.attacker)
    };
    let first = render(run(Some(Attack::ConnectionFlood(20))));
    assert_eq!(render(run(Some(Attack::ConnectionFlood(20)))), first);
}

/// The deadlines run on the real clock too: a silent client on loopback is dropped at the
/// handshake deadline.
#[test]
fn a_silent_client_is_dropped_over_real_loopback() {
    common::peer::run_real(|net| async move {
        let listener = net.server.bind(&net.addr).await.unwrap();
        let timeout = Duration::from_millis(200);
        let sessions = SessionServer::for_provider(&net.server)
            .with_limits(ServerLimits {
                handshake_timeout: timeout,
                ..ServerLimits::default()
            })
            .unwrap();
        let clock = net.server.clock();
        let _silent = net.client.connect(&net.addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let start = clock.now();
        let error = sessions.accept(stream).await.unwrap_err();
        let waited = clock.now() - start;
        assert!(
            matches!(error, SessionError::HandshakeTimeout { .. }),
            "{error}"
        );
        assert!(
            waited >= timeout && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert_eq!(sessions.connections(), 0, "its place was given back");
    });
}

/// A client floods sessions, each carrying a message, while a well-behaved Peer is between
/// connections (quiet past the server's idle deadline, so its connection was dropped): the
/// server makes room from the flood's own sessions (a quota per client identity, then the
/// client holding the most), never the quiet Peer's, which resumes its session afterwards.
#[test]
fn a_flood_of_used_sessions_spares_a_peer_between_connections() {
    let world = SimWorld::with_config(11, exact_network()).expect("config");
    let caps = ServerLimits {
        max_sessions_per_identity: 4,
        ..limits()
    };
    let (sessions, errors) = start_server(&world, caps);
    let quiet = caps.idle_timeout + Duration::from_secs(5);
    let attacker_net = world.provider("10.0.0.66");
    let flood = world.spawn("attacker", async move {
        let clock = attacker_net.clock();
        // Once the server has dropped the quiet Peer's idle connection.
        clock
            .sleep(caps.idle_timeout + Duration::from_secs(1))
            .await;
        let mut echoed = 0;
        for i in 0..30 {
            let stream = attacker_net.connect(ADDR).await.expect("connect");
            let mut stream = FramedStream::new(stream);
            let mut bytes = hello(1 << 100 | i as u128, 7);
            bytes.extend(data(0, b"x"));
            stream.get_mut().write_all(&bytes).await.expect("write");
            // The server's hello, then (perhaps after an ack) the echo: the session was used.
            for _ in 0..4 {
                match stream.recv().await {
                    Ok(Some(frame)) if frame.first() == Some(&b'D') => {
                        echoed += 1;
                        break;
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            stream.close().await.ok();
        }
        echoed
    });
    let victim_net = world.provider("10.0.0.10");
    let clock = world.clock();
    let (restarts, echoes, echoed) = world
        .block_on(async move {
            let mut peer = Peer::new(victim_net, ADDR.into(), peer_config());
            let mut echoes = Vec::new();
            for message in [&b"before"[..], b"after"] {
                peer.send(message.to_vec()).await.expect("queued");
                for _ in 0..100 {
                    match peer.wait_acknowledged().await {
                        Ok(()) => break,
                        Err(error) => assert!(error.is_disconnect(), "{error}"),
                    }
                }
                for _ in 0..100 {
                    match peer.recv().await {
                        Ok(echo) => {
                            echoes.push(echo);
                            break;
                        }
                        Err(error) => assert!(error.is_disconnect(), "{error}"),
                    }
                }
                // Quiet past the idle deadline and through the flood.
                clock.sleep(quiet).await;
            }
            let restarts = peer.metrics().session_restarts;
            peer.close().await;
            (restarts, echoes, flood.await)
        })
        .expect("the simulation completes");
    assert_eq!(echoed, 30, "every flood session carried a message");
    assert_eq!(echoes, [b"before".to_vec(), b"after".to_vec()]);
    assert_eq!(restarts, 0, "the quiet Peer kept its session");
    assert!(
        errors
            .borrow()
            .iter()
            .any(|(_, error)| matches!(error, SessionError::Idle { .. })),
        "the quiet Peer's connection was dropped as idle: {:?}",
        errors.borrow()
    );
    assert!(sessions.sessions() <= caps.max_sessions);
}

/// The builder's `max_message_size` keeps a message and its 9-byte session header within the
/// 4-byte length of a frame, and at least one byte; what it sets passes `validate`.
#[test]
fn max_message_size_is_clamped_to_what_a_frame_can_carry() {
    let largest = SessionServer::new(1).max_message_size(usize::MAX).limits();
    assert_eq!(largest.max_message_size, u32::MAX as usize - 9);
    assert!(largest.max_buffered_bytes >= largest.max_message_size);
    assert_eq!(largest.validate().ok(), Some(()));
    let smallest = SessionServer::new(1).max_message_size(0).limits();
    assert_eq!(smallest.max_message_size, 1);
}
