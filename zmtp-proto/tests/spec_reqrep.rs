//! REQ and REP against the RFC 28 rules (checklist R1, R2, §1.12), in the spirit of libzmq's
//! `test_spec_req` and `test_spec_rep`.
#![allow(missing_docs, unreachable_pub)]

mod net;

use bytes::Bytes;
use net::Net;
use zmtp_proto::SocketOptions;
use zmtp_proto::{Error, Frame, Msg, SocketType};

fn opts(f: impl FnOnce(&mut SocketOptions)) -> SocketOptions {
    let mut o = SocketOptions::default();
    f(&mut o);
    o
}

/// R1 / libzmq `test_round_robin_out`: requests go to the REPs in turn.
#[test]
fn req_round_robin_out() {
    let mut net = Net::new(1);
    let reps: Vec<usize> = (0..3).map(|_| net.add_default(SocketType::Rep)).collect();
    let req = net.add_default(SocketType::Req);
    for &r in &reps {
        net.connect(req, r);
    }
    net.drive();
    for round in 0..2 {
        for (k, &r) in reps.iter().enumerate() {
            let body = format!("req-{round}-{k}");
            net.sockets[req].send(Msg::from(body.clone())).unwrap();
            net.drive();
            assert_eq!(net.recv(r), Some(Msg::from(body)), "REP {k} is next");
            net.sockets[r].send(Msg::from("ok")).unwrap();
            net.drive();
            assert_eq!(net.recv(req), Some(Msg::from("ok")));
        }
    }
}

/// R1 / libzmq `test_req_message_format`: a REQ request reaches a ROUTER as
/// `[identity, "", body]`, and the ROUTER's reply `[identity, "", body]` reaches REQ as `body`.
#[test]
fn req_message_format() {
    let mut net = Net::new(2);
    let router = net.add_default(SocketType::Router);
    let req = net.add(
        SocketType::Req,
        opts(|o| o.connection.routing_id = Bytes::from_static(b"REQ1")),
    );
    net.connect(req, router);
    net.sockets[req].send(Msg::from("ABC")).unwrap();
    net.drive();
    let got = net.recv(router).unwrap();
    assert_eq!(got, Msg::from(["REQ1", "", "ABC"]));
    net.sockets[router]
        .send(Msg::from(["REQ1", "", "DEF"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv(req), Some(Msg::from("DEF")));
}

/// R1: lockstep — a second send before the reply, or a recv before any send, is an
/// `InvalidState` error (libzmq `EFSM`), and the refused message comes back unchanged.
#[test]
fn req_lockstep_errors() {
    let mut net = Net::new(3);
    let rep = net.add_default(SocketType::Rep);
    let req = net.add_default(SocketType::Req);
    net.connect(req, rep);
    assert!(matches!(
        net.sockets[req].recv(),
        Err(Error::InvalidState(_))
    ));
    net.sockets[req].send(Msg::from("one")).unwrap();
    let e = net.sockets[req]
        .send(Msg::from(["two", "parts"]))
        .unwrap_err();
    assert!(matches!(e.error, Error::InvalidState(_)));
    assert_eq!(e.msg, Msg::from(["two", "parts"]));
    assert!(!net.sockets[req].is_writable());
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from("one")));
    net.sockets[rep].send(Msg::from("reply")).unwrap();
    net.drive();
    assert!(net.sockets[req].is_readable());
    assert_eq!(net.recv(req), Some(Msg::from("reply")));
    // Back to the start: recv is an error again, send works.
    assert!(matches!(
        net.sockets[req].recv(),
        Err(Error::InvalidState(_))
    ));
    net.sockets[req].send(Msg::from("three")).unwrap();
}

/// R1 / libzmq `test_req_only_listens_to_current_peer`: replies from peers the request did not
/// go to are dropped.
#[test]
fn req_only_listens_to_current_peer() {
    let mut net = Net::new(4);
    let routers: Vec<usize> = (0..3)
        .map(|_| net.add(SocketType::Router, opts(|o| o.router_mandatory = true)))
        .collect();
    let req = net.add(
        SocketType::Req,
        opts(|o| o.connection.routing_id = Bytes::from_static(b"A")),
    );
    for &r in &routers {
        net.connect(req, r);
    }
    net.drive();
    for (k, &asked) in routers.iter().enumerate() {
        net.sockets[req].send(Msg::from(format!("Q{k}"))).unwrap();
        net.drive();
        let got = net.recv(asked).unwrap();
        assert_eq!(
            got,
            Msg::from(["A".to_string(), String::new(), format!("Q{k}")])
        );
        // Every router answers; only the asked one counts.
        for (j, &r) in routers.iter().enumerate() {
            net.sockets[r]
                .send(Msg::from(["A".to_string(), String::new(), format!("R{j}")]))
                .unwrap();
        }
        net.drive();
        assert_eq!(net.recv(req), Some(Msg::from(format!("R{k}"))));
        // The other replies were discarded (a second recv is the lockstep error).
        assert!(matches!(
            net.sockets[req].recv(),
            Err(Error::InvalidState(_))
        ));
    }
}

/// R1 / libzmq `test_block_on_send_no_peers`: a REQ without any peer cannot send.
#[test]
fn req_blocks_without_peers() {
    let mut net = Net::new(5);
    let req = net.add_default(SocketType::Req);
    let e = net.sockets[req].send(Msg::from("hello")).unwrap_err();
    assert_eq!(e.error, Error::WouldBlock);
    assert_eq!(e.msg, Msg::from("hello"));
    assert!(!net.sockets[req].is_writable());
}

/// R1: replies that do not start with the empty delimiter are skipped.
#[test]
fn req_skips_replies_without_delimiter() {
    let mut net = Net::new(6);
    let router = net.add_default(SocketType::Router);
    let req = net.add(
        SocketType::Req,
        opts(|o| o.connection.routing_id = Bytes::from_static(b"R")),
    );
    net.connect(req, router);
    net.sockets[req].send(Msg::from("q")).unwrap();
    net.drive();
    assert!(net.recv(router).is_some());
    net.sockets[router].send(Msg::from(["R", "bad"])).unwrap();
    net.sockets[router]
        .send(Msg::from(["R", "not-empty", "bad"]))
        .unwrap();
    net.sockets[router]
        .send(Msg::from(["R", "", "good"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv(req), Some(Msg::from("good")));
}

/// R1 `ZMQ_REQ_RELAXED`: a new request may be sent before the reply; a reply from a peer the
/// latest request did not go to is dropped.
#[test]
fn req_relaxed_allows_resend() {
    let mut net = Net::new(7);
    let reps: Vec<usize> = (0..2).map(|_| net.add_default(SocketType::Rep)).collect();
    let req = net.add(SocketType::Req, opts(|o| o.req_relaxed = true));
    for &r in &reps {
        net.connect(req, r);
    }
    net.drive();
    net.sockets[req].send(Msg::from("first")).unwrap();
    net.sockets[req].send(Msg::from("second")).unwrap();
    assert!(net.sockets[req].is_writable());
    net.drive();
    assert_eq!(net.recv(reps[0]), Some(Msg::from("first")));
    assert_eq!(net.recv(reps[1]), Some(Msg::from("second")));
    // The stale reply (to "first", from REP 0) is dropped; the current one is taken.
    net.sockets[reps[0]].send(Msg::from("to-first")).unwrap();
    net.drive();
    net.sockets[reps[1]].send(Msg::from("to-second")).unwrap();
    net.drive();
    assert_eq!(net.recv(req), Some(Msg::from("to-second")));
}

/// R1 `ZMQ_REQ_CORRELATE`: requests carry a 4-byte id before the delimiter; a reply with a
/// stale id (even from the right peer) is dropped.
#[test]
fn req_correlate_checks_request_ids() {
    let mut net = Net::new(8);
    let router = net.add_default(SocketType::Router);
    let req = net.add(
        SocketType::Req,
        opts(|o| {
            o.req_relaxed = true;
            o.req_correlate = true;
            o.connection.routing_id = Bytes::from_static(b"C");
        }),
    );
    net.connect(req, router);
    net.sockets[req].send(Msg::from("first")).unwrap();
    net.sockets[req].send(Msg::from("second")).unwrap();
    net.drive();
    let r1 = net.recv(router).unwrap();
    let r2 = net.recv(router).unwrap();
    assert_eq!(r1.len(), 4, "[identity, request id, \"\", body]: {r1:?}");
    assert_eq!(&r1[0][..], b"C");
    assert_eq!(r1[1].len(), 4);
    assert!(r1[2].is_empty());
    assert_eq!(&r1[3][..], b"first");
    assert_ne!(r1[1], r2[1], "each request has its own id");
    // Reply to the first (stale) request, then to the second.
    let reply = |m: &Msg, body: &'static str| {
        Msg::from_frames([m[0].clone(), m[1].clone(), m[2].clone(), Frame::from(body)])
    };
    net.sockets[router].send(reply(&r1, "stale")).unwrap();
    net.sockets[router].send(reply(&r2, "fresh")).unwrap();
    net.drive();
    // The stale reply arrived first and was skipped; after the fresh one nothing is pending.
    assert_eq!(net.recv(req), Some(Msg::from("fresh")));
    assert!(matches!(
        net.sockets[req].recv(),
        Err(Error::InvalidState(_))
    ));
}

/// R2 / libzmq `test_fair_queue_in`: REP takes requests from its peers in turn.
#[test]
fn rep_fair_queue_in() {
    let mut net = Net::new(9);
    let rep = net.add_default(SocketType::Rep);
    let reqs: Vec<usize> = (0..3).map(|_| net.add_default(SocketType::Req)).collect();
    for &r in &reqs {
        net.connect(r, rep);
    }
    net.drive();
    for (k, &r) in reqs.iter().enumerate() {
        net.sockets[r].send(Msg::from(format!("from-{k}"))).unwrap();
    }
    net.drive();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = net.recv(rep).unwrap();
        got.push(String::from_utf8(m[0].to_vec()).unwrap());
        net.sockets[rep].send(m).unwrap();
    }
    got.sort();
    assert_eq!(got, ["from-0", "from-1", "from-2"]);
    net.drive();
    for (k, &r) in reqs.iter().enumerate() {
        assert_eq!(
            net.recv(r),
            Some(Msg::from(format!("from-{k}"))),
            "echo to {k}"
        );
    }
}

/// R2 / libzmq `test_envelope`: REP strips the whole envelope (up to and including the first
/// empty frame) and puts it back on the reply.
#[test]
fn rep_envelope_strip_and_restore() {
    let mut net = Net::new(10);
    let rep = net.add_default(SocketType::Rep);
    let dealer = net.add_default(SocketType::Dealer);
    net.connect(dealer, rep);
    net.sockets[dealer]
        .send(Msg::from(["X", "Y", "", "BODY", "MORE"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from(["BODY", "MORE"])));
    net.sockets[rep].send(Msg::from("REPLY")).unwrap();
    net.drive();
    assert_eq!(net.recv(dealer), Some(Msg::from(["X", "Y", "", "REPLY"])));
}

/// R2: a request without the empty delimiter is dropped (libzmq `rep.cpp` rollback).
#[test]
fn rep_drops_requests_without_delimiter() {
    let mut net = Net::new(11);
    let rep = net.add_default(SocketType::Rep);
    let dealer = net.add_default(SocketType::Dealer);
    net.connect(dealer, rep);
    net.sockets[dealer]
        .send(Msg::from(["no", "delimiter"]))
        .unwrap();
    net.sockets[dealer].send(Msg::from(["", "good"])).unwrap();
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from("good")));
    net.sockets[rep].send(Msg::from("answer")).unwrap();
    net.drive();
    assert_eq!(net.recv(dealer), Some(Msg::from(["", "answer"])));
    // The malformed request is gone for good.
    assert_eq!(net.recv(rep), None);
}

/// R2: REP lockstep — a reply needs a request, and a second recv needs the reply first.
#[test]
fn rep_lockstep_errors() {
    let mut net = Net::new(12);
    let rep = net.add_default(SocketType::Rep);
    let req = net.add_default(SocketType::Req);
    net.connect(req, rep);
    let e = net.sockets[rep].send(Msg::from("unasked")).unwrap_err();
    assert!(matches!(e.error, Error::InvalidState(_)));
    assert_eq!(e.msg, Msg::from("unasked"));
    net.sockets[req].send(Msg::from("q")).unwrap();
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from("q")));
    assert!(matches!(
        net.sockets[rep].recv(),
        Err(Error::InvalidState(_))
    ));
    net.sockets[rep].send(Msg::from("a")).unwrap();
}

/// §1.12 REP never blocks: the reply to a requester that went away is dropped, and REP serves
/// the next request.
#[test]
fn rep_drops_reply_to_vanished_requester() {
    let mut net = Net::new(13);
    let rep = net.add_default(SocketType::Rep);
    let gone = net.add_default(SocketType::Req);
    let stays = net.add_default(SocketType::Req);
    let gone_peer = net.connect(gone, rep);
    net.connect(stays, rep);
    net.drive();
    net.sockets[gone].send(Msg::from("from-gone")).unwrap();
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from("from-gone")));
    // The requester disconnects for good before the reply.
    let now = net.now;
    net.sockets[gone].disconnect(gone_peer, now);
    net.drive();
    net.sockets[rep].send(Msg::from("lost")).unwrap();
    net.sockets[stays].send(Msg::from("from-stays")).unwrap();
    net.drive();
    assert_eq!(net.recv(rep), Some(Msg::from("from-stays")));
    net.sockets[rep].send(Msg::from("answer")).unwrap();
    net.drive();
    assert_eq!(net.recv(stays), Some(Msg::from("answer")));
}
