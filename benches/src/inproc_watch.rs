//! A watchdog for the in-process benchmarks (`inproc-bench`, `inproc-stall`): each side of a
//! pair counts its messages with [`step`] and shows its socket with [`enter`]; when neither
//! side moves for the time [`start`] was given, the watchdog prints each side's
//! [`Signal`](zmtp_async::Signal) and pipes, wakes one thing at a time (each side's task, then
//! each side's socket signal) to tell which wake-up was missing, and exits with status 2.
//! Nothing is counted until [`start`] ran: `inproc-bench` starts it only when
//! `INPROC_WATCHDOG` is set, so its measured loops pay one relaxed load per message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use zmtp_async::{InprocProbe, Runtime, Signal, Socket};

/// What one side shows: its socket's signal and pipes, and the waker of the task that runs it
/// (on compio's `block_on`, the runtime's own).
type Seen = (Arc<Signal>, InprocProbe, Waker);

#[derive(Default)]
struct Watch {
    done: [AtomicU64; 2],
    seen: [Mutex<Option<Seen>>; 2],
    what: Mutex<String>,
}

static ON: AtomicBool = AtomicBool::new(false);
static WATCH: OnceLock<Watch> = OnceLock::new();

fn watch() -> &'static Watch {
    WATCH.get_or_init(Watch::default)
}

/// Starts the watchdog thread: a stall is `stall` without progress on either side.
pub fn start(stall: Duration) {
    ON.store(true, Ordering::Relaxed);
    std::thread::spawn(move || {
        let w = watch();
        let mut last = snapshot();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = snapshot();
            if now != last || w.what.lock().unwrap().is_empty() {
                last = now;
                since = Instant::now();
                continue;
            }
            if since.elapsed() < stall {
                continue;
            }
            eprintln!(
                "STALL in {}: side 0 (this thread) {} messages, side 1 (other) {}; state:{}",
                w.what.lock().unwrap(),
                now[0],
                now[1],
                dump()
            );
            // One wake-up at a time, the cheapest explanation first.
            let _ = kick("task", 0) || kick("task", 1) || kick("signal", 0) || kick("signal", 1);
            eprintln!("  state after:{}", dump());
            std::process::exit(2);
        }
    });
}

/// True once [`start`] ran.
#[inline]
pub fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Names what runs now (printed with a stall); an empty name pauses the watchdog (between
/// scenarios, and around implementations it cannot see).
pub fn set_what(what: &str) {
    if is_on() {
        *watch().what.lock().unwrap() = what.to_owned();
    }
}

/// Counts a message handled by `side` (0: the thread that bound, 1: the other).
#[inline]
pub fn step(side: usize) {
    if is_on() {
        watch().done[side].fetch_add(1, Ordering::Relaxed);
    }
}

/// Shows `side`'s socket and the task that runs it to the watchdog (call it again once a
/// pipe exists, so that the dump shows it).
pub async fn enter<R: Runtime>(side: usize, s: &Socket<R>) {
    if !is_on() {
        return;
    }
    let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    *watch().seen[side].lock().unwrap() = Some((s.signal().clone(), s.inproc_probe(), waker));
}

fn snapshot() -> [u64; 2] {
    let w = watch();
    [
        w.done[0].load(Ordering::Relaxed),
        w.done[1].load(Ordering::Relaxed),
    ]
}

fn dump() -> String {
    let mut out = String::new();
    for (side, seen) in watch().seen.iter().enumerate() {
        if let Some((signal, probe, _)) = &*seen.lock().unwrap() {
            out += &format!("\n  side {side}: {signal:?}\n          pipes {probe:?}");
        }
    }
    out
}

/// Wakes one thing; true if progress resumed within half a second.
fn kick(what: &str, side: usize) -> bool {
    let before = snapshot();
    if let Some((signal, _, waker)) = &*watch().seen[side].lock().unwrap() {
        match what {
            "task" => waker.wake_by_ref(),
            _ => signal.wake(),
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let moved = snapshot() != before;
    eprintln!("  woke side {side}'s {what}: progress resumed: {moved}");
    moved
}
