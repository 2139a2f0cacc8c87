//! monocoque-rs (0.4, its default io_uring backend through compio), in two labelled modes:
//! its default ("eager": one write per `send`) and its explicit write coalescing
//! (`SocketOptions::with_write_coalescing(true)`, which requires a `flush()` after the last
//! send of a burst; the harness calls it once, after the loop).
//!
//! monocoque-rs sockets are per-connection: the harness binds a listener, accepts one
//! connection and wraps it (`from_tcp`), as its own `bind` does. Its PUB runs worker threads
//! of its own (one per CPU by default).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compio::net::{TcpListener, TcpStream};
use futures_util::future::join;
use monocoque::zmq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SubSocket,
};

use crate::compio_runtime as runtime;
use crate::{
    io_err, is_warmup, payload, warmup_payload, FanOut, LossTimer, Measurement, Params, Scenario,
    SubscriberTally, WARMUP_INTERVAL, WARMUP_LIMIT,
};

/// Runs `scenario` with monocoque-rs; `coalesce` selects its explicit write-coalescing mode
/// (streaming scenarios only: in a round trip it would mean a `flush` after every send,
/// which is its default mode).
pub fn run(scenario: Scenario, params: &Params, coalesce: bool) -> io::Result<Measurement> {
    if coalesce && scenario.is_round_trip() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "explicit coalescing is a streaming mode (a round trip flushes every send)",
        ));
    }
    let options = if coalesce {
        SocketOptions::default().with_write_coalescing(true)
    } else {
        SocketOptions::default()
    };
    match scenario {
        Scenario::ReqRep => runtime()?.block_on(req_rep(params)),
        Scenario::DealerRouter => runtime()?.block_on(dealer_router(params)),
        Scenario::PushPull => push_pull(params, options, coalesce),
        Scenario::PubSub => pub_sub(params, options),
    }
}

/// Polls `done` until it is set, keeping the compio runtime (and the I/O on it) alive.
pub async fn wait_for(done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        compio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A listener on an ephemeral loopback port, its address, and a connected pair from it.
async fn connected_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (accepted, connected) = join(listener.accept(), TcpStream::connect(addr)).await;
    Ok((accepted?.0, connected?))
}

fn copy(body: &[u8]) -> Bytes {
    Bytes::copy_from_slice(body)
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "socket closed")
}

async fn req_rep(p: &Params) -> io::Result<Measurement> {
    let (server_stream, client_stream) = connected_pair().await?;
    let (srv, cli) = join(
        RepSocket::from_tcp(server_stream),
        ReqSocket::from_tcp(client_stream),
    )
    .await;
    let (mut srv, mut cli) = (srv?, cli?);
    let body = payload(p.size);
    let count = p.count;
    let serve = async {
        for _ in 0..=count {
            let m = srv.recv().await?.ok_or_else(closed)?;
            srv.send(m).await?;
        }
        io::Result::Ok(())
    };
    let drive = async {
        let mut start = Instant::now();
        for i in 0..=count {
            if i == 1 {
                start = Instant::now();
            }
            cli.send_one(copy(&body)).await?;
            std::hint::black_box(cli.recv().await?.ok_or_else(closed)?);
        }
        io::Result::Ok(start.elapsed())
    };
    let (s, c) = join(serve, drive).await;
    s?;
    Ok(Measurement {
        elapsed: c?,
        delivered: count,
    })
}

async fn dealer_router(p: &Params) -> io::Result<Measurement> {
    let (server_stream, client_stream) = connected_pair().await?;
    let (srv, cli) = join(
        RouterSocket::from_tcp(server_stream),
        DealerSocket::from_tcp(client_stream),
    )
    .await;
    let (mut srv, mut cli) = (srv?, cli?);
    let body = payload(p.size);
    let count = p.count;
    let serve = async {
        for _ in 0..=count {
            let m = srv.recv().await?.ok_or_else(closed)?;
            srv.send(m).await?;
        }
        io::Result::Ok(())
    };
    let drive = async {
        let mut start = Instant::now();
        for i in 0..=count {
            if i == 1 {
                start = Instant::now();
            }
            cli.send(vec![copy(&body)]).await?;
            std::hint::black_box(cli.recv().await?.ok_or_else(closed)?);
        }
        io::Result::Ok(start.elapsed())
    };
    let (s, c) = join(serve, drive).await;
    s?;
    Ok(Measurement {
        elapsed: c?,
        delivered: count,
    })
}

fn first_frame(m: &[Bytes]) -> &[u8] {
    m.first().map_or(&[][..], |b| &b[..])
}

fn push_pull(p: &Params, options: SocketOptions, coalesce: bool) -> io::Result<Measurement> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (size, count) = (p.size, p.count);
    let done = Arc::new(AtomicBool::new(false));
    let sender_done = Arc::clone(&done);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        runtime()?.block_on(async {
            let mut push = PushSocket::connect_with_options(addr, options).await?;
            let body = payload(size);
            push.send_one(Bytes::from(warmup_payload(size))).await?;
            for _ in 0..count {
                push.send_one(copy(&body)).await?;
            }
            if coalesce {
                push.flush().await?;
            }
            wait_for(&sender_done).await;
            Ok(())
        })
    });
    let result = runtime()?.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        let (stream, _) = listener.accept().await?;
        let mut pull = PullSocket::from_tcp(stream).await?;
        while !is_warmup(first_frame(&pull.recv().await?.ok_or_else(closed)?)) {}
        let start = Instant::now();
        for _ in 0..count {
            std::hint::black_box(pull.recv().await?.ok_or_else(closed)?);
        }
        io::Result::Ok(start.elapsed())
    });
    done.store(true, Ordering::Release);
    sender.join().map_err(|_| io_err("sender panicked"))??;
    Ok(Measurement {
        elapsed: result?,
        delivered: count,
    })
}

fn pub_sub(p: &Params, mut options: SocketOptions) -> io::Result<Measurement> {
    let hwm = p.fanout_hwm() as usize;
    options.send_hwm = hwm;
    options.recv_hwm = hwm;
    let rt = runtime()?;
    let mut publisher =
        rt.block_on(PubSocket::bind_with_options("127.0.0.1:0", options.clone()))?;
    let addr: SocketAddr = publisher.local_addr()?;
    let fan = FanOut::new();
    let done = Arc::new(AtomicBool::new(false));
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (fan, count, options) = (Arc::clone(&fan), p.count, options.clone());
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            runtime()?.block_on(async {
                let mut sub = SubSocket::connect_with_options(addr, options).await?;
                sub.subscribe(b"").await?;
                let mut tally = SubscriberTally::default();
                let mut loss = LossTimer::new(compio::time::sleep);
                while let Some(m) = loss.recv(sub.recv()).await {
                    let m = m?.ok_or_else(closed)?;
                    if tally.on_message(first_frame(&m), &fan, count) {
                        break;
                    }
                }
                tally.finish(&fan);
                Ok(())
            })
        }));
    }
    let body = payload(p.size);
    let all_done = Arc::clone(&done);
    let n = p.subscribers;
    let result = rt.block_on(async {
        for _ in 0..n {
            publisher.accept_subscriber().await?;
        }
        let waiter = std::thread::spawn(move || {
            for s in subs {
                s.join().map_err(|_| io_err("subscriber panicked"))??;
            }
            all_done.store(true, Ordering::Release);
            io::Result::Ok(())
        });
        let deadline = Instant::now() + WARMUP_LIMIT;
        while fan.ready_count() < n && Instant::now() < deadline {
            publisher
                .send(vec![Bytes::from(warmup_payload(p.size))])
                .await?;
            compio::time::sleep(WARMUP_INTERVAL).await;
        }
        fan.mark_start();
        for _ in 0..p.count {
            publisher.send(vec![copy(&body)]).await?;
        }
        wait_for(&done).await;
        waiter.join().map_err(|_| io_err("waiter panicked"))?
    });
    result?;
    Ok(fan.measurement())
}
