//! What green prints on stderr: panics of coroutines nobody joined, and
//! deadlock reports.
//!
//! A panic inside a coroutine is captured by a wrapping panic hook (the
//! message is kept in the task) instead of being printed at once; it is
//! printed once, as `green: coroutine '<name>' (#<id>) panicked at ...`, only
//! if nobody joins the coroutine. Panics outside coroutines go to the hook
//! that was installed before. This module never parks.

use std::sync::Once;

use crate::hub::{has_hub, hub, Hub};
use crate::task::Task;

static HOOK: Once = Once::new();

pub(crate) fn install_panic_hook() {
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

/// Print a finished task's panic once if nobody will join it.
pub(crate) fn report_unjoined(task: &Task) {
    let r = task.out.borrow();
    if let crate::task::Slot::Done(Err(crate::JoinError::Panicked(_))) = &*r {
        let msg = task
            .extra
            .borrow_mut()
            .as_mut()
            .and_then(|e| e.panic_message.take());
        if let Some(msg) = msg {
            eprintln!(
                "green: coroutine '{}' (#{}) {msg}",
                task.display_name(),
                task.id
            );
        }
    }
}

/// The message of the panic raised when the root waits and nothing can
/// ever wake it: what happened, then the run-info of every parked coroutine
/// (at most 20 lines).
pub(crate) fn deadlock_message(hub: &Hub) -> String {
    let info = crate::run_info::RunInfo::collect(hub);
    let mut s = format!(
        "green: deadlock: this thread is blocked outside a coroutine and nothing can wake it \
         (no coroutine is ready, no timer is pending, no I/O or cross-thread work is \
         outstanding); {} coroutine(s) parked\n",
        info.len()
    );
    let _ = info.write_limited(&mut s, 20);
    s
}
