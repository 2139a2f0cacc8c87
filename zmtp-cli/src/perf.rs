//! `zmtp perf`: libzmq's four perf tools, and a one-process loopback summary.
//!
//! The output lines of the four tools are those of libzmq's `local_lat`, `remote_lat`,
//! `local_thr` and `remote_thr`, number formats included, so scripts that parse them work
//! unchanged. Two deliberate differences: the latency clock starts once the connection's
//! handshake has completed (libzmq's includes connection setup in the first round trip), and
//! servers print a `bound` line on stderr.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_proto::{Msg, SocketType};
use zmtp_proto::{SocketEvent, SocketOptions};

use zmtp_async::{Runtime, Socket};

use crate::backend::Event;
use crate::drivers::{self, with_backend, DriverName};
use crate::{CmdResult, Failure, PerfEnd, PerfMode};

/// Runs `zmtp perf`.
pub(crate) fn run(driver: Option<DriverName>, mode: Option<PerfMode>) -> CmdResult {
    match mode {
        Some(mode) => {
            let driver = drivers::resolve(driver);
            with_backend!(driver, B => run_tool::<B>(&mode))
        }
        None => summary(driver),
    }
}

fn block_on<B: Runtime, T>(fut: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    B::block_on(fut)
        .map_err(|e| Failure::error(format!("cannot start the {} runtime: {e}", B::NAME)))?
}

/// One of the four libzmq-compatible tools.
fn run_tool<B: Runtime>(mode: &PerfMode) -> CmdResult {
    block_on::<B, ()>(async {
        match mode {
            PerfMode::LatServer(end) => {
                let rep = bound::<B>(SocketType::Rep, &end.endpoint).await?;
                echo(&rep, end).await?;
                rep.close().await;
            }
            PerfMode::LatClient(end) => {
                let req = connected::<B>(SocketType::Req, &end.endpoint).await?;
                let elapsed = round_trips(&req, end).await?;
                req.close().await;
                print_latency(end, elapsed);
            }
            PerfMode::ThrServer(end) => {
                let pull = bound::<B>(SocketType::Pull, &end.endpoint).await?;
                let elapsed = receive(&pull, end).await?;
                pull.close().await;
                print_throughput(end, elapsed);
            }
            PerfMode::ThrClient(end) => {
                let push = Socket::<B>::with_options(SocketType::Push, perf_options());
                push.connect(&end.endpoint).await.map_err(|e| {
                    Failure::error(format!("cannot connect to {}: {e}", end.endpoint))
                })?;
                send(&push, end).await?;
                // Like remote_thr's zmq_close: everything queued is delivered before exit.
                push.close().await;
            }
        }
        Ok(())
    })
}

/// libzmq's defaults: in particular an unlimited linger, so that closing delivers everything.
fn perf_options() -> SocketOptions {
    SocketOptions::default()
}

/// A socket bound to `endpoint`, with the `bound` line printed.
async fn bound<B: Runtime>(socket_type: SocketType, endpoint: &str) -> Result<Socket<B>, Failure> {
    let socket = Socket::<B>::with_options(socket_type, perf_options());
    let resolved = socket
        .bind(endpoint)
        .await
        .map_err(|e| Failure::error(format!("cannot bind {endpoint}: {e}")))?;
    eprintln!("bound {resolved}");
    Ok(socket)
}

/// A socket connected to `endpoint`, returned once its handshake has completed.
async fn connected<B: Runtime>(
    socket_type: SocketType,
    endpoint: &str,
) -> Result<Socket<B>, Failure> {
    let socket = Socket::<B>::with_options(socket_type, perf_options());
    let mut monitor = socket.monitor();
    socket
        .connect(endpoint)
        .await
        .map_err(|e| Failure::error(format!("cannot connect to {endpoint}: {e}")))?;
    let mut warned = false;
    loop {
        match monitor.next().await {
            Some(Event::Socket(SocketEvent::HandshakeSucceeded { .. })) => return Ok(socket),
            Some(Event::Socket(SocketEvent::HandshakeFailed { error, .. }))
                if error.is_handshake_refusal() =>
            {
                return Err(Failure::error(format!("{endpoint}: {error}")));
            }
            Some(Event::Socket(SocketEvent::HandshakeFailed { error, .. })) => {
                // The socket redials; say it once.
                if !warned {
                    eprintln!("zmtp: handshake with {endpoint} failed: {error}");
                    warned = true;
                }
            }
            Some(_) => {}
            None => return Err(Failure::error("the socket closed before connecting")),
        }
    }
}

fn check_size(msg: &Msg, size: usize) -> CmdResult {
    if msg.len() == 1 && msg[0].len() == size {
        Ok(())
    } else {
        Err(Failure::error(format!(
            "message of incorrect size received ({} bytes in {} frames, expected {size} bytes)",
            msg.byte_len(),
            msg.len()
        )))
    }
}

fn io_failure(what: &'static str) -> impl Fn(std::io::Error) -> Failure {
    move |e| Failure::error(format!("{what} failed: {e}"))
}

/// lat-server: echo `count` messages.
async fn echo<R: Runtime>(rep: &Socket<R>, end: &PerfEnd) -> CmdResult {
    for _ in 0..end.count {
        let msg = rep.recv().await.map_err(io_failure("receive"))?;
        check_size(&msg, end.size)?;
        rep.send(msg).await.map_err(io_failure("send"))?;
    }
    Ok(())
}

/// lat-client: `count` round trips; returns their total time.
async fn round_trips<R: Runtime>(req: &Socket<R>, end: &PerfEnd) -> Result<Duration, Failure> {
    let payload = Bytes::from(vec![0u8; end.size]);
    let start = Instant::now();
    for _ in 0..end.count {
        req.send(Msg::from(payload.clone()))
            .await
            .map_err(io_failure("send"))?;
        let reply = req.recv().await.map_err(io_failure("receive"))?;
        check_size(&reply, end.size)?;
    }
    Ok(start.elapsed())
}

/// thr-server: receive `count` messages; returns the time from the first to the last.
async fn receive<R: Runtime>(pull: &Socket<R>, end: &PerfEnd) -> Result<Duration, Failure> {
    let first = pull.recv().await.map_err(io_failure("receive"))?;
    check_size(&first, end.size)?;
    let start = Instant::now();
    for _ in 1..end.count {
        let msg = pull.recv().await.map_err(io_failure("receive"))?;
        check_size(&msg, end.size)?;
    }
    Ok(start.elapsed())
}

/// thr-client: send `count` messages.
async fn send<R: Runtime>(push: &Socket<R>, end: &PerfEnd) -> CmdResult {
    let payload = Bytes::from(vec![0u8; end.size]);
    for _ in 0..end.count {
        push.send(Msg::from(payload.clone()))
            .await
            .map_err(io_failure("send"))?;
    }
    Ok(())
}

/// Microseconds, as libzmq's stopwatch counts them (at least 1).
fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// remote_lat's result: half the mean round trip, in microseconds.
fn latency_us(end: &PerfEnd, elapsed: Duration) -> f64 {
    micros(elapsed) as f64 / (end.count * 2) as f64
}

/// local_thr's results: messages per second (truncated, as libzmq does) and megabits per
/// second derived from it.
fn throughput(end: &PerfEnd, elapsed: Duration) -> (u64, f64) {
    let per_second = (end.count as f64 / micros(elapsed) as f64 * 1_000_000.0) as u64;
    let megabits = per_second.saturating_mul(end.size as u64 * 8) as f64 / 1_000_000.0;
    (per_second, megabits)
}

fn print_latency(end: &PerfEnd, elapsed: Duration) {
    println!("message size: {} [B]", end.size);
    println!("roundtrip count: {}", end.count);
    println!("average latency: {:.3} [us]", latency_us(end, elapsed));
}

fn print_throughput(end: &PerfEnd, elapsed: Duration) {
    let (per_second, megabits) = throughput(end, elapsed);
    println!("message size: {} [B]", end.size);
    println!("message count: {}", end.count);
    println!("mean throughput: {per_second} [msg/s]");
    println!("mean throughput: {megabits:.3} [Mb/s]");
}

// ---- the one-process summary ----------------------------------------------------------------

/// How long each measurement of the summary aims to run.
const TARGET: Duration = Duration::from_millis(700);

/// One measurement of the summary.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// REQ/REP round trips of 16 B.
    Latency,
    /// PUSH/PULL of `size`-byte messages.
    Throughput(usize),
}

impl Scenario {
    const ALL: [Self; 3] = [Self::Latency, Self::Throughput(16), Self::Throughput(1024)];

    fn label(self) -> &'static str {
        match self {
            Self::Latency => "latency 16 B",
            Self::Throughput(16) => "throughput 16 B",
            Self::Throughput(_) => "throughput 1 KiB",
        }
    }

    /// Messages (or round trips) of the short calibration run.
    fn probe_count(self) -> u64 {
        match self {
            Self::Latency => 500,
            Self::Throughput(_) => 20_000,
        }
    }
}

/// A measured result.
#[derive(Debug, Clone, Copy)]
enum Measured {
    LatencyUs(f64),
    Throughput { per_second: u64, megabits: f64 },
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::LatencyUs(us) => write!(f, "{us:.2} us"),
            Self::Throughput {
                per_second,
                megabits,
            } => write!(
                f,
                "{:.2} M msg/s, {:.0} Mb/s",
                per_second as f64 / 1e6,
                megabits
            ),
        }
    }
}

/// Progress on stderr: one updating line on a terminal, one line per step otherwise.
struct Progress {
    terminal: bool,
    total: usize,
    done: usize,
}

impl Progress {
    fn step(&mut self, driver: &str, scenario: Scenario) {
        self.done += 1;
        let text = format!(
            "zmtp perf [{}/{}] {driver}: {}...",
            self.done,
            self.total,
            scenario.label()
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{text}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

/// `zmtp perf` without arguments: each scenario with each driver, both ends in this process
/// on loopback, then a table on stdout.
fn summary(requested: Option<DriverName>) -> CmdResult {
    let drivers: Vec<DriverName> = match requested {
        Some(name) => vec![drivers::resolve(Some(name))],
        None => drivers::AVAILABLE.to_vec(),
    };
    let mut progress = Progress {
        terminal: std::io::stderr().is_terminal(),
        total: drivers.len() * Scenario::ALL.len(),
        done: 0,
    };
    let mut rows = Vec::new();
    for &driver in &drivers {
        let mut row = Vec::new();
        for scenario in Scenario::ALL {
            progress.step(drivers::label(driver), scenario);
            let result = with_backend!(driver, B => measure::<B>(scenario));
            let result = result.inspect_err(|_| progress.finish())?;
            row.push(result);
        }
        rows.push((driver, row));
    }
    progress.finish();
    print_table(&rows);
    Ok(())
}

/// Runs `scenario` briefly to estimate its speed, then for about [`TARGET`].
fn measure<B: Runtime>(scenario: Scenario) -> Result<Measured, Failure> {
    let probe = scenario.probe_count();
    let took = run_pair::<B>(scenario, probe)?;
    let scale = TARGET.as_secs_f64() / took.as_secs_f64().max(1e-6);
    let count = ((probe as f64 * scale) as u64).clamp(probe, 50_000_000);
    let elapsed = run_pair::<B>(scenario, count)?;
    let end = PerfEnd {
        endpoint: String::new(),
        size: match scenario {
            Scenario::Latency => 16,
            Scenario::Throughput(size) => size,
        },
        count,
    };
    Ok(match scenario {
        Scenario::Latency => Measured::LatencyUs(latency_us(&end, elapsed)),
        Scenario::Throughput(_) => {
            let (per_second, megabits) = throughput(&end, elapsed);
            Measured::Throughput {
                per_second,
                megabits,
            }
        }
    })
}

/// Both ends of `scenario` on loopback on one thread and runtime (on a small machine this
/// measures the driver rather than cross-core wake-ups); returns the time the measuring end
/// took.
fn run_pair<B: Runtime>(scenario: Scenario, count: u64) -> Result<Duration, Failure> {
    let (size, server_type) = match scenario {
        Scenario::Latency => (16, SocketType::Rep),
        Scenario::Throughput(size) => (size, SocketType::Pull),
    };
    block_on::<B, Duration>(async {
        let server = Socket::<B>::with_options(server_type, perf_options());
        let endpoint = server
            .bind("tcp://127.0.0.1:*")
            .await
            .map_err(io_failure("bind"))?;
        let end = PerfEnd {
            endpoint,
            size,
            count,
        };
        match scenario {
            Scenario::Latency => {
                let req = connected::<B>(SocketType::Req, &end.endpoint).await?;
                let ((), elapsed) =
                    futures_util::future::try_join(echo(&server, &end), round_trips(&req, &end))
                        .await?;
                Ok(elapsed)
            }
            Scenario::Throughput(_) => {
                let push = Socket::<B>::with_options(SocketType::Push, perf_options());
                push.connect(&end.endpoint)
                    .await
                    .map_err(io_failure("connect"))?;
                let ((), elapsed) =
                    futures_util::future::try_join(send(&push, &end), receive(&server, &end))
                        .await?;
                Ok(elapsed)
            }
        }
    })
}

fn print_table(rows: &[(DriverName, Vec<Measured>)]) {
    let width = rows
        .iter()
        .map(|(d, _)| drivers::label(*d).len())
        .max()
        .unwrap_or(0)
        .max("driver".len());
    let mut header = format!("{:<width$}", "driver");
    for scenario in Scenario::ALL {
        header.push_str(&format!("  {:<26}", scenario.label()));
    }
    println!("{}", header.trim_end());
    for (driver, results) in rows {
        let mut line = format!("{:<width$}", drivers::label(*driver));
        for result in results {
            line.push_str(&format!("  {:<26}", result.to_string()));
        }
        println!("{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(size: usize, count: u64) -> PerfEnd {
        PerfEnd {
            endpoint: String::new(),
            size,
            count,
        }
    }

    #[test]
    fn latency_is_half_the_mean_round_trip() {
        // 1000 round trips in 30 ms: 30 us each, 15 us one way.
        let l = latency_us(&end(16, 1000), Duration::from_millis(30));
        assert!((l - 15.0).abs() < 1e-9);
    }

    #[test]
    fn throughput_follows_local_thr() {
        // 1,000,000 messages of 100 B in 2 s.
        let (per_second, megabits) = throughput(&end(100, 1_000_000), Duration::from_secs(2));
        assert_eq!(per_second, 500_000);
        assert!((megabits - 400.0).abs() < 1e-9);
        // A zero elapsed time counts as one microsecond, as in libzmq.
        assert_eq!(throughput(&end(1, 3), Duration::ZERO).0, 3_000_000);
    }
}
