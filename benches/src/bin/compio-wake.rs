//! Cross-thread wake-ups between two compio runtimes, with nothing of ours in between: two
//! threads, each with a compio runtime, pass a turn back and forth; each side's future waits
//! for its turn, takes it, hands it over and wakes the other side's waker (kept in an
//! `AtomicWaker`). A watchdog reports a stall (neither side moved for two seconds: a wake-up
//! that never woke its runtime) and exits with status 2.
//!
//! ```text
//! cargo run --release -p zmtp-benches --bin compio-wake -- main 20000000
//! cargo run --release -p zmtp-benches --bin compio-wake -- task 20000000
//! ```
//!
//! `main`: each side's future is the one given to `block_on` (its waker is the runtime's
//! own); `task`: each side's future is a spawned task (woken from the other thread through
//! compio's cross-thread queue).

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

#[derive(Default)]
struct Turn {
    /// Even: side 0's turn; odd: side 1's.
    turn: AtomicU64,
    wakers: [AtomicWaker; 2],
}

/// Waits for `side`'s turn `n` times, handing the turn over each time.
async fn play(t: Arc<Turn>, side: u64, n: u64) {
    let mut done = 0;
    poll_fn(|cx| {
        t.wakers[side as usize].register(cx.waker());
        loop {
            let turn = t.turn.load(Ordering::Acquire);
            if turn % 2 != side {
                return Poll::Pending;
            }
            t.turn.store(turn + 1, Ordering::Release);
            t.wakers[1 - side as usize].wake();
            done += 1;
            if done == n {
                return Poll::Ready(());
            }
        }
    })
    .await;
}

fn run_side(t: Arc<Turn>, side: u64, n: u64, task: bool) {
    let rt = compio::runtime::Runtime::new().expect("a compio runtime");
    rt.block_on(async move {
        if task {
            let _ = compio::runtime::spawn(play(t, side, n)).await;
        } else {
            play(t, side, n).await;
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let task = args.get(1).is_some_and(|a| a == "task");
    let n: u64 = args
        .get(2)
        .map_or(10_000_000, |a| a.parse().expect("turns"));
    let t = Arc::new(Turn::default());
    let dog = {
        let t = t.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            let mut since = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(20));
                let now = t.turn.load(Ordering::Relaxed);
                if now >= 2 * n {
                    return;
                }
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() > Duration::from_secs(2) {
                    eprintln!(
                        "STALL at turn {now} (side {}'s turn): its wake-up was lost",
                        now % 2
                    );
                    // Does a second wake-up of the side whose turn it is resume it?
                    t.wakers[(now % 2) as usize].wake();
                    std::thread::sleep(Duration::from_millis(500));
                    eprintln!(
                        "  woken again: resumed {}",
                        t.turn.load(Ordering::Relaxed) != now
                    );
                    std::process::exit(2);
                }
            }
        })
    };
    let started = Instant::now();
    let other = {
        let t = t.clone();
        std::thread::spawn(move || run_side(t, 1, n, task))
    };
    run_side(t, 0, n, task);
    other.join().unwrap();
    dog.join().unwrap();
    let el = started.elapsed();
    eprintln!(
        "{} turns each way ({}) in {el:?}: {:.2} µs per hand-over, no stall",
        n,
        if task {
            "spawned tasks"
        } else {
            "block_on futures"
        },
        el.as_secs_f64() * 1e6 / (2 * n) as f64
    );
}
