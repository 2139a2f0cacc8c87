//! One end of a WAN test (`scripts/wan.py`): sends or receives numbered messages on one of our
//! drivers and prints what happened as JSON lines with wall-clock times (seconds since the
//! epoch, comparable across the namespaces of one machine). `scripts/wan_peer_zmq.py` is the
//! same program on libzmq.
//!
//! ```text
//! wan-peer tokio|compio send|recv --type push|pull|pub|sub (--bind EP | --connect EP)
//!     [--count N] [--interval-ms MS] [--seconds S] [--size BYTES] [--hb-ivl MS]
//!     [--hb-timeout MS] [--trace]
//! ```
//!
//! `send` sends messages whose body starts with the decimal sequence number (0, 1, ...) and is
//! padded to `--size` bytes, `--interval-ms` apart (0: as fast as the socket takes them), until
//! `--count` are sent or `--seconds` have passed, then closes (linger 30 s). `recv` receives until
//! `--count` messages arrived or `--seconds` passed. Lines: `{"ev":"start"}`, monitor events
//! (`connected`, `accepted`, `handshake`, `disconnected` with the reason, `retried`,
//! `handshake_failed`), with `--trace` one `{"ev":"msg","seq":N}` per received message, and a
//! last `{"ev":"summary", ...}`: sent, or received, missing (sequence gaps), out of order
//! (duplicates or going back), first and last receive times.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::{join, select, Either};
use zmtp_async::{MonitorEvent, Runtime, Socket};
use zmtp_proto::{Msg, SocketType};
use zmtp_proto::{SocketEvent, SocketOptions};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn until<R: Runtime, F: Future>(deadline: Instant, f: F) -> Option<F::Output> {
    match select(pin!(f), R::sleep_until(deadline)).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

#[derive(Default)]
struct Args {
    send: bool,
    socket_type: Option<SocketType>,
    bind: Option<String>,
    connect: Option<String>,
    count: u64,
    interval_ms: u64,
    seconds: f64,
    size: usize,
    hb_ivl: Option<u64>,
    hb_timeout: Option<u64>,
    trace: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        count: u64::MAX,
        seconds: 60.0,
        size: 64,
        ..Args::default()
    };
    a.send = match args.get(1).map(String::as_str) {
        Some("send") => true,
        Some("recv") => false,
        _ => return Err("second argument: send or recv".into()),
    };
    let mut it = args[2..].iter();
    while let Some(flag) = it.next() {
        if flag == "--trace" {
            a.trace = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--type" => {
                a.socket_type = Some(match v.as_str() {
                    "push" => SocketType::Push,
                    "pull" => SocketType::Pull,
                    "pub" => SocketType::Pub,
                    "sub" => SocketType::Sub,
                    _ => return Err(format!("--type {v}")),
                });
            }
            "--bind" => a.bind = Some(v.clone()),
            "--connect" => a.connect = Some(v.clone()),
            "--count" => a.count = num()?,
            "--interval-ms" => a.interval_ms = num()?,
            "--seconds" => a.seconds = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--size" => a.size = num()? as usize,
            "--hb-ivl" => a.hb_ivl = Some(num()?),
            "--hb-timeout" => a.hb_timeout = Some(num()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.socket_type.is_none() || a.bind.is_some() == a.connect.is_some() {
        return Err("need --type and one of --bind, --connect".into());
    }
    Ok(a)
}

fn describe(event: &MonitorEvent) -> Option<(&'static str, String)> {
    Some(match event {
        MonitorEvent::Accepted { .. } => ("accepted", String::new()),
        MonitorEvent::Socket(SocketEvent::Connected { .. }) => ("connected", String::new()),
        MonitorEvent::Socket(SocketEvent::ConnectRetried { delay, .. }) => {
            ("retried", format!("{delay:?}"))
        }
        MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { .. }) => {
            ("handshake", String::new())
        }
        MonitorEvent::Socket(SocketEvent::HandshakeFailed { error, .. }) => {
            ("handshake_failed", format!("{error:?}"))
        }
        MonitorEvent::Socket(SocketEvent::Disconnected { error, .. }) => {
            ("disconnected", format!("{error:?}"))
        }
        _ => return None,
    })
}

async fn run<R: Runtime>(a: Args) -> bool {
    let mut options = SocketOptions::default();
    options.connection.heartbeat_ivl = a.hb_ivl.map(Duration::from_millis);
    options.connection.heartbeat_timeout = a.hb_timeout.map(Duration::from_millis);
    options.linger = Some(Duration::from_secs(30));
    let socket_type = a.socket_type.expect("checked");
    let socket = Socket::<R>::with_options(socket_type, options);
    let mut monitor = socket.monitor();
    if let Some(ep) = &a.bind {
        socket.bind(ep).await.expect("bind");
    }
    if let Some(ep) = &a.connect {
        socket.connect(ep).await.expect("connect");
    }
    if socket_type == SocketType::Sub {
        socket.subscribe(b"").await.expect("subscribe");
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.seconds);
    emit(&format!("{{\"ev\":\"start\",\"t\":{:.6}}}", now()));
    let finished = Cell::new(false);
    let summary = RefCell::new(String::new());
    let ok = Cell::new(true);

    let work = async {
        if a.send {
            let mut seq = 0u64;
            let mut next = Instant::now();
            while seq < a.count && Instant::now() < end {
                let mut body = seq.to_string().into_bytes();
                body.resize(a.size.max(body.len()), b' ');
                match until::<R, _>(end, socket.send(Msg::from(body))).await {
                    Some(Ok(())) => seq += 1,
                    Some(Err(e)) => {
                        emit(&format!(
                            "{{\"ev\":\"error\",\"t\":{:.6},\"detail\":\"{e}\"}}",
                            now()
                        ));
                        ok.set(false);
                        break;
                    }
                    None => break,
                }
                if a.interval_ms > 0 {
                    next = (next + Duration::from_millis(a.interval_ms)).max(Instant::now());
                    R::sleep_until(next).await;
                }
            }
            *summary.borrow_mut() = format!(
                "{{\"ev\":\"summary\",\"t\":{:.6},\"sent\":{seq},\"send_s\":{:.6}}}",
                now(),
                start.elapsed().as_secs_f64()
            );
        } else {
            let (mut received, mut missing, mut disorder) = (0u64, 0u64, 0u64);
            let mut expected = 0u64;
            let (mut first, mut last) = (0.0, 0.0);
            while received < a.count {
                let Some(msg) = until::<R, _>(end, socket.recv()).await else {
                    break;
                };
                let Ok(msg) = msg else { break };
                let t = now();
                let text = String::from_utf8_lossy(&msg[0]);
                let seq: u64 = text.trim().parse().unwrap_or(u64::MAX);
                if seq >= expected {
                    missing += seq - expected;
                    expected = seq + 1;
                } else {
                    disorder += 1;
                }
                if received == 0 {
                    first = t;
                }
                last = t;
                received += 1;
                if a.trace {
                    emit(&format!("{{\"ev\":\"msg\",\"t\":{t:.6},\"seq\":{seq}}}"));
                }
            }
            *summary.borrow_mut() = format!(
                "{{\"ev\":\"summary\",\"t\":{:.6},\"received\":{received},\"missing\":{missing},\"out_of_order\":{disorder},\"first_t\":{first:.6},\"last_t\":{last:.6}}}",
                now()
            );
        }
        finished.set(true);
    };
    let events = async {
        while !finished.get() {
            let poll = Instant::now() + Duration::from_millis(50);
            if let Some(Some(event)) = until::<R, _>(poll, monitor.next()).await {
                if let Some((name, detail)) = describe(&event) {
                    emit(&format!(
                        "{{\"ev\":\"{name}\",\"t\":{:.6},\"detail\":\"{detail}\"}}",
                        now()
                    ));
                }
            }
        }
    };
    join(work, events).await;
    socket.close().await;
    emit(&summary.borrow());
    ok.get()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wan-peer: {e}\nusage: wan-peer tokio|compio send|recv --type T (--bind EP | --connect EP) [...]");
            return ExitCode::from(2);
        }
    };
    let result = match args[0].as_str() {
        "tokio" => driver_tokio::Tokio::block_on(run::<driver_tokio::Tokio>(a)),
        "compio" => driver_compio::Compio::block_on(run::<driver_compio::Compio>(a)),
        other => {
            eprintln!("wan-peer: unknown driver {other}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("wan-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
