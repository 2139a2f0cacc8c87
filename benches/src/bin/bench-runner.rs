//! Runs one implementation × scenario in this (fresh) process and prints one JSON line with
//! the result and the process's peak RSS (`VmHWM`).
//!
//! ```text
//! bench-runner IMPL SCENARIO SIZE COUNT [--subs N] [--hwm N] [--tag TEXT] [--timeout SECONDS]
//! bench-runner --list
//! ```
//!
//! IMPL: see `--list`. SCENARIO: reqrep, dealer, pushpull, pubsub. `--hwm` sets the fan-out's
//! high-water marks (default: the message count + 1000, so that no message need be dropped).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use zmtp_benches::{vm_hwm_kib, Measurement, Params, Scenario};

/// Implementations the runner knows, with a one-line description each.
const IMPLS: &[(&str, &str)] = &[
    ("tokio", "our driver-tokio (current-thread runtimes)"),
    (
        "compio",
        "our driver-compio (io_uring, one compio runtime per thread)",
    ),
    ("libzmq", "libzmq 4.3.4 through the zmq crate 0.10"),
    ("zmqrs", "zmq.rs (zeromq 0.7, tokio)"),
    (
        "omq",
        "omq.rs (omq-tokio 0.33, Socket::new on the caller's runtime)",
    ),
    (
        "monocoque",
        "monocoque-rs 0.4 default mode (io_uring/compio, eager writes)",
    ),
    (
        "monocoque-coalesce",
        "monocoque-rs 0.4 with explicit write coalescing + flush() after the burst",
    ),
    ("raw", "raw-TCP floor, blocking std sockets"),
    ("raw-compio", "raw-TCP floor over compio (io_uring)"),
    ("raw-tokio", "raw-TCP round-trip floor over tokio (epoll)"),
];

fn run(imp: &str, scenario: Scenario, params: &Params) -> std::io::Result<Measurement> {
    use zmtp_benches as b;
    match imp {
        "tokio" => b::ours::run::<driver_tokio::Tokio>(scenario, params),
        "compio" => b::ours::run::<driver_compio::Compio>(scenario, params),
        "libzmq" => b::libzmq::run(scenario, params),
        "zmqrs" => b::zmqrs::run(scenario, params),
        #[cfg(feature = "peers")]
        "omq" => b::omq::run(scenario, params),
        #[cfg(feature = "peers")]
        "monocoque" => b::monocoque::run(scenario, params, false),
        #[cfg(feature = "peers")]
        "monocoque-coalesce" => b::monocoque::run(scenario, params, true),
        #[cfg(not(feature = "peers"))]
        "omq" | "monocoque" | "monocoque-coalesce" => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "built without the `peers` feature (cargo build --release -p zmtp-benches --features peers)",
        )),
        "raw" => b::raw::run(scenario, params),
        "raw-compio" => b::raw_compio::run(scenario, params),
        "raw-tokio" => b::raw_tokio::run(scenario, params),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown implementation {other:?} (see --list)"),
        )),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Args {
    imp: String,
    scenario: Scenario,
    params: Params,
    tag: String,
    timeout: Duration,
}

fn parse() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut subs = 4;
    let mut hwm = 0;
    let mut tag = String::new();
    let mut timeout = Duration::from_secs(60);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                for (name, what) in IMPLS {
                    println!("{name:20} {what}");
                }
                std::process::exit(0);
            }
            "--subs" => {
                subs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--subs needs a number")?;
            }
            "--hwm" => {
                hwm = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--hwm needs a number")?;
            }
            "--tag" => tag = it.next().ok_or("--tag needs a value")?,
            "--timeout" => {
                timeout = Duration::from_secs(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--timeout needs seconds")?,
                );
            }
            _ => positional.push(a),
        }
    }
    let [imp, scenario, size, count] = <[String; 4]>::try_from(positional).map_err(|_| {
        "usage: bench-runner IMPL SCENARIO SIZE COUNT [--subs N] [--hwm N] [--tag T] [--timeout S]"
    })?;
    Ok(Args {
        imp,
        scenario: scenario.parse()?,
        params: Params {
            size: size.parse().map_err(|_| "SIZE must be a number")?,
            count: count.parse().map_err(|_| "COUNT must be a number")?,
            subscribers: subs,
            hwm,
        },
        tag,
        timeout,
    })
}

fn header(a: &Args) -> String {
    format!(
        "{{\"impl\":{},\"scenario\":\"{}\",\"size\":{},\"count\":{},\"subs\":{},\"tag\":{}",
        json_str(&a.imp),
        a.scenario,
        a.params.size,
        a.params.count,
        if a.scenario == Scenario::PubSub {
            a.params.subscribers
        } else {
            0
        },
        json_str(&a.tag),
    )
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let head = header(&args);
    // A watchdog: a hung implementation produces a failure line instead of nothing.
    let (watch_head, timeout) = (head.clone(), args.timeout);
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        emit(&format!(
            "{watch_head},\"ok\":false,\"error\":{},\"vmhwm_kib\":{}}}",
            json_str(&format!("timed out after {} s", timeout.as_secs())),
            vm_hwm_kib().unwrap_or(0)
        ));
        std::process::exit(2);
    });
    match run(&args.imp, args.scenario, &args.params) {
        Ok(m) => {
            let secs = m.elapsed.as_secs_f64().max(1e-9);
            let rate = m.delivered as f64 / secs;
            let rtt_us = if args.scenario.is_round_trip() {
                secs * 1e6 / m.delivered.max(1) as f64
            } else {
                0.0
            };
            emit(&format!(
                "{head},\"ok\":true,\"elapsed_s\":{secs:.6},\"delivered\":{},\"lost\":{},\"msgs_per_s\":{rate:.1},\"bytes_per_s\":{:.1},\"rtt_us\":{rtt_us:.3},\"vmhwm_kib\":{}}}",
                m.delivered,
                args.params.count.saturating_sub(m.delivered),
                rate * args.params.size as f64,
                vm_hwm_kib().unwrap_or(0),
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let unsupported = e.kind() == std::io::ErrorKind::Unsupported;
            emit(&format!(
                "{head},\"ok\":false,\"unsupported\":{unsupported},\"error\":{},\"vmhwm_kib\":{}}}",
                json_str(&e.to_string()),
                vm_hwm_kib().unwrap_or(0)
            ));
            if unsupported {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
