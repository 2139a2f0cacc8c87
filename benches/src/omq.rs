//! omq.rs (the `omq-tokio` crate: a sans-IO core with a tokio backend), with its sockets
//! driven on the caller's current-thread runtime (`Socket::new`).
//!
//! omq's default linger is zero, so a sender keeps its runtime running until the receiver
//! has everything.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use omq_tokio::{Message, Options, Socket, SocketType};

use crate::ours::tokio_runtime as runtime;
use crate::zmqrs::wait_for;
use crate::{
    io_err, is_warmup, payload, warmup_payload, FanOut, LossTimer, Measurement, Params, Scenario,
    SubscriberTally, WARMUP_INTERVAL, WARMUP_LIMIT,
};

/// Runs `scenario` with omq.rs.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep => {
            runtime()?.block_on(round_trip(params, SocketType::Req, SocketType::Rep))
        }
        Scenario::DealerRouter => {
            runtime()?.block_on(round_trip(params, SocketType::Dealer, SocketType::Router))
        }
        Scenario::PushPull => push_pull(params),
        Scenario::PubSub => pub_sub(params),
    }
}

fn first_frame(m: &Message) -> &[u8] {
    if m.is_empty() {
        &[]
    } else {
        &m[0]
    }
}

async fn round_trip(p: &Params, client: SocketType, server: SocketType) -> io::Result<Measurement> {
    let srv = Socket::new(server, Options::default());
    let endpoint = srv.bind("tcp://127.0.0.1:0").await.map_err(io_err)?;
    let cli = Socket::new(client, Options::default());
    cli.connect(endpoint).await.map_err(io_err)?;
    let body = payload(p.size);
    let count = p.count;
    let serve = async {
        for _ in 0..=count {
            let m = srv.recv().await.map_err(io_err)?;
            srv.send(m).await.map_err(io_err)?;
        }
        io::Result::Ok(())
    };
    let drive = async {
        let mut start = Instant::now();
        for i in 0..=count {
            if i == 1 {
                start = Instant::now();
            }
            cli.send(Message::from_slice(&body)).await.map_err(io_err)?;
            std::hint::black_box(cli.recv().await.map_err(io_err)?);
        }
        io::Result::Ok(start.elapsed())
    };
    let (s, c) = tokio::join!(serve, drive);
    s?;
    Ok(Measurement {
        elapsed: c?,
        delivered: count,
    })
}

fn push_pull(p: &Params) -> io::Result<Measurement> {
    let rt = runtime()?;
    let (pull, endpoint) = rt.block_on(async {
        let pull = Socket::new(SocketType::Pull, Options::default());
        let ep = pull.bind("tcp://127.0.0.1:0").await.map_err(io_err)?;
        io::Result::Ok((pull, ep))
    })?;
    let (size, count) = (p.size, p.count);
    let done = Arc::new(AtomicBool::new(false));
    let sender_done = Arc::clone(&done);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        runtime()?.block_on(async {
            let push = Socket::new(SocketType::Push, Options::default());
            push.connect(endpoint).await.map_err(io_err)?;
            let body = payload(size);
            push.send(Message::from_slice(&warmup_payload(size)))
                .await
                .map_err(io_err)?;
            for _ in 0..count {
                push.send(Message::from_slice(&body))
                    .await
                    .map_err(io_err)?;
            }
            wait_for(&sender_done).await;
            Ok(())
        })
    });
    let result = rt.block_on(async {
        while !is_warmup(first_frame(&pull.recv().await.map_err(io_err)?)) {}
        let start = Instant::now();
        for _ in 0..count {
            std::hint::black_box(pull.recv().await.map_err(io_err)?);
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

fn pub_sub(p: &Params) -> io::Result<Measurement> {
    let hwm = u32::try_from(p.fanout_hwm()).unwrap_or(u32::MAX);
    let rt = runtime()?;
    let (publisher, endpoint) = rt.block_on(async {
        let s = Socket::new(SocketType::Pub, Options::default().send_hwm(hwm));
        let ep = s.bind("tcp://127.0.0.1:0").await.map_err(io_err)?;
        io::Result::Ok((s, ep))
    })?;
    let fan = FanOut::new();
    let done = Arc::new(AtomicBool::new(false));
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (endpoint, fan, count) = (endpoint.clone(), Arc::clone(&fan), p.count);
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            runtime()?.block_on(async {
                let sub = Socket::new(SocketType::Sub, Options::default().recv_hwm(hwm));
                sub.subscribe(bytes::Bytes::new()).await.map_err(io_err)?;
                sub.connect(endpoint).await.map_err(io_err)?;
                let mut tally = SubscriberTally::default();
                let mut loss = LossTimer::new(tokio::time::sleep);
                while let Some(m) = loss.recv(sub.recv()).await {
                    if tally.on_message(first_frame(&m.map_err(io_err)?), &fan, count) {
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
    let waiter = std::thread::spawn(move || {
        for s in subs {
            s.join().map_err(|_| io_err("subscriber panicked"))??;
        }
        all_done.store(true, Ordering::Release);
        io::Result::Ok(())
    });
    rt.block_on(async {
        let deadline = Instant::now() + WARMUP_LIMIT;
        while fan.ready_count() < p.subscribers && Instant::now() < deadline {
            publisher
                .send(Message::from_slice(&warmup_payload(p.size)))
                .await
                .map_err(io_err)?;
            tokio::time::sleep(WARMUP_INTERVAL).await;
        }
        fan.mark_start();
        for _ in 0..p.count {
            publisher
                .send(Message::from_slice(&body))
                .await
                .map_err(io_err)?;
        }
        wait_for(&done).await;
        io::Result::Ok(())
    })?;
    waiter.join().map_err(|_| io_err("waiter panicked"))??;
    Ok(fan.measurement())
}
