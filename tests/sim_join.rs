//! A `SimJoinHandle` never leaves its awaiter hanging: when no output can come it panics
//! with a message saying why.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake};
use std::time::Duration;

use moonpool::{Clock, SimWorld};

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).unwrap_err();
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| payload.downcast_ref::<&str>().unwrap().to_string())
}

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn smoke_a_finished_task_gives_its_output() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    let handle = world.spawn("sleeper", async move {
        clock.sleep(Duration::from_secs(1)).await;
        7
    });
    assert_eq!(world.block_on(handle).unwrap(), 7);
}

#[test]
fn awaiting_a_handle_whose_world_was_dropped_panics_instead_of_hanging() {
    // Never polled: the world is dropped before it runs.
    let world = SimWorld::new(1);
    let handle = world.spawn("never-run", async { 1 });
    drop(world);
    let message = panic_message(|| {
        let _ = futures::executor::block_on(handle);
    });
    assert_eq!(
        message,
        "task \"never-run\" was dropped before it finished (its SimWorld was dropped): \
         its SimJoinHandle has no output to give"
    );

    // Half-way: the task waits on a timer when its world goes; the awaiter, on another
    // executor, is woken and told.
    let world = SimWorld::new(2);
    let clock = world.clock();
    let handle = world.spawn("sleeper", async move {
        clock.sleep(Duration::from_secs(3600)).await;
        2
    });
    let timer = world.clock();
    world
        .block_on(async move { timer.sleep(Duration::from_secs(1)).await })
        .unwrap();
    let mut handle = Box::pin(handle);
    let woken = Arc::new(Flag::default());
    let waker = woken.clone().into();
    let mut cx = Context::from_waker(&waker);
    assert!(handle.as_mut().poll(&mut cx).is_pending());
    drop(world);
    assert!(woken.0.load(Ordering::SeqCst), "the awaiter is woken");
    let message = panic_message(|| {
        let _ = handle.as_mut().poll(&mut cx);
    });
    assert!(
        message.starts_with("task \"sleeper\" was dropped"),
        "{message}"
    );
}

#[test]
fn awaiting_after_try_take_panics_instead_of_hanging() {
    let world = SimWorld::new(3);
    let mut handle = world.spawn("quick", async { 3 });
    world.run().unwrap();
    assert_eq!(handle.try_take(), Some(3));
    assert!(handle.is_finished());
    let message = panic_message(|| {
        let _ = futures::executor::block_on(handle);
    });
    assert!(
        message.contains("after its output was taken with try_take"),
        "{message}"
    );
}

/// A handle's `Debug` says whether its task finished.
#[test]
fn a_handle_debugs_as_whether_its_task_finished() {
    let world = SimWorld::new(1);
    let clock = world.clock();
    let handle = world.spawn("sleeper", async move {
        clock.sleep(Duration::from_secs(1)).await
    });
    assert_eq!(format!("{handle:?}"), "SimJoinHandle { finished: false }");
    world.run().unwrap();
    assert_eq!(format!("{handle:?}"), "SimJoinHandle { finished: true }");
}
