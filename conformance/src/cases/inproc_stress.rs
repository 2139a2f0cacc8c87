//! A stress test of the in-process transport across threads: REQ/REP round trips and PUSH/PULL
//! streams between two runtimes on two threads, in many short sessions (new sockets, new
//! name, connect before or after bind), with a watchdog that aborts the process, after a
//! dump of what each side last did, when neither side makes progress for [`STALL`]. The
//! receivers never wait with a timeout of their own: a timer would wake a runtime that lost a
//! wake-up and hide the stall.
//!
//! `INPROC_STRESS_ROUNDS` sets the messages per pattern (default 20 000, a few seconds in a
//! debug build; capped so a run fits the case's time limit); repeat the test for longer runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::cases::inproc::{inproc_endpoint, on_thread};
use crate::{Driver, SocketOptions, SocketType};

/// No progress on either side for this long is a stall.
pub const STALL: Duration = Duration::from_secs(2);

/// Messages per session: short sessions, so that setup and teardown are stressed as well.
const PER_SESSION: u64 = 1_000;

fn stress_rounds() -> u64 {
    std::env::var("INPROC_STRESS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
        .clamp(PER_SESSION, 2_000_000)
}

/// A side's socket signal, its in-process pipes and the waker of the task that runs the side.
type Seen = (Arc<zmtp_async::Signal>, zmtp_async::InprocProbe, Waker);

/// What each side last did, for the watchdog.
#[derive(Debug, Default)]
struct Progress {
    /// Messages handled by the test's thread and by the other thread.
    done: [AtomicU64; 2],
    /// The session each side is in.
    session: [AtomicU64; 2],
    /// The driver-task polls of each side's socket, as last seen.
    polls: [AtomicU64; 2],
    /// The pattern being run (0: REQ/REP, 1: PUSH/PULL).
    pattern: AtomicU64,
    finished: AtomicBool,
    /// Each side's socket signal and the waker of the task that runs the side (on compio, the
    /// runtime's own), for the dump.
    seen: [Mutex<Option<Seen>>; 2],
}

impl Progress {
    fn step<D: Driver>(&self, side: usize, s: &crate::Sock<D>) {
        let done = self.done[side].fetch_add(1, Ordering::Relaxed);
        if done.is_multiple_of(64) {
            // The socket's pipes, as they are once connected (a connector's dial may come
            // after its first send).
            if let Some(seen) = &mut *self.seen[side].lock().unwrap() {
                seen.1 = s.inproc_probe();
            }
        }
        self.polls[side].store(s.driver_polls(), Ordering::Relaxed);
    }

    /// Records the socket and the task of `side` (once per session).
    async fn enter<D: Driver>(&self, side: usize, s: &crate::Sock<D>) {
        let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        *self.seen[side].lock().unwrap() = Some((s.signal().clone(), s.inproc_probe(), waker));
    }

    fn dump(&self) -> String {
        let mut out = String::new();
        for (side, seen) in self.seen.iter().enumerate() {
            if let Some((signal, pipes, _)) = &*seen.lock().unwrap() {
                out += &format!("\n  side {side}: {signal:?}\n    pipes: {pipes:?}");
            }
        }
        out
    }

    /// Wakes each side's task (not its socket), or with `signal` each side's socket signal;
    /// true if progress resumed within a second.
    fn kick(&self, signal: bool) -> bool {
        let before = self.snapshot();
        for seen in &self.seen {
            if let Some((s, _, waker)) = &*seen.lock().unwrap() {
                if signal {
                    s.wake();
                } else {
                    waker.wake_by_ref();
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        self.snapshot() != before
    }

    fn snapshot(&self) -> [u64; 2] {
        [
            self.done[0].load(Ordering::Relaxed),
            self.done[1].load(Ordering::Relaxed),
        ]
    }
}

/// Aborts the process, after a dump, if `progress` stands still for [`STALL`].
fn watchdog(name: &'static str, progress: Arc<Progress>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = progress.snapshot();
        let mut since = Instant::now();
        while !progress.finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            let now = progress.snapshot();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= STALL {
                let p = &progress;
                eprintln!(
                    "{name}: inproc stall: no progress for {:?}; pattern {} (0 REQ/REP, 1 \
                     PUSH/PULL); test thread: session {}, {} messages, driver polls {}; other \
                     thread: session {}, {} messages, driver polls {}",
                    since.elapsed(),
                    p.pattern.load(Ordering::Relaxed),
                    p.session[0].load(Ordering::Relaxed),
                    now[0],
                    p.polls[0].load(Ordering::Relaxed),
                    p.session[1].load(Ordering::Relaxed),
                    now[1],
                    p.polls[1].load(Ordering::Relaxed),
                );
                eprintln!("  state:{}", p.dump());
                let task = p.kick(false);
                eprintln!(
                    "  waking each side's task resumed progress: {task}; state:{}",
                    p.dump()
                );
                if !task {
                    let sig = p.kick(true);
                    eprintln!(
                        "  waking each side's signal resumed progress: {sig}; state:{}",
                        p.dump()
                    );
                }
                std::process::abort();
            }
        }
    })
}

fn options(session: u64) -> SocketOptions {
    let mut o = SocketOptions::default();
    // Every other session with small high-water marks: the credit reports and a full window
    // then come into play all the time.
    if session % 2 == 1 {
        o.sndhwm = 8;
        o.connection.rcvhwm = 8;
    }
    o
}

/// REQ/REP round trips and PUSH/PULL streams between this thread and another thread with a
/// runtime of its own, in sessions of [`PER_SESSION`] messages; aborts on a stall.
pub async fn inproc_stress_across_threads<D: Driver>() {
    let total = stress_rounds();
    let sessions = total / PER_SESSION;
    let progress = Arc::new(Progress::default());
    let dog = watchdog(D::NAME, progress.clone());
    let started = Instant::now();
    for pattern in 0..2u64 {
        progress.pattern.store(pattern, Ordering::Relaxed);
        let prefix = inproc_endpoint("stress");
        let p = progress.clone();
        let far = prefix.clone();
        // The other thread: REQ (round trips) or PUSH (a stream), connecting.
        let done = on_thread::<D, u64, _>(move || async move {
            let mut handled = 0;
            for k in 0..sessions {
                p.session[1].store(k, Ordering::Relaxed);
                let ty = if pattern == 0 {
                    SocketType::Req
                } else {
                    SocketType::Push
                };
                let s = D::socket(ty, options(k));
                p.enter::<D>(1, &s).await;
                s.connect(&format!("{far}-{k}")).await.unwrap();
                let body = [7u8; 16];
                for _ in 0..PER_SESSION {
                    s.send_slice(&body).await.unwrap();
                    if pattern == 0 {
                        let m = s.recv().await.unwrap();
                        assert_eq!(&m[0][..], &body[..]);
                    }
                    p.step::<D>(1, &s);
                    handled += 1;
                }
                s.close().await;
            }
            handled
        });
        let mut handled = 0;
        for k in 0..sessions {
            progress.session[0].store(k, Ordering::Relaxed);
            let ty = if pattern == 0 {
                SocketType::Rep
            } else {
                SocketType::Pull
            };
            let s = D::socket(ty, options(k));
            progress.enter::<D>(0, &s).await;
            // Bind after the other side connected, now and then.
            if k % 3 == 2 {
                D::sleep(Duration::from_micros(200)).await;
            }
            s.bind(&format!("{prefix}-{k}")).await.unwrap();
            for _ in 0..PER_SESSION {
                let m = s.recv().await.unwrap();
                assert_eq!(m[0].len(), 16);
                if pattern == 0 {
                    s.send(m).await.unwrap();
                }
                progress.step::<D>(0, &s);
                handled += 1;
            }
            s.close().await;
        }
        let far = done.await.expect("the other thread finished");
        assert_eq!(
            (handled, far),
            (sessions * PER_SESSION, sessions * PER_SESSION)
        );
    }
    progress.finished.store(true, Ordering::Relaxed);
    dog.join().unwrap();
    eprintln!(
        "{}: {} messages per pattern across two threads in {:?}",
        D::NAME,
        sessions * PER_SESSION,
        started.elapsed()
    );
}
