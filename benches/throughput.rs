//! Throughput of moonpool's send queue, Peer (real loopback and simulated) and simulator, each
//! against a bare baseline in the same run; and the Peer's memory with its server down.
//!
//! `cargo bench --bench throughput` runs the full pass (well under a minute in release mode);
//! without `--bench` (as under `cargo test --benches`) it runs a tiny pass that only checks that
//! everything works. The last lines are the figures, one per line:
//! `ratio <name> <value>` and `rate <name> <value> <unit>`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use moonpool::peer::{
    Codec, Delivery, FramedStream, LengthChecksumCodec, OverflowPolicy, Peer, PeerConfig,
    SendQueue, SessionServer,
};
use moonpool::{
    Listener, NetworkProvider, RealClock, RealListener, RealNetworkProvider, RealStream,
    SimNetworkProvider, SimTcpListener, SimWorld,
};

#[path = "throughput/scale.rs"]
mod scale;

// ---------------------------------------------------------------------------------------------
// A counting allocator: allocations and live bytes, counted only while `ENABLED` is set so the
// timed runs pay one relaxed load per call.

struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn on_alloc(size: usize) {
    if ENABLED.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
        let live = LIVE.fetch_add(size as isize, Relaxed) + size as isize;
        PEAK.fetch_max(live, Relaxed);
    }
}

fn on_dealloc(size: usize) {
    if ENABLED.load(Relaxed) {
        LIVE.fetch_sub(size as isize, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are side
// effects only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward every allocation).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_dealloc(layout.size());
        on_alloc(new_size);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations, peak live bytes (relative to the start) and the output of `f`.
fn counting<R>(f: impl FnOnce() -> R) -> (u64, isize, R) {
    ALLOCS.store(0, Relaxed);
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    ENABLED.store(true, Relaxed);
    let out = f();
    ENABLED.store(false, Relaxed);
    (ALLOCS.load(Relaxed), PEAK.load(Relaxed), out)
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Run sizes: `--bench` gets the full pass, anything else a tiny smoke pass.
#[derive(Debug, Clone, Copy)]
struct Scale {
    full: bool,
    repeats: usize,
    /// Interleaved pairs behind each Peer-against-raw ratio.
    pairs: usize,
}

impl Scale {
    fn n(&self, full: u64, quick: u64) -> u64 {
        if self.full {
            full
        } else {
            quick
        }
    }
}

/// Set by `THROUGHPUT_ONLY` runs of the loopback and pipelined sections: they skip the CPU
/// clock, whose vDSO lookup crashes under valgrind (rustix reads the auxiliary vector).
static NO_CPU_CLOCK: AtomicBool = AtomicBool::new(false);

/// CPU time of this thread, user and system (`CLOCK_THREAD_CPUTIME_ID`); zero in the
/// profiled sections (see [`NO_CPU_CLOCK`]).
fn thread_cpu() -> Duration {
    if NO_CPU_CLOCK.load(Relaxed) {
        return Duration::ZERO;
    }
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

thread_local! {
    /// The CPU time of the last `loopback` or `pipeline` run on this thread.
    static LAST_CPU: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The CPU time of the last `loopback` or `pipeline` run. Both ends of a loopback run share
/// this one thread, so its CPU time is the whole cost of the run, and unlike the wall time it
/// does not grow when other processes take the cores (this machine is shared).
fn last_cpu() -> Duration {
    LAST_CPU.with(Cell::get)
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Counts the frames on `stream` until `expected` were read; no allocation per message.
async fn count_frames<S: AsyncRead + Unpin>(mut stream: S, expected: u64) -> io::Result<u64> {
    let mut codec = LengthChecksumCodec::default();
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end, mut count, mut bytes) = (0, 0, 0u64, 0u64);
    while count < expected {
        if buf.len() - end < 64 << 10 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = stream.read(&mut buf[end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        end += n;
        while let Some(frame) = codec
            .decode(&buf[start..end])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            count += 1;
            bytes += frame.payload.len() as u64;
            start += frame.consumed;
        }
        if start == end {
            (start, end) = (0, 0);
        }
    }
    Ok(black_box(bytes))
}

// ---------------------------------------------------------------------------------------------
// 1. The send queue against a bare VecDeque.

const QUEUE_BATCH: usize = 256;

/// Nanoseconds per message (push + pop) through a `SendQueue`, `rounds` rounds of a batch.
fn queue_send_queue(rounds: u64) -> Duration {
    let mut pool: Vec<Vec<u8>> = (0..QUEUE_BATCH).map(|_| vec![7u8; 64]).collect();
    let mut queue = SendQueue::new(QUEUE_BATCH, usize::MAX, OverflowPolicy::DropOldest);
    let start = Instant::now();
    for _ in 0..rounds {
        for message in pool.drain(..) {
            let _ = queue.push(black_box(message));
        }
        while let Some(message) = queue.pop_front() {
            pool.push(black_box(message));
        }
    }
    start.elapsed()
}

fn queue_vecdeque(rounds: u64) -> Duration {
    let mut pool: Vec<Vec<u8>> = (0..QUEUE_BATCH).map(|_| vec![7u8; 64]).collect();
    let mut queue: VecDeque<Vec<u8>> = VecDeque::with_capacity(QUEUE_BATCH);
    let start = Instant::now();
    for _ in 0..rounds {
        for message in pool.drain(..) {
            queue.push_back(black_box(message));
        }
        while let Some(message) = queue.pop_front() {
            pool.push(black_box(message));
        }
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------------
// 2. Peer over real loopback against a raw buffered writer of the same frames.

/// A provider over [`RealNetworkProvider`] whose streams count their write calls.
#[derive(Debug, Clone, Default)]
struct Counted {
    inner: RealNetworkProvider,
    writes: Rc<WriteCounts>,
}

#[derive(Debug, Default)]
struct WriteCounts {
    /// Write calls that accepted bytes (one `write(2)` each).
    done: Cell<u64>,
    /// Write calls that found the socket full.
    blocked: Cell<u64>,
}

#[derive(Debug)]
struct CountedStream {
    inner: RealStream,
    writes: Rc<WriteCounts>,
}

impl moonpool::provider::Stream for CountedStream {
    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }

    fn peer_addr(&self) -> io::Result<String> {
        self.inner.peer_addr()
    }

    fn abort(self) {
        self.inner.abort()
    }
}

#[derive(Debug)]
struct CountedListener {
    inner: RealListener,
    writes: Rc<WriteCounts>,
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        let counter = match result {
            Poll::Ready(Ok(_)) => &self.writes.done,
            Poll::Pending => &self.writes.blocked,
            Poll::Ready(Err(_)) => return result,
        };
        counter.set(counter.get() + 1);
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl Listener for CountedListener {
    type Stream = CountedStream;

    async fn accept(&self) -> io::Result<(CountedStream, String)> {
        let (inner, peer) = self.inner.accept().await?;
        let writes = self.writes.clone();
        Ok((CountedStream { inner, writes }, peer))
    }

    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }
}

impl NetworkProvider for Counted {
    type Stream = CountedStream;
    type Listener = CountedListener;
    type Clock = RealClock;

    async fn bind(&self, addr: &str) -> io::Result<CountedListener> {
        let inner = self.inner.bind(addr).await?;
        let writes = self.writes.clone();
        Ok(CountedListener { inner, writes })
    }

    async fn connect(&self, addr: &str) -> io::Result<CountedStream> {
        let inner = self.inner.connect(addr).await?;
        let writes = self.writes.clone();
        Ok(CountedStream { inner, writes })
    }

    fn clock(&self) -> RealClock {
        self.inner.clock()
    }

    fn random_seed(&self) -> u64 {
        self.inner.random_seed()
    }
}

/// Which sender a loopback run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// `Peer::send` per message, then `flush`.
    Peer,
    /// Each frame encoded into a scratch buffer and written through a `BufWriter` of
    /// `write_batch_bytes`, from an owned message like the Peer's.
    Raw,
    /// As `Raw`, but from a borrowed payload: no allocation per message at all.
    RawBorrowed,
    /// As `Peer`, received by a `FramedStream` (an owned message per `recv`, as a server
    /// application gets them): the baseline of `ExactlyOnce`.
    PeerToFramed,
    /// `Peer::send` in exactly-once mode to a `SessionServer` (an owned message per `recv`),
    /// then `wait_acknowledged`.
    ExactlyOnce,
}

/// One loopback run: the wall time from the first send to the last frame counted, and the
/// sender's write calls.
fn loopback(sender: Sender, messages: u64, size: usize) -> (Duration, u64, u64) {
    let provider = Counted::default();
    let batch = PeerConfig::default().write_batch_bytes;
    async_io::block_on(async {
        let listener = provider
            .bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let payload = vec![0xA5u8; size];
        let cpu = thread_cpu();
        let start = Instant::now();
        let receive = async {
            let (stream, _) = listener.accept().await?;
            if sender == Sender::ExactlyOnce {
                let mut conn = SessionServer::new(1)
                    .accept(stream)
                    .await
                    .map_err(io::Error::other)?;
                let mut bytes = 0;
                for _ in 0..messages {
                    let message = conn.recv().await.map_err(io::Error::other)?;
                    bytes += message.ok_or(io::ErrorKind::UnexpectedEof)?.len() as u64;
                }
                conn.flush().await.map_err(io::Error::other)?;
                return Ok(black_box(bytes));
            }
            if sender == Sender::PeerToFramed {
                let mut conn = FramedStream::new(stream);
                let mut bytes = 0;
                for _ in 0..messages {
                    let message = conn.recv().await?;
                    bytes += message.ok_or(io::ErrorKind::UnexpectedEof)?.len() as u64;
                }
                return Ok(black_box(bytes));
            }
            count_frames(stream, messages).await
        };
        let send = async {
            match sender {
                Sender::Peer | Sender::PeerToFramed | Sender::ExactlyOnce => {
                    let delivery = if sender != Sender::ExactlyOnce {
                        Delivery::Unreliable
                    } else {
                        Delivery::ExactlyOnce
                    };
                    let config = PeerConfig {
                        delivery,
                        ..PeerConfig::default()
                    };
                    let mut peer = Peer::new(provider.clone(), addr.clone(), config);
                    // `send` never connects: connect first.
                    peer.reconnect().await.map_err(io::Error::other)?;
                    for _ in 0..messages {
                        // `black_box` hides the source, not the copy: a `Vec` passed through
                        // `black_box` is spilled as three 8-byte stores, which `send`'s future
                        // then reloads as one 16-byte move, a store-forwarding stall that no
                        // caller without `black_box` pays and the raw writer (which only
                        // borrows its copy) never pays.
                        peer.send(black_box(&payload).clone())
                            .await
                            .map_err(io::Error::other)?;
                    }
                    if sender != Sender::ExactlyOnce {
                        peer.flush().await.map_err(io::Error::other)?;
                    } else {
                        peer.wait_acknowledged().await.map_err(io::Error::other)?;
                    }
                    Ok::<_, io::Error>(Some(peer))
                }
                Sender::Raw | Sender::RawBorrowed => {
                    let stream = provider.connect(&addr).await?;
                    let mut writer = BufWriter::with_capacity(batch, stream);
                    let mut codec = LengthChecksumCodec::default();
                    let mut frame = Vec::with_capacity(size + LengthChecksumCodec::HEADER_LEN);
                    for _ in 0..messages {
                        if sender == Sender::Raw {
                            let message = black_box(&payload).clone();
                            codec
                                .encode(&message, &mut frame)
                                .map_err(io::Error::other)?;
                        } else {
                            codec
                                .encode(black_box(&payload), &mut frame)
                                .map_err(io::Error::other)?;
                        }
                        writer.write_all(&frame).await?;
                        frame.clear();
                    }
                    writer.flush().await?;
                    Ok(None)
                }
            }
        };
        // The sender is kept alive (not closed) until the receiver has counted everything.
        let (sent, received) = futures::future::join(send, receive).await;
        let elapsed = start.elapsed();
        LAST_CPU.with(|last| last.set(thread_cpu() - cpu));
        sent.expect("send");
        received.expect("receive");
        let writes = &provider.writes;
        // Only the sending side writes.
        (elapsed, writes.done.get(), writes.blocked.get())
    })
}

/// The figures of one message size: the Peer-against-raw ratio of CPU times from interleaved
/// pairs (raw, Peer, raw, Peer ...; the loopback figures are the noisiest), plus the best run of each with
/// its write counts, and the borrowed-payload raw writer once.
fn loopback_pair(scale: Scale, messages: u64, size: usize) -> Spread {
    let mut peer = (Duration::MAX, 0, 0);
    let mut raw = (Duration::MAX, 0, 0);
    let spread = interleaved(scale.pairs, || {
        let raw_run = loopback(Sender::Raw, messages, size);
        let raw_cpu = last_cpu();
        let peer_run = loopback(Sender::Peer, messages, size);
        let peer_cpu = last_cpu();
        for (slot, run) in [(&mut raw, raw_run), (&mut peer, peer_run)] {
            if run.0 < slot.0 {
                *slot = run;
            }
        }
        (peer_cpu, raw_cpu)
    });
    let borrowed = loopback(Sender::RawBorrowed, messages, size);
    let bytes = messages * size as u64;
    for (name, (elapsed, writes, blocked)) in
        [("peer", peer), ("raw", raw), ("raw_borrowed", borrowed)]
    {
        println!(
            "info loopback_{size}b {name:>12}: {:>10.0} msg/s {:>8.1} MB/s  {writes} writes \
             ({:.0} msg/write, {blocked} blocked)",
            per_sec(messages, elapsed),
            per_sec(bytes, elapsed) / 1e6,
            messages as f64 / writes.max(1) as f64,
        );
    }
    spread
}

/// Exactly-once against unreliable: a Peer over loopback delivering `messages` owned messages
/// to a server application (`SessionStream::recv` against `FramedStream::recv`), the
/// exactly-once run until the last acknowledgement; best of (repeats + 2) each. Returns the
/// throughput ratio.
fn exactly_once_pair(scale: Scale, messages: u64, size: usize) -> f64 {
    let mut unreliable = Duration::MAX;
    let mut exactly = Duration::MAX;
    for _ in 0..scale.repeats + 2 {
        unreliable = unreliable.min(loopback(Sender::PeerToFramed, messages, size).0);
        exactly = exactly.min(loopback(Sender::ExactlyOnce, messages, size).0);
    }
    println!(
        "info loopback_{size}b exactly-once {:>10.0} msg/s, unreliable {:>10.0} msg/s",
        per_sec(messages, exactly),
        per_sec(messages, unreliable)
    );
    unreliable.as_secs_f64() / exactly.as_secs_f64()
}

/// Allocations per message on each send path (a short run with the counting allocator on).
fn loopback_allocations(messages: u64, size: usize) {
    for sender in [Sender::Peer, Sender::Raw] {
        let (allocs, _, _) = counting(|| loopback(sender, messages, size));
        println!(
            "info loopback_{size}b {:>12}: {:.3} allocations per message (sender and receiver, \
             the message itself included)",
            format!("{sender:?}").to_lowercase(),
            allocs as f64 / messages as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2b. Pipelined request/response over loopback: W requests in flight.

/// Which client a pipelined run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// `Peer::send_slice` until W are outstanding, then `recv_into` one reply: the code a new
    /// user writes.
    Peer,
    /// The same frames through a `BufWriter` of `write_batch_bytes`, flushed only when a reply
    /// is needed and none is buffered; replies cut from a plain read buffer.
    Raw,
}

/// Echoes every frame of `stream` back, `expected` of them; one write per read.
async fn echo_frames<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    expected: u64,
) -> io::Result<()> {
    let mut codec = LengthChecksumCodec::default();
    let mut buf = vec![0u8; 256 << 10];
    let mut out = Vec::with_capacity(256 << 10);
    let (mut start, mut end, mut count) = (0, 0, 0u64);
    while count < expected {
        if buf.len() - end < 64 << 10 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = stream.read(&mut buf[end..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        end += n;
        while let Some(frame) = codec
            .decode(&buf[start..end])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            out.extend_from_slice(&buf[start..start + frame.consumed]);
            count += 1;
            start += frame.consumed;
        }
        if start == end {
            (start, end) = (0, 0);
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
    }
    stream.flush().await
}

/// The raw pipelined client: `requests` 64 B requests, at most `window` outstanding.
async fn raw_pipeline<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    requests: u64,
    window: u64,
    size: usize,
) -> io::Result<()> {
    let mut writer = BufWriter::with_capacity(PeerConfig::default().write_batch_bytes, stream);
    let mut codec = LengthChecksumCodec::default();
    let payload = vec![0x42u8; size];
    let mut frame = Vec::with_capacity(size + LengthChecksumCodec::HEADER_LEN);
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0, 0);
    let (mut sent, mut received) = (0u64, 0u64);
    while received < requests {
        while sent < requests && sent - received < window {
            codec
                .encode(black_box(&payload), &mut frame)
                .map_err(io::Error::other)?;
            writer.write_all(&frame).await?;
            frame.clear();
            sent += 1;
        }
        loop {
            if let Some(reply) = codec
                .decode(&buf[start..end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                black_box(&buf[start..][reply.payload]);
                start += reply.consumed;
                received += 1;
                break;
            }
            if start == end {
                (start, end) = (0, 0);
            }
            if buf.len() - end < 64 << 10 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            }
            writer.flush().await?;
            let n = writer.get_mut().read(&mut buf[end..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            end += n;
        }
    }
    Ok(())
}

/// One pipelined run: wall time and the client's write calls.
fn pipeline(client: Client, requests: u64, window: u64) -> (Duration, u64) {
    const SIZE: usize = 64;
    let provider = Counted::default();
    async_io::block_on(async {
        let listener = RealNetworkProvider::default()
            .bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let cpu = thread_cpu();
        let start = Instant::now();
        let serve = async {
            let (stream, _) = listener.accept().await?;
            echo_frames(stream, requests).await
        };
        let ask = async {
            match client {
                Client::Peer => {
                    let mut peer = Peer::new(provider.clone(), addr.clone(), PeerConfig::default());
                    peer.reconnect().await.map_err(io::Error::other)?;
                    let payload = vec![0x42u8; SIZE];
                    let mut reply = [0u8; SIZE];
                    let (mut sent, mut received) = (0u64, 0u64);
                    while received < requests {
                        while sent < requests && sent - received < window {
                            peer.send_slice(black_box(&payload))
                                .await
                                .map_err(io::Error::other)?;
                            sent += 1;
                        }
                        // The replies already here first (no I/O), then wait for more: the
                        // wait writes every request queued meanwhile in one go.
                        let len = match peer.try_recv_into(&mut reply) {
                            Ok(Some(len)) => Ok(len),
                            Ok(None) => peer.recv_into(&mut reply).await,
                            Err(error) => Err(error),
                        }
                        .map_err(io::Error::other)?;
                        black_box(&reply[..len]);
                        received += 1;
                    }
                    Ok::<_, io::Error>(Some(peer))
                }
                Client::Raw => {
                    let stream = provider.connect(&addr).await?;
                    raw_pipeline(stream, requests, window, SIZE).await?;
                    Ok(None)
                }
            }
        };
        let (asked, served) = futures::future::join(ask, serve).await;
        let elapsed = start.elapsed();
        LAST_CPU.with(|last| last.set(thread_cpu() - cpu));
        asked.expect("client");
        served.expect("echo server");
        (elapsed, provider.writes.done.get())
    })
}

/// Interleaved repetitions: `pair` runs the baseline then the subject once each and returns
/// (subject time, baseline time); the figure is the median of the pairwise ratios
/// `baseline / subject`, with their spread. One slow run moves one pair, not the figure.
fn interleaved(pairs: usize, mut pair: impl FnMut() -> (Duration, Duration)) -> Spread {
    let mut ratios: Vec<f64> = (0..pairs.max(1))
        .map(|_| {
            let (subject, baseline) = pair();
            baseline.as_secs_f64() / subject.as_secs_f64().max(1e-9)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    Spread {
        median: ratios[ratios.len() / 2],
        min: ratios[0],
        max: ratios[ratios.len() - 1],
        pairs: ratios.len(),
    }
}

/// A ratio from interleaved pairs.
#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    pairs: usize,
}

impl Spread {
    /// The `ratio` line: the median, the target beside it, and the spread.
    fn line(&self, name: &str, target: &str) -> String {
        format!(
            "ratio {name} {:.3}  (target {target}; pairs {}, spread {:.3} - {:.3})",
            self.median, self.pairs, self.min, self.max
        )
    }
}

/// Pipelined W in flight, Peer against raw: the interleaved ratio (raw CPU time / Peer CPU
/// time), and
/// write calls per request of each (from the last pair).
fn pipeline_pair(scale: Scale, window: u64, requests: u64) -> (Spread, f64, f64) {
    let mut writes = (0, 0);
    let spread = interleaved(scale.pairs, || {
        let (_, raw_writes) = pipeline(Client::Raw, requests, window);
        let raw = last_cpu();
        let (_, peer_writes) = pipeline(Client::Peer, requests, window);
        let peer = last_cpu();
        writes = (peer_writes, raw_writes);
        (peer, raw)
    });
    let (peer_w, raw_w) = (
        writes.0 as f64 / requests as f64,
        writes.1 as f64 / requests as f64,
    );
    println!(
        "info pipeline_w{window}: {requests} requests of 64 B, Peer / raw {:.3} (median of {} \
         pairs), write calls per request {peer_w:.4} / {raw_w:.4}",
        spread.median, spread.pairs
    );
    (spread, peer_w, raw_w)
}

/// Allocations per request of each pipelined client at W = 64 (client and echo server, with
/// the counting allocator on): `send_slice` and `try_recv_into` allocate nothing per message.
fn pipeline_allocations(requests: u64) {
    for client in [Client::Peer, Client::Raw] {
        let (allocs, _, _) = counting(|| pipeline(client, requests, 64));
        println!(
            "info pipeline_w64 {:>4}: {:.4} allocations per request (client and echo server)",
            format!("{client:?}").to_lowercase(),
            allocs as f64 / requests as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Peer over the simulator.

/// A world of `seed` with no time budget to speak of, a client provider on 10.0.0.2 and a
/// listener on 10.0.0.1:4500.
fn sim_pair(seed: u64) -> (SimWorld, SimNetworkProvider, SimTcpListener) {
    let world = SimWorld::new(seed);
    world.set_time_budget(Duration::from_secs(1 << 30));
    let server = world.provider("10.0.0.1");
    let client = world.provider("10.0.0.2");
    let listener = world
        .block_on(server.bind("10.0.0.1:4500"))
        .expect("world")
        .expect("bind");
    (world, client, listener)
}

/// Messages delivered through a Peer to a plain decoder; returns (wall time, events).
fn sim_messages(messages: u64, size: usize) -> (Duration, u64) {
    let (world, client, listener) = sim_pair(1);
    let start = Instant::now();
    let counted = world.spawn("server", async move {
        let (stream, _) = listener.accept().await?;
        count_frames(stream, messages).await
    });
    world
        .block_on(async {
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), PeerConfig::default());
            // `send` never connects: connect first, as every sender below does.
            peer.reconnect().await?;
            let payload = vec![0x5Au8; size];
            for _ in 0..messages {
                peer.send(black_box(payload.clone())).await?;
            }
            peer.flush().await?;
            counted.await.map_err(io::Error::other)?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })
        .expect("world")
        .expect("sim messages");
    (start.elapsed(), world.stats().events_processed)
}

/// Request/response round trips, one at a time; returns (wall time, events).
fn sim_round_trips(round_trips: u64) -> (Duration, u64) {
    let (world, client, listener) = sim_pair(2);
    let start = Instant::now();
    world.spawn("server", async move {
        let (stream, _) = listener.accept().await?;
        let mut conn = FramedStream::new(stream);
        while let Some(request) = conn.recv().await? {
            conn.send(&request).await?;
        }
        Ok::<_, io::Error>(())
    });
    world
        .block_on(async {
            let mut peer = Peer::new(client, "10.0.0.1:4500".into(), PeerConfig::default());
            peer.reconnect().await?;
            let request = [0x42u8; 64];
            for _ in 0..round_trips {
                peer.send(black_box(request.to_vec())).await?;
                let reply = peer.recv().await?;
                assert_eq!(reply.len(), request.len());
            }
            peer.close().await;
            Ok::<_, moonpool::PeerError>(())
        })
        .expect("world")
        .expect("sim round trips");
    world.run().expect("server finishes");
    (start.elapsed(), world.stats().events_processed)
}

// ---------------------------------------------------------------------------------------------
// 4. Campaign speed.

/// Ping-pong campaign speed per wall second, one thread and all cores: `[iterations, pings]`
/// each (pings: the report's message count, which the clients feed).
///
/// The same seeds (`0..n`, two clients, the campaign's calm and hostile networks) on one
/// thread and on every core; the best of `scale.repeats` runs each. Every iteration must pass.
fn campaign_iterations(scale: Scale) -> ([f64; 2], [f64; 2]) {
    let iterations = scale.n(1_000, 4);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rate = |threads: usize| {
        (0..scale.repeats)
            .map(|_| {
                let report = moonpool::testing::ping_pong::builder(2)
                    .seed_from_env(false)
                    .iterations(black_box(iterations))
                    .threads(threads)
                    .require_coverage(false)
                    .run();
                assert_eq!(report.failed(), 0, "{report}");
                [
                    per_sec(report.iteration_count() as u64, report.wall_time),
                    per_sec(report.messages(), report.wall_time),
                ]
            })
            .fold([0.0f64, 0.0f64], |[a, b], [x, y]| [a.max(x), b.max(y)])
    };
    let one = rate(1);
    let all = rate(cores);
    println!(
        "info campaign: {iterations} ping-pong iterations, {:.0} iter/s ({:.0} pings/s) on 1 \
         thread, {:.0} iter/s ({:.0} pings/s) on {cores} threads",
        one[0], one[1], all[0], all[1]
    );
    (one, all)
}

/// The hostile ping-pong campaign (`--hostile`: every fault, server reboots) on one thread:
/// iterations per wall second, the best of `scale.repeats` runs. Every iteration must pass.
fn hostile_campaign_iterations(scale: Scale) -> f64 {
    let iterations = scale.n(1_000, 4);
    let rate = (0..scale.repeats)
        .map(|_| {
            let (builder, _ledger) = moonpool::testing::ping_pong::hostile_campaign(
                2,
                moonpool::peer::Delivery::Unreliable,
            );
            let report = builder
                .seed_from_env(false)
                .iterations(black_box(iterations))
                .threads(1)
                .require_coverage(false)
                .run();
            assert_eq!(report.failed(), 0, "{report}");
            per_sec(report.iteration_count() as u64, report.wall_time)
        })
        .fold(0.0, f64::max);
    println!("info hostile campaign: {iterations} iterations, {rate:.0} iter/s on 1 thread");
    rate
}

/// CRC-32C throughput, bytes per second, over `total` bytes in `size`-byte frames.
fn crc_rate(size: usize, total: u64) -> f64 {
    let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let rounds = (total / size as u64).max(1);
    let started = Instant::now();
    let mut x = 0u32;
    for _ in 0..rounds {
        x ^= moonpool::peer::crc32c(black_box(&data));
    }
    black_box(x);
    per_sec(rounds * size as u64, started.elapsed())
}

// ---------------------------------------------------------------------------------------------
// 5. Memory with the server down.

/// Sends `10 × max_queue_size` messages to an address that refuses; returns the peak queue
/// bytes seen in the metrics, the peak live heap bytes over the loop, and the cap.
fn memory_server_down(size: usize) -> (usize, isize, usize, u64) {
    let config = PeerConfig::default();
    let cap = config.max_queue_size * size;
    let sends = 10 * config.max_queue_size;
    let world = SimWorld::new(3);
    let client = world.provider("10.0.0.2");
    let mut peer = Peer::new(client, "10.0.0.1:4500".into(), config);
    let payload = vec![0x11u8; size];
    let (_, peak_live, peak_queue) = counting(|| {
        world
            .block_on(async {
                let mut peak_queue = 0;
                for _ in 0..sends {
                    peer.send(payload.clone()).await.expect("send queues");
                    peak_queue = peak_queue.max(peer.metrics().queue_bytes);
                }
                peak_queue
            })
            .expect("world")
    });
    let dropped = peer.metrics().messages_dropped;
    (peak_queue, peak_live, cap, dropped)
}

// ---------------------------------------------------------------------------------------------

/// One section alone, for a profiler: `THROUGHPUT_ONLY=peer64|raw64|peer1k|raw1k|eo64|pf64|loopback|rt|queue|pipeline|pipe_peer|pipe_raw|campaign|scale`
/// (`eo64` and `pf64`: the two sides of `exactly_once_vs_unreliable_64b`; and optionally
/// `THROUGHPUT_N` messages, requests or round trips, `THROUGHPUT_W` requests in flight for
/// `pipe_*`, 1000 by default), e.g. under `perf record` or `valgrind --tool=callgrind`.
fn profile_one(only: &str) {
    let n = |default: u64| {
        std::env::var("THROUGHPUT_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default)
    };
    let single_runs = [
        "peer64",
        "raw64",
        "peer1k",
        "raw1k",
        "eo64",
        "pf64",
        "pipe_peer",
        "pipe_raw",
    ];
    NO_CPU_CLOCK.store(single_runs.contains(&only), Relaxed);
    let window = std::env::var("THROUGHPUT_W")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1000);
    match only {
        "peer64" | "raw64" | "peer1k" | "raw1k" | "eo64" | "pf64" => {
            let sender = match &only[..2] {
                "pe" => Sender::Peer,
                "eo" => Sender::ExactlyOnce,
                "pf" => Sender::PeerToFramed,
                _ => Sender::Raw,
            };
            let (messages, size) = if only.ends_with("64") {
                (n(5_000_000), 64)
            } else {
                (n(1_000_000), 1024)
            };
            let (elapsed, writes, blocked) = loopback(sender, messages, size);
            println!(
                "info {only}: {messages} messages in {elapsed:.2?}, {writes} writes, {blocked} \
                 blocked"
            );
        }
        "rt" => drop(sim_round_trips(n(1_000_000))),
        "queue" => drop(queue_send_queue(n(200_000))),
        "pipe_peer" | "pipe_raw" => {
            let client = if only == "pipe_peer" {
                Client::Peer
            } else {
                Client::Raw
            };
            let requests = n(2_000_000);
            let (elapsed, writes) = pipeline(client, requests, window);
            println!(
                "info {only}: {requests} requests (W = {window}) in {elapsed:.2?}, {writes} writes"
            );
        }
        "campaign" => {
            let scale = Scale {
                full: true,
                repeats: 1,
                pairs: 1,
            };
            let ([_, one], [_, all]) = campaign_iterations(scale);
            println!("rate campaign_pings_1t {one:.0} pings/s, all cores {all:.0} pings/s");
        }
        "scale" => {
            let scale = Scale {
                full: true,
                repeats: 1,
                pairs: 1,
            };
            for line in scale::lines(&scale::points(scale)) {
                println!("{line}");
            }
        }
        "loopback" => {
            let scale = Scale {
                full: true,
                repeats: 1,
                pairs: 7,
            };
            let ratio_64 = loopback_pair(scale, n(1_000_000), 64);
            let ratio_1k = loopback_pair(scale, n(200_000), 1024);
            println!("{}", ratio_64.line("peer_vs_raw_64b", ">= 0.95"));
            println!("{}", ratio_1k.line("peer_vs_raw_1k", ">= 0.95"));
        }
        "pipeline" => {
            let scale = Scale {
                full: true,
                repeats: 1,
                pairs: 5,
            };
            for (window, requests, target) in [
                (1, 20_000, ">= 0.95"),
                (64, 300_000, ">= 0.9"),
                (1000, 1_000_000, ">= 0.9"),
            ] {
                let (spread, _, _) = pipeline_pair(scale, window, n(requests));
                println!("{}", spread.line(&format!("pipeline_w{window}"), target));
            }
        }
        other => eprintln!("unknown THROUGHPUT_ONLY section {other:?}"),
    }
}

fn main() {
    if let Ok(only) = std::env::var("THROUGHPUT_ONLY") {
        profile_one(&only);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let scale = Scale {
        full,
        repeats: if full { 3 } else { 1 },
        pairs: if full { 7 } else { 1 },
    };
    let started = Instant::now();
    println!(
        "info mode {} (cores: {})",
        if full {
            "full"
        } else {
            "quick (pass --bench for the full run)"
        },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Queue.
    let rounds = scale.n(10_000, 40);
    let ops = rounds * QUEUE_BATCH as u64;
    let mut queue = Duration::MAX;
    let mut bare = Duration::MAX;
    for _ in 0..scale.repeats * 5 {
        queue = queue.min(queue_send_queue(rounds));
        bare = bare.min(queue_vecdeque(rounds));
    }
    println!(
        "info queue: SendQueue {:.2} ns, VecDeque {:.2} ns per 64 B message (push + pop)",
        queue.as_nanos() as f64 / ops as f64,
        bare.as_nanos() as f64 / ops as f64
    );
    let queue_ratio = bare.as_secs_f64() / queue.as_secs_f64();

    // 2. Real loopback.
    let ratio_64 = loopback_pair(scale, scale.n(1_000_000, 2_000), 64);
    let ratio_1k = loopback_pair(scale, scale.n(200_000, 500), 1024);
    let pipeline_w1 = pipeline_pair(scale, 1, scale.n(20_000, 200));
    let pipeline_w64 = pipeline_pair(scale, 64, scale.n(300_000, 2_000));
    let pipeline_w1000 = pipeline_pair(scale, 1000, scale.n(1_000_000, 5_000));
    loopback_allocations(scale.n(100_000, 1_000), 64);
    pipeline_allocations(scale.n(100_000, 2_000));
    let exactly_64 = exactly_once_pair(scale, scale.n(1_000_000, 2_000), 64);
    let exactly_1k = exactly_once_pair(scale, scale.n(200_000, 500), 1024);

    // 3. Simulator.
    let messages = scale.n(1_000_000, 2_000);
    let (msg_time, msg_events) = (0..scale.repeats)
        .map(|_| sim_messages(messages, 64))
        .min()
        .expect("repeats > 0");
    let round_trips = scale.n(300_000, 500);
    let (rt_time, rt_events) = (0..scale.repeats)
        .map(|_| sim_round_trips(round_trips))
        .min()
        .expect("repeats > 0");
    println!(
        "info sim: {messages} messages in {msg_time:.2?} ({msg_events} events), \
         {round_trips} round trips in {rt_time:.2?} ({rt_events} events)"
    );

    // 4. Campaign.
    let (campaign_one, campaign_all) = campaign_iterations(scale);
    let hostile_one = hostile_campaign_iterations(scale);
    let scale_lines = scale::lines(&scale::points(scale));

    // 5. Memory.
    let (peak_queue, peak_live, cap, dropped) = memory_server_down(1024);
    println!(
        "info memory: server down, 10 x max_queue_size sends of 1 KiB: peak queue_bytes {peak_queue} \
         (cap {cap}, {}), peak live heap {peak_live} bytes ({:.2} x cap), {dropped} dropped",
        if peak_queue <= cap { "within" } else { "OVER" },
        peak_live as f64 / cap as f64
    );
    let crc_1k = crc_rate(1024, scale.n(256 << 20, 1 << 20));
    let crc_64k = crc_rate(64 << 10, scale.n(1 << 30, 4 << 20));
    println!("info total wall time {:.2?}", started.elapsed());

    println!("ratio queue_vs_vecdeque {queue_ratio:.3}");
    println!("{}", ratio_64.line("peer_vs_raw_64b", ">= 0.95"));
    println!("{}", ratio_1k.line("peer_vs_raw_1k", ">= 0.95"));
    for (window, (spread, peer_writes, raw_writes), target) in [
        (1, pipeline_w1, ">= 0.95"),
        (64, pipeline_w64, ">= 0.9"),
        (1000, pipeline_w1000, ">= 0.9"),
    ] {
        println!("{}", spread.line(&format!("pipeline_w{window}"), target));
        println!(
            "ratio pipeline_w{window}_writes_per_request {:.3}  (Peer {peer_writes:.4} / raw \
             {raw_writes:.4} write calls per request; target <= 1.5)",
            peer_writes / raw_writes.max(1e-9)
        );
    }
    println!("ratio exactly_once_vs_unreliable_64b {exactly_64:.3}");
    println!("ratio exactly_once_vs_unreliable_1k {exactly_1k:.3}");
    println!("rate sim_messages {:.0} msg/s", per_sec(messages, msg_time));
    println!(
        "rate sim_round_trips {:.0} rt/s",
        per_sec(round_trips, rt_time)
    );
    println!(
        "rate sim_events {:.0} events/s",
        per_sec(msg_events + rt_events, msg_time + rt_time)
    );
    println!("rate campaign_iterations_1t {:.0} iter/s", campaign_one[0]);
    println!("rate campaign_iterations_all {:.0} iter/s", campaign_all[0]);
    println!(
        "rate campaign_pings_1t {:.0} pings/s  (target >= 400000, faults on)",
        campaign_one[1]
    );
    println!(
        "rate campaign_pings_all {:.0} pings/s  (target >= 1.8 x 1t = {:.0}; {:.2} x)",
        campaign_all[1],
        1.8 * campaign_one[1],
        campaign_all[1] / campaign_one[1].max(1e-9)
    );
    println!("rate campaign_hostile_iterations_1t {hostile_one:.0} iter/s");
    for line in scale_lines {
        println!("{line}");
    }
    println!("rate crc32c_1k {:.2} GB/s", crc_1k / 1e9);
    println!("rate crc32c_64k {:.2} GB/s", crc_64k / 1e9);
    println!("rate memory_peak_queue_bytes {peak_queue} bytes");
    println!("rate memory_peak_live_bytes {peak_live} bytes");
}
