//! Property tests of the socket engines over the in-memory network (checklist §1.12 general
//! rules, R1–R3, S1–S5), with random chunking, random delivery order across links, random I/O
//! styles, bounded links (HWM pressure), and random disconnects and reconnects.
//!
//! Properties:
//! * no message is ever delivered twice;
//! * messages between two peers arrive in order;
//! * with no disconnect nothing is lost, and for the blocking types (PUSH, DEALER) not even
//!   under HWM pressure; a refused send hands the message back unchanged;
//! * REQ/REP always pairs each reply with its request;
//! * DEALER round-robin and fair-queueing are fair within one message per peer;
//! * PUB delivers to each subscriber exactly what a reference model of its subscriptions says,
//!   and XPUB reports exactly the (un)subscriptions the model predicts.
#![allow(missing_docs, unreachable_pub)]

mod net;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use net::{tagged, untag, Chaos, Net};
use proptest::prelude::*;
use zmtp_proto::SocketOptions;
use zmtp_proto::{Error, Msg, SocketType};

// ---------------------------------------------------------------------------------------------
// Pipelines: PUSH→PULL and DEALER→ROUTER, many to many
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// A sender sends its next message.
    Send(u8),
    /// A receiver takes up to N messages.
    Recv(u8, u8),
    /// The network moves bytes for N rounds.
    Step(u8),
    /// A random link is cut.
    Cut,
    /// Virtual time passes (ms), firing reconnects.
    Advance(u16),
}

fn op(disconnects: bool) -> impl Strategy<Value = Op> {
    let cut_weight = if disconnects { 1 } else { 0 };
    prop_oneof![
        10 => any::<u8>().prop_map(Op::Send),
        4 => (any::<u8>(), 1u8..20).prop_map(|(r, n)| Op::Recv(r, n)),
        4 => (1u8..6).prop_map(Op::Step),
        cut_weight => Just(Op::Cut),
        2 => (0u16..400).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone, Copy)]
struct PipeCfg {
    sender: SocketType,
    receiver: SocketType,
    senders: usize,
    receivers: usize,
    /// Receivers dial the senders (else senders dial receivers).
    receivers_connect: bool,
    capacity: Option<usize>,
    sndhwm: usize,
    rcvhwm: usize,
}

/// What a pipeline run observed.
struct PipeRun {
    /// Per receiver: (sender, seq) in arrival order.
    received: Vec<Vec<(usize, u64)>>,
    /// Messages each sender's `send` accepted.
    accepted: Vec<u64>,
    cuts: usize,
}

fn payload(msg: &Msg) -> (usize, u64) {
    untag(msg.last().expect("a frame"))
}

fn run_pipeline(seed: u64, ops: &[Op], cfg: PipeCfg) -> PipeRun {
    let mut net = Net::with_chaos(seed, Chaos::full(cfg.capacity));
    net.max_chunk = 97;
    let mut o = SocketOptions::default();
    o.sndhwm = cfg.sndhwm;
    o.connection.rcvhwm = cfg.rcvhwm;
    let receivers: Vec<usize> = (0..cfg.receivers)
        .map(|_| net.add(cfg.receiver, o.clone()))
        .collect();
    let senders: Vec<usize> = (0..cfg.senders)
        .map(|_| net.add(cfg.sender, o.clone()))
        .collect();
    for &s in &senders {
        for &r in &receivers {
            if cfg.receivers_connect {
                net.connect(r, s);
            } else {
                net.connect(s, r);
            }
        }
    }
    let mut accepted = vec![0u64; senders.len()];
    let mut received = vec![Vec::new(); receivers.len()];
    let mut cuts = 0;
    for op in ops {
        match *op {
            Op::Send(i) => {
                let k = i as usize % senders.len();
                let msg = tagged(k, accepted[k]);
                match net.sockets[senders[k]].send(msg.clone()) {
                    Ok(()) => accepted[k] += 1,
                    Err(e) => {
                        assert_eq!(e.error, Error::WouldBlock);
                        assert_eq!(e.msg, msg, "a refused message comes back unchanged");
                    }
                }
            }
            Op::Recv(r, n) => {
                let k = r as usize % receivers.len();
                for _ in 0..n {
                    match net.recv(receivers[k]) {
                        Some(m) => received[k].push(payload(&m)),
                        None => break,
                    }
                }
            }
            Op::Step(n) => {
                for _ in 0..n {
                    net.step();
                }
            }
            Op::Cut => cuts += usize::from(net.cut_random()),
            Op::Advance(ms) => net.advance(Duration::from_millis(u64::from(ms))),
        }
    }
    // Let every reconnect happen and everything drain.
    for _ in 0..4 {
        net.advance(Duration::from_millis(500));
        for (k, &r) in receivers.iter().enumerate() {
            received[k].extend(net.recv_all(r).iter().map(payload));
        }
    }
    PipeRun {
        received,
        accepted,
        cuts,
    }
}

/// No duplicates anywhere; per (receiver, sender) strictly increasing sequence numbers.
fn check_no_dup_in_order(run: &PipeRun, check_order: bool) {
    let mut seen = HashSet::new();
    for (r, got) in run.received.iter().enumerate() {
        let mut last: HashMap<usize, u64> = HashMap::new();
        for &(s, seq) in got {
            assert!(seen.insert((s, seq)), "({s},{seq}) delivered twice");
            assert!(seq < run.accepted[s], "({s},{seq}) was never sent");
            if check_order {
                if let Some(&prev) = last.get(&s) {
                    assert!(
                        seq > prev,
                        "receiver {r}: ({s},{seq}) after ({s},{prev}): out of order"
                    );
                }
            }
            last.insert(s, seq);
        }
    }
}

fn check_nothing_lost(run: &PipeRun) {
    let total: usize = run.received.iter().map(Vec::len).sum();
    let sent: u64 = run.accepted.iter().sum();
    assert_eq!(total as u64, sent, "messages were lost");
}

fn pipe_cfg() -> impl Strategy<Value = PipeCfg> {
    (
        prop_oneof![
            Just((SocketType::Push, SocketType::Pull)),
            Just((SocketType::Dealer, SocketType::Router)),
            Just((SocketType::Dealer, SocketType::Dealer)),
        ],
        1usize..4,
        1usize..4,
        any::<bool>(),
        prop_oneof![Just(None), (16usize..400).prop_map(Some)],
        prop_oneof![Just(1000usize), 1usize..6],
        prop_oneof![Just(1000usize), 1usize..6],
    )
        .prop_map(
            |((sender, receiver), senders, receivers, rc, capacity, sndhwm, rcvhwm)| PipeCfg {
                sender,
                receiver,
                senders,
                receivers,
                receivers_connect: rc,
                capacity,
                sndhwm,
                rcvhwm,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 700, ..ProptestConfig::default() })]

    /// §1.12: no duplicates, in order, and nothing lost without disconnects — for the blocking
    /// types even under HWM pressure (bounded links, small high-water marks).
    #[test]
    fn pipeline_without_disconnects_loses_nothing(
        seed in any::<u64>(),
        cfg in pipe_cfg(),
        ops in prop::collection::vec(op(false), 1..120),
    ) {
        let run = run_pipeline(seed, &ops, cfg);
        check_no_dup_in_order(&run, true);
        check_nothing_lost(&run);
    }

    /// §1.12 with random disconnects and reconnects: losses are allowed (queues to accepted
    /// peers are dropped, bytes in flight vanish), duplicates never; order holds when the
    /// receiver is the connecting side (its queue and peer survive the reconnect).
    #[test]
    fn pipeline_with_disconnects_never_duplicates(
        seed in any::<u64>(),
        cfg in pipe_cfg(),
        ops in prop::collection::vec(op(true), 1..120),
    ) {
        let run = run_pipeline(seed, &ops, cfg);
        check_no_dup_in_order(&run, cfg.receivers_connect);
        if run.cuts == 0 {
            check_nothing_lost(&run);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// REQ/REP pairing (R1, R2)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum RrOp {
    ClientSend(u8),
    ClientRecv(u8),
    Serve(u8),
    Step(u8),
    Cut,
    Advance(u16),
}

fn rr_op(disconnects: bool) -> impl Strategy<Value = RrOp> {
    let cut_weight = if disconnects { 1 } else { 0 };
    prop_oneof![
        4 => any::<u8>().prop_map(RrOp::ClientSend),
        4 => any::<u8>().prop_map(RrOp::ClientRecv),
        4 => any::<u8>().prop_map(RrOp::Serve),
        4 => (1u8..6).prop_map(RrOp::Step),
        cut_weight => Just(RrOp::Cut),
        1 => (0u16..400).prop_map(RrOp::Advance),
    ]
}

struct RrCfg {
    clients: usize,
    servers: usize,
    /// Servers are ROUTERs answering by hand instead of REPs.
    router_servers: bool,
    relaxed: bool,
    capacity: Option<usize>,
}

fn run_reqrep(seed: u64, ops: &[RrOp], cfg: &RrCfg) {
    let mut net = Net::with_chaos(seed, Chaos::full(cfg.capacity));
    net.max_chunk = 61;
    let server_type = if cfg.router_servers {
        SocketType::Router
    } else {
        SocketType::Rep
    };
    let servers: Vec<usize> = (0..cfg.servers)
        .map(|_| net.add_default(server_type))
        .collect();
    let mut co = SocketOptions::default();
    co.req_relaxed = cfg.relaxed;
    co.req_correlate = cfg.relaxed;
    let clients: Vec<usize> = (0..cfg.clients)
        .map(|_| net.add(SocketType::Req, co.clone()))
        .collect();
    for &c in &clients {
        for &s in &servers {
            net.connect(c, s);
        }
    }
    let mut outstanding: Vec<Option<Bytes>> = vec![None; clients.len()];
    let mut counter = 0u64;
    let mut answered = 0usize;
    let serve = |net: &mut Net, k: usize| -> bool {
        let s = servers[k];
        let Some(req) = net.recv(s) else {
            return false;
        };
        if cfg.router_servers {
            // [identity, (request id,) "", body]: echo the envelope, append our name.
            let mut reply = req.clone();
            reply.push(format!("server-{k}"));
            net.sockets[s].send(reply).unwrap();
        } else {
            assert_eq!(req.len(), 1, "REP hands over the body only (R2)");
            let mut reply = req.clone();
            reply.push(format!("server-{k}"));
            net.sockets[s].send(reply).unwrap();
        }
        true
    };
    for op in ops {
        match *op {
            RrOp::ClientSend(i) => {
                let k = i as usize % clients.len();
                counter += 1;
                let body = Bytes::from(format!("c{k}-r{counter}"));
                let result = net.sockets[clients[k]].send(Msg::from(body.clone()));
                if outstanding[k].is_some() && !cfg.relaxed {
                    let e = result.expect_err("R1: REQ lockstep");
                    assert!(matches!(e.error, Error::InvalidState(_)));
                    assert_eq!(e.msg, Msg::from(body));
                } else {
                    result.expect("REQ queues exist from connect()");
                    outstanding[k] = Some(body);
                }
            }
            RrOp::ClientRecv(i) => {
                let k = i as usize % clients.len();
                match net.sockets[clients[k]].recv() {
                    Err(e) => {
                        assert!(outstanding[k].is_none(), "unexpected {e}");
                        assert!(matches!(e, Error::InvalidState(_)));
                    }
                    Ok(None) => {}
                    Ok(Some(reply)) => {
                        let want = outstanding[k].take().expect("a reply without a request");
                        assert_eq!(reply.len(), 2, "{reply:?}");
                        assert_eq!(reply[0], want, "reply paired with the wrong request");
                        answered += 1;
                    }
                }
            }
            RrOp::Serve(i) => {
                serve(&mut net, i as usize % servers.len());
            }
            RrOp::Step(n) => {
                for _ in 0..n {
                    net.step();
                }
            }
            RrOp::Cut => {
                net.cut_random();
            }
            RrOp::Advance(ms) => net.advance(Duration::from_millis(u64::from(ms))),
        }
    }
    // Drain: everything outstanding gets its answer when nothing was cut.
    for _ in 0..50 {
        net.advance(Duration::from_millis(200));
        let mut progress = false;
        for k in 0..servers.len() {
            while serve(&mut net, k) {
                progress = true;
            }
        }
        net.drive();
        for k in 0..clients.len() {
            if outstanding[k].is_none() {
                continue;
            }
            if let Some(reply) = net.sockets[clients[k]].recv().unwrap() {
                assert_eq!(Some(&reply[0][..]), outstanding[k].as_deref());
                outstanding[k] = None;
                answered += 1;
                progress = true;
            }
        }
        if !progress && outstanding.iter().all(Option::is_none) {
            break;
        }
    }
    if !cfg.relaxed {
        assert!(
            outstanding.iter().all(Option::is_none),
            "requests without replies (nothing was cut): {outstanding:?}, answered {answered}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// R1/R2: each reply is paired with its request; nothing is lost without disconnects.
    #[test]
    fn req_rep_pairs_replies(
        seed in any::<u64>(),
        clients in 1usize..4,
        servers in 1usize..3,
        router_servers in any::<bool>(),
        capacity in prop_oneof![Just(None), (20usize..200).prop_map(Some)],
        ops in prop::collection::vec(rr_op(false), 1..100),
    ) {
        run_reqrep(seed, &ops, &RrCfg { clients, servers, router_servers, relaxed: false, capacity });
    }

    /// R1 with `req_relaxed` + `req_correlate` under random disconnects: a reply is only ever
    /// accepted for the latest request.
    #[test]
    fn req_relaxed_correlate_survives_disconnects(
        seed in any::<u64>(),
        clients in 1usize..4,
        servers in 1usize..3,
        router_servers in any::<bool>(),
        ops in prop::collection::vec(rr_op(true), 1..100),
    ) {
        run_reqrep(seed, &ops, &RrCfg { clients, servers, router_servers, relaxed: true, capacity: None });
    }
}

// ---------------------------------------------------------------------------------------------
// Fairness: DEALER round-robin and fair-queueing
// ---------------------------------------------------------------------------------------------

/// For every prefix, a peer that still had messages is at most one behind any other peer.
fn assert_fair(sequence: &[usize], totals: &[usize]) {
    let mut counts = vec![0usize; totals.len()];
    for (i, &p) in sequence.iter().enumerate() {
        counts[p] += 1;
        for a in 0..totals.len() {
            for b in 0..totals.len() {
                if counts[a] < totals[a] {
                    assert!(
                        counts[b] <= counts[a] + 1,
                        "unfair after {} messages: {counts:?} of {totals:?}",
                        i + 1
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// §1.12 DEALER: round-robin over its peers, one message each in turn (queues exist from
    /// connect(), so the order holds even while connections are still being made).
    #[test]
    fn dealer_round_robin_is_fair(
        seed in any::<u64>(),
        peers in 1usize..6,
        n in 1usize..60,
        drive_first in any::<bool>(),
    ) {
        let mut net = Net::with_chaos(seed, Chaos::full(None));
        net.max_chunk = 33;
        let routers: Vec<usize> = (0..peers).map(|_| net.add_default(SocketType::Router)).collect();
        let dealer = net.add_default(SocketType::Dealer);
        for &r in &routers {
            net.connect(dealer, r);
        }
        if drive_first {
            net.drive();
        }
        for i in 0..n {
            net.sockets[dealer].send(tagged(0, i as u64)).unwrap();
        }
        net.drive();
        // Which router got message i.
        let mut owner = vec![usize::MAX; n];
        for (k, &r) in routers.iter().enumerate() {
            for m in net.recv_all(r) {
                let (_, seq) = untag(&m[1]);
                owner[seq as usize] = k;
            }
        }
        prop_assert!(owner.iter().all(|&o| o != usize::MAX), "lost: {owner:?}");
        assert_fair(&owner, &vec![usize::MAX; peers]);
    }

    /// §1.12 fair-queueing (DEALER, PULL, ROUTER): with messages waiting from several peers,
    /// recv takes one from each in turn.
    #[test]
    fn fair_queue_is_fair(
        seed in any::<u64>(),
        receiver in prop_oneof![Just(SocketType::Dealer), Just(SocketType::Router), Just(SocketType::Pull)],
        counts in prop::collection::vec(0usize..25, 1..6),
    ) {
        let mut net = Net::with_chaos(seed, Chaos::full(None));
        net.max_chunk = 45;
        let sink = net.add_default(receiver);
        let sender_type = if receiver == SocketType::Pull { SocketType::Push } else { SocketType::Dealer };
        let senders: Vec<usize> = counts.iter().map(|_| net.add_default(sender_type)).collect();
        for &s in &senders {
            net.connect(s, sink);
        }
        for (k, &s) in senders.iter().enumerate() {
            for i in 0..counts[k] {
                net.sockets[s].send(tagged(k, i as u64)).unwrap();
            }
        }
        net.drive();
        let got: Vec<usize> = net.recv_all(sink).iter().map(|m| payload(m).0).collect();
        prop_assert_eq!(got.len(), counts.iter().sum::<usize>());
        assert_fair(&got, &counts);
    }
}

// ---------------------------------------------------------------------------------------------
// PUB/SUB and XPUB/XSUB against a reference model (S1–S5)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum PsOp {
    Subscribe(u8, u8),
    Unsubscribe(u8, u8),
    Publish(u8, u8),
    /// A subscriber's link is cut; it reconnects and re-subscribes (S3).
    Reconnect(u8),
}

const TOPICS: [&[u8]; 6] = [b"", b"a", b"ab", b"abc", b"b", b"ba"];
const MESSAGES: [&[u8]; 8] = [b"", b"a", b"ab", b"abc", b"abd", b"b", b"bab", b"c"];

fn ps_op() -> impl Strategy<Value = PsOp> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(s, t)| PsOp::Subscribe(s, t)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(s, t)| PsOp::Unsubscribe(s, t)),
        5 => (any::<u8>(), any::<u8>()).prop_map(|(t, n)| PsOp::Publish(t, n)),
        1 => any::<u8>().prop_map(PsOp::Reconnect),
    ]
}

/// The model of one subscriber: how many times it subscribed to each topic.
type SubModel = BTreeMap<Vec<u8>, usize>;

fn model_matches(m: &SubModel, data: &[u8]) -> bool {
    m.iter().any(|(t, &c)| c > 0 && data.starts_with(t))
}

/// XPUB model: which subscribers hold each topic (libzmq keeps a set per topic, checklist S4).
#[derive(Default)]
struct XpubModel {
    holders: BTreeMap<Vec<u8>, HashSet<usize>>,
}

struct PsCfg {
    subscribers: usize,
    xpub: bool,
    xsub: bool,
    verbose: bool,
    verboser: bool,
}

fn notice(sub: bool, t: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::from(sub)];
    v.extend_from_slice(t);
    v
}

fn run_pubsub(seed: u64, ops: &[PsOp], cfg: &PsCfg) {
    let mut net = Net::with_chaos(seed, Chaos::full(None));
    net.max_chunk = 29;
    let mut po = SocketOptions::default();
    po.xpub_verbose = cfg.verbose;
    po.xpub_verboser = cfg.verboser;
    let publisher = net.add(
        if cfg.xpub {
            SocketType::XPub
        } else {
            SocketType::Pub
        },
        po,
    );
    let sub_type = if cfg.xsub {
        SocketType::XSub
    } else {
        SocketType::Sub
    };
    let subs: Vec<usize> = (0..cfg.subscribers)
        .map(|_| net.add_default(sub_type))
        .collect();
    for &s in &subs {
        net.connect(s, publisher);
    }
    net.drive();
    let mut models: Vec<SubModel> = vec![SubModel::new(); subs.len()];
    let mut expected: Vec<Vec<Vec<u8>>> = vec![Vec::new(); subs.len()];
    let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); subs.len()];
    let mut xm = XpubModel::default();
    let mut counter = 0u32;

    let subscribe = |net: &mut Net, s: usize, topic: &[u8], on: bool| {
        if cfg.xsub {
            net.sockets[s].send(Msg::from(notice(on, topic))).unwrap();
        } else if on {
            net.sockets[s].subscribe(topic).unwrap();
        } else {
            net.sockets[s].unsubscribe(topic).unwrap();
        }
    };

    for op in ops {
        let mut want_notices: Vec<Vec<u8>> = Vec::new();
        match *op {
            PsOp::Subscribe(s, t) => {
                let k = s as usize % subs.len();
                let topic = TOPICS[t as usize % TOPICS.len()];
                subscribe(&mut net, subs[k], topic, true);
                *models[k].entry(topic.to_vec()).or_default() += 1;
                // The subscriber forwards every subscribe; the publisher keeps a set.
                let holders = xm.holders.entry(topic.to_vec()).or_default();
                let first = holders.is_empty();
                holders.insert(k);
                if first || cfg.verbose || cfg.verboser {
                    want_notices.push(notice(true, topic));
                }
            }
            PsOp::Unsubscribe(s, t) => {
                let k = s as usize % subs.len();
                let topic = TOPICS[t as usize % TOPICS.len()];
                subscribe(&mut net, subs[k], topic, false);
                let count = models[k].entry(topic.to_vec()).or_default();
                if *count > 0 {
                    *count -= 1;
                    if *count == 0 {
                        // Only the last cancel travels (libzmq xsub.cpp).
                        let holders = xm.holders.entry(topic.to_vec()).or_default();
                        holders.remove(&k);
                        if holders.is_empty() || cfg.verboser {
                            want_notices.push(notice(false, topic));
                        }
                    }
                }
            }
            PsOp::Publish(t, n) => {
                let first = MESSAGES[t as usize % MESSAGES.len()];
                counter += 1;
                let msg = Msg::from_frames([
                    Bytes::copy_from_slice(first),
                    Bytes::from(format!("{counter}-{n}")),
                ]);
                net.sockets[publisher].send(msg).unwrap();
                for (k, m) in models.iter().enumerate() {
                    if model_matches(m, first) {
                        expected[k].push(format!("{counter}-{n}").into_bytes());
                    }
                }
            }
            PsOp::Reconnect(s) => {
                let k = s as usize % subs.len();
                let sub = subs[k];
                let link =
                    (0..net.links.len()).find(|&i| net.links[i].up() && net.links[i].a.0 == sub);
                if let Some(i) = link {
                    net.drive();
                    for m in net.recv_all(sub) {
                        got[k].push(m[1].to_vec());
                    }
                    net.cut(i);
                    // The publisher forgets the peer: XPUB reports what nobody holds now (S4);
                    // with verboser every topic of the peer.
                    for (topic, holders) in xm.holders.iter_mut() {
                        if holders.remove(&k) && (holders.is_empty() || cfg.verboser) {
                            want_notices.push(notice(false, topic));
                        }
                    }
                    net.advance(Duration::from_millis(150));
                    // S3: the subscriber re-sends each distinct topic once.
                    for (topic, &c) in &models[k] {
                        if c > 0 {
                            let holders = xm.holders.entry(topic.clone()).or_default();
                            let first = holders.is_empty();
                            holders.insert(k);
                            if first || cfg.verbose || cfg.verboser {
                                want_notices.push(notice(true, topic));
                            }
                        }
                    }
                }
            }
        }
        net.drive();
        // Read after every operation: SUB filters again at recv time (S2), so reading later
        // than an unsubscribe would (rightly) drop what the model expects here.
        for (k, &s) in subs.iter().enumerate() {
            for m in net.recv_all(s) {
                got[k].push(m[1].to_vec());
            }
        }
        if cfg.xpub {
            let mut notices = Vec::new();
            while let Some(m) = net.recv(publisher) {
                assert_eq!(m.len(), 1);
                notices.push(m[0].to_vec());
            }
            notices.sort();
            want_notices.sort();
            assert_eq!(notices, want_notices, "XPUB notices after {op:?}");
        }
    }
    for (k, &s) in subs.iter().enumerate() {
        for m in net.recv_all(s) {
            got[k].push(m[1].to_vec());
        }
        assert_eq!(
            got[k]
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>(),
            expected[k]
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>(),
            "subscriber {k} (model {:?})",
            models[k]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// S1–S5: each subscriber gets exactly what the model of its subscriptions says; XPUB
    /// reports exactly the subscriptions and unsubscriptions the model predicts.
    #[test]
    fn pub_sub_matches_model(
        seed in any::<u64>(),
        subscribers in 1usize..4,
        xpub in any::<bool>(),
        xsub in any::<bool>(),
        verbosity in 0u8..3,
        ops in prop::collection::vec(ps_op(), 1..60),
    ) {
        let cfg = PsCfg {
            subscribers,
            xpub,
            xsub,
            verbose: verbosity == 1,
            verboser: verbosity == 2,
        };
        run_pubsub(seed, &ops, &cfg);
    }
}

// ---------------------------------------------------------------------------------------------
// PUB under HWM pressure: drops per subscriber only, never duplicates or reorders
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// §1.12 PUB: a slow subscriber loses messages, a fast one loses none, and what arrives is
    /// in order without duplicates; `send` never blocks.
    #[test]
    fn pub_drops_per_subscriber_only(
        seed in any::<u64>(),
        sndhwm in 1usize..8,
        capacity in 16usize..200,
        n in 1usize..300,
        slow_reads_every in 5usize..50,
    ) {
        let mut net = Net::with_chaos(seed, Chaos::full(Some(capacity)));
        let mut po = SocketOptions::default();
        po.sndhwm = sndhwm;
        let publisher = net.add(SocketType::Pub, po);
        let mut so = SocketOptions::default();
        so.connection.rcvhwm = 2;
        let fast = net.add_default(SocketType::Sub);
        let slow = net.add(SocketType::Sub, so);
        for s in [fast, slow] {
            net.connect(s, publisher);
            net.sockets[s].subscribe(b"").unwrap();
        }
        net.drive();
        let mut got_fast = Vec::new();
        let mut got_slow = Vec::new();
        for i in 0..n {
            net.sockets[publisher].send(tagged(0, i as u64)).unwrap();
            // The fast subscriber reads everything as it comes.
            for _ in 0..4 {
                net.step();
                while let Some(m) = net.recv(fast) {
                    got_fast.push(payload(&m).1);
                }
            }
            if i % slow_reads_every == 0 {
                while let Some(m) = net.recv(slow) {
                    got_slow.push(payload(&m).1);
                }
            }
        }
        for _ in 0..4 {
            got_fast.extend(net.recv_all(fast).iter().map(|m| payload(m).1));
            got_slow.extend(net.recv_all(slow).iter().map(|m| payload(m).1));
        }
        prop_assert_eq!(got_fast, (0..n as u64).collect::<Vec<_>>());
        prop_assert!(got_slow.windows(2).all(|w| w[0] < w[1]), "slow: {:?}", got_slow);
    }
}

// ---------------------------------------------------------------------------------------------
// ROUTER routing by identity (R3)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// R3: a ROUTER delivers each message to the peer named by its first frame, in order;
    /// unknown identities are dropped silently.
    #[test]
    fn router_routes_by_identity(
        seed in any::<u64>(),
        dealers in 1usize..5,
        targets in prop::collection::vec(0usize..6, 1..150),
        capacity in prop_oneof![Just(None), (20usize..300).prop_map(Some)],
    ) {
        let mut net = Net::with_chaos(seed, Chaos::full(capacity));
        net.max_chunk = 40;
        let router = net.add_default(SocketType::Router);
        let ds: Vec<usize> = (0..dealers)
            .map(|k| {
                let mut o = SocketOptions::default();
                o.connection.routing_id = Bytes::from(format!("dealer-{k}"));
                net.add(SocketType::Dealer, o)
            })
            .collect();
        for &d in &ds {
            net.connect(d, router);
        }
        net.drive();
        let mut want = vec![Vec::new(); dealers];
        for (i, &t) in targets.iter().enumerate() {
            // Target `dealers..6` does not exist: dropped silently.
            let id = format!("dealer-{t}");
            let mut msg = tagged(0, i as u64);
            msg.push_front(id);
            net.sockets[router].send(msg).unwrap();
            if t < dealers {
                want[t].push(i as u64);
            }
            if i % 7 == 0 {
                net.step();
            }
        }
        net.drive();
        for (k, &d) in ds.iter().enumerate() {
            let got: Vec<u64> = net.recv_all(d).iter().map(|m| payload(m).1).collect();
            prop_assert_eq!(&got, &want[k]);
        }
    }
}
