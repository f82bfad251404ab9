//! The deterministic single-threaded executor: task storage, wakers, the run loop.
//!
//! Wakers only push a task id into a shared ready set, so they are `Send + Sync` and
//! never touch the world. The run loop polls one ready task at a time, picked uniformly with the
//! world RNG; when none is ready it jumps virtual time to the next event.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use super::error::SimError;
use super::rng::nanos;
use super::slab::IdMap;
use super::trace::TimeScope;
use super::world::SimWorld;

/// The id of the `block_on` root future; spawned tasks count from 1.
const ROOT: u64 = 0;
/// Digest tag of a scheduling choice.
const TAG_POLL: u64 = 0x100;

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The set of ready task ids, shared with wakers.
#[derive(Debug, Default)]
struct ReadySet(Mutex<ReadyIds>);

/// Distinct task ids in the order they became ready (a deterministic order: the world wakes
/// its tasks from one thread, in the order its events say), with a membership bitmap so that
/// inserting and taking the `n`th are O(1) whatever the number of tasks.
#[derive(Debug, Default)]
struct ReadyIds {
    ids: Vec<u64>,
    /// Bit `id` is set while `id` is in `ids` (ids are dense: counted up from 0).
    member: Vec<u64>,
}

impl ReadyIds {
    fn insert(&mut self, id: u64) {
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if word >= self.member.len() {
            self.member.resize(word + 1, 0);
        }
        if self.member[word] & bit == 0 {
            self.member[word] |= bit;
            self.ids.push(id);
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Removes and returns the `index`th id; the last one takes its place.
    fn remove_nth(&mut self, index: usize) -> u64 {
        let id = self.ids.swap_remove(index);
        self.member[(id / 64) as usize] &= !(1u64 << (id % 64));
        id
    }
}

impl ReadySet {
    fn lock(&self) -> MutexGuard<'_, ReadyIds> {
        // Never poisoned in practice: nothing panics while holding it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct TaskWaker {
    id: u64,
    ready: Arc<ReadySet>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.lock().insert(self.id);
    }
}

struct Task {
    name: String,
    /// The simulated process (host IP) the task belongs to, if any.
    process: Option<IpAddr>,
    /// Entered while the task is polled, so events carry the simulated process's name. `None`
    /// when no subscriber wanted it: a poll then costs nothing for tracing.
    span: Option<tracing::Span>,
    /// Taken out while the task is being polled.
    future: Option<BoxFuture>,
    /// Shared with each poll through an `Rc`: cloning it per poll touches no atomic count.
    waker: Rc<Waker>,
}

/// Task storage of a world.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: RefCell<IdMap<Task>>,
    ready: Arc<ReadySet>,
    next_id: Cell<u64>,
    running: Cell<bool>,
    /// The process of the task being polled: what a task spawned now belongs to.
    current: Cell<Option<IpAddr>>,
    /// The task being polled; still set after a poll that unwound, naming the task that
    /// panicked.
    polling: Cell<Option<u64>>,
}

impl Executor {
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.try_borrow().map_or(0, |t| t.len())
    }

    fn waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            id,
            ready: self.ready.clone(),
        }))
    }

    /// Removes every task of `process` and hands back their futures, to be dropped by the
    /// caller with no borrow held (dropping them closes their streams).
    pub(crate) fn take_process_tasks(&self, process: IpAddr) -> Vec<BoxFuture> {
        let mut tasks = self.tasks.borrow_mut();
        let ids: Vec<u64> = tasks
            .iter()
            .filter(|(_, t)| t.process == Some(process))
            .map(|(id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| tasks.remove(&id).and_then(|t| t.future))
            .collect()
    }

    /// Whether any task of `process` is left.
    pub(crate) fn has_process_tasks(&self, process: IpAddr) -> bool {
        self.tasks
            .borrow()
            .values()
            .any(|t| t.process == Some(process))
    }

    /// Live tasks by id and name.
    pub(crate) fn task_names(&self) -> Vec<(u64, String)> {
        self.tasks
            .borrow()
            .iter()
            .map(|(id, t)| (id, t.name.clone()))
            .collect()
    }

    /// The name and process of the task whose poll unwound (a panic out of the run loop),
    /// if one did.
    pub(crate) fn unwound_task(&self) -> Option<(String, Option<IpAddr>)> {
        let id = self.polling.get()?;
        let tasks = self.tasks.try_borrow().ok()?;
        tasks.get(&id).map(|t| (t.name.clone(), t.process))
    }

    fn names(&self) -> Vec<String> {
        self.tasks
            .borrow()
            .values()
            .map(|t| t.name.clone())
            .collect()
    }
}

/// The span if a subscriber records it (a disabled one would still be cloned, entered and
/// dropped on every poll, which costs with tracing's `log` feature).
fn enabled(span: tracing::Span) -> Option<tracing::Span> {
    (!span.is_disabled()).then_some(span)
}

/// Output slot shared between a task and its [`SimJoinHandle`].
struct JoinState<T> {
    output: Option<T>,
    finished: bool,
    /// The task was dropped unfinished (its world was dropped).
    abandoned: bool,
    name: String,
    waker: Option<Waker>,
}

/// Moved into a task's future: completes the join state, or marks it abandoned if the
/// future is dropped first (even before its first poll), waking whoever awaits the handle.
struct JoinSlot<T>(Rc<RefCell<JoinState<T>>>);

impl<T> JoinSlot<T> {
    fn finish(&self, output: T) {
        let waker = {
            let mut slot = self.0.borrow_mut();
            slot.output = Some(output);
            slot.finished = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// A spawned task: its future, whose output goes to the join handle. A named future, not
    /// an `async` block, which would hold the future twice (captured, and where awaited).
    struct Finishing<F: Future> {
        #[pin]
        future: F,
        slot: JoinSlot<F::Output>,
    }
}

impl<F: Future> Future for Finishing<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        this.future.poll(cx).map(|output| this.slot.finish(output))
    }
}

impl<T> Drop for JoinSlot<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.0.borrow_mut();
            if slot.finished {
                return;
            }
            slot.abandoned = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A handle to a spawned task's output; awaiting it (from another task) yields the output.
///
/// Dropping the handle detaches the task: it keeps running.
///
/// # Panics
/// Awaiting it panics, with a message, rather than wait forever when no output can come: if
/// the task was dropped unfinished (its [`SimWorld`] was dropped), or if the output was
/// already taken with [`try_take`](Self::try_take).
pub struct SimJoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> SimJoinHandle<T> {
    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.state.borrow().finished
    }

    /// The task's output if it has finished and the output was not taken yet; never waits.
    pub fn try_take(&mut self) -> Option<T> {
        self.state.borrow_mut().output.take()
    }
}

impl<T> Future for SimJoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.borrow_mut();
        match state.output.take() {
            Some(output) => Poll::Ready(output),
            None if state.finished => panic!(
                "SimJoinHandle of task {:?} awaited after its output was taken with try_take",
                state.name
            ),
            None if state.abandoned => panic!(
                "task {:?} was dropped before it finished (its SimWorld was dropped): \
                 its SimJoinHandle has no output to give",
                state.name
            ),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for SimJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl SimWorld {
    /// Spawns `future` as a task named `name`; it runs when the world runs.
    ///
    /// The name appears in [`SimError::Deadlock`] and [`SimError::TimeBudgetExceeded`]. The
    /// future need not be `Send`. Tasks should hold a [`WeakSimWorld`](crate::WeakSimWorld)
    /// rather than a `SimWorld`: a task owning its world keeps it alive (an `Rc` cycle).
    pub fn spawn<F: Future + 'static>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> SimJoinHandle<F::Output> {
        let process = self.shared.exec.current.get();
        self.spawn_in(process, name.into(), future)
    }

    /// Spawns `future` as a task of `process` (what a crash of that process drops).
    pub(crate) fn spawn_in<F: Future + 'static>(
        &self,
        process: Option<IpAddr>,
        name: String,
        future: F,
    ) -> SimJoinHandle<F::Output> {
        let exec = &self.shared.exec;
        let id = exec.next_id.get() + 1;
        exec.next_id.set(id);
        self.with_state(|s| {
            if let Some(steps) = &mut s.steps {
                steps.spawned(id, &name);
            }
        });
        let state = Rc::new(RefCell::new(JoinState {
            output: None,
            finished: false,
            abandoned: false,
            name: name.clone(),
            waker: None,
        }));
        let task = Finishing {
            future,
            slot: JoinSlot(state.clone()),
        };
        let span = enabled(tracing::info_span!("task", name = name.as_str()));
        exec.tasks.borrow_mut().insert(
            id,
            Task {
                span,
                name,
                process,
                future: Some(Box::pin(task)),
                waker: Rc::new(exec.waker(id)),
            },
        );
        exec.ready.lock().insert(id);
        self.with_state(|s| s.stats.tasks_spawned += 1);
        SimJoinHandle { state }
    }

    /// Runs the world until every spawned task has finished.
    ///
    /// # Errors
    /// [`SimError::Deadlock`] if tasks wait with nothing scheduled to wake them,
    /// [`SimError::TimeBudgetExceeded`], [`SimError::Livelock`], or [`SimError::NestedRun`]
    /// when called from inside a task. The world stays usable after an error.
    pub fn run(&self) -> Result<(), SimError> {
        self.run_loop(None)
    }

    /// Runs the world until `future` completes, and returns its output.
    ///
    /// `future` is polled inside the run loop like a task (named `"block_on"`), so spawned
    /// tasks progress too; tasks still running when it completes stay in the world for a later
    /// [`run`](Self::run) or `block_on`. `future` need not be `'static`.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, SimError> {
        let mut output = None;
        {
            let root = pin!(async {
                output = Some(future.await);
            });
            self.run_loop(Some(root))?;
        }
        Ok(output.expect("block_on root completed without output"))
    }

    /// The name and process of the task whose poll unwound out of the last run (a panic in
    /// a spawned task), if one did.
    pub(crate) fn unwound_task(&self) -> Option<(String, Option<IpAddr>)> {
        self.shared.exec.unwound_task()
    }

    fn run_loop(&self, root: Option<Pin<&mut dyn Future<Output = ()>>>) -> Result<(), SimError> {
        let exec = &self.shared.exec;
        if exec.running.replace(true) {
            return Err(SimError::NestedRun);
        }
        /// Clears the running flag even if a task panics, so the world stays usable.
        struct Running<'a>(&'a Cell<bool>);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _running = Running(&exec.running);
        exec.current.set(None);
        exec.polling.set(None);
        let source = std::rc::Rc::new(super::chaos::BuggifySource(self.downgrade()));
        let _buggify = crate::buggify::enter(source);
        let time = TimeScope::enter(self.now());
        self.run_inner(root, &time)
    }

    fn run_inner(
        &self,
        mut root: Option<Pin<&mut dyn Future<Output = ()>>>,
        time: &TimeScope,
    ) -> Result<(), SimError> {
        let exec = &self.shared.exec;
        let root_waker = exec.waker(ROOT);
        let root_span = enabled(tracing::info_span!("task", name = "block_on"));
        if root.is_some() {
            exec.ready.lock().insert(ROOT);
        }
        loop {
            if let Some(id) = self.pick_ready()? {
                if id == ROOT {
                    let Some(fut) = root.as_mut() else { continue };
                    let mut cx = Context::from_waker(&root_waker);
                    let _span = root_span.as_ref().map(tracing::Span::enter);
                    if fut.as_mut().poll(&mut cx).is_ready() {
                        return Ok(());
                    }
                    continue;
                }
                let taken = {
                    let mut tasks = exec.tasks.borrow_mut();
                    tasks.get_mut(&id).and_then(|t| {
                        let (waker, span, process) =
                            (Rc::clone(&t.waker), t.span.clone(), t.process);
                        t.future.take().map(|f| (f, waker, span, process))
                    })
                };
                let Some((mut fut, waker, span, process)) = taken else {
                    continue;
                };
                let _span = span.as_ref().map(tracing::Span::enter);
                let outer = exec.current.replace(process);
                exec.polling.set(Some(id));
                let done = fut
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready();
                exec.polling.set(None);
                exec.current.set(outer);
                let mut tasks = exec.tasks.borrow_mut();
                if done {
                    tasks.remove(&id);
                } else if let Some(task) = tasks.get_mut(&id) {
                    task.future = Some(fut);
                }
                continue;
            }
            if root.is_none() && exec.tasks.borrow().is_empty() {
                return Ok(());
            }
            let waiting = || {
                let mut names = exec.names();
                if root.is_some() {
                    names.insert(0, "block_on".to_string());
                }
                names
            };
            let step = self.with_state(|s| match s.events.next_time() {
                None => Err(s.now),
                Some(time) if time > s.time_budget => Ok(Some(s.time_budget)),
                Some(_) => {
                    s.process_next_event();
                    time.set(s.now);
                    Ok(None)
                }
            });
            match step {
                Ok(None) => {}
                Ok(Some(budget)) => {
                    return Err(SimError::TimeBudgetExceeded {
                        budget,
                        tasks: waiting(),
                    })
                }
                Err(time) => {
                    return Err(SimError::Deadlock {
                        time,
                        tasks: waiting(),
                    })
                }
            }
        }
    }

    /// Removes and returns a ready task id chosen with the world RNG, counting the poll.
    fn pick_ready(&self) -> Result<Option<u64>, SimError> {
        let mut ready = self.shared.exec.ready.lock();
        if ready.is_empty() {
            return Ok(None);
        }
        self.with_state(|s| {
            let index = if ready.len() > 1 {
                s.rng.range(0..ready.len() as u64) as usize
            } else {
                0
            };
            if s.polls_at_now >= s.poll_limit {
                let polls = s.polls_at_now;
                s.polls_at_now = 0;
                return Err(SimError::Livelock { time: s.now, polls });
            }
            let id = ready.remove_nth(index);
            s.polls_at_now += 1;
            s.stats.polls += 1;
            s.digest.fold(TAG_POLL);
            s.digest.fold(nanos(s.now));
            s.digest.fold(id);
            if let Some(steps) = &mut s.steps {
                steps.poll(s.now, id, s.rng.draws(), s.digest.value());
            }
            Ok(Some(id))
        })
    }
}
