//! libzmq through the `zmq` crate (which builds its own static libzmq 4.3.4).
//!
//! Round trips: both sockets in one context, driven by one application thread (libzmq's I/O
//! thread does the socket work). Streaming: every end has its own context (its own I/O
//! thread) and its own application thread, as separate processes would.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use crate::{
    io_err, is_warmup, payload, warmup_payload, FanOut, Measurement, Params, Scenario,
    SubscriberTally, LOSS_TIMEOUT, WARMUP_INTERVAL, WARMUP_LIMIT,
};

/// Runs `scenario` with libzmq.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep => round_trip(params, zmq::REQ, zmq::REP),
        Scenario::DealerRouter => round_trip(params, zmq::DEALER, zmq::ROUTER),
        Scenario::PushPull => push_pull(params),
        Scenario::PubSub => pub_sub(params),
    }
}

fn bind(socket: &zmq::Socket) -> io::Result<String> {
    socket.bind("tcp://127.0.0.1:*").map_err(io_err)?;
    socket
        .get_last_endpoint()
        .map_err(io_err)?
        .map_err(|_| io_err("endpoint is not UTF-8"))
}

fn round_trip(
    p: &Params,
    client: zmq::SocketType,
    server: zmq::SocketType,
) -> io::Result<Measurement> {
    let ctx = zmq::Context::new();
    let srv = ctx.socket(server).map_err(io_err)?;
    let endpoint = bind(&srv)?;
    let cli = ctx.socket(client).map_err(io_err)?;
    cli.connect(&endpoint).map_err(io_err)?;
    let body = payload(p.size);
    let is_router = server == zmq::ROUTER;
    let mut id = zmq::Message::new();
    let mut request = zmq::Message::new();
    let mut reply = zmq::Message::new();
    let mut start = Instant::now();
    for i in 0..=p.count {
        if i == 1 {
            start = Instant::now();
        }
        cli.send(&body[..], 0).map_err(io_err)?;
        if is_router {
            srv.recv(&mut id, 0).map_err(io_err)?;
            srv.recv(&mut request, 0).map_err(io_err)?;
            srv.send(
                std::mem::replace(&mut id, zmq::Message::new()),
                zmq::SNDMORE,
            )
            .map_err(io_err)?;
            srv.send(std::mem::replace(&mut request, zmq::Message::new()), 0)
                .map_err(io_err)?;
        } else {
            srv.recv(&mut request, 0).map_err(io_err)?;
            srv.send(std::mem::replace(&mut request, zmq::Message::new()), 0)
                .map_err(io_err)?;
        }
        cli.recv(&mut reply, 0).map_err(io_err)?;
        std::hint::black_box(&reply);
    }
    Ok(Measurement {
        elapsed: start.elapsed(),
        delivered: p.count,
    })
}

fn push_pull(p: &Params) -> io::Result<Measurement> {
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).map_err(io_err)?;
    let endpoint = bind(&pull)?;
    let (size, count) = (p.size, p.count);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        let ctx = zmq::Context::new();
        let push = ctx.socket(zmq::PUSH).map_err(io_err)?;
        push.connect(&endpoint).map_err(io_err)?;
        let body = payload(size);
        push.send(warmup_payload(size), 0).map_err(io_err)?;
        for _ in 0..count {
            push.send(&body[..], 0).map_err(io_err)?;
        }
        // Dropping the socket and the context lingers until everything is written.
        Ok(())
    });
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
    let elapsed = start.elapsed();
    sender.join().map_err(|_| io_err("sender panicked"))??;
    Ok(Measurement {
        elapsed,
        delivered: count,
    })
}

fn pub_sub(p: &Params) -> io::Result<Measurement> {
    let hwm = i32::try_from(p.fanout_hwm()).unwrap_or(i32::MAX);
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::PUB).map_err(io_err)?;
    publisher.set_sndhwm(hwm).map_err(io_err)?;
    let endpoint = bind(&publisher)?;
    let fan = FanOut::new();
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (endpoint, fan, count) = (endpoint.clone(), Arc::clone(&fan), p.count);
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            let ctx = zmq::Context::new();
            let sub = ctx.socket(zmq::SUB).map_err(io_err)?;
            sub.set_rcvhwm(hwm).map_err(io_err)?;
            sub.set_rcvtimeo(LOSS_TIMEOUT.as_millis() as i32)
                .map_err(io_err)?;
            sub.set_subscribe(b"").map_err(io_err)?;
            sub.connect(&endpoint).map_err(io_err)?;
            let mut msg = zmq::Message::new();
            let mut tally = SubscriberTally::default();
            loop {
                match sub.recv(&mut msg, 0) {
                    Ok(()) => {
                        if tally.on_message(&msg, &fan, count) {
                            break;
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(io_err(e)),
                }
            }
            tally.finish(&fan);
            Ok(())
        }));
    }
    let body = payload(p.size);
    let deadline = Instant::now() + WARMUP_LIMIT;
    while fan.ready_count() < p.subscribers && Instant::now() < deadline {
        publisher.send(warmup_payload(p.size), 0).map_err(io_err)?;
        std::thread::sleep(WARMUP_INTERVAL);
    }
    fan.mark_start();
    for _ in 0..p.count {
        publisher.send(&body[..], 0).map_err(io_err)?;
    }
    for s in subs {
        s.join().map_err(|_| io_err("subscriber panicked"))??;
    }
    Ok(fan.measurement())
}
