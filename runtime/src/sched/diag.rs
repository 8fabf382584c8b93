//! Diagnostics drawn from the hub: the snapshot behind run-info and
//! deadlock reports, printing run-info on request, and the panic hook that
//! records where a coroutine panicked (and marks it unwinding).

use std::sync::Once;

use super::{has_hub, hub, try_hub, Hub};
use crate::report::{thread_label, CoroutineState, CoroutineStatus, RunInfo};
use crate::task::{payload_text, HookedPanic, JoinError, Panic, State, Task};

/// Snapshot of `hub` (which must be this thread's).
pub(crate) fn collect(hub: &Hub) -> RunInfo {
    let now = crate::clock::now();
    let (_, epoch) = hub.clock_and_epoch();
    let current = hub.current();
    let mut coroutines: Vec<CoroutineStatus> = hub
        .live_tasks()
        .iter()
        .map(|t| {
            let running = std::ptr::eq(&**t, current);
            let state = match t.state.get() {
                _ if running => CoroutineState::Running,
                State::Parked => CoroutineState::Parked(t.parked_on()),
                _ => CoroutineState::Ready,
            };
            CoroutineStatus {
                id: t.id,
                name: t.name().map(|n| n.to_string()),
                state,
                has_deadline: t.timer_armed(),
                spawned_at: t.spawned_at,
                since_last_run: match (running, t.last_run(epoch)) {
                    (false, Some(at)) => Some(now.saturating_duration_since(at)),
                    _ => None,
                },
            }
        })
        .collect();
    coroutines.sort_by_key(|c| c.id);
    RunInfo {
        thread: thread_label(),
        switches: hub.diag.switches(),
        monitor: hub.diag.threshold(),
        coroutines,
    }
}

/// This thread's run-info, if it has a hub.
pub(crate) fn snapshot() -> Option<RunInfo> {
    has_hub().then(|| collect(hub()))
}

/// Called by the loop when another thread asked for its run-info.
pub(super) fn print_requested(hub: &Hub) {
    eprintln!("{}", collect(hub));
}

/// The message of the panic raised when the root waits and nothing can
/// ever wake it.
pub(super) fn deadlock_message(hub: &Hub) -> String {
    crate::report::deadlock_message(&collect(hub))
}

static HOOK: Once = Once::new();

/// Install the runtime's panic hook, once per process, wrapping the hook
/// that was installed before it (std's default, or the program's own).
///
/// For a panic raised in a coroutine, the hook records where it happened
/// (and the payload's text, to recognise it later) in that task's record,
/// and prints nothing: the panic becomes the coroutine's join result, which
/// carries the location, and is printed once only if nobody joins the
/// coroutine (see `report.rs`). Every other panic (on a thread's root, on a
/// thread without a hub) goes to the previous hook unchanged. Either way
/// the running task (or root) is marked unwinding, so parks in the
/// destructors that run during the unwind never raise again.
///
/// A hook the program installs later replaces this one (it is told the
/// panic; the coroutine's join result then has no location), unless it
/// chains to the hook it found, as this one does.
pub(super) fn install_panic_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_hub`: a panic during the thread's TLS teardown must not
            // touch (or create) a hub.
            if let Some(hub) = try_hub() {
                let task = hub.current();
                // Already unwinding: this panic starts inside a destructor
                // run by that unwind. If it escapes the destructor the
                // process aborts with a bare "non-unwinding panic" line, so
                // say now what panicked, and where.
                let nested = task.is_unwinding();
                hub.begin_unwind(task);
                if hub.in_coroutine() {
                    if nested {
                        eprintln!(
                            "green: coroutine '{}' (#{}, spawned at {}) panicked while unwinding \
                             (a destructor panicked during a kill, timeout or panic; the process \
                             aborts if the panic leaves the destructor): {info}",
                            task.display_name(),
                            task.id,
                            task.spawned_at
                        );
                    }
                    let hooked = HookedPanic {
                        location: info.location().map(|l| l.to_string()),
                        message: payload_text(info.payload()).map(String::from),
                    };
                    task.with_extra(|e| e.panic = Some(hooked));
                    return;
                }
            }
            prev(info)
        }));
    });
}

/// The join error of a coroutine whose panic `payload` reached its base:
/// with the location the hook recorded, if the hook saw this very panic
/// (a payload re-raised with `resume_unwind` skips the hook, and must not
/// be given the location of an earlier, caught panic).
pub(super) fn panic_error(task: &Task, payload: Box<dyn std::any::Any + Send>) -> JoinError {
    let location = task
        .take_hooked_panic()
        .filter(|h| h.message.as_deref() == payload_text(&*payload))
        .and_then(|h| h.location);
    JoinError::Panicked(Panic::new(payload, location))
}
