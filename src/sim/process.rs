//! Simulated processes: tasks grouped by host IP, that can crash and restart.
//!
//! A process is a host with a workload: [`SimWorld::spawn_process`] runs a future made by a
//! factory, tagged with the host's IP, and every task it spawns belongs to the process too.
//! [`SimWorld::crash`] drops all of them at once and does to their connections what the
//! [`CrashKind`] says; [`SimWorld::restart`] runs the factory again, after a delay, on the
//! same IP.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use super::error::SimError;
use super::executor::BoxFuture;
use super::fault::FaultKind;
use super::net::SERVER;
use super::world::{SimWorld, WorldState};
use crate::provider::Clock;

/// What a crash does to the process's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashKind {
    /// The process exits cleanly: its sockets close as dropped streams do (a FIN, or an RST
    /// where bytes were unread).
    Graceful,
    /// The process is killed and its kernel resets every connection (an RST each).
    Kill,
    /// The host loses power: nothing is sent. The other sides stay half-open, their writes
    /// accepted and lost, their reads waiting, until a timeout or a heartbeat finds out;
    /// deliveries to the host wait until it is back (then they meet RSTs).
    PowerOff,
    /// `Kill` or `PowerOff`, drawn from the world's RNG.
    Random,
}

/// A registered process: its name and the factory that makes its workload's future.
struct Process {
    name: String,
    factory: Rc<dyn Fn() -> BoxFuture>,
    incarnation: u32,
    /// The stop signal of the current incarnation.
    stop: Rc<RefCell<StopState>>,
}

/// Whether a process was asked to stop, and who waits for it.
#[derive(Default)]
struct StopState {
    requested: bool,
    wakers: Vec<std::task::Waker>,
}

/// Completes once the process it belongs to is asked to stop
/// ([`SimWorld::stop`]); from [`SimNetworkProvider::stop_requested`](crate::SimNetworkProvider::stop_requested).
/// A provider of a host with no process never completes.
#[must_use = "futures do nothing unless awaited"]
pub struct StopRequested {
    state: Option<Rc<RefCell<StopState>>>,
}

impl std::fmt::Debug for StopRequested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let requested = self.state.as_ref().is_some_and(|s| s.borrow().requested);
        f.debug_struct("StopRequested")
            .field("requested", &requested)
            .finish()
    }
}

impl StopRequested {
    pub(crate) fn never() -> Self {
        Self { state: None }
    }
}

impl Future for StopRequested {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let Some(state) = &self.state else {
            return std::task::Poll::Pending;
        };
        let mut state = state.borrow_mut();
        if state.requested {
            return std::task::Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        std::task::Poll::Pending
    }
}

/// The processes of a world, by IP.
#[derive(Default)]
pub(crate) struct Processes(RefCell<BTreeMap<IpAddr, Process>>);

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.borrow().values().map(|p| p.name.clone()).collect();
        f.debug_tuple("Processes").field(&names).finish()
    }
}

fn parse_ip(ip: &str) -> Result<IpAddr, SimError> {
    ip.parse().map_err(|_| SimError::InvalidConfig {
        reason: format!("{ip:?} is not an IP address"),
    })
}

impl WorldState {
    /// Closes every socket of host `ip` as a crash of `kind` does (never `Random`).
    fn crash_sockets(&mut self, ip: IpAddr, kind: CrashKind) {
        if kind == CrashKind::PowerOff {
            self.faults.hosts_down.insert(ip);
        }
        let ends: Vec<(u64, usize)> = self
            .net
            .conns
            .iter()
            .flat_map(|(id, c)| {
                c.ends
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.host == ip && e.open)
                    .map(move |(side, _)| (id, side))
            })
            .collect();
        let keys: Vec<_> = self
            .net
            .listeners
            .keys()
            .filter(|k| k.0 == ip)
            .copied()
            .collect();
        let mut backlog = Vec::new();
        for key in keys {
            if let Some(mut listener) = self.net.unbind(key) {
                backlog.extend(listener.backlog.drain(..).map(|p| (p.conn, SERVER)));
                super::net::wake_all(&mut listener.acceptors);
                super::net::wake_all(&mut listener.connectors);
            }
        }
        for (conn, side) in ends.into_iter().chain(backlog) {
            match kind {
                CrashKind::Graceful => self.tcp_close(conn, side),
                CrashKind::Kill | CrashKind::Random => self.tcp_abort(conn, side),
                CrashKind::PowerOff => self.tcp_vanish(conn, side),
            }
        }
    }
}

impl SimWorld {
    /// Runs a process on host `ip`: the future `factory` makes, as a task named `name`; the
    /// tasks it spawns belong to the process too. [`restart`](Self::restart) calls `factory`
    /// again. Use [`provider`](Self::provider)`(ip)` inside it for its network.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse or already runs a process.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use moonpool::sim::CrashKind;
    /// use moonpool::{Clock, SimWorld};
    ///
    /// let world = SimWorld::new(1);
    /// let clock = world.clock();
    /// world
    ///     .spawn_process("ticker", "10.0.0.1", move || {
    ///         let clock = clock.clone();
    ///         async move { clock.sleep(Duration::from_secs(10)).await }
    ///     })
    ///     .unwrap();
    /// let w = world.clone();
    /// world
    ///     .block_on(async move {
    ///         w.clock().sleep(Duration::from_secs(1)).await;
    ///         w.crash("10.0.0.1", CrashKind::Kill).unwrap();
    ///         w.restart("10.0.0.1", Duration::from_secs(2)).unwrap();
    ///     })
    ///     .unwrap();
    /// world.run().unwrap();
    /// // Crashed at 1 s, back at 3 s, then 10 s of sleep.
    /// assert_eq!(world.now(), Duration::from_secs(13));
    /// ```
    pub fn spawn_process<F, Fut>(
        &self,
        name: impl Into<String>,
        ip: &str,
        factory: F,
    ) -> Result<(), SimError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let ip = parse_ip(ip)?;
        let name = name.into();
        let mut processes = self.shared.processes.0.borrow_mut();
        if processes.contains_key(&ip) {
            return Err(SimError::InvalidConfig {
                reason: format!("{ip} already runs a process"),
            });
        }
        let factory: Rc<dyn Fn() -> BoxFuture> = Rc::new(move || Box::pin(factory()));
        processes.insert(
            ip,
            Process {
                name: name.clone(),
                factory: factory.clone(),
                incarnation: 0,
                stop: Rc::default(),
            },
        );
        drop(processes);
        self.spawn_in(Some(ip), name, factory());
        Ok(())
    }

    /// Crashes the process (and host) `ip`: every task of it is dropped at once, and its
    /// connections end as `kind` says. Crashing a process that is already down does nothing.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse.
    pub fn crash(&self, ip: &str, kind: CrashKind) -> Result<(), SimError> {
        let ip = parse_ip(ip)?;
        let kind = match kind {
            CrashKind::Random if self.random_bool(0.5) => CrashKind::PowerOff,
            CrashKind::Random => CrashKind::Kill,
            kind => kind,
        };
        let down = self.with_state(|s| s.faults.hosts_down.contains(&ip));
        if down {
            return Ok(());
        }
        self.with_state(|s| {
            s.crash_sockets(ip, kind);
            s.record_fault(FaultKind::Crash, Some(ip), None, None, format!("{kind:?}"));
        });
        // Dropped with no borrow held: their streams' drops find their sockets closed.
        let futures = self.shared.exec.take_process_tasks(ip);
        drop(futures);
        Ok(())
    }

    /// Runs process `ip` again (its factory, on the same IP) after `after` of virtual time;
    /// a host that lost power comes back up then. A process still running is left alone.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse or has no process.
    pub fn restart(&self, ip: &str, after: Duration) -> Result<(), SimError> {
        let ip = parse_ip(ip)?;
        if !self.shared.processes.0.borrow().contains_key(&ip) {
            return Err(SimError::InvalidConfig {
                reason: format!("{ip} runs no process"),
            });
        }
        let world = self.downgrade();
        let clock = self.clock();
        self.spawn_in(None, format!("restart {ip}"), async move {
            clock.sleep(after).await;
            if let Some(world) = world.upgrade() {
                world.restart_now(ip);
            }
        });
        Ok(())
    }

    fn restart_now(&self, ip: IpAddr) {
        if self.shared.exec.has_process_tasks(ip) {
            return;
        }
        let (name, factory) = {
            let mut processes = self.shared.processes.0.borrow_mut();
            let Some(process) = processes.get_mut(&ip) else {
                return;
            };
            process.incarnation += 1;
            process.stop = Rc::default();
            (process.name.clone(), process.factory.clone())
        };
        self.with_state(|s| {
            s.faults.hosts_down.remove(&ip);
            s.release_parked();
            s.record_fault(FaultKind::Restart, Some(ip), None, None, name.clone());
        });
        self.spawn_in(Some(ip), name, factory());
    }

    /// Asks process `ip` to stop: its [`StopRequested`] futures complete now, and after
    /// `grace` of virtual time whatever is left of it is crashed as
    /// [`CrashKind::Graceful`] (its sockets closed as dropped streams close them).
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse or has no process.
    pub fn stop(&self, ip: &str, grace: Duration) -> Result<(), SimError> {
        let parsed = parse_ip(ip)?;
        let stop = self
            .shared
            .processes
            .0
            .borrow()
            .get(&parsed)
            .map(|p| p.stop.clone());
        let Some(stop) = stop else {
            return Err(SimError::InvalidConfig {
                reason: format!("{ip} runs no process"),
            });
        };
        let wakers = {
            let mut state = stop.borrow_mut();
            state.requested = true;
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
        let (world, clock, ip) = (self.downgrade(), self.clock(), ip.to_string());
        self.spawn_in(None, format!("stop {ip}"), async move {
            clock.sleep(grace).await;
            if let Some(world) = world.upgrade() {
                let still = parse_ip(&ip).is_ok_and(|p| world.shared.exec.has_process_tasks(p));
                let same = world
                    .shared
                    .processes
                    .0
                    .borrow()
                    .get(&parsed)
                    .is_some_and(|p| Rc::ptr_eq(&p.stop, &stop));
                if still && same {
                    let _ = world.crash(&ip, CrashKind::Graceful);
                }
            }
        });
        Ok(())
    }

    /// The stop signal of the process on `ip` (never completes if there is none).
    pub(crate) fn stop_requested(&self, ip: IpAddr) -> StopRequested {
        let state = self
            .shared
            .processes
            .0
            .borrow()
            .get(&ip)
            .map(|p| p.stop.clone());
        StopRequested { state }
    }

    /// Whether host `ip` is down (powered off and not restarted yet).
    pub fn is_down(&self, ip: &str) -> bool {
        parse_ip(ip).is_ok_and(|ip| self.with_state(|s| s.faults.hosts_down.contains(&ip)))
    }

    /// How many times process `ip` was restarted.
    pub fn incarnation(&self, ip: &str) -> u32 {
        let Ok(ip) = parse_ip(ip) else { return 0 };
        self.shared
            .processes
            .0
            .borrow()
            .get(&ip)
            .map_or(0, |p| p.incarnation)
    }
}
