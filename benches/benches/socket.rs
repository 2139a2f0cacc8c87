//! Socket engines of `zmtp-proto` alone: no sockets, no runtime, only the machines.
//!
//! - pub_match: one PUB with 100 subscriber peers holding 100 subscriptions each (10,000 in
//!   all, over 1,000 distinct topics, so a message matches ~10 peers). Each iteration
//!   publishes 1,000 messages (16-byte body) and drains every peer's output with
//!   `poll_transmit` + `take_transmit`. A second case publishes topics nobody subscribed to
//!   (matching cost alone).
//! - router_route: one ROUTER with 1,000 DEALER peers. Each iteration sends 1,000 messages
//!   `[identity, 16-byte body]` to the peers in turn and drains the output.
//!
//! Throughput counts messages handed to `send`. The subscriber and dealer sockets only exist
//! for the handshakes; the measured loop runs the publishing/routing machine alone.
//! Run: `cargo bench -p zmtp-benches --bench socket -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)] // reason: criterion's macros generate undocumented pub items

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zmtp_proto::{Action, PeerId, SocketOptions};
use zmtp_proto::{Msg, Socket, SocketType};

const BATCH: usize = 1000;
const SUBSCRIBERS: usize = 100;
const SUBSCRIPTIONS_EACH: usize = 100;
const DISTINCT_TOPICS: usize = 1000;
const ROUTER_PEERS: usize = 1000;

/// Moves bytes between `a`'s peer `pa` and `b`'s peer `pb` until neither has output.
fn pump(a: &mut Socket, pa: PeerId, b: &mut Socket, pb: PeerId, now: Instant) {
    let mut out = Vec::new();
    loop {
        let mut moved = false;
        while a.poll_transmit().is_some() {}
        while b.poll_transmit().is_some() {}
        if let Some(view) = a.bytes(pa) {
            view.take_transmit(&mut out);
        }
        for chunk in out.drain(..) {
            if let Some(view) = b.bytes(pb) {
                view.handle_input(&chunk, now);
            }
            moved = true;
        }
        if let Some(view) = b.bytes(pb) {
            view.take_transmit(&mut out);
        }
        for chunk in out.drain(..) {
            if let Some(view) = a.bytes(pa) {
                view.handle_input(&chunk, now);
            }
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

/// Connects a new socket of type `ty` to `server` in memory and completes the handshake.
/// Returns the client and the server-side peer id.
fn join(server: &mut Socket, ty: SocketType, options: SocketOptions) -> (Socket, PeerId, PeerId) {
    let now = Instant::now();
    let mut client = Socket::new(ty, options, now);
    let cp = client.connect("mem://server", now);
    assert!(matches!(client.poll_action(), Some(Action::Dial { .. })));
    client.attach(cp, now);
    let sp = server.accept(now);
    pump(server, sp, &mut client, cp, now);
    assert!(server.peer_info(sp).is_some(), "handshake");
    (client, sp, cp)
}

fn topic(k: usize) -> Bytes {
    Bytes::from(format!("topic/{k:04}"))
}

/// Writes everything the socket has pending (and drops it: nobody reads in this bench).
fn drain(socket: &mut Socket, out: &mut Vec<Bytes>) {
    while let Some(peer) = socket.poll_transmit() {
        if let Some(view) = socket.bytes(peer) {
            view.take_transmit(out);
        }
        out.clear();
    }
}

fn pub_match(c: &mut Criterion) {
    let now = Instant::now();
    let mut publisher = Socket::new(SocketType::Pub, SocketOptions::default(), now);
    let mut subscribers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let (mut sub, sp, cp) = join(&mut publisher, SocketType::Sub, SocketOptions::default());
        for j in 0..SUBSCRIPTIONS_EACH {
            sub.subscribe(&topic((i * 37 + j * 10) % DISTINCT_TOPICS))
                .unwrap();
        }
        pump(&mut publisher, sp, &mut sub, cp, now);
        subscribers.push(sub);
    }
    let body = Bytes::from_static(b"0123456789abcdef");
    let matching: Vec<Msg> = (0..BATCH)
        .map(|k| Msg::from_frames([topic(k % DISTINCT_TOPICS), body.clone()]))
        .collect();
    let unmatched: Vec<Msg> = (0..BATCH)
        .map(|k| Msg::from_frames([Bytes::from(format!("other/{k:04}")), body.clone()]))
        .collect();
    // Sanity: a message reaches about ten subscribers.
    let mut out = Vec::new();
    drain(&mut publisher, &mut out);
    publisher.send(matching[0].clone()).unwrap();
    let mut reached = 0;
    while let Some(peer) = publisher.poll_transmit() {
        if let Some(view) = publisher.bytes(peer) {
            view.take_transmit(&mut out);
        }
        out.clear();
        reached += 1;
    }
    assert!((5..=20).contains(&reached), "fan-out {reached}");

    let mut g = c.benchmark_group("pub_match_10k_subscriptions");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, msgs) in [("fanout_10", &matching), ("no_match", &unmatched)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for m in msgs.iter() {
                    publisher.send(black_box(m.clone())).unwrap();
                }
                drain(&mut publisher, &mut out);
            });
        });
    }
    g.finish();
    drop(subscribers);
}

fn router_route(c: &mut Criterion) {
    let now = Instant::now();
    let mut router = Socket::new(SocketType::Router, SocketOptions::default(), now);
    let mut dealers = Vec::new();
    let mut identities = Vec::new();
    for i in 0..ROUTER_PEERS {
        let mut o = SocketOptions::default();
        let id = Bytes::from(format!("peer-{i:04}"));
        o.connection.routing_id = id.clone();
        let (dealer, _, _) = join(&mut router, SocketType::Dealer, o);
        dealers.push(dealer);
        identities.push(id);
    }
    let body = Bytes::from_static(b"0123456789abcdef");
    let msgs: Vec<Msg> = (0..BATCH)
        .map(|k| Msg::from_frames([identities[k % ROUTER_PEERS].clone(), body.clone()]))
        .collect();
    let mut out = Vec::new();
    drain(&mut router, &mut out);

    let mut g = c.benchmark_group("router_route_1000_peers");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("send", |b| {
        b.iter(|| {
            for m in &msgs {
                router.send(black_box(m.clone())).unwrap();
            }
            drain(&mut router, &mut out);
        });
    });
    g.finish();
    drop(dealers);
}

criterion_group!(benches, pub_match, router_route);
criterion_main!(benches);
