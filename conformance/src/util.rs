//! Runtime-agnostic helpers: select, timeouts, a one-shot channel, temporary IPC paths,
//! sequence-numbered messages, a tiny PRNG and monitor helpers.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::future::Either;

use zmtp_async::{Monitor, Runtime};

use crate::{Driver, MonitorEvent, Msg, SocketEvent};

/// Polls `a` then `b` until one completes; the other is dropped. Built on
/// [`std::future::poll_fn`], so it runs on any executor. Which future is polled first
/// alternates from call to call, so neither side is always favoured.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    static TURN: AtomicU64 = AtomicU64::new(0);
    let a_first = TURN.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if a_first {
            if let Poll::Ready(x) = a.as_mut().poll(cx) {
                return Poll::Ready(Either::Left(x));
            }
            if let Poll::Ready(y) = b.as_mut().poll(cx) {
                return Poll::Ready(Either::Right(y));
            }
        } else {
            if let Poll::Ready(y) = b.as_mut().poll(cx) {
                return Poll::Ready(Either::Right(y));
            }
            if let Poll::Ready(x) = a.as_mut().poll(cx) {
                return Poll::Ready(Either::Left(x));
            }
        }
        Poll::Pending
    })
    .await
}

/// Runs both futures to completion, concurrently on the current task.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    futures_util::future::join(a, b).await
}

/// `f`'s output, or `None` if `limit` passes first.
pub async fn timeout<D: Driver, F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    match select(f, D::sleep(limit)).await {
        Either::Left(x) => Some(x),
        Either::Right(()) => None,
    }
}

/// `f`'s output; panics with `what` if `limit` passes first.
pub async fn within<D: Driver, F: Future>(limit: Duration, what: &str, f: F) -> F::Output {
    match timeout::<D, _>(limit, f).await {
        Some(x) => x,
        None => panic!("{}: timed out after {limit:?} waiting for {what}", D::NAME),
    }
}

/// Returns `Pending` once (after waking itself): lets every other ready task run.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Aborts the process if it is not dropped within `limit`: the last line of defence against a
/// case that blocks its thread so that no timeout can fire.
pub struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl Watchdog {
    /// Starts watching.
    pub fn start(name: &str, limit: Duration) -> Self {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = done.clone();
        let name = name.to_owned();
        std::thread::Builder::new()
            .name(format!("watchdog-{name}"))
            .spawn(move || {
                let (lock, cvar) = &*watched;
                let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, result) = cvar
                    .wait_timeout_while(guard, limit, |done| !*done)
                    .unwrap_or_else(|e| e.into_inner());
                if !*guard && result.timed_out() {
                    eprintln!("watchdog: case {name} is stuck after {limit:?}; aborting");
                    std::process::abort();
                }
            })
            .expect("spawn watchdog");
        Self { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }
}

// ---- one-shot channel ----------------------------------------------------------------------

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// The sending half of [`oneshot`].
pub struct OneshotSender<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// The receiving half of [`oneshot`]: a future of `Some(value)`, or `None` if the sender was
/// dropped without sending (the peer thread died).
pub struct OneshotReceiver<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// A runtime-agnostic one-shot channel (std mutex + waker), so that a test on any runtime can
/// await an answer from a thread.
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (
        OneshotSender { slot: slot.clone() },
        OneshotReceiver { slot },
    )
}

impl<T> OneshotSender<T> {
    /// Delivers the value.
    pub fn send(self, value: T) {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        s.value = Some(value);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        s.sender_gone = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Option<T>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

// ---- endpoints -----------------------------------------------------------------------------

/// The transports the suite runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `tcp://127.0.0.1:*`.
    Tcp,
    /// `ipc://` in a fresh temporary directory.
    Ipc,
}

impl Transport {
    /// Both transports.
    pub const ALL: [Self; 2] = [Self::Tcp, Self::Ipc];
}

/// A temporary directory, removed on drop; short paths (IPC paths are limited to ~107 bytes).
#[derive(Debug)]
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    /// A new empty directory under the system's temp dir.
    pub fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("zc-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }

    /// An `ipc://` endpoint for a socket file named `name` in this directory.
    pub fn ipc(&self, name: &str) -> String {
        format!("ipc://{}/{name}", self.path.display())
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What to bind for `transport`: an ephemeral TCP port, or a fresh socket file in `dir`.
pub fn bind_endpoint(transport: Transport, dir: &TempDir, name: &str) -> String {
    match transport {
        Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
        Transport::Ipc => dir.ipc(name),
    }
}

/// A free TCP endpoint on the loopback (bound once and released: another process may take it
/// in between, which is unlikely enough for tests that need a fixed endpoint to re-bind).
pub fn free_tcp_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    format!("tcp://{}", l.local_addr().expect("local addr"))
}

// ---- messages ------------------------------------------------------------------------------

/// Message number `i`: one frame of `size` bytes (at least 8): `i` big-endian, then a pattern
/// derived from `i`, so that corruption, loss and duplication are all visible.
pub fn seq_msg(i: u64, size: usize) -> Msg {
    Msg::from(seq_frame(i, size))
}

/// The frame of [`seq_msg`].
pub fn seq_frame(i: u64, size: usize) -> Bytes {
    let size = size.max(8);
    let mut b = BytesMut::with_capacity(size);
    b.put_u64(i);
    for j in 8..size {
        b.put_u8(pattern_byte(i, j));
    }
    b.freeze()
}

fn pattern_byte(i: u64, j: usize) -> u8 {
    (i as usize).wrapping_mul(31).wrapping_add(j) as u8
}

/// Checks that `msg` is [`seq_msg`]`(expected, size)`; returns a description of the difference.
pub fn check_seq(msg: &Msg, expected: u64, size: usize) -> Result<(), String> {
    if msg.len() != 1 {
        return Err(format!("message {expected}: {} frames, want 1", msg.len()));
    }
    let f = &msg[0];
    let size = size.max(8);
    if f.len() != size {
        return Err(format!(
            "message {expected}: {} bytes, want {size}",
            f.len()
        ));
    }
    let got = u64::from_be_bytes(f[..8].try_into().expect("8 bytes"));
    if got != expected {
        return Err(format!("got message {got}, want {expected}"));
    }
    if let Some(j) = (8..size).find(|&j| f[j] != pattern_byte(expected, j)) {
        return Err(format!("message {expected}: corrupt byte at offset {j}"));
    }
    Ok(())
}

/// A body of `len` bytes with a position-dependent pattern (for the large-message cases).
pub fn big_body(len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    v.extend((0..len).map(|i| (i % 251) as u8 ^ (i >> 16) as u8));
    Bytes::from(v)
}

/// Checks a body from [`big_body`].
pub fn check_big_body(b: &[u8], len: usize) -> Result<(), String> {
    if b.len() != len {
        return Err(format!("body of {} bytes, want {len}", b.len()));
    }
    match (0..len).find(|&i| b[i] != (i % 251) as u8 ^ (i >> 16) as u8) {
        Some(i) => Err(format!("body corrupt at offset {i}")),
        None => Ok(()),
    }
}

/// A message from string frames (test notation: `msg(&["a", "", "b"])`).
pub fn msg(frames: &[&str]) -> Msg {
    frames
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}

/// `front` followed by the frames of `rest`.
pub fn prefixed(front: &[&[u8]], rest: &Msg) -> Msg {
    let mut m: Msg = front.iter().map(|f| Bytes::copy_from_slice(f)).collect();
    for f in rest {
        m.push(f.clone());
    }
    m
}

// ---- randomness ----------------------------------------------------------------------------

/// A small xorshift PRNG, seeded from the clock (no dependency, good enough for jitter).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock.
    pub fn new() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Self(t | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

// ---- monitor helpers -----------------------------------------------------------------------

/// Waits (up to `limit`) for an event matching `pred` and returns it; the events before it are
/// consumed. Panics on timeout, listing what was seen.
pub async fn wait_event<D: Driver, R: Runtime>(
    monitor: &mut Monitor<R>,
    limit: Duration,
    what: &str,
    mut pred: impl FnMut(&SocketEvent) -> bool,
) -> SocketEvent {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout::<D, _>(left, monitor.next()).await {
            Some(Some(MonitorEvent::Socket(e))) if pred(&e) => return e,
            Some(Some(e)) => seen.push(e),
            Some(None) => panic!(
                "{}: monitor ended waiting for {what}; saw {seen:?}",
                D::NAME
            ),
            None => panic!(
                "{}: no {what} within {limit:?}; monitor saw {seen:?}",
                D::NAME
            ),
        }
    }
}

/// Every event already recorded (waits only for the monitor to yield what it holds).
pub async fn drain_events<D: Driver, R: Runtime>(monitor: &mut Monitor<R>) -> Vec<MonitorEvent> {
    let mut out = Vec::new();
    while let Some(Some(e)) = timeout::<D, _>(Duration::from_millis(1), monitor.next()).await {
        out.push(e);
    }
    out
}

/// True for a `HandshakeSucceeded` event.
pub fn is_handshake(e: &SocketEvent) -> bool {
    matches!(e, SocketEvent::HandshakeSucceeded { .. })
}

/// True for a `Disconnected` event.
pub fn is_disconnect(e: &SocketEvent) -> bool {
    matches!(e, SocketEvent::Disconnected { .. })
}
