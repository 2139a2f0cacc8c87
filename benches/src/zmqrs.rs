//! zmq.rs (the `zeromq` crate 0.7), on current-thread tokio runtimes.
//!
//! zmq.rs has no high-water-mark options and its `close` does not promise to flush, so a
//! sender keeps its runtime running until the receiver has everything.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::ours::tokio_runtime as runtime;
use crate::{
    io_err, is_warmup, payload, warmup_payload, FanOut, LossTimer, Measurement, Params, Scenario,
    SubscriberTally, WARMUP_INTERVAL, WARMUP_LIMIT,
};

/// Runs `scenario` with zmq.rs.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep => runtime()?.block_on(async {
            round_trip(params, zeromq::ReqSocket::new(), zeromq::RepSocket::new()).await
        }),
        Scenario::DealerRouter => runtime()?.block_on(async {
            round_trip(
                params,
                zeromq::DealerSocket::new(),
                zeromq::RouterSocket::new(),
            )
            .await
        }),
        Scenario::PushPull => push_pull(params),
        Scenario::PubSub => pub_sub(params),
    }
}

fn copy(body: &[u8]) -> ZmqMessage {
    ZmqMessage::from(Bytes::copy_from_slice(body))
}

fn first_frame(m: &ZmqMessage) -> &[u8] {
    m.get(0).map_or(&[][..], |b| &b[..])
}

/// Keeps the current runtime (and the socket's tasks on it) running until `done` is set.
pub async fn wait_for(done: &AtomicBool) {
    while !done.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn round_trip<C, S>(p: &Params, mut cli: C, mut srv: S) -> io::Result<Measurement>
where
    C: Socket + SocketSend + SocketRecv,
    S: Socket + SocketSend + SocketRecv,
{
    let endpoint = srv.bind("tcp://127.0.0.1:0").await.map_err(io_err)?;
    cli.connect(&endpoint.to_string()).await.map_err(io_err)?;
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
            cli.send(copy(&body)).await.map_err(io_err)?;
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
    let _in_runtime = rt.enter();
    let mut pull = zeromq::PullSocket::new();
    let endpoint = rt
        .block_on(pull.bind("tcp://127.0.0.1:0"))
        .map_err(io_err)?
        .to_string();
    let (size, count) = (p.size, p.count);
    let done = Arc::new(AtomicBool::new(false));
    let sender_done = Arc::clone(&done);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        runtime()?.block_on(async {
            let mut push = zeromq::PushSocket::new();
            push.connect(&endpoint).await.map_err(io_err)?;
            let body = payload(size);
            push.send(warmup_payload(size).into())
                .await
                .map_err(io_err)?;
            for _ in 0..count {
                push.send(copy(&body)).await.map_err(io_err)?;
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
    let rt = runtime()?;
    let _in_runtime = rt.enter();
    let mut publisher = zeromq::PubSocket::new();
    let endpoint = rt
        .block_on(publisher.bind("tcp://127.0.0.1:0"))
        .map_err(io_err)?
        .to_string();
    let fan = FanOut::new();
    let done = Arc::new(AtomicBool::new(false));
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (endpoint, fan, count) = (endpoint.clone(), Arc::clone(&fan), p.count);
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            runtime()?.block_on(async {
                let mut sub = zeromq::SubSocket::new();
                sub.subscribe("").await.map_err(io_err)?;
                sub.connect(&endpoint).await.map_err(io_err)?;
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
                .send(warmup_payload(p.size).into())
                .await
                .map_err(io_err)?;
            tokio::time::sleep(WARMUP_INTERVAL).await;
        }
        fan.mark_start();
        for _ in 0..p.count {
            publisher.send(copy(&body)).await.map_err(io_err)?;
        }
        wait_for(&done).await;
        io::Result::Ok(())
    })?;
    waiter.join().map_err(|_| io_err("waiter panicked"))??;
    Ok(fan.measurement())
}
