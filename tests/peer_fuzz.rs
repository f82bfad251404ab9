//! Randomized Peer operations under a hostile simulated network: sends (some cancelled),
//! flushes, receives and reconnects with timeouts, against an echo server, checking after every
//! step that the queue stays within its caps and every message is accounted for, and at the end
//! that nothing arrived torn, twice or out of order. Each seed replays exactly.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moonpool::peer::{FramedStream, OverflowPolicy, Peer, PeerConfig, PeerError};
use moonpool::{Clock, LatencyRange, Listener, NetworkConfig, NetworkProvider, SimWorld};

/// A small xorshift generator for the client's choices (the network draws from the world).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Message `id`: its number, then `len` bytes derived from it (so a torn message shows).
fn msg(id: u32, len: usize) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend(std::iter::repeat_n((id % 251) as u8, len));
    v
}
/// The number of a whole, untorn message.
fn check(m: &[u8]) -> u32 {
    let id = u32::from_le_bytes(m[..4].try_into().unwrap());
    assert!(
        m[4..].iter().all(|&b| b == (id % 251) as u8),
        "torn message {id}"
    );
    id
}

/// One seed: 400 random operations; returns (messages the server saw, echoes received,
/// disconnections).
fn run(seed: u64, policy: OverflowPolicy) -> (usize, usize, u64) {
    let mut net = NetworkConfig::hostile();
    net.connect_stall_probability = 0.0;
    net.reset_probability = 0.002;
    net.send_buffer_bytes = 1024;
    net.connect_latency = LatencyRange::new(Duration::from_millis(1), Duration::from_millis(5));
    let world = SimWorld::with_config(seed, net).unwrap();
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let addr = "10.0.0.1:4500".to_string();
    let r = world.block_on(async move {
        let listener = server.bind(&addr).await.unwrap();
        let done = Rc::new(Cell::new(false));
        let seen = Rc::new(RefCell::new(Vec::<u32>::new()));
        let clock = client.clock();
        let srv = {
            let done = done.clone();
            let seen = seen.clone();
            let clock = server.clock();
            async move {
                while !done.get() {
                    let Ok(Ok((stream, _))) = clock
                        .timeout(Duration::from_millis(500), listener.accept())
                        .await
                    else {
                        continue;
                    };
                    let mut conn = FramedStream::new(stream);
                    loop {
                        match clock.timeout(Duration::from_millis(500), conn.recv()).await {
                            Ok(Ok(Some(m))) => {
                                seen.borrow_mut().push(check(&m));
                                if conn.send(&m).await.is_err() {
                                    break;
                                }
                            }
                            Ok(Err(e)) => {
                                // A reset or EOF is fine; a torn or spliced frame never is.
                                assert_ne!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
                                break;
                            }
                            Ok(Ok(None)) => break,
                            Err(_) => {
                                if done.get() {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        };
        let cli = async {
            let config = PeerConfig {
                initial_reconnect_delay: Duration::from_millis(5),
                max_reconnect_delay: Duration::from_millis(40),
                connection_timeout: Duration::from_millis(200),
                max_queue_size: 8,
                max_queue_bytes: 4000,
                max_message_size: 1500,
                write_batch_bytes: 700,
                overflow_policy: policy,
                ..PeerConfig::default()
            };
            let mut peer = Peer::new(client.clone(), addr.clone(), config);
            let mut rng = Rng(seed * 2654435761 + 1);
            let mut next = 0u32;
            let mut echoed = Vec::<u32>::new();
            for _ in 0..400 {
                let t = Duration::from_micros(rng.below(3000));
                match rng.below(10) {
                    0..=4 => {
                        let m = msg(next, rng.below(1400) as usize);
                        next += 1;
                        if rng.below(3) == 0 {
                            let _ = clock.timeout(t, peer.send(m)).await;
                        } else {
                            match peer.send(m).await {
                                Ok(()) | Err(PeerError::QueueFull { .. }) => {}
                                Err(e) => panic!("send: {e}"),
                            }
                        }
                    }
                    5 => {
                        let _ = clock.timeout(t, peer.flush()).await;
                    }
                    6 | 7 => {
                        if let Ok(Ok(m)) = clock.timeout(t, peer.recv()).await {
                            echoed.push(check(&m));
                        }
                    }
                    8 => {
                        // `send` never connects, so connections come from the calls that may
                        // wait; most of those are cut short here, so let some finish.
                        if rng.below(2) == 0 {
                            let _ = peer.reconnect().await;
                        } else {
                            let _ = clock.timeout(t, peer.reconnect()).await;
                        }
                    }
                    _ => clock.sleep(t).await,
                }
                let m = peer.metrics();
                assert!(m.queue_size <= 8 && m.queue_bytes <= 4000, "{m:?}");
                assert_eq!(
                    m.messages_queued,
                    m.messages_written + m.messages_dropped + m.queue_size as u64,
                    "accounting {m:?}"
                );
            }
            let _ = clock.timeout(Duration::from_secs(5), peer.flush()).await;
            for _ in 0..50 {
                match clock.timeout(Duration::from_millis(50), peer.recv()).await {
                    Ok(Ok(m)) => echoed.push(check(&m)),
                    _ => break,
                }
            }
            let m = peer.metrics();
            peer.close().await;
            done.set(true);
            (echoed, m)
        };
        let ((), (echoed, m)) = futures::join!(srv, cli);
        let seen = seen.borrow().clone();
        (seen, echoed, m)
    });
    let (seen, echoed, m) = r.unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "seed {seed}: server order/dup {seen:?}"
    );
    assert!(
        echoed.windows(2).all(|w| w[0] < w[1]),
        "seed {seed}: echo order/dup {echoed:?}"
    );
    (seen.len(), echoed.len(), m.disconnections)
}

/// Runs seeds `1..40` and checks the campaign did exercise delivery and breaks.
fn campaign(policy: OverflowPolicy) {
    let (mut seen, mut echoed, mut breaks) = (0, 0, 0);
    for seed in 1..40 {
        let (s, e, b) = run(seed, policy);
        seen += s;
        echoed += e;
        breaks += b;
    }
    assert!(
        seen > 1000 && echoed > 1000,
        "too little traffic: {seen} seen, {echoed} echoed"
    );
    assert!(breaks > 50, "too few broken connections: {breaks}");
}

#[test]
fn random_operations_with_drop_oldest() {
    campaign(OverflowPolicy::DropOldest);
}

#[test]
fn random_operations_with_reject() {
    campaign(OverflowPolicy::Reject);
}

#[test]
fn a_seed_replays_exactly() {
    assert_eq!(
        run(7, OverflowPolicy::DropOldest),
        run(7, OverflowPolicy::DropOldest)
    );
}
