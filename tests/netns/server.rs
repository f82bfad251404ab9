//! The server of every scenario, written once over `P: NetworkProvider`: a simulated process
//! in the simulator, a child process in the server namespace on real links.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use moonpool::peer::{Delivery, FramedStream, SessionServer};
use moonpool::{Listener, NetworkProvider};

/// The environment variable that turns the test binary into a server (`addr mode`).
pub const SERVER_ENV: &str = "MOONPOOL_NETNS_SERVER";
/// The test that becomes the server when [`SERVER_ENV`] is set.
pub const SERVER_TEST: &str = "netns_server_process";
/// How the child's lines start on its stdout (the test harness prints its own lines too).
const PREFIX: &str = "netns-server ";

/// What the server tells the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An incarnation is listening.
    Listening,
    /// The application received message `k` (numbered by the client).
    Got(u32),
}

/// Message `k`: its number, then 60 filler bytes that depend on it.
pub fn message(k: u32) -> Vec<u8> {
    let mut message = k.to_le_bytes().to_vec();
    message.extend((0..60u32).map(|i| (i.wrapping_mul(13) ^ k) as u8));
    message
}

/// The number of a received message, `None` if it is not one of [`message`]'s.
pub fn number(received: &[u8]) -> Option<u32> {
    let k = u32::from_le_bytes(received.get(..4)?.try_into().ok()?);
    (received == message(k)).then_some(k)
}

/// Listens on `addr` and serves every connection at once (a half-open one does not block the
/// next): a `SessionServer` in the reliable modes (acknowledging each message as it arrives),
/// plain frames in unreliable mode. Reports each message through `log`. Runs until dropped.
pub async fn serve<P: NetworkProvider>(
    net: P,
    addr: String,
    delivery: Delivery,
    log: impl Fn(Event),
) -> io::Result<()> {
    let listener = net.bind(&addr).await?;
    log(Event::Listening);
    let sessions = SessionServer::for_provider(&net);
    let log = &log;
    let sessions = &sessions;
    let mut conns: FuturesUnordered<LocalBoxFuture<'_, ()>> = FuturesUnordered::new();
    let accept = listener.accept().fuse();
    futures::pin_mut!(accept);
    loop {
        futures::select_biased! {
            accepted = accept => {
                accept.set(listener.accept().fuse());
                let Ok((stream, _)) = accepted else { continue };
                conns.push(if delivery.is_reliable() {
                    async move {
                        let Ok(mut conn) = sessions.accept(stream).await else { return };
                        while let Ok(Some(received)) = conn.recv().await {
                            report(log, &received);
                            if conn.flush().await.is_err() {
                                return;
                            }
                        }
                    }
                    .boxed_local()
                } else {
                    async move {
                        let mut conn = FramedStream::new(stream);
                        while let Ok(Some(received)) = conn.recv().await {
                            report(log, &received);
                        }
                    }
                    .boxed_local()
                });
            }
            () = conns.select_next_some() => {}
        }
    }
}

fn report(log: &impl Fn(Event), received: &[u8]) {
    match number(received) {
        Some(k) => log(Event::Got(k)),
        None => panic!("a message arrived altered: {received:?}"),
    }
}

/// The body of the child process: [`serve`] on the real provider, each event a line on stdout.
/// Exits when its stdin closes, so a test that dies leaves no server behind.
pub fn run_child(spec: &str) {
    let (addr, mode) = spec
        .split_once(' ')
        .expect("MOONPOOL_NETNS_SERVER is `addr mode`");
    let delivery = parse_delivery(mode);
    std::thread::spawn(|| {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let served = async_io::block_on(serve(
        moonpool::RealNetworkProvider::new(),
        addr.to_string(),
        delivery,
        |event| match event {
            Event::Listening => println!("{PREFIX}listening"),
            Event::Got(k) => println!("{PREFIX}got {k}"),
        },
    ));
    panic!("the server stopped: {served:?}");
}

pub fn delivery_name(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Unreliable => "unreliable",
        Delivery::AtLeastOnce => "at-least-once",
        _ => "exactly-once",
    }
}

fn parse_delivery(name: &str) -> Delivery {
    match name {
        "unreliable" => Delivery::Unreliable,
        "at-least-once" => Delivery::AtLeastOnce,
        "exactly-once" => Delivery::ExactlyOnce,
        other => panic!("unknown delivery mode {other:?}"),
    }
}

/// One incarnation of the server: this test binary re-run inside `namespace` with
/// `ip netns exec`, its stdout read by a thread that forwards its events to `log`. Dropping it
/// kills the process (SIGKILL: the kernel closes its sockets, sending RSTs or FINs).
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    pub fn spawn(
        namespace: &str,
        addr: &str,
        delivery: Delivery,
        log: UnboundedSender<Event>,
    ) -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(exe)
            .args(["--exact", SERVER_TEST, "--nocapture", "--test-threads=1"])
            .env(SERVER_ENV, format!("{addr} {}", delivery_name(delivery)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // The harness may have started the line ("test netns_server_process ... ").
                let Some(at) = line.find(PREFIX) else {
                    continue;
                };
                let rest = &line[at + PREFIX.len()..];
                let event = match rest.strip_prefix("got ") {
                    Some(k) => Event::Got(k.parse().expect("a message number")),
                    None => Event::Listening,
                };
                if log.unbounded_send(event).is_err() {
                    return;
                }
            }
        });
        Ok(ServerProcess { child })
    }

    /// Kills the process and waits until it is gone.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bound on a server process starting to listen.
pub const START_LIMIT: Duration = Duration::from_secs(10);
