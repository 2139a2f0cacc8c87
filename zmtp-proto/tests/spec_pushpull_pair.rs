//! PUSH, PULL and PAIR against RFC 30/31 and the general socket rules of §1.12 (queues, HWM,
//! reconnection, immediate, conflate, linger), in the spirit of libzmq's `test_spec_pushpull`,
//! `test_pair_*`, `test_conflate`, `test_immediate` and `test_reconnect_ivl`.
#![allow(missing_docs, unreachable_pub)]

mod net;

use std::time::Duration;

use net::{tagged, untag, Net};
use zmtp_proto::{Action, SocketEvent, SocketOptions};
use zmtp_proto::{Error, Msg, Socket, SocketType};

fn opts(f: impl FnOnce(&mut SocketOptions)) -> SocketOptions {
    let mut o = SocketOptions::default();
    f(&mut o);
    o
}

fn seqs(msgs: &[Msg]) -> Vec<u64> {
    msgs.iter().map(|m| untag(&m[0]).1).collect()
}

// ---- PUSH / PULL ----------------------------------------------------------------------------

/// RFC 30 / libzmq `test_push_round_robin_out`.
#[test]
fn push_round_robin_out() {
    let mut net = Net::new(1);
    let pulls: Vec<usize> = (0..3).map(|_| net.add_default(SocketType::Pull)).collect();
    let push = net.add_default(SocketType::Push);
    for &p in &pulls {
        net.connect(push, p);
    }
    for i in 0..9 {
        net.sockets[push].send(tagged(0, i)).unwrap();
    }
    net.drive();
    for (k, &p) in pulls.iter().enumerate() {
        let k = k as u64;
        assert_eq!(seqs(&net.recv_all(p)), [k, k + 3, k + 6]);
    }
}

/// RFC 30 / libzmq `test_pull_fair_queue_in`.
#[test]
fn pull_fair_queue_in() {
    let mut net = Net::new(2);
    let pull = net.add_default(SocketType::Pull);
    let pushes: Vec<usize> = (0..2).map(|_| net.add_default(SocketType::Push)).collect();
    for &p in &pushes {
        net.connect(p, pull);
    }
    for (k, &p) in pushes.iter().enumerate() {
        for i in 0..3 {
            net.sockets[p].send(tagged(k, i)).unwrap();
        }
    }
    net.drive();
    let got: Vec<usize> = net.recv_all(pull).iter().map(|m| untag(&m[0]).0).collect();
    assert_eq!(got.len(), 6);
    for pair in got.chunks(2) {
        assert_ne!(pair[0], pair[1], "alternating: {got:?}");
    }
}

/// Batching without a flush (design notes): small messages accumulate in the output buffer and
/// raise no flush hint; a full 256 KiB batch does, once, so a driver writes it at once instead
/// of letting large messages pile up to the high-water mark. Nothing is lost either way.
#[test]
fn flush_hint_marks_a_full_output_batch() {
    let mut net = Net::new(7);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add_default(SocketType::Push);
    net.connect(push, pull);
    net.drive();
    assert!(!net.sockets[push].take_flush_hint());
    for _ in 0..1000 {
        net.sockets[push].send(Msg::from(vec![1u8; 16])).unwrap();
    }
    assert!(
        !net.sockets[push].take_flush_hint(),
        "18 KB of small frames is not a full batch"
    );
    net.sockets[push]
        .send(Msg::from(vec![2u8; 256 * 1024]))
        .unwrap();
    assert!(net.sockets[push].take_flush_hint());
    assert!(!net.sockets[push].take_flush_hint(), "reported once");
    net.drive();
    let got = net.recv_all(pull);
    assert_eq!(got.len(), 1001);
    assert_eq!(got[1000][0].len(), 256 * 1024);
}

/// §1.12 / libzmq `test_push_block_on_send_no_peers`; PULL cannot send, PUSH cannot receive.
#[test]
fn push_blocks_without_peers() {
    let now = std::time::Instant::now();
    let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
    let e = push.send(Msg::from("x")).unwrap_err();
    assert_eq!((e.error, e.msg), (Error::WouldBlock, Msg::from("x")));
    assert!(matches!(push.recv(), Err(Error::NotSupported(_))));
    let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), now);
    let e = pull.send(Msg::from("y")).unwrap_err();
    assert!(matches!(e.error, Error::NotSupported(_)));
    assert_eq!(e.msg, Msg::from("y"));
}

/// §1.12 / libzmq `test_destroy_queue_on_disconnect` (PUSH bound): the queue of a PULL that
/// disconnects is destroyed; afterwards the PUSH has no peer and blocks.
#[test]
fn push_destroys_queue_of_departed_pull() {
    let mut net = Net::new(3);
    let push = net.add_default(SocketType::Push);
    let pull = net.add_default(SocketType::Pull);
    let peer = net.connect(pull, push);
    net.drive();
    net.freeze(0, true);
    for i in 0..3 {
        net.sockets[push].send(tagged(0, i)).unwrap();
    }
    let now = net.now;
    net.sockets[pull].disconnect(peer, now);
    // Let the close reach the PUSH (a frozen link would hide it).
    net.freeze(0, false);
    net.drive();
    assert_eq!(net.sockets[push].peer_count(), 0);
    assert_eq!(
        net.sockets[push].send(tagged(0, 3)).unwrap_err().error,
        Error::WouldBlock
    );
    net.connect(pull, push);
    net.drive();
    net.sockets[push].send(tagged(0, 4)).unwrap();
    net.drive();
    assert_eq!(seqs(&net.recv_all(pull)), [4], "nothing of the old queue");
}

/// §1.12 HWM for the blocking types: at the high-water mark `send` returns `WouldBlock` and
/// hands the message back unchanged; nothing is ever dropped.
#[test]
fn push_hwm_blocks_and_drops_nothing() {
    let mut net = Net::new(4);
    let pull = net.add(SocketType::Pull, opts(|o| o.connection.rcvhwm = 3));
    let push = net.add(SocketType::Push, opts(|o| o.sndhwm = 3));
    net.connect(push, pull);
    net.drive();
    net.chaos.capacity = Some(256);
    let mut sent = 0u64;
    let mut refused = 0;
    let mut got = Vec::new();
    while sent < 5000 {
        let mut m = tagged(0, sent);
        m.push(vec![7u8; 100]);
        match net.sockets[push].send(m.clone()) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e.error, Error::WouldBlock);
                assert_eq!(e.msg, m, "handed back unchanged");
                assert!(!net.sockets[push].is_writable());
                refused += 1;
                // The reader catches up a little.
                net.drive();
                for _ in 0..2 {
                    if let Some(m) = net.recv(pull) {
                        got.push(untag(&m[0]).1);
                    }
                }
                net.drive();
            }
        }
    }
    got.extend(seqs(&net.recv_all(pull)));
    assert!(refused > 100, "the high-water mark was reached ({refused})");
    assert_eq!(got, (0..sent).collect::<Vec<_>>());
}

/// §1.12: PUSH/PULL multipart messages are atomic, also at the high-water mark.
#[test]
fn multipart_messages_are_atomic() {
    let mut net = Net::new(5);
    net.chaos.capacity = Some(64);
    net.max_chunk = 7;
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(SocketType::Push, opts(|o| o.sndhwm = 1));
    net.connect(push, pull);
    net.drive();
    let mut sent = 0;
    for i in 0..200u64 {
        let m = Msg::from_frames([tagged(0, i)[0].clone(), "b".into(), "c".into()]);
        if net.sockets[push].send(m).is_ok() {
            sent += 1;
        }
        net.step();
    }
    let got = net.recv_all(pull);
    assert_eq!(got.len(), sent);
    assert!(got.iter().all(|m| m.len() == 3 && &m[2][..] == b"c"));
}

// ---- reconnection ---------------------------------------------------------------------------

/// §1.12 reconnection: refused dials are retried after `reconnect_ivl`, doubling up to
/// `reconnect_ivl_max`, checked on the virtual clock; a successful handshake resets the
/// backoff and a lost connection is redialled after `reconnect_ivl`.
#[test]
fn reconnect_ivl_with_exponential_backoff() {
    let mut net = Net::new(6);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(
        SocketType::Push,
        opts(|o| {
            o.reconnect_ivl = Duration::from_millis(100);
            o.reconnect_ivl_max = Duration::from_millis(800);
        }),
    );
    net.refusing[pull] = true;
    let start = net.now;
    net.connect(push, pull);
    net.advance(Duration::from_millis(3000));
    let times: Vec<u64> = net
        .dials_of(push)
        .iter()
        .map(|d| (d.at - start).as_millis() as u64)
        .collect();
    // 0, +100, +200, +400, +800, +800, ...
    assert_eq!(&times[..6], [0, 100, 300, 700, 1500, 2300]);
    let delays: Vec<Duration> = net
        .take_events(push)
        .iter()
        .filter_map(|e| match e {
            SocketEvent::ConnectRetried { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays[..5],
        [100, 200, 400, 800, 800].map(Duration::from_millis)
    );
    // Accept the next dial (at 3100 ms); the connection then drops at 3500 ms.
    net.refusing[pull] = false;
    net.advance(Duration::from_millis(500));
    assert_eq!(net.up_links().len(), 1);
    let i = net.up_links()[0];
    net.cut(i);
    let cut_at = net.now;
    net.advance(Duration::from_millis(150));
    let after: Vec<Duration> = net
        .dials_of(push)
        .iter()
        .filter(|d| d.at >= cut_at)
        .map(|d| d.at - cut_at)
        .collect();
    assert_eq!(after, [Duration::from_millis(100)], "backoff was reset");
}

/// Without `reconnect_ivl_max` every retry waits `reconnect_ivl`.
#[test]
fn reconnect_ivl_without_backoff() {
    let mut net = Net::new(7);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(
        SocketType::Push,
        opts(|o| o.reconnect_ivl = Duration::from_millis(250)),
    );
    net.refusing[pull] = true;
    let start = net.now;
    net.connect(push, pull);
    net.advance(Duration::from_millis(1000));
    let times: Vec<u64> = net
        .dials_of(push)
        .iter()
        .map(|d| (d.at - start).as_millis() as u64)
        .collect();
    assert_eq!(times, [0, 250, 500, 750, 1000]);
}

// ---- immediate, conflate --------------------------------------------------------------------

/// `ZMQ_IMMEDIATE`: no queue for a peer until its connection completes, so `send` blocks
/// instead of queueing; once connected it flows.
#[test]
fn immediate_queues_only_to_completed_connections() {
    let mut net = Net::new(8);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(SocketType::Push, opts(|o| o.immediate = true));
    net.refusing[pull] = true;
    net.connect(push, pull);
    net.drive();
    let e = net.sockets[push].send(Msg::from("early")).unwrap_err();
    assert_eq!((e.error, e.msg), (Error::WouldBlock, Msg::from("early")));
    net.refusing[pull] = false;
    net.advance(Duration::from_millis(150));
    net.sockets[push].send(Msg::from("late")).unwrap();
    net.drive();
    assert_eq!(net.recv_all(pull), [Msg::from("late")]);
    // And the peer leaves the round-robin set again when its connection drops.
    let i = net.up_links()[0];
    net.cut(i);
    net.drive();
    assert_eq!(
        net.sockets[push].send(Msg::from("x")).unwrap_err().error,
        Error::WouldBlock
    );
}

/// `ZMQ_CONFLATE`: only the last message is kept, on the sending queue and on the receiving
/// side.
#[test]
fn conflate_keeps_the_last_message() {
    let mut net = Net::new(9);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(SocketType::Push, opts(|o| o.connection.conflate = true));
    net.refusing[pull] = true;
    net.connect(push, pull);
    net.drive();
    for i in 0..5 {
        net.sockets[push].send(tagged(0, i)).unwrap();
    }
    net.refusing[pull] = false;
    net.advance(Duration::from_millis(150));
    assert_eq!(seqs(&net.recv_all(pull)), [4], "sender side conflated");

    let mut net = Net::new(10);
    let pull = net.add(SocketType::Pull, opts(|o| o.connection.conflate = true));
    let push = net.add_default(SocketType::Push);
    net.connect(push, pull);
    for i in 0..5 {
        net.sockets[push].send(tagged(0, i)).unwrap();
    }
    net.drive();
    assert_eq!(seqs(&net.recv_all(pull)), [4], "receiver side conflated");
}

// ---- linger / close -------------------------------------------------------------------------

/// `close` with the default (infinite) linger: no more sends, queued messages are flushed, and
/// the socket reports closed once they are written.
#[test]
fn close_flushes_then_is_closed() {
    let mut net = Net::new(11);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add_default(SocketType::Push);
    net.connect(push, pull);
    net.drive();
    net.freeze(0, true);
    for i in 0..3 {
        net.sockets[push].send(tagged(0, i)).unwrap();
    }
    let now = net.now;
    net.sockets[push].close(now);
    let e = net.sockets[push].send(tagged(0, 9)).unwrap_err();
    assert_eq!(e.error, Error::Terminated);
    net.advance(Duration::from_secs(60));
    assert!(!net.sockets[push].is_closed(), "still flushing");
    net.freeze(0, false);
    net.drive();
    assert!(net.sockets[push].is_closed());
    assert_eq!(seqs(&net.recv_all(pull)), [0, 1, 2]);
}

/// `ZMQ_LINGER`: a closing socket gives up after the linger time; zero gives up at once; peers
/// still waiting to dial are dropped.
#[test]
fn linger_bounds_close() {
    let mut net = Net::new(12);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add(
        SocketType::Push,
        opts(|o| o.linger = Some(Duration::from_millis(500))),
    );
    net.connect(push, pull);
    net.drive();
    net.freeze(0, true);
    net.sockets[push].send(tagged(0, 0)).unwrap();
    let now = net.now;
    net.sockets[push].close(now);
    net.advance(Duration::from_millis(499));
    assert!(!net.sockets[push].is_closed());
    net.advance(Duration::from_millis(1));
    assert!(net.sockets[push].is_closed());
    // The passed deadline is not reported again (a driver sleeping on it would spin).
    let now = net.now;
    assert!(net.sockets[push].poll_timeout().is_none_or(|t| t > now));

    let now = net.now;
    let mut idle = Socket::new(
        SocketType::Push,
        opts(|o| o.linger = Some(Duration::ZERO)),
        now,
    );
    idle.connect("mem://nowhere", now);
    idle.send(Msg::from("queued")).unwrap();
    idle.close(now);
    assert!(idle.is_closed());
    assert_eq!(idle.peer_count(), 0);
}

// ---- PAIR -----------------------------------------------------------------------------------

/// RFC 31: PAIR talks to exactly one peer and refuses a second one.
#[test]
fn pair_refuses_second_peer() {
    let mut net = Net::new(13);
    let bound = net.add_default(SocketType::Pair);
    let first = net.add_default(SocketType::Pair);
    let second = net.add_default(SocketType::Pair);
    net.connect(first, bound);
    net.drive();
    net.connect(second, bound);
    net.drive();
    let events = net.take_events(bound);
    assert!(
        events.iter().any(|e| matches!(
            e,
            SocketEvent::HandshakeFailed {
                error: Error::PeerRefused(_),
                ..
            }
        )),
        "{events:?}"
    );
    for i in 0..4 {
        net.sockets[bound].send(tagged(0, i)).unwrap();
    }
    net.drive();
    assert_eq!(seqs(&net.recv_all(first)), [0, 1, 2, 3]);
    assert!(net.recv_all(second).is_empty());
    net.sockets[first].send(Msg::from("back")).unwrap();
    net.drive();
    assert_eq!(net.recv_all(bound), [Msg::from("back")]);
}

/// RFC 31: PAIR blocks rather than drops (HWM), and queues from connect().
#[test]
fn pair_blocks_at_hwm() {
    let mut net = Net::new(14);
    let a = net.add_default(SocketType::Pair);
    let b = net.add(SocketType::Pair, opts(|o| o.sndhwm = 2));
    net.refusing[a] = true;
    net.connect(b, a);
    net.drive();
    net.sockets[b].send(Msg::from("1")).unwrap();
    net.sockets[b].send(Msg::from("2")).unwrap();
    let e = net.sockets[b].send(Msg::from("3")).unwrap_err();
    assert_eq!((e.error, e.msg), (Error::WouldBlock, Msg::from("3")));
    net.refusing[a] = false;
    net.advance(Duration::from_millis(150));
    assert_eq!(net.recv_all(a), [Msg::from("1"), Msg::from("2")]);
}

/// The driver contract around `disconnect`: a connected peer is closed through an action and
/// never redialled.
#[test]
fn disconnect_closes_and_stops_redialling() {
    let mut net = Net::new(15);
    let pull = net.add_default(SocketType::Pull);
    let push = net.add_default(SocketType::Push);
    let peer = net.connect(push, pull);
    net.drive();
    let now = net.now;
    net.sockets[push].disconnect(peer, now);
    assert_eq!(
        net.sockets[push].poll_action(),
        Some(Action::Close { peer })
    );
    // We took the action ourselves: close the transport as a driver would.
    let i = net.link_of(push, peer).expect("still open");
    net.cut(i);
    net.drive();
    let dials = net.dials_of(push).len();
    net.advance(Duration::from_secs(2));
    assert_eq!(net.dials_of(push).len(), dials, "no redial");
    assert_eq!(net.sockets[push].peer_count(), 0);
}
