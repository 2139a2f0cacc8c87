//! Our drivers, written once over the shared layer's [`Socket<R>`](zmtp_async::Socket): `run`
//! takes the runtime (`driver_tokio::Tokio`, `driver_compio::Compio`) as a type parameter.

use std::io;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_util::future::join;
use zmtp_async::{Runtime, Socket};
use zmtp_proto::{SocketOptions, SocketType};

use crate::{
    is_warmup, payload, warmup_payload, FanOut, LossTimer, Measurement, Params, Scenario,
    SubscriberTally, WARMUP_INTERVAL, WARMUP_LIMIT,
};

/// Runs `scenario` with our driver on the runtime `R`, one runtime per thread.
pub fn run<R: Runtime>(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep => R::block_on(round_trip::<R>(params, SocketType::Req, SocketType::Rep))?,
        Scenario::DealerRouter => R::block_on(round_trip::<R>(
            params,
            SocketType::Dealer,
            SocketType::Router,
        ))?,
        Scenario::PushPull => R::block_on(push_pull::<R>(params))?,
        Scenario::PubSub => R::block_on(pub_sub::<R>(params))?,
    }
}

fn sleep<R: Runtime>(d: Duration) -> R::Sleep {
    R::sleep_until(Instant::now() + d)
}

/// Both ends on this thread's runtime; the server echoes what it receives (for ROUTER, the
/// identity frame routes the echo back).
async fn round_trip<R: Runtime>(
    p: &Params,
    client: SocketType,
    server: SocketType,
) -> io::Result<Measurement> {
    let srv = Socket::<R>::new(server);
    let endpoint = srv.bind("tcp://127.0.0.1:*").await?;
    let cli = Socket::<R>::new(client);
    cli.connect(&endpoint).await?;
    let body = payload(p.size);
    let count = p.count;
    let serve = async {
        for _ in 0..=count {
            let m = srv.recv().await?;
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
            // The one copy from the caller's buffer: `send_slice`.
            cli.send_slice(&body).await?;
            std::hint::black_box(cli.recv().await?);
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

/// The PULL binds on this thread; a PUSH on a thread (and runtime) of its own streams to it.
async fn push_pull<R: Runtime>(p: &Params) -> io::Result<Measurement> {
    let pull = Socket::<R>::new(SocketType::Pull);
    let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
    let (size, count) = (p.size, p.count);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        R::block_on(async {
            let push = Socket::<R>::new(SocketType::Push);
            push.connect(&endpoint).await?;
            let body = payload(size);
            push.send(warmup_payload(size)).await?;
            for _ in 0..count {
                push.send_slice(&body).await?;
            }
            // Linger is infinite by default: close returns once all is written.
            push.close().await;
            Ok(())
        })?
    });
    while !is_warmup(&pull.recv().await?[0]) {}
    let start = Instant::now();
    for _ in 0..count {
        std::hint::black_box(pull.recv().await?);
    }
    let elapsed = start.elapsed();
    // The sender has written everything once the last message arrived; its close is quick.
    sender
        .join()
        .map_err(|_| crate::io_err("sender panicked"))??;
    Ok(Measurement {
        elapsed,
        delivered: count,
    })
}

/// The PUB binds on this thread; each SUB runs on a thread (and runtime) of its own.
async fn pub_sub<R: Runtime>(p: &Params) -> io::Result<Measurement> {
    let hwm = p.fanout_hwm() as usize;
    let fan = FanOut::new();
    let mut o = SocketOptions::default();
    o.sndhwm = hwm;
    let publisher = Socket::<R>::with_options(SocketType::Pub, o);
    let endpoint = publisher.bind("tcp://127.0.0.1:*").await?;
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..p.subscribers {
        let (endpoint, fan, count, done) =
            (endpoint.clone(), Arc::clone(&fan), p.count, done_tx.clone());
        std::thread::spawn(move || {
            let result = R::block_on(async {
                let mut o = SocketOptions::default();
                o.connection.rcvhwm = hwm;
                let sub = Socket::<R>::with_options(SocketType::Sub, o);
                sub.subscribe(b"").await?;
                sub.connect(&endpoint).await?;
                let mut tally = SubscriberTally::default();
                let mut loss = LossTimer::new(sleep::<R>);
                while let Some(m) = loss.recv(sub.recv()).await {
                    if tally.on_message(&m?[0], &fan, count) {
                        break;
                    }
                }
                tally.finish(&fan);
                io::Result::Ok(())
            })
            .and_then(|r| r);
            let _ = done.send(result);
        });
    }
    drop(done_tx);
    let body = payload(p.size);
    let deadline = Instant::now() + WARMUP_LIMIT;
    while fan.ready_count() < p.subscribers && Instant::now() < deadline {
        publisher.send(warmup_payload(p.size)).await?;
        sleep::<R>(WARMUP_INTERVAL).await;
    }
    fan.mark_start();
    for _ in 0..p.count {
        publisher.send_slice(&body).await?;
    }
    publisher.close().await;
    // Each subscriber reports once it has seen the end (or given up).
    for result in done_rx {
        result?;
    }
    Ok(fan.measurement())
}

/// A current-thread tokio runtime with I/O and timers.
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
