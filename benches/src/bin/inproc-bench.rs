//! `inproc://` side by side, in one process, interleaved: our two drivers (both ends on one
//! thread, and the two ends on two threads with a runtime each) against libzmq's inproc (the
//! `zmq` crate: one context, the two ends on two threads, which is how its blocking API is
//! used). Every implementation copies the payload from a caller buffer once per send
//! (`send_slice` for ours, `zmq_send` for libzmq), and receives into a fresh message.
//!
//! ```text
//! cargo run --release -p zmtp-benches --bin inproc-bench            # 5 interleaved rounds
//! cargo run --release -p zmtp-benches --bin inproc-bench -- 9       # 9 rounds
//! cargo run --release -p zmtp-benches --features peers --bin inproc-bench   # with omq.rs
//! ```
//!
//! With the `peers` feature, omq.rs's inproc (`omq-tokio`) runs too: both ends on one
//! current-thread runtime, and each end on a thread with a runtime of its own.
//!
//! Prints one Markdown table of medians (min–max) for docs/benchmarks.md.
//!
//! Environment: `INPROC_WATCHDOG=SECONDS` starts a watchdog that reports a stall of our
//! implementations (see `zmtp_benches::inproc_watch`); `INPROC_BENCH_ONLY=TEXT` runs only the
//! implementations whose name contains `TEXT`; `INPROC_BENCH_DIV=N` divides every message
//! count by `N` (for a quick or a repeated run); `INPROC_BENCH_PARKS=1` prints, for every
//! two-thread streaming round of ours and libzmq's, how often each thread parked (voluntary
//! context switches per 1,000 messages).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join;
use zmtp_async::{Runtime, Socket};
use zmtp_benches::inproc_watch as watch;
use zmtp_proto::SocketType;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// PUSH → PULL streaming of `size`-byte messages.
    PushPull(usize),
    /// REQ → REP round trips of 16-byte messages.
    ReqRep,
}

impl Scenario {
    fn count(self) -> u64 {
        let full = match self {
            Self::PushPull(16) => 2_000_000,
            Self::PushPull(_) => 500_000,
            Self::ReqRep => 50_000,
        };
        (full / divisor()).max(2)
    }

    fn name(self) -> String {
        match self {
            Self::PushPull(size) => format!("PUSH/PULL {size} B (msg/s)"),
            Self::ReqRep => "REQ/REP round trip 16 B (µs)".to_owned(),
        }
    }
}

/// The calling thread's voluntary context switches so far (each time it parked), from
/// `/proc/thread-self/status`; 0 where that is not readable.
fn parks() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// With `INPROC_BENCH_PARKS=1`, prints one line per two-thread streaming round on stderr: the
/// rate and how many times each thread parked per 1,000 messages.
fn report_parks(who: &str, n: u64, elapsed: Duration, receiver: u64, sender: u64) {
    if std::env::var_os("INPROC_BENCH_PARKS").is_none() {
        return;
    }
    let per_k = |p: u64| p as f64 * 1000.0 / n as f64;
    eprintln!(
        "parks {who}: {:.2} M msg/s, receiver {:.2} / sender {:.2} parks per 1000 messages",
        n as f64 / elapsed.as_secs_f64() / 1e6,
        per_k(receiver),
        per_k(sender)
    );
}

fn divisor() -> u64 {
    static DIV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DIV.get_or_init(|| {
        std::env::var("INPROC_BENCH_DIV")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
            .max(1)
    })
}

fn endpoint() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://bench-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Elapsed time for `count` messages (streaming: timed at the receiver from the first message
/// to the last; round trips: the client's loop after one warm-up round trip).
type Run = fn(Scenario) -> io::Result<Duration>;

// ---- ours ---------------------------------------------------------------------------------

fn ours_same<R: Runtime>(s: Scenario) -> io::Result<Duration> {
    R::block_on(async move {
        match s {
            Scenario::PushPull(size) => {
                let pull = Socket::<R>::new(SocketType::Pull);
                let ep = endpoint();
                pull.bind(&ep).await?;
                let push = Socket::<R>::new(SocketType::Push);
                push.connect(&ep).await?;
                let body = vec![7u8; size];
                let n = s.count();
                let send = async {
                    for _ in 0..n {
                        push.send_slice(&body).await?;
                    }
                    io::Result::Ok(())
                };
                let recv = async {
                    std::hint::black_box(pull.recv().await?);
                    let start = Instant::now();
                    for _ in 1..n {
                        std::hint::black_box(pull.recv().await?);
                        watch::step(0);
                    }
                    io::Result::Ok(start.elapsed())
                };
                let (a, b) = join(send, recv).await;
                a?;
                b
            }
            Scenario::ReqRep => {
                let rep = Socket::<R>::new(SocketType::Rep);
                let ep = endpoint();
                rep.bind(&ep).await?;
                let req = Socket::<R>::new(SocketType::Req);
                req.connect(&ep).await?;
                let n = s.count();
                let serve = async {
                    for _ in 0..=n {
                        let m = rep.recv().await?;
                        rep.send(m).await?;
                        watch::step(0);
                    }
                    io::Result::Ok(())
                };
                let drive = async {
                    let body = [7u8; 16];
                    let mut start = Instant::now();
                    for i in 0..=n {
                        if i == 1 {
                            start = Instant::now();
                        }
                        req.send_slice(&body).await?;
                        std::hint::black_box(req.recv().await?);
                    }
                    io::Result::Ok(start.elapsed())
                };
                let (a, b) = join(serve, drive).await;
                a?;
                b
            }
        }
    })?
}

fn ours_threads<R: Runtime>(s: Scenario) -> io::Result<Duration> {
    let ep = endpoint();
    let n = s.count();
    match s {
        Scenario::PushPull(size) => R::block_on(async move {
            let pull = Socket::<R>::new(SocketType::Pull);
            pull.bind(&ep).await?;
            watch::enter(0, &pull).await;
            let sender = std::thread::spawn(move || {
                R::block_on(async move {
                    let push = Socket::<R>::new(SocketType::Push);
                    push.connect(&ep).await?;
                    let body = vec![7u8; size];
                    let before = parks();
                    for i in 0..n {
                        push.send_slice(&body).await?;
                        if i == 0 {
                            watch::enter(1, &push).await;
                        }
                        watch::step(1);
                    }
                    let sent = parks() - before;
                    push.close().await;
                    io::Result::Ok(sent)
                })
            });
            std::hint::black_box(pull.recv().await?);
            watch::enter(0, &pull).await;
            let before = parks();
            let start = Instant::now();
            for _ in 1..n {
                std::hint::black_box(pull.recv().await?);
                watch::step(0);
            }
            let elapsed = start.elapsed();
            let received = parks() - before;
            let sent = sender.join().expect("sender thread")??;
            report_parks(std::any::type_name::<R>(), n, elapsed, received, sent);
            io::Result::Ok(elapsed)
        })?,
        Scenario::ReqRep => R::block_on(async move {
            let rep = Socket::<R>::new(SocketType::Rep);
            rep.bind(&ep).await?;
            watch::enter(0, &rep).await;
            let client = std::thread::spawn(move || {
                R::block_on(async move {
                    let req = Socket::<R>::new(SocketType::Req);
                    req.connect(&ep).await?;
                    let body = [7u8; 16];
                    let mut start = Instant::now();
                    for i in 0..=n {
                        if i == 1 {
                            start = Instant::now();
                        }
                        req.send_slice(&body).await?;
                        if i == 0 {
                            watch::enter(1, &req).await;
                        }
                        std::hint::black_box(req.recv().await?);
                        watch::step(1);
                    }
                    let elapsed = start.elapsed();
                    req.close().await;
                    io::Result::Ok(elapsed)
                })
            });
            for i in 0..=n {
                let m = rep.recv().await?;
                if i == 0 {
                    watch::enter(0, &rep).await;
                }
                rep.send(m).await?;
                watch::step(0);
            }
            // Let the last reply leave before this socket goes.
            rep.close().await;
            client.join().expect("client thread")?
        })?,
    }
}

// ---- libzmq -------------------------------------------------------------------------------

fn zmq_err(e: zmq::Error) -> io::Error {
    io::Error::other(e)
}

fn libzmq(s: Scenario) -> io::Result<Duration> {
    let ctx = zmq::Context::new();
    let ep = endpoint();
    let n = s.count();
    match s {
        Scenario::PushPull(size) => {
            let pull = ctx.socket(zmq::PULL).map_err(zmq_err)?;
            pull.bind(&ep).map_err(zmq_err)?;
            let ctx2 = ctx.clone();
            let ep2 = ep.clone();
            let sender = std::thread::spawn(move || -> io::Result<u64> {
                let push = ctx2.socket(zmq::PUSH).map_err(zmq_err)?;
                push.connect(&ep2).map_err(zmq_err)?;
                let body = vec![7u8; size];
                let before = parks();
                for _ in 0..n {
                    push.send(&body[..], 0).map_err(zmq_err)?;
                }
                Ok(parks() - before)
            });
            let mut msg = zmq::Message::new();
            pull.recv(&mut msg, 0).map_err(zmq_err)?;
            let before = parks();
            let start = Instant::now();
            for _ in 1..n {
                pull.recv(&mut msg, 0).map_err(zmq_err)?;
                std::hint::black_box(&msg);
            }
            let elapsed = start.elapsed();
            let received = parks() - before;
            let sent = sender.join().expect("sender thread")?;
            report_parks("libzmq", n, elapsed, received, sent);
            Ok(elapsed)
        }
        Scenario::ReqRep => {
            let rep = ctx.socket(zmq::REP).map_err(zmq_err)?;
            rep.bind(&ep).map_err(zmq_err)?;
            let ctx2 = ctx.clone();
            let server = std::thread::spawn(move || -> io::Result<()> {
                let mut msg = zmq::Message::new();
                for _ in 0..=n {
                    rep.recv(&mut msg, 0).map_err(zmq_err)?;
                    rep.send(&msg[..], 0).map_err(zmq_err)?;
                }
                Ok(())
            });
            let req = ctx2.socket(zmq::REQ).map_err(zmq_err)?;
            req.connect(&ep).map_err(zmq_err)?;
            let body = [7u8; 16];
            let mut msg = zmq::Message::new();
            let mut start = Instant::now();
            for i in 0..=n {
                if i == 1 {
                    start = Instant::now();
                }
                req.send(&body[..], 0).map_err(zmq_err)?;
                req.recv(&mut msg, 0).map_err(zmq_err)?;
            }
            let elapsed = start.elapsed();
            server.join().expect("server thread")?;
            Ok(elapsed)
        }
    }
}

// ---- omq.rs -------------------------------------------------------------------------------

/// omq.rs's inproc (`omq-tokio`, standalone sockets, whose names are process-wide): both ends
/// on one current-thread runtime, or each end on a thread with a runtime of its own. omq's
/// default linger is zero, so a sender's runtime keeps running until its receiver is done.
#[cfg(feature = "peers")]
mod omq {
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use omq_tokio::{Message, Options, Socket, SocketType};

    use super::{endpoint, Scenario};

    fn err(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(e.to_string())
    }

    fn runtime() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }

    async fn wait_for(flag: &AtomicBool) {
        while !flag.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub(crate) fn same(s: Scenario) -> io::Result<Duration> {
        let n = s.count();
        runtime()?.block_on(async move {
            let (bind_ty, connect_ty) = match s {
                Scenario::PushPull(_) => (SocketType::Pull, SocketType::Push),
                Scenario::ReqRep => (SocketType::Rep, SocketType::Req),
            };
            let server = Socket::new(bind_ty, Options::default());
            let ep = server.bind(endpoint().as_str()).await.map_err(err)?;
            let client = Socket::new(connect_ty, Options::default());
            client.connect(ep).await.map_err(err)?;
            match s {
                Scenario::PushPull(size) => {
                    let body = vec![7u8; size];
                    let send = async {
                        for _ in 0..n {
                            client.send(Message::from_slice(&body)).await.map_err(err)?;
                        }
                        io::Result::Ok(())
                    };
                    let recv = async {
                        std::hint::black_box(server.recv().await.map_err(err)?);
                        let start = Instant::now();
                        for _ in 1..n {
                            std::hint::black_box(server.recv().await.map_err(err)?);
                        }
                        io::Result::Ok(start.elapsed())
                    };
                    let (a, b) = tokio::join!(send, recv);
                    a?;
                    b
                }
                Scenario::ReqRep => {
                    let serve = async {
                        for _ in 0..=n {
                            let m = server.recv().await.map_err(err)?;
                            server.send(m).await.map_err(err)?;
                        }
                        io::Result::Ok(())
                    };
                    let drive = async {
                        let body = [7u8; 16];
                        let mut start = Instant::now();
                        for i in 0..=n {
                            if i == 1 {
                                start = Instant::now();
                            }
                            client.send(Message::from_slice(&body)).await.map_err(err)?;
                            std::hint::black_box(client.recv().await.map_err(err)?);
                        }
                        io::Result::Ok(start.elapsed())
                    };
                    let (a, b) = tokio::join!(serve, drive);
                    a?;
                    b
                }
            }
        })
    }

    pub(crate) fn threads(s: Scenario) -> io::Result<Duration> {
        let n = s.count();
        let rt = runtime()?;
        let (bind_ty, connect_ty) = match s {
            Scenario::PushPull(_) => (SocketType::Pull, SocketType::Push),
            Scenario::ReqRep => (SocketType::Rep, SocketType::Req),
        };
        let (server, ep) = rt.block_on(async {
            let server = Socket::new(bind_ty, Options::default());
            let ep = server.bind(endpoint().as_str()).await.map_err(err)?;
            io::Result::Ok((server, ep))
        })?;
        let done = Arc::new(AtomicBool::new(false));
        let client_done = done.clone();
        let client = std::thread::spawn(move || -> io::Result<Duration> {
            runtime()?.block_on(async move {
                let c = Socket::new(connect_ty, Options::default());
                c.connect(ep).await.map_err(err)?;
                let mut start = Instant::now();
                match s {
                    Scenario::PushPull(size) => {
                        let body = vec![7u8; size];
                        for _ in 0..n {
                            c.send(Message::from_slice(&body)).await.map_err(err)?;
                        }
                    }
                    Scenario::ReqRep => {
                        let body = [7u8; 16];
                        for i in 0..=n {
                            if i == 1 {
                                start = Instant::now();
                            }
                            c.send(Message::from_slice(&body)).await.map_err(err)?;
                            std::hint::black_box(c.recv().await.map_err(err)?);
                        }
                    }
                }
                let elapsed = start.elapsed();
                wait_for(&client_done).await;
                Ok(elapsed)
            })
        });
        let measured = rt.block_on(async {
            match s {
                Scenario::PushPull(_) => {
                    std::hint::black_box(server.recv().await.map_err(err)?);
                    let start = Instant::now();
                    for _ in 1..n {
                        std::hint::black_box(server.recv().await.map_err(err)?);
                    }
                    io::Result::Ok(Some(start.elapsed()))
                }
                Scenario::ReqRep => {
                    for _ in 0..=n {
                        let m = server.recv().await.map_err(err)?;
                        server.send(m).await.map_err(err)?;
                    }
                    io::Result::Ok(None)
                }
            }
        });
        // The last reply must reach the client before this side goes (linger zero).
        if matches!(s, Scenario::ReqRep) {
            std::thread::sleep(Duration::from_millis(1));
        }
        done.store(true, Ordering::Release);
        let client_elapsed = client.join().map_err(|_| err("client panicked"))??;
        Ok(measured?.unwrap_or(client_elapsed))
    }
}

// ---- the run ------------------------------------------------------------------------------

fn main() -> io::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(5, |a| a.parse().expect("a number of rounds"));
    if let Some(secs) = std::env::var("INPROC_WATCHDOG")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        watch::start(Duration::from_secs(secs));
    }
    let only = std::env::var("INPROC_BENCH_ONLY").unwrap_or_default();
    let mut impls: Vec<(&str, Run)> = vec![
        ("tokio, one thread", ours_same::<driver_tokio::Tokio>),
        ("tokio, two threads", ours_threads::<driver_tokio::Tokio>),
        ("compio, one thread", ours_same::<driver_compio::Compio>),
        ("compio, two threads", ours_threads::<driver_compio::Compio>),
    ];
    #[cfg(feature = "peers")]
    {
        impls.push(("omq.rs 0.33 inproc, one thread", omq::same));
        impls.push(("omq.rs 0.33 inproc, two threads", omq::threads));
    }
    // The reference, last.
    impls.push(("libzmq 4.3 inproc, two threads", libzmq));
    let scenarios = [
        Scenario::PushPull(16),
        Scenario::PushPull(1024),
        Scenario::ReqRep,
    ];
    // results[scenario][impl] = one value per round.
    let mut results = vec![vec![Vec::new(); impls.len()]; scenarios.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (si, &s) in scenarios.iter().enumerate() {
            for (ii, (name, run)) in impls.iter().enumerate() {
                if !name.contains(only.as_str()) {
                    results[si][ii].push(f64::NAN);
                    continue;
                }
                // libzmq's loops do not count for the watchdog: it pauses.
                let what = format!("round {} {} {name}", round + 1, s.name());
                watch::set_what(if name.starts_with("libzmq") {
                    ""
                } else {
                    &what
                });
                let elapsed = run(s)?;
                watch::set_what("");
                let value = match s {
                    Scenario::PushPull(_) => (s.count() - 1) as f64 / elapsed.as_secs_f64(),
                    Scenario::ReqRep => elapsed.as_secs_f64() * 1e6 / s.count() as f64,
                };
                results[si][ii].push(value);
            }
        }
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    println!("CPU: {cpu}; {rounds} interleaved rounds; median (min–max); ratio vs libzmq's inproc");
    println!();
    println!("| scenario | implementation | median | min–max | vs libzmq |");
    println!("|---|---|---:|---:|---:|");
    for (si, &s) in scenarios.iter().enumerate() {
        let libzmq_median = median(&results[si][impls.len() - 1]);
        for (ii, (name, _)) in impls.iter().enumerate() {
            let v = &results[si][ii];
            if v.iter().all(|x| x.is_nan()) {
                // Not run (INPROC_BENCH_ONLY).
                continue;
            }
            let m = median(v);
            let (lo, hi) = min_max(v);
            let ratio = match s {
                // Higher is better for throughput, lower for latency: "× better".
                Scenario::PushPull(_) => m / libzmq_median,
                Scenario::ReqRep => libzmq_median / m,
            };
            let fmt = |x: f64| match s {
                Scenario::PushPull(_) => format!("{:.2} M", x / 1e6),
                Scenario::ReqRep => format!("{x:.2}"),
            };
            println!(
                "| {} | {name} | {} | {}–{} | {ratio:.2}× |",
                s.name(),
                fmt(m),
                fmt(lo),
                fmt(hi)
            );
        }
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}
