//! The two places a scenario runs: a simulated world, and two real network namespaces.

use std::sync::Mutex;
use std::time::Duration;

use futures::channel::mpsc;
use moonpool::peer::Delivery;
use moonpool::sim::CrashKind;
use moonpool::sim::WeakSimWorld;
use moonpool::{Clock, NetworkProvider, RealNetworkProvider, SimWorld};

use super::namespace::{ip, NamespacePair, CLIENT_IP, SERVER_IP};
use super::scenario::{self, Faults, Log, Outcome, Scenario, DELAY};
use super::server::{serve, ServerProcess};

const SIM_SERVER: &str = "10.0.0.1";
const SIM_CLIENT: &str = "10.0.0.2";
const PORT: u16 = 4500;
/// Bound on one real run, from the server's start to the last message.
const REAL_LIMIT: Duration = Duration::from_secs(30);

/// The simulator's fault API.
struct SimFaults(WeakSimWorld);

impl Faults for SimFaults {
    fn inject(&self, scenario: Scenario) {
        let world = self.0.upgrade().expect("the world runs");
        match scenario {
            Scenario::Partition => world.partition(&[SIM_CLIENT], &[SIM_SERVER]).unwrap(),
            Scenario::HalfOpen => world
                .partition_one_way(&[SIM_SERVER], &[SIM_CLIENT])
                .unwrap(),
            Scenario::Restart => world.crash(SIM_SERVER, CrashKind::Kill).unwrap(),
            Scenario::DelayAndLoss => world
                .set_link_latency(SIM_CLIENT, SIM_SERVER, DELAY)
                .unwrap(),
        }
    }

    fn end(&self, scenario: Scenario) {
        let world = self.0.upgrade().expect("the world runs");
        match scenario {
            Scenario::Partition | Scenario::HalfOpen => world.heal(),
            Scenario::Restart => world.restart(SIM_SERVER, Duration::ZERO).unwrap(),
            Scenario::DelayAndLoss => world
                .set_link_latency(SIM_CLIENT, SIM_SERVER, Duration::ZERO)
                .unwrap(),
        }
    }
}

/// Runs `scenario` in a calm simulated world (seed 1): the server a simulated process.
pub fn run_sim(scenario: Scenario, delivery: Delivery) -> Outcome {
    let world = SimWorld::new(1);
    let (log, events) = mpsc::unbounded();
    let server_net = world.provider(SIM_SERVER);
    world
        .spawn_process("server", SIM_SERVER, move || {
            let (net, log) = (server_net.clone(), log.clone());
            async move {
                let addr = format!("{SIM_SERVER}:{PORT}");
                let served = serve(net, addr, delivery, |event| {
                    let _ = log.unbounded_send(event);
                });
                served.await.expect("the server listens");
            }
        })
        .unwrap();
    let faults = SimFaults(world.downgrade());
    let client = world.provider(SIM_CLIENT);
    world
        .block_on(async move {
            let mut log = Log::new(events);
            let addr = format!("{SIM_SERVER}:{PORT}");
            scenario::run(scenario, client, addr, &faults, &mut log, delivery).await
        })
        .expect("the simulation completes")
}

/// iproute2 and signals, on a [`NamespacePair`]: the server a child process.
struct RealFaults<'a> {
    pair: &'a NamespacePair,
    delivery: Delivery,
    log: mpsc::UnboundedSender<super::server::Event>,
    server: Mutex<Option<ServerProcess>>,
}

impl RealFaults<'_> {
    fn start_server(&self) {
        let addr = format!("{SERVER_IP}:{PORT}");
        let process =
            ServerProcess::spawn(&self.pair.server, &addr, self.delivery, self.log.clone())
                .expect("spawn the server process");
        *self.server.lock().unwrap() = Some(process);
    }
}

impl Faults for RealFaults<'_> {
    fn inject(&self, scenario: Scenario) {
        let (ns, link) = (&self.pair.server, &self.pair.server_link);
        let blackhole = format!("{CLIENT_IP}/32");
        match scenario {
            Scenario::Partition => ip(&["-n", ns, "link", "set", link, "down"]).unwrap(),
            Scenario::HalfOpen => ip(&["-n", ns, "route", "add", "blackhole", &blackhole]).unwrap(),
            Scenario::Restart => {
                if let Some(process) = self.server.lock().unwrap().take() {
                    process.kill();
                }
            }
            Scenario::DelayAndLoss => {
                let delay = format!("{}ms", DELAY.as_millis());
                for (ns, link) in self.pair.links() {
                    let netem = ["delay", &delay, "loss", "1%"];
                    netem_qdisc(ns, link, "add", &netem).unwrap();
                }
            }
        }
    }

    fn end(&self, scenario: Scenario) {
        let (ns, link) = (&self.pair.server, &self.pair.server_link);
        let blackhole = format!("{CLIENT_IP}/32");
        match scenario {
            Scenario::Partition => ip(&["-n", ns, "link", "set", link, "up"]).unwrap(),
            Scenario::HalfOpen => ip(&["-n", ns, "route", "del", "blackhole", &blackhole]).unwrap(),
            Scenario::Restart => self.start_server(),
            Scenario::DelayAndLoss => {
                for (ns, link) in self.pair.links() {
                    netem_qdisc(ns, link, "del", &[]).unwrap();
                }
            }
        }
    }
}

/// `tc qdisc <action> dev <link> root netem <netem..>` inside namespace `ns`.
fn netem_qdisc(ns: &str, link: &str, action: &str, netem: &[&str]) -> std::io::Result<()> {
    let mut args = vec![
        "netns", "exec", ns, "tc", "qdisc", action, "dev", link, "root",
    ];
    if action == "add" {
        args.push("netem");
        args.extend_from_slice(netem);
    }
    ip(&args)
}

/// Runs `scenario` on real TCP between two fresh namespaces: the Peer on a thread moved into
/// the client namespace, the server a process in the server namespace. `None` (after saying
/// why) where namespaces cannot be made.
pub fn run_real(scenario: Scenario, delivery: Delivery) -> Option<Outcome> {
    let pair = match NamespacePair::new() {
        Ok(pair) => pair,
        Err(error) => {
            println!(
                "netns: skipped, cannot make network namespaces ({error}); these tests need \
                 root and iproute2"
            );
            return None;
        }
    };
    if scenario == Scenario::DelayAndLoss {
        let (ns, link) = (&pair.server, &pair.server_link);
        let probe = netem_qdisc(ns, link, "add", &["delay", "1ms"])
            .and_then(|()| netem_qdisc(ns, link, "del", &[]));
        if let Err(error) = probe {
            println!("netns: delay and loss skipped, this kernel has no netem ({error})");
            return None;
        }
    }
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Err(error) = NamespacePair::enter(&pair.client) {
                    println!("netns: skipped, cannot enter a network namespace ({error})");
                    return None;
                }
                let (log, events) = mpsc::unbounded();
                let faults = RealFaults {
                    pair: &pair,
                    delivery,
                    log,
                    server: Mutex::new(None),
                };
                faults.start_server();
                let net = RealNetworkProvider::new();
                let clock = net.clock();
                let addr = format!("{SERVER_IP}:{PORT}");
                let mut log = Log::new(events);
                let run = scenario::run(scenario, net, addr, &faults, &mut log, delivery);
                let outcome = async_io::block_on(clock.timeout(REAL_LIMIT, run));
                Some(outcome.unwrap_or_else(|_| panic!("the real run took over {REAL_LIMIT:?}")))
            })
            .join()
    });
    match outcome {
        Ok(outcome) => outcome,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
