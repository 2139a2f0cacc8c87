//! A reproducer for a lost wake-up between two threads over `inproc://`: the loop of
//! `inproc-bench`'s two-thread REQ/REP round (a REP on this thread's runtime, a REQ on another
//! thread's), repeated, under `zmtp_benches::inproc_watch`'s watchdog (two seconds without
//! progress: a dump of each side's signal and pipes, then one wake-up at a time, exit 2).
//!
//! ```text
//! cargo run --release -p zmtp-benches --bin inproc-stall -- compio 200 50000
//! cargo run --release -p zmtp-benches --bin inproc-stall -- tokio 200 50000
//! ```
//!
//! Arguments: the driver (`compio`, `tokio`: current-thread runtimes, one per thread;
//! `tokio-mt`: multi-thread runtimes of two workers), the number of runs and the round trips
//! per run; a fourth argument `push` streams PUSH/PULL instead of REQ/REP.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zmtp_async::{Runtime, Signal, Socket};
use zmtp_benches::inproc_watch as watch;
use zmtp_proto::SocketType;

fn one_run<R: Runtime>(n: u64, push: bool) -> io::Result<Duration> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ep = format!("inproc://stall-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    R::block_on(async move {
        let (bind_ty, connect_ty) = if push {
            (SocketType::Pull, SocketType::Push)
        } else {
            (SocketType::Rep, SocketType::Req)
        };
        let server = Socket::<R>::new(bind_ty);
        server.bind(&ep).await?;
        let client = std::thread::spawn(move || {
            R::block_on(async move {
                let s = Socket::<R>::new(connect_ty);
                s.connect(&ep).await?;
                let body = [7u8; 16];
                let start = Instant::now();
                let mut entered = false;
                for _ in 0..n {
                    s.send_slice(&body).await?;
                    if !entered {
                        watch::enter(1, &s).await;
                        entered = true;
                    }
                    if !push {
                        std::hint::black_box(s.recv().await?);
                    }
                    watch::step(1);
                }
                let elapsed = start.elapsed();
                s.close().await;
                io::Result::Ok(elapsed)
            })
        });
        watch::enter(0, &server).await;
        let mut entered = false;
        for _ in 0..n {
            let m = server.recv().await?;
            if !entered {
                // The pipe exists once the first message arrived.
                watch::enter(0, &server).await;
                entered = true;
            }
            if !push {
                server.send(m).await?;
            }
            watch::step(0);
        }
        server.close().await;
        client.join().expect("client thread")?
    })?
}

fn run<R: Runtime>(runs: u64, n: u64, push: bool) -> io::Result<()> {
    watch::start(Duration::from_secs(2));
    let started = Instant::now();
    for i in 0..runs {
        watch::set_what(&format!("{} run {i}", R::NAME));
        let t = one_run::<R>(n, push)?;
        if i % 20 == 0 {
            eprintln!(
                "run {i}: {:.2} µs per message",
                t.as_secs_f64() * 1e6 / n as f64
            );
        }
    }
    watch::set_what("");
    eprintln!(
        "{runs} runs of {n} without a stall in {:?}",
        started.elapsed()
    );
    Ok(())
}

/// tokio's multi-thread runtime, two workers: driver tasks and application tasks on
/// different workers.
struct TokioMulti;

impl Runtime for TokioMulti {
    type Io = <driver_tokio::Tokio as Runtime>::Io;
    type Shared = <driver_tokio::Tokio as Runtime>::Shared;
    type Sleep = <driver_tokio::Tokio as Runtime>::Sleep;
    const NAME: &'static str = "tokio-mt";
    const WRITE_FULL_BATCH_INLINE: bool = driver_tokio::Tokio::WRITE_FULL_BATCH_INLINE;

    fn new_io(signal: &Arc<Signal>) -> Self::Io {
        driver_tokio::Tokio::new_io(signal)
    }

    fn spawn(task: zmtp_async::DriverTask<Self>) {
        tokio::spawn(task);
    }

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        driver_tokio::Tokio::sleep_until(deadline)
    }

    async fn bind(
        endpoint: &zmtp_proto::Endpoint,
        tcp: &zmtp_async::net::TcpSettings,
    ) -> io::Result<(<Self::Io as zmtp_async::Io>::Listener, String)> {
        driver_tokio::Tokio::bind(endpoint, tcp).await
    }

    fn block_on<F: std::future::Future>(future: F) -> io::Result<F::Output> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(future))
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let driver = args.get(1).map_or("compio", String::as_str);
    let runs = args.get(2).map_or(200, |a| a.parse().expect("runs"));
    let n = args
        .get(3)
        .map_or(50_000, |a| a.parse().expect("round trips"));
    let push = args.get(4).is_some_and(|a| a == "push");
    match driver {
        "compio" => run::<driver_compio::Compio>(runs, n, push),
        "tokio" => run::<driver_tokio::Tokio>(runs, n, push),
        "tokio-mt" => run::<TokioMulti>(runs, n, push),
        other => panic!("unknown driver {other}"),
    }
}
