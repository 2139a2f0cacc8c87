//! PUSH → proxy → PULL over TCP, one run in this (fresh) process, printed as one JSON line.
//!
//! ```text
//! proxy-runner PROXY ENDS SIZE COUNT [--timeout SECONDS]
//! ```
//!
//! PROXY: `libzmq` (`zmq_proxy` of libzmq 4.3.4, the `zmq` crate), `tokio` or `compio` (our
//! `zmtp_async::proxy` on that driver). ENDS: `libzmq` (the producer and the consumer are
//! libzmq sockets whatever the proxy, so only the proxy differs) or `ours` (the producer and
//! the consumer use the proxy's driver; not with a libzmq proxy).
//!
//! Three threads, each with its own runtime or libzmq context, as three processes would have:
//! the proxy binds a PULL (frontend) and a PUSH (backend); the producer's PUSH connects to the
//! frontend and sends a warm-up message then COUNT messages of SIZE bytes, each copied once
//! from one buffer; the consumer's PULL connects to the backend and times from the warm-up
//! message to the last one. Default options (high-water marks of 1000) everywhere.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zmtp_async::{Runtime, Socket};
use zmtp_benches::{io_err, is_warmup, payload, vm_hwm_kib, warmup_payload};
use zmtp_proto::SocketType;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Impl {
    Libzmq,
    Tokio,
    Compio,
}

/// Starts the proxy on a thread of its own; returns the frontend and backend endpoints. The
/// thread runs until the process exits.
fn start_proxy(imp: Impl) -> io::Result<(String, String)> {
    let (tx, rx) = mpsc::channel();
    match imp {
        Impl::Libzmq => {
            std::thread::spawn(move || {
                let ctx = zmq::Context::new();
                let front = ctx.socket(zmq::PULL).expect("socket");
                let back = ctx.socket(zmq::PUSH).expect("socket");
                front.bind("tcp://127.0.0.1:*").expect("bind");
                back.bind("tcp://127.0.0.1:*").expect("bind");
                let ep = |s: &zmq::Socket| s.get_last_endpoint().expect("ep").expect("utf-8");
                let _ = tx.send((ep(&front), ep(&back)));
                let _ = zmq::proxy(&front, &back);
            });
        }
        Impl::Tokio => spawn_ours::<driver_tokio::Tokio>(tx),
        Impl::Compio => spawn_ours::<driver_compio::Compio>(tx),
    }
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| io_err("the proxy did not start"))
}

fn spawn_ours<R: Runtime>(tx: mpsc::Sender<(String, String)>) {
    std::thread::spawn(move || {
        R::block_on(async {
            let front = Socket::<R>::new(SocketType::Pull);
            let back = Socket::<R>::new(SocketType::Push);
            let f = front.bind("tcp://127.0.0.1:*").await.expect("bind");
            let b = back.bind("tcp://127.0.0.1:*").await.expect("bind");
            let _ = tx.send((f, b));
            let _ = zmtp_async::proxy(&front, &back, None).await;
        })
        .expect("runtime");
    });
}

/// The producer: a warm-up message, then `count` messages of `size` bytes.
fn start_producer(
    ends: Impl,
    endpoint: String,
    size: usize,
    count: u64,
) -> std::thread::JoinHandle<io::Result<()>> {
    std::thread::spawn(move || match ends {
        Impl::Libzmq => {
            let ctx = zmq::Context::new();
            let push = ctx.socket(zmq::PUSH).map_err(io_err)?;
            push.connect(&endpoint).map_err(io_err)?;
            let body = payload(size);
            push.send(warmup_payload(size), 0).map_err(io_err)?;
            for _ in 0..count {
                push.send(&body[..], 0).map_err(io_err)?;
            }
            Ok(())
        }
        Impl::Tokio => produce_ours::<driver_tokio::Tokio>(&endpoint, size, count),
        Impl::Compio => produce_ours::<driver_compio::Compio>(&endpoint, size, count),
    })
}

fn produce_ours<R: Runtime>(endpoint: &str, size: usize, count: u64) -> io::Result<()> {
    R::block_on(async {
        let push = Socket::<R>::new(SocketType::Push);
        push.connect(endpoint).await?;
        let body = payload(size);
        push.send(warmup_payload(size)).await?;
        for _ in 0..count {
            push.send_slice(&body).await?;
        }
        push.close().await;
        Ok(())
    })?
}

/// The consumer, on this thread: the time from the warm-up message to the last one.
fn consume(ends: Impl, endpoint: &str, count: u64) -> io::Result<Duration> {
    match ends {
        Impl::Libzmq => {
            let ctx = zmq::Context::new();
            let pull = ctx.socket(zmq::PULL).map_err(io_err)?;
            pull.connect(endpoint).map_err(io_err)?;
            let mut msg = zmq::Message::new();
            loop {
                pull.recv(&mut msg, 0).map_err(io_err)?;
                if is_warmup(&msg) {
                    break;
                }
            }
            let start = Instant::now();
            for _ in 0..count {
                pull.recv(&mut msg, 0).map_err(io_err)?;
                std::hint::black_box(&msg);
            }
            Ok(start.elapsed())
        }
        Impl::Tokio => consume_ours::<driver_tokio::Tokio>(endpoint, count),
        Impl::Compio => consume_ours::<driver_compio::Compio>(endpoint, count),
    }
}

fn consume_ours<R: Runtime>(endpoint: &str, count: u64) -> io::Result<Duration> {
    R::block_on(async {
        let pull = Socket::<R>::new(SocketType::Pull);
        pull.connect(endpoint).await?;
        while !is_warmup(&pull.recv().await?[0]) {}
        let start = Instant::now();
        for _ in 0..count {
            std::hint::black_box(pull.recv().await?);
        }
        Ok(start.elapsed())
    })?
}

fn parse_impl(s: &str) -> Result<Impl, String> {
    match s {
        "libzmq" => Ok(Impl::Libzmq),
        "tokio" => Ok(Impl::Tokio),
        "compio" => Ok(Impl::Compio),
        other => Err(format!("unknown implementation {other:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: proxy-runner PROXY ENDS SIZE COUNT [--timeout SECONDS]";
    let (positional, timeout) = match args.iter().position(|a| a == "--timeout") {
        Some(i) => (
            &args[..i],
            args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(60),
        ),
        None => (&args[..], 60),
    };
    let [proxy, ends, size, count] = positional else {
        eprintln!("{usage}");
        return ExitCode::from(64);
    };
    let parsed = (|| -> Result<_, String> {
        let p = parse_impl(proxy)?;
        let e = match ends.as_str() {
            "libzmq" => Impl::Libzmq,
            "ours" if p != Impl::Libzmq => p,
            other => return Err(format!("ENDS {other:?}: libzmq, or ours with our proxy")),
        };
        let size: usize = size.parse().map_err(|_| "SIZE must be a number")?;
        let count: u64 = count.parse().map_err(|_| "COUNT must be a number")?;
        Ok((p, e, size, count))
    })();
    let (p, e, size, count) = match parsed {
        Ok(v) => v,
        Err(why) => {
            eprintln!("{why}\n{usage}");
            return ExitCode::from(64);
        }
    };
    let head = format!(
        "{{\"impl\":\"proxy-{proxy}\",\"ends\":\"{ends}\",\"scenario\":\"proxy\",\"size\":{size},\"count\":{count}"
    );
    let watch = head.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(timeout));
        println!("{watch},\"ok\":false,\"error\":\"timed out after {timeout} s\"}}");
        std::process::exit(2);
    });
    let run = || -> io::Result<Duration> {
        let (front, back) = start_proxy(p)?;
        let producer = start_producer(e, front, size, count);
        let elapsed = consume(e, &back, count)?;
        producer.join().map_err(|_| io_err("producer panicked"))??;
        Ok(elapsed)
    };
    let mut out = io::stdout().lock();
    match run() {
        Ok(elapsed) => {
            let secs = elapsed.as_secs_f64().max(1e-9);
            let rate = count as f64 / secs;
            let _ = writeln!(
                out,
                "{head},\"ok\":true,\"elapsed_s\":{secs:.6},\"msgs_per_s\":{rate:.1},\"bytes_per_s\":{:.1},\"vmhwm_kib\":{}}}",
                rate * size as f64,
                vm_hwm_kib().unwrap_or(0)
            );
            let _ = out.flush();
            // The proxy's thread never ends: leave without waiting for it.
            std::process::exit(0);
        }
        Err(err) => {
            let err = err.to_string().replace('"', "'");
            let _ = writeln!(out, "{head},\"ok\":false,\"error\":\"{err}\"}}");
            let _ = out.flush();
            std::process::exit(1);
        }
    }
}
