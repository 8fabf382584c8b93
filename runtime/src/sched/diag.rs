//! Diagnostics drawn from the hub: the snapshot behind run-info and
//! deadlock reports, printing run-info on request, and the panic hook that
//! keeps a coroutine's panic message (and marks it unwinding).

use std::sync::Once;
use std::time::Instant;

use super::{has_hub, hub, Hub};
use crate::report::{thread_label, CoroutineState, CoroutineStatus, RunInfo};
use crate::task::State;

/// Snapshot of `hub` (which must be this thread's).
pub(crate) fn collect(hub: &Hub) -> RunInfo {
    let now = Instant::now();
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

pub(super) fn install_panic_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if has_hub() {
                let hub = hub();
                let task = hub.current();
                // Already unwinding: this panic starts inside a destructor
                // run by that unwind. If it escapes the destructor the
                // process aborts with a bare "non-unwinding panic" line, so
                // say now what panicked, and where.
                let nested = task.is_unwinding();
                task.set_unwinding();
                if hub.in_coroutine() {
                    let msg = info.to_string();
                    if nested {
                        eprintln!(
                            "green: coroutine '{}' (#{}, spawned at {}) panicked while unwinding \
                             (a destructor panicked during a kill, timeout or panic; the process \
                             aborts if the panic leaves the destructor): {msg}",
                            task.display_name(),
                            task.id,
                            task.spawned_at
                        );
                    }
                    task.with_extra(|e| e.panic_message = Some(msg));
                    return;
                }
            }
            prev(info)
        }));
    });
}
