//! The side-by-side benchmark harness: the same scenarios, with the same message counts, run
//! by our drivers, by other ZeroMQ implementations, and by a raw-TCP floor.
//!
//! Every implementation lives in its own module with one entry point, `run(scenario,
//! params)`, which sets up both ends, measures, and tears down. The rules, the same for all:
//!
//! - every send copies the payload once from a caller buffer (as `zmq_send` does); servers in
//!   round-trip scenarios echo the message they received without copying it;
//! - round-trip scenarios put both ends on one thread where the implementation allows it (one
//!   current-thread runtime, one compio runtime, one application thread for libzmq);
//! - streaming scenarios (PUSH→PULL, PUB→SUB) give every end its own thread and its own
//!   runtime or libzmq context, as separate processes would have;
//! - plain `send` loops, default options (except the high-water marks of the fan-out case,
//!   raised to the message count so that a lossless run is possible at all).
//!
//! The `bench-runner` binary runs one implementation × scenario in a fresh process and prints
//! one JSON line; `benches/compare.sh` interleaves them; `benches/plot.py` turns the lines into
//! the table and the plot of `docs/benchmarks.md`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub mod inproc_watch;
pub mod libzmq;
#[cfg(feature = "peers")]
pub mod monocoque;
#[cfg(feature = "peers")]
pub mod omq;
pub mod ours;
pub mod raw;
pub mod raw_compio;
pub mod raw_tokio;
pub mod zmqrs;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// REQ sends, REP echoes, REQ receives: `count` sequential round trips.
    ReqRep,
    /// DEALER sends, ROUTER echoes to the sender's identity, DEALER receives.
    DealerRouter,
    /// PUSH sends `count` messages as fast as it can, PULL receives all of them.
    PushPull,
    /// PUB sends `count` messages to `subscribers` SUBs subscribed to everything.
    PubSub,
}

impl Scenario {
    /// The scenario's name on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReqRep => "reqrep",
            Self::DealerRouter => "dealer",
            Self::PushPull => "pushpull",
            Self::PubSub => "pubsub",
        }
    }

    /// Whether the result is a latency (round trips) rather than a rate.
    pub fn is_round_trip(self) -> bool {
        matches!(self, Self::ReqRep | Self::DealerRouter)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "reqrep" => Self::ReqRep,
            "dealer" => Self::DealerRouter,
            "pushpull" => Self::PushPull,
            "pubsub" => Self::PubSub,
            other => return Err(format!("unknown scenario {other:?}")),
        })
    }
}

/// Parameters of one run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Payload bytes per message.
    pub size: usize,
    /// Round trips, or messages sent.
    pub count: u64,
    /// Subscribers of the fan-out scenario.
    pub subscribers: usize,
    /// The fan-out's send and receive high-water marks; 0 means `count + 1000` (room for
    /// every message, so that a lossless run is possible).
    pub hwm: u64,
}

impl Params {
    /// The high-water mark the fan-out scenario sets on the PUB and the SUBs.
    pub fn fanout_hwm(&self) -> u64 {
        if self.hwm == 0 {
            self.count + 1000
        } else {
            self.hwm
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    /// Time from the first timed send to the last timed receive.
    pub elapsed: Duration,
    /// Round trips completed or messages received (for the fan-out: by the subscriber that
    /// received fewest). Equal to `count` unless messages were lost.
    pub delivered: u64,
}

/// How long a receiver waits for a message before it concludes the rest were lost.
pub const LOSS_TIMEOUT: Duration = Duration::from_secs(3);

/// Loss detection for an async subscriber loop, the counterpart of the libzmq subscriber's
/// `ZMQ_RCVTIMEO`: [`LossTimer::recv`] gives up once [`LOSS_TIMEOUT`] (up to twice that)
/// passes without a message.
///
/// Wrapping every `recv` in a fresh `timeout()` instead reads the clock and registers a timer
/// per message, which costs the async implementations ~15 % of a 16 B fan-out in the harness
/// alone while libzmq, whose `recv` returns a queued message without looking at the clock,
/// pays nothing. Here one timer is armed per `LOSS_TIMEOUT`, and it is only polled while the
/// receive would wait.
pub struct LossTimer<S, F> {
    make: F,
    timer: std::pin::Pin<Box<S>>,
    /// A message arrived since the timer was armed.
    fresh: bool,
}

impl<S: std::future::Future<Output = ()>, F: Fn(Duration) -> S> LossTimer<S, F> {
    /// A timer made with `sleep` (the runtime's sleep function).
    pub fn new(sleep: F) -> Self {
        let timer = Box::pin(sleep(LOSS_TIMEOUT));
        Self {
            make: sleep,
            timer,
            fresh: false,
        }
    }

    /// `recv`'s output, or `None` once no message came for a whole [`LOSS_TIMEOUT`].
    pub async fn recv<R: std::future::Future>(&mut self, recv: R) -> Option<R::Output> {
        use std::task::Poll;
        let mut recv = std::pin::pin!(recv);
        loop {
            let timer = &mut self.timer;
            let outcome = std::future::poll_fn(|cx| {
                if let Poll::Ready(v) = recv.as_mut().poll(cx) {
                    return Poll::Ready(Some(v));
                }
                timer.as_mut().poll(cx).map(|()| None)
            })
            .await;
            match outcome {
                Some(v) => {
                    self.fresh = true;
                    return Some(v);
                }
                None if !self.fresh => return None,
                None => {
                    self.fresh = false;
                    self.timer = Box::pin((self.make)(LOSS_TIMEOUT));
                }
            }
        }
    }
}

/// The first byte of a timed payload; warm-up messages start with [`WARMUP_MARK`].
pub const DATA_MARK: u8 = b'd';
/// The first byte of a warm-up message.
pub const WARMUP_MARK: u8 = b'w';

/// The caller's buffer that every send copies from: `size` bytes starting with
/// [`DATA_MARK`].
pub fn payload(size: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    if let Some(first) = p.first_mut() {
        *first = DATA_MARK;
    }
    p
}

/// A warm-up message of `size` bytes (at least one) starting with [`WARMUP_MARK`].
pub fn warmup_payload(size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size.max(1)];
    p[0] = WARMUP_MARK;
    p
}

/// Whether a received body is a warm-up message rather than a timed one.
pub fn is_warmup(body: &[u8]) -> bool {
    body.first() == Some(&WARMUP_MARK)
}

/// Peak resident set size of this process in KiB (`VmHWM` in `/proc/self/status`).
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// An `io::Error` from anything printable (for peers whose errors are not `io::Error`).
pub fn io_err(e: impl fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Fan-out bookkeeping shared by the publisher and subscriber threads of every
/// implementation: how many subscribers have seen a warm-up message, when the timed sends
/// started, and what each subscriber received.
#[derive(Debug)]
pub struct FanOut {
    ready: std::sync::atomic::AtomicUsize,
    start: std::sync::OnceLock<std::time::Instant>,
    results: std::sync::Mutex<Vec<(u64, std::time::Instant)>>,
}

impl FanOut {
    /// Shared state for one fan-out run.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            ready: std::sync::atomic::AtomicUsize::new(0),
            start: std::sync::OnceLock::new(),
            results: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A subscriber saw its first warm-up message.
    pub fn subscriber_ready(&self) {
        self.ready.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many subscribers saw a warm-up message.
    pub fn ready_count(&self) -> usize {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The publisher is about to send the first timed message.
    pub fn mark_start(&self) {
        let _ = self.start.set(std::time::Instant::now());
    }

    /// A subscriber finished: it received `received` timed messages, the last at `last`.
    pub fn subscriber_done(&self, received: u64, last: std::time::Instant) {
        self.results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((received, last));
    }

    /// The measurement once every subscriber reported.
    pub fn measurement(&self) -> Measurement {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        if std::env::var_os("BENCH_DEBUG").is_some() {
            let counts: Vec<u64> = results.iter().map(|r| r.0).collect();
            eprintln!("per-subscriber timed messages received: {counts:?}");
        }
        let start = self
            .start
            .get()
            .copied()
            .unwrap_or_else(std::time::Instant::now);
        let end = results.iter().map(|r| r.1).max().unwrap_or(start);
        Measurement {
            elapsed: end.saturating_duration_since(start),
            delivered: results.iter().map(|r| r.0).min().unwrap_or(0),
        }
    }
}

/// Per-subscriber receive loop state for the fan-out scenario, shared by every
/// implementation: counts timed messages, ignores warm-ups, reports readiness once.
#[derive(Debug, Default)]
pub struct SubscriberTally {
    seen_warmup: bool,
    received: u64,
    last: Option<std::time::Instant>,
}

impl SubscriberTally {
    /// Accounts for one received body. Returns `true` once `count` timed messages arrived.
    pub fn on_message(&mut self, body: &[u8], fan: &FanOut, count: u64) -> bool {
        if is_warmup(body) {
            if !self.seen_warmup {
                self.seen_warmup = true;
                fan.subscriber_ready();
            }
            return false;
        }
        self.received += 1;
        if self.received >= count {
            self.last = Some(std::time::Instant::now());
            return true;
        }
        false
    }

    /// Timed messages received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Reports to `fan`. A subscriber that gave up after [`LOSS_TIMEOUT`] without a message
    /// counts its last message as received a timeout ago (a lossy run, reported as such).
    pub fn finish(self, fan: &FanOut) {
        let last = self.last.unwrap_or_else(|| {
            std::time::Instant::now()
                .checked_sub(LOSS_TIMEOUT)
                .unwrap_or_else(std::time::Instant::now)
        });
        fan.subscriber_done(self.received, last);
    }
}

/// How long the fan-out publisher keeps sending warm-up messages while waiting for every
/// subscriber to see one.
pub const WARMUP_LIMIT: Duration = Duration::from_secs(10);

/// The interval between the fan-out publisher's warm-up messages.
pub const WARMUP_INTERVAL: Duration = Duration::from_millis(20);

/// A compio runtime for this thread.
pub fn compio_runtime() -> std::io::Result<compio::runtime::Runtime> {
    compio::runtime::Runtime::new()
}
