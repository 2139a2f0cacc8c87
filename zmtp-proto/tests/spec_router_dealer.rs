//! DEALER and ROUTER against the RFC 28 rules (checklist R3, R4, §1.12), in the spirit of
//! libzmq's `test_spec_dealer` and `test_spec_router`, plus ROUTER options, monitor events and
//! heartbeats through the socket (checklist H3).
#![allow(missing_docs, unreachable_pub)]

mod net;

use std::time::{Duration, Instant};

use bytes::Bytes;
use net::{tagged, untag, Net};
use zmtp_proto::{Error, Msg, SocketType};
use zmtp_proto::{PeerId, Socket, SocketEvent, SocketOptions};

fn opts(f: impl FnOnce(&mut SocketOptions)) -> SocketOptions {
    let mut o = SocketOptions::default();
    f(&mut o);
    o
}

fn named(name: &'static str) -> SocketOptions {
    opts(|o| o.connection.routing_id = Bytes::from_static(name.as_bytes()))
}

// ---- DEALER ---------------------------------------------------------------------------------

/// §1.12 DEALER / libzmq `test_round_robin_out`: one message to each peer in turn.
#[test]
fn dealer_round_robin_out() {
    let mut net = Net::new(1);
    let routers: Vec<usize> = (0..3)
        .map(|_| net.add_default(SocketType::Router))
        .collect();
    let dealer = net.add_default(SocketType::Dealer);
    for &r in &routers {
        net.connect(dealer, r);
    }
    net.drive();
    for i in 0..6u64 {
        net.sockets[dealer].send(tagged(0, i)).unwrap();
    }
    net.drive();
    for (k, &r) in routers.iter().enumerate() {
        let got: Vec<u64> = net.recv_all(r).iter().map(|m| untag(&m[1]).1).collect();
        assert_eq!(got, [k as u64, k as u64 + 3], "router {k}");
    }
}

/// §1.12 DEALER / libzmq `test_fair_queue_in`: one message from each peer in turn.
#[test]
fn dealer_fair_queue_in() {
    let mut net = Net::new(2);
    let sink = net.add_default(SocketType::Dealer);
    let senders: Vec<usize> = (0..3)
        .map(|_| net.add_default(SocketType::Dealer))
        .collect();
    for &s in &senders {
        net.connect(s, sink);
    }
    for (k, &s) in senders.iter().enumerate() {
        for i in 0..3 {
            net.sockets[s].send(tagged(k, i)).unwrap();
        }
    }
    net.drive();
    let got: Vec<(usize, u64)> = net.recv_all(sink).iter().map(|m| untag(&m[0])).collect();
    assert_eq!(got.len(), 9);
    for round in got.chunks(3) {
        let mut senders: Vec<usize> = round.iter().map(|&(s, _)| s).collect();
        senders.sort_unstable();
        assert_eq!(
            senders,
            [0, 1, 2],
            "each round takes one from each: {got:?}"
        );
    }
}

/// §1.12 / libzmq `test_block_on_send_no_peers`: a DEALER without peers cannot send, while a
/// connecting DEALER has its queue at once.
#[test]
fn dealer_blocks_without_peers_but_queues_from_connect() {
    let mut net = Net::new(3);
    let lonely = net.add_default(SocketType::Dealer);
    let e = net.sockets[lonely].send(Msg::from("x")).unwrap_err();
    assert_eq!(e.error, Error::WouldBlock);
    assert_eq!(e.msg, Msg::from("x"));

    let router = net.add_default(SocketType::Router);
    net.refusing[router] = true;
    let dealer = net.add(SocketType::Dealer, named("D"));
    net.connect(dealer, router);
    net.sockets[dealer].send(Msg::from("early")).unwrap();
    net.drive(); // the dial is refused; the message waits in the queue
    assert!(net.recv(router).is_none());
    net.refusing[router] = false;
    net.advance(Duration::from_millis(150));
    assert_eq!(net.recv(router), Some(Msg::from(["D", "early"])));
}

/// Sends `n` 10 KiB tagged messages; returns how many `send` accepted.
fn send_big(net: &mut Net, s: usize, from: u64, n: u64) -> u64 {
    let mut accepted = 0;
    for i in from..from + n {
        let mut m = tagged(0, i);
        m.push(vec![0u8; 40 * 1024]);
        if net.sockets[s].send(m).is_ok() {
            accepted += 1;
        }
    }
    accepted
}

/// §1.12 / libzmq `test_destroy_queue_on_disconnect`: what was queued to an accepted peer is
/// dropped when it disconnects; a reconnecting peer starts afresh.
#[test]
fn dealer_destroys_queue_of_accepted_peer_on_disconnect() {
    let mut net = Net::new(4);
    let bound = net.add_default(SocketType::Dealer);
    let connecting = net.add_default(SocketType::Dealer);
    net.connect(connecting, bound);
    net.drive();
    net.freeze(0, true);
    // More than one output batch (256 KiB): part is encoded, the rest waits in the queue.
    assert_eq!(send_big(&mut net, bound, 0, 20), 20);
    net.cut(0);
    net.advance(Duration::from_millis(150)); // the connecting side redials
    assert_eq!(net.up_links().len(), 1);
    assert!(
        net.recv_all(connecting).is_empty(),
        "nothing of the old queue survives"
    );
    net.sockets[bound].send(tagged(0, 99)).unwrap();
    net.drive();
    let got = net.recv_all(connecting);
    assert_eq!(got.len(), 1);
    assert_eq!(untag(&got[0][0]), (0, 99));
}

/// §1.12: what waits in the queue of a connect-side peer survives a reconnect and arrives in
/// order (bytes already encoded for the lost connection are gone with it).
#[test]
fn dealer_queue_of_connect_side_peer_survives_reconnect() {
    let mut net = Net::new(5);
    let bound = net.add_default(SocketType::Dealer);
    let connecting = net.add_default(SocketType::Dealer);
    net.connect(connecting, bound);
    net.drive();
    net.freeze(0, true);
    assert_eq!(send_big(&mut net, connecting, 0, 20), 20);
    net.cut(0);
    net.advance(Duration::from_millis(150));
    let got: Vec<u64> = net.recv_all(bound).iter().map(|m| untag(&m[0]).1).collect();
    assert!(
        got.len() >= 10,
        "the queued tail arrives after the reconnect: {got:?}"
    );
    let first = got[0];
    assert_eq!(got, (first..20).collect::<Vec<_>>(), "a suffix, in order");
}

// ---- ROUTER ---------------------------------------------------------------------------------

/// R3 / libzmq `test_fair_queue_in` (ROUTER): one message from each peer in turn, each prefixed
/// with the identity of its sender.
#[test]
fn router_fair_queue_in_with_identities() {
    let mut net = Net::new(6);
    let router = net.add_default(SocketType::Router);
    let names = ["A", "B", "C"];
    let dealers: Vec<usize> = names
        .iter()
        .map(|n| net.add(SocketType::Dealer, named(n)))
        .collect();
    for &d in &dealers {
        net.connect(d, router);
    }
    for (k, &d) in dealers.iter().enumerate() {
        for i in 0..2 {
            net.sockets[d].send(tagged(k, i)).unwrap();
        }
    }
    net.drive();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 6);
    for m in &got {
        let (k, _) = untag(&m[1]);
        assert_eq!(&m[0][..], names[k].as_bytes());
    }
    let first_round: Vec<&[u8]> = got[..3].iter().map(|m| &m[0][..]).collect();
    let mut sorted = first_round.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [b"A", b"B", b"C"]);
}

/// R3: without an `Identity` the ROUTER generates one: 5 bytes, `0x00` + a big-endian u32
/// counter starting at the seed.
#[test]
fn router_generates_five_byte_identities() {
    let mut net = Net::new(7);
    let router = net.add(SocketType::Router, opts(|o| o.seed = Some(0xDEAD_BEEF)));
    let dealers: Vec<usize> = (0..2)
        .map(|_| net.add_default(SocketType::Dealer))
        .collect();
    for &d in &dealers {
        net.connect(d, router);
    }
    net.drive();
    for &d in &dealers {
        net.sockets[d].send(Msg::from("hi")).unwrap();
    }
    net.drive();
    let mut ids: Vec<Vec<u8>> = net.recv_all(router).iter().map(|m| m[0].to_vec()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            vec![0x00, 0xDE, 0xAD, 0xBE, 0xEF],
            vec![0x00, 0xDE, 0xAD, 0xBE, 0xF0]
        ]
    );
    // And they route.
    net.sockets[router]
        .send(Msg::from_frames([ids[1].clone(), b"back".to_vec()]))
        .unwrap();
    net.drive();
    let answered: usize = dealers.iter().map(|&d| net.recv_all(d).len()).sum();
    assert_eq!(answered, 1);
}

/// R3/R4: the identity comes from the peer's metadata; ROUTER to ROUTER works both ways when
/// both name themselves.
#[test]
fn router_to_router_with_identities() {
    let mut net = Net::new(8);
    let server = net.add(SocketType::Router, named("SRV"));
    let client = net.add(SocketType::Router, named("CLI"));
    net.connect(client, server);
    net.drive();
    net.sockets[client]
        .send(Msg::from(["SRV", "hello"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv(server), Some(Msg::from(["CLI", "hello"])));
    net.sockets[server].send(Msg::from(["CLI", "hi"])).unwrap();
    net.drive();
    assert_eq!(net.recv(client), Some(Msg::from(["SRV", "hi"])));
}

/// R3, libzmq's rule for a live duplicate (`router.cpp` `identify_peer`, measured with
/// libzmq 4.3.5): a second peer announcing an identity in use completes its handshake and stays
/// connected (no refusal, so no redial loop), but it is ignored: nothing it sends reaches the
/// application (and never under an empty identity), nothing is routed to it. It stays ignored
/// after the first peer leaves; a new connection with the identity is then taken.
#[test]
fn router_ignores_a_live_duplicate_identity() {
    let mut net = Net::new(9);
    let router = net.add(SocketType::Router, opts(|o| o.router_mandatory = true));
    let first = net.add(SocketType::Dealer, named("D"));
    let second = net.add(SocketType::Dealer, named("D"));
    let first_peer = net.connect(first, router);
    net.drive();
    net.take_events(router);
    // Queued before the connection is up, so it follows the handshake in the same bytes.
    net.connect(second, router);
    for i in 0..3 {
        net.sockets[second].send(tagged(1, i)).unwrap();
    }
    net.drive();
    let events = net.take_events(router);
    assert!(
        matches!(
            &events[..],
            [SocketEvent::HandshakeSucceeded { info, .. }] if &info.routing_id[..] == b"D"
        ),
        "the duplicate's handshake completes and nothing fails: {events:?}"
    );
    assert_eq!(net.up_links().len(), 2, "the duplicate stays connected");
    assert!(
        net.recv_all(router).is_empty(),
        "nothing from the ignored duplicate reaches the application"
    );
    assert_eq!(net.sockets[router].routing_table_len(), 1);
    net.sockets[router].send(Msg::from(["D", "to-d"])).unwrap();
    net.drive();
    assert_eq!(net.recv_all(first), [Msg::from("to-d")]);
    assert!(net.recv_all(second).is_empty());
    net.advance(Duration::from_secs(1));
    assert_eq!(net.dials_of(second).len(), 1, "the duplicate never redials");

    // The first peer leaves: its identity is free again, but the ignored connection stays
    // ignored (libzmq identifies a peer once, when its connection starts).
    net.sockets[first].disconnect(first_peer, net.now);
    net.drive();
    assert_eq!(net.sockets[router].routing_table_len(), 0);
    assert_eq!(
        net.sockets[router]
            .send(Msg::from(["D", "nobody"]))
            .unwrap_err()
            .error,
        Error::Unroutable
    );
    net.sockets[second].send(tagged(1, 3)).unwrap();
    net.drive();
    assert!(net.recv_all(router).is_empty(), "still ignored");
    let third = net.add(SocketType::Dealer, named("D"));
    net.connect(third, router);
    net.sockets[third].send(tagged(2, 0)).unwrap();
    net.drive();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 1, "the newcomer is heard: {got:?}");
    assert_eq!(&got[0][0][..], b"D");
    assert_eq!(untag(&got[0][1]), (2, 0));
    net.sockets[router]
        .send(Msg::from(["D", "to-third"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv_all(third), [Msg::from("to-third")]);
    assert!(net.recv_all(second).is_empty());
}

/// R3 `ZMQ_ROUTER_HANDOVER`: the newcomer takes the identity over. As in libzmq 4.3.5
/// (measured), the old connection is not closed (no `Disconnected`, no redial that would take
/// the identity back) but ignored: what it sent before, still undelivered, arrives under a
/// generated identity (libzmq renames the old pipe), never an empty one; what it sends after
/// is dropped, and nothing is routed to it.
#[test]
fn router_handover_moves_identity() {
    let mut net = Net::new(10);
    let router = net.add(SocketType::Router, opts(|o| o.router_handover = true));
    let first = net.add(SocketType::Dealer, named("D"));
    let second = net.add(SocketType::Dealer, named("D"));
    net.connect(first, router);
    net.drive();
    for i in 0..2 {
        net.sockets[first].send(tagged(0, i)).unwrap();
    }
    net.drive();
    net.take_events(router);
    net.connect(second, router);
    net.sockets[second].send(tagged(1, 0)).unwrap();
    net.drive();
    let events = net.take_events(router);
    assert!(
        matches!(&events[..], [SocketEvent::HandshakeSucceeded { .. }]),
        "{events:?}"
    );
    assert_eq!(net.up_links().len(), 2, "the old connection stays open");
    let mut got = net.recv_all(router);
    got.sort_by_key(|m| untag(&m[1]));
    assert_eq!(got.len(), 3, "{got:?}");
    for m in &got[..2] {
        assert!(
            m[0].len() == 5 && m[0][0] == 0,
            "the old connection's messages carry a generated identity: {m:?}"
        );
        assert_eq!(untag(&m[1]).0, 0);
    }
    assert_eq!(&got[2][0][..], b"D");
    assert_eq!(untag(&got[2][1]), (1, 0));
    net.sockets[router].send(Msg::from(["D", "to-d"])).unwrap();
    net.drive();
    assert_eq!(net.recv_all(second), [Msg::from("to-d")]);
    assert!(net.recv_all(first).is_empty());
    net.sockets[first].send(tagged(0, 2)).unwrap();
    net.drive();
    assert!(
        net.recv_all(router).is_empty(),
        "the old connection is ignored"
    );
    net.advance(Duration::from_secs(1));
    assert_eq!(net.dials_of(first).len(), 1, "the old peer never redials");
    assert_eq!(net.sockets[router].routing_table_len(), 1);
}

/// R3: an accepted peer that disconnects releases its identity. The same DEALER redialling
/// after a cut, and a new DEALER with the identity, are both taken and routed to (libzmq's
/// `xpipe_terminated` erases the entry).
#[test]
fn router_takes_back_an_identity_whose_peer_left() {
    let mut net = Net::new(18);
    let router = net.add(SocketType::Router, opts(|o| o.router_mandatory = true));
    let dealer = net.add(SocketType::Dealer, named("A"));
    net.connect(dealer, router);
    net.sockets[dealer].send(tagged(0, 0)).unwrap();
    net.drive();
    // The transport fails before the application took the message; the DEALER redials with
    // the same identity.
    net.cut(0);
    net.drive();
    assert_eq!(net.sockets[router].routing_table_len(), 0);
    assert_eq!(
        net.sockets[router]
            .send(Msg::from(["A", "gone"]))
            .unwrap_err()
            .error,
        Error::Unroutable
    );
    let got = net.recv_all(router);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        &got[0][0][..],
        b"A",
        "a message left behind keeps its identity"
    );
    assert_eq!(net.sockets[router].peer_count(), 0);
    net.advance(Duration::from_millis(150));
    assert_eq!(net.up_links().len(), 1, "redialled");
    net.sockets[dealer].send(tagged(0, 1)).unwrap();
    net.drive();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 1, "the redialled peer is heard: {got:?}");
    assert_eq!(&got[0][0][..], b"A");
    assert_eq!(untag(&got[0][1]), (0, 1));
    net.sockets[router].send(Msg::from(["A", "back"])).unwrap();
    net.drive();
    assert_eq!(net.recv_all(dealer), [Msg::from("back")]);

    // The DEALER goes away for good; another socket with its identity comes.
    let link = net.up_links()[0];
    let (_, peer) = if net.links[link].a.0 == dealer {
        net.links[link].a
    } else {
        net.links[link].b
    };
    net.sockets[dealer].disconnect(peer, net.now);
    net.drive();
    assert_eq!(net.sockets[router].routing_table_len(), 0);
    let newcomer = net.add(SocketType::Dealer, named("A"));
    net.connect(newcomer, router);
    net.sockets[newcomer].send(tagged(1, 0)).unwrap();
    net.drive();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(&got[0][0][..], b"A");
    assert_eq!(untag(&got[0][1]), (1, 0));
    net.sockets[router]
        .send(Msg::from(["A", "welcome"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv_all(newcomer), [Msg::from("welcome")]);
    assert_eq!(net.sockets[router].routing_table_len(), 1);
}

/// R3, connect side (libzmq 4.3.5, measured): a ROUTER that connected to a peer keeps the
/// peer's identity while it redials (libzmq's pipe outlives the connection), so a message
/// routed to it meanwhile waits in its queue and arrives after the reconnection; with
/// `immediate` (no pipe without a connection) it is unroutable. `disconnect` releases the
/// identity.
#[test]
fn router_keeps_identity_of_connect_side_peer_across_redial() {
    for immediate in [false, true] {
        let mut net = Net::new(19);
        let server = net.add(SocketType::Router, named("SRV"));
        let client = net.add(
            SocketType::Router,
            opts(|o| {
                o.connection.routing_id = Bytes::from_static(b"CLI");
                o.router_mandatory = true;
                o.immediate = immediate;
            }),
        );
        let peer = net.connect(client, server);
        net.drive();
        net.sockets[client].send(Msg::from(["SRV", "one"])).unwrap();
        net.drive();
        assert_eq!(net.recv_all(server), [Msg::from(["CLI", "one"])]);
        net.cut(0);
        net.drive();
        let gap = net.sockets[client].send(Msg::from(["SRV", "gap"]));
        if immediate {
            assert_eq!(gap.unwrap_err().error, Error::Unroutable);
            assert_eq!(net.sockets[client].routing_table_len(), 0);
        } else {
            gap.unwrap_or_else(|e| panic!("routed to the redialling peer: {e:?}"));
            assert_eq!(net.sockets[client].routing_table_len(), 1);
        }
        net.advance(Duration::from_millis(150));
        assert_eq!(net.up_links().len(), 1, "redialled");
        let got = net.recv_all(server);
        if immediate {
            assert!(got.is_empty(), "{got:?}");
        } else {
            assert_eq!(got, [Msg::from(["CLI", "gap"])], "queued during the gap");
        }
        net.sockets[client]
            .send(Msg::from(["SRV", "after"]))
            .unwrap();
        net.drive();
        assert_eq!(net.recv_all(server), [Msg::from(["CLI", "after"])]);
        assert_eq!(net.sockets[client].routing_table_len(), 1);
        net.sockets[client].disconnect(peer, net.now);
        net.drive();
        assert_eq!(
            net.sockets[client].routing_table_len(),
            0,
            "immediate={immediate}"
        );
        assert_eq!(
            net.sockets[client]
                .send(Msg::from(["SRV", "x"]))
                .unwrap_err()
                .error,
            Error::Unroutable
        );
    }
}

/// `ZMQ_CONNECT_ROUTING_ID` on a ROUTER (libzmq `router.cpp` `identify_peer`, locally
/// initiated): the connect names its peer, whatever it announces; a message routed to the name
/// before the handshake waits for it; the name survives a redial; the option is consumed by
/// the connect; a name in use is ignored (the peer keeps the id it announces).
#[test]
fn router_connect_routing_id_names_the_peer() {
    let mut net = Net::new(23);
    let server = net.add(SocketType::Router, named("SRV"));
    let other = net.add(SocketType::Router, named("OTHER"));
    let client = net.add(
        SocketType::Router,
        opts(|o| {
            o.connection.routing_id = Bytes::from_static(b"CLI");
            o.router_mandatory = true;
            o.connect_routing_id = Some(Bytes::from_static(b"alias"));
        }),
    );
    net.connect(client, server);
    assert_eq!(net.sockets[client].options().connect_routing_id, None);
    net.sockets[client]
        .send(Msg::from(["alias", "early"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv_all(server), [Msg::from(["CLI", "early"])]);
    assert_eq!(
        net.sockets[client]
            .send(Msg::from(["SRV", "x"]))
            .unwrap_err()
            .error,
        Error::Unroutable,
        "the announced id is not a route"
    );
    net.sockets[server]
        .send(Msg::from(["CLI", "back"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv(client), Some(Msg::from(["alias", "back"])));
    net.cut(0);
    net.drive();
    net.advance(Duration::from_millis(150));
    assert_eq!(net.up_links().len(), 1, "redialled");
    net.sockets[client]
        .send(Msg::from(["alias", "after"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv_all(server), [Msg::from(["CLI", "after"])]);
    // The same name again, for another peer: ignored, the peer keeps its own id.
    let mut o = net.sockets[client].options().clone();
    o.connect_routing_id = Some(Bytes::from_static(b"alias"));
    net.sockets[client].set_options(o).unwrap();
    net.connect(client, other);
    net.drive();
    net.sockets[client]
        .send(Msg::from(["OTHER", "hi"]))
        .unwrap();
    net.drive();
    assert_eq!(net.recv_all(other), [Msg::from(["CLI", "hi"])]);
    assert_eq!(net.recv_all(server), Vec::<Msg>::new());
    // Other types refuse the option.
    let mut dealer = Socket::new(SocketType::Dealer, SocketOptions::default(), Instant::now());
    let mut o = SocketOptions::default();
    o.connect_routing_id = Some(Bytes::from_static(b"x"));
    assert!(matches!(
        dealer.set_options(o),
        Err(Error::InvalidOption(_))
    ));
}

/// Moves bytes from `from` to `to` once; true if any moved.
fn transfer(from: &mut Socket, pf: PeerId, to: &mut Socket, pt: PeerId, now: Instant) -> bool {
    let mut out = Vec::new();
    if let Some(view) = from.bytes(pf) {
        view.take_transmit(&mut out);
    }
    for chunk in &out {
        if let Some(view) = to.bytes(pt) {
            view.handle_input(chunk, now);
        }
    }
    !out.is_empty()
}

/// Moves bytes both ways until neither side has any to write.
fn pump(a: &mut Socket, pa: PeerId, b: &mut Socket, pb: PeerId, now: Instant) {
    while transfer(a, pa, b, pb, now) | transfer(b, pb, a, pa, now) {}
}

/// R3, resources: 10,000 DEALER connections come and go (half with a fixed identity, half
/// with generated ones), each exchanging a message both ways. The ROUTER's routing table and
/// peer table are empty after each departure, and a departed identity is unroutable.
#[test]
fn router_routing_table_empty_after_10000_cycles() {
    let now = Instant::now();
    let mut router = Socket::new(SocketType::Router, opts(|o| o.router_mandatory = true), now);
    let mut named_dealer = Socket::new(SocketType::Dealer, named("A"), now);
    let mut anon_dealer = Socket::new(SocketType::Dealer, SocketOptions::default(), now);
    for cycle in 0..10_000u64 {
        let dealer = if cycle % 2 == 0 {
            &mut named_dealer
        } else {
            &mut anon_dealer
        };
        let d = dealer.connect("mem://router", now);
        dealer.attach(d, now);
        let r = router.accept(now);
        dealer.send(tagged(0, cycle)).unwrap();
        pump(dealer, d, &mut router, r, now);
        let mut m = router
            .recv()
            .unwrap()
            .unwrap_or_else(|| panic!("cycle {cycle}: nothing received"));
        let id = m.pop_front().expect("identity");
        if cycle % 2 == 0 {
            assert_eq!(&id[..], b"A", "cycle {cycle}");
        } else {
            assert!(id.len() == 5 && id[0] == 0, "cycle {cycle}: {id:?}");
        }
        assert_eq!(untag(&m[0]), (0, cycle));
        assert_eq!(router.routing_table_len(), 1, "cycle {cycle}");
        let mut reply = Msg::from("back");
        reply.push_front(id.clone());
        router.send(reply).unwrap();
        pump(dealer, d, &mut router, r, now);
        assert_eq!(
            dealer.recv().unwrap(),
            Some(Msg::from("back")),
            "cycle {cycle}"
        );
        // The DEALER leaves: both ends lose the transport.
        dealer.disconnect(d, now);
        router.detach(r, now);
        while dealer.poll_action().is_some() || dealer.poll_event().is_some() {}
        while router.poll_action().is_some() || router.poll_event().is_some() {}
        assert_eq!(router.routing_table_len(), 0, "cycle {cycle}: leaked");
        assert_eq!(router.peer_count(), 0, "cycle {cycle}");
        let mut unroutable = Msg::from("lost");
        unroutable.push_front(id);
        assert_eq!(
            router.send(unroutable).unwrap_err().error,
            Error::Unroutable,
            "cycle {cycle}"
        );
    }
}

/// §1.12 ROUTER: an unroutable message is dropped silently...
#[test]
fn router_drops_unroutable_silently() {
    let mut net = Net::new(11);
    let router = net.add_default(SocketType::Router);
    let dealer = net.add(SocketType::Dealer, named("D"));
    net.connect(dealer, router);
    net.drive();
    net.sockets[router]
        .send(Msg::from(["nobody", "x"]))
        .unwrap();
    net.drive();
    assert!(net.recv_all(dealer).is_empty());
}

/// ...or, with `ZMQ_ROUTER_MANDATORY`, refused as `Unroutable` with the message (identity
/// frame included) handed back unchanged.
#[test]
fn router_mandatory_reports_unroutable() {
    let mut net = Net::new(12);
    let router = net.add(SocketType::Router, opts(|o| o.router_mandatory = true));
    let e = net.sockets[router]
        .send(Msg::from(["nobody", "x", "y"]))
        .unwrap_err();
    assert_eq!(e.error, Error::Unroutable);
    assert_eq!(e.msg, Msg::from(["nobody", "x", "y"]));
}

/// Fills the queue of a frozen peer: returns (accepted, first refusal).
fn fill_router(net: &mut Net, router: usize) -> (u64, Option<zmtp_proto::SendError>) {
    for i in 0..200u64 {
        let mut m = tagged(0, i);
        m.push(vec![0u8; 10 * 1024]);
        m.push_front("D");
        if let Err(e) = net.sockets[router].send(m) {
            return (i, Some(e));
        }
    }
    (200, None)
}

/// §1.12 with `ZMQ_ROUTER_MANDATORY`: a peer at its high-water mark makes `send` return
/// `WouldBlock` with the message unchanged; without it the message is dropped.
#[test]
fn router_hwm_would_block_with_mandatory_drop_without() {
    for mandatory in [true, false] {
        let mut net = Net::new(13);
        let router = net.add(
            SocketType::Router,
            opts(|o| {
                o.router_mandatory = mandatory;
                o.sndhwm = 2;
            }),
        );
        let dealer = net.add(SocketType::Dealer, named("D"));
        net.connect(dealer, router);
        net.drive();
        net.freeze(0, true);
        let (accepted, refusal) = fill_router(&mut net, router);
        if mandatory {
            let e = refusal.expect("WouldBlock at the high-water mark");
            assert_eq!(e.error, Error::WouldBlock);
            assert_eq!(e.msg.len(), 3);
            assert_eq!(&e.msg[0][..], b"D");
            assert_eq!(untag(&e.msg[1]), (0, accepted));
            net.freeze(0, false);
            net.drive();
            assert_eq!(net.recv_all(dealer).len() as u64, accepted);
        } else {
            assert!(refusal.is_none(), "ROUTER never blocks");
            net.freeze(0, false);
            net.drive();
            let got = net.recv_all(dealer);
            assert!(got.len() < 200, "some were dropped");
            let seqs: Vec<u64> = got.iter().map(|m| untag(&m[0]).1).collect();
            assert_eq!(seqs, (0..got.len() as u64).collect::<Vec<_>>());
        }
    }
}

// ---- monitor events -------------------------------------------------------------------------

/// Monitor events: Connected, HandshakeSucceeded (with what the peer announced), Disconnected.
#[test]
fn monitor_connected_handshake_disconnected() {
    let mut net = Net::new(14);
    let router = net.add(SocketType::Router, named("R"));
    let dealer = net.add_default(SocketType::Dealer);
    let peer = net.connect(dealer, router);
    net.drive();
    let events = net.take_events(dealer);
    assert!(
        matches!(&events[0], SocketEvent::Connected { peer: p, endpoint } if *p == peer && &**endpoint == "mem://0")
    );
    match &events[1] {
        SocketEvent::HandshakeSucceeded {
            peer: p,
            info,
            remote,
        } => {
            assert_eq!(*p, peer);
            // A dialled peer is where we dialled.
            assert_eq!(remote.as_deref(), Some("mem://0"));
            assert_eq!(info.socket_type, SocketType::Router);
            assert_eq!(&info.routing_id[..], b"R");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.len(), 2, "{events:?}");
    let router_events = net.take_events(router);
    assert!(matches!(
        &router_events[..],
        [SocketEvent::HandshakeSucceeded { info, .. }] if info.socket_type == SocketType::Dealer
    ));
    net.cut(0);
    net.drive();
    assert!(matches!(
        &net.take_events(dealer)[..],
        [SocketEvent::Disconnected { peer: p, .. }] if *p == peer
    ));
    assert!(matches!(
        &net.take_events(router)[..],
        [SocketEvent::Disconnected { .. }]
    ));
}

/// Monitor events: a refused dial is `ConnectRetried` with the delay; incompatible socket types
/// fail the handshake on both sides with the reason (checklist §1.7).
#[test]
fn monitor_retry_and_incompatible_types() {
    let mut net = Net::new(15);
    let router = net.add_default(SocketType::Router);
    let push = net.add_default(SocketType::Push);
    net.refusing[router] = true;
    net.connect(push, router);
    net.drive();
    assert!(matches!(
        &net.take_events(push)[..],
        [SocketEvent::ConnectRetried { delay, .. }] if *delay == Duration::from_millis(100)
    ));
    net.refusing[router] = false;
    net.advance(Duration::from_millis(100));
    let events = net.take_events(push);
    assert!(
        matches!(events[0], SocketEvent::Connected { .. }),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            SocketEvent::HandshakeFailed {
                error: Error::IncompatibleSocketType {
                    ours: SocketType::Push,
                    theirs: SocketType::Router
                },
                ..
            }
        )),
        "{events:?}"
    );
    let router_events = net.take_events(router);
    assert!(
        router_events.iter().any(|e| matches!(
            e,
            SocketEvent::HandshakeFailed {
                error: Error::IncompatibleSocketType {
                    ours: SocketType::Router,
                    theirs: SocketType::Push
                },
                ..
            }
        )),
        "{router_events:?}"
    );
    assert!(!router_events
        .iter()
        .any(|e| matches!(e, SocketEvent::HandshakeSucceeded { .. })));
}

// ---- heartbeats -----------------------------------------------------------------------------

fn heartbeating() -> SocketOptions {
    opts(|o| {
        o.connection.heartbeat_ivl = Some(Duration::from_millis(100));
        o.connection.heartbeat_timeout = Some(Duration::from_millis(300));
    })
}

/// H3: PINGs keep a quiet but live connection up.
#[test]
fn heartbeat_keeps_live_connection() {
    let mut net = Net::new(16);
    let router = net.add_default(SocketType::Router);
    let dealer = net.add(SocketType::Dealer, heartbeating());
    net.connect(dealer, router);
    net.drive();
    net.take_events(dealer);
    net.advance(Duration::from_secs(3));
    assert!(net.take_events(dealer).is_empty());
    assert_eq!(net.up_links().len(), 1);
}

/// H3 through the socket: a silent peer is dropped with `HeartbeatTimeout` and redialled after
/// `reconnect_ivl`.
#[test]
fn heartbeat_drops_silent_peer_and_redials() {
    let mut net = Net::new(17);
    let router = net.add_default(SocketType::Router);
    let dealer = net.add(SocketType::Dealer, heartbeating());
    let peer = net.connect(dealer, router);
    net.drive();
    net.take_events(dealer);
    net.freeze(0, true);
    let frozen_at = net.now;
    net.advance(Duration::from_millis(450));
    let events = net.take_events(dealer);
    assert!(
        matches!(
            &events[..],
            [SocketEvent::Disconnected { peer: p, error: Error::HeartbeatTimeout, .. }, ..] if *p == peer
        ),
        "{events:?}"
    );
    // First PING at +100 ms, silence until +400 ms, redial 100 ms later.
    let redials: Vec<_> = net
        .dials_of(dealer)
        .into_iter()
        .filter(|d| d.at > frozen_at)
        .collect();
    assert_eq!(redials.len(), 0, "not yet at +450 ms: {redials:?}");
    net.advance(Duration::from_millis(100));
    let redials: Vec<_> = net
        .dials_of(dealer)
        .into_iter()
        .filter(|d| d.at > frozen_at)
        .collect();
    assert_eq!(redials.len(), 1);
    assert_eq!(redials[0].at - frozen_at, Duration::from_millis(500));
    assert!(net
        .take_events(dealer)
        .iter()
        .any(|e| matches!(e, SocketEvent::HandshakeSucceeded { .. })));
    net.sockets[dealer].send(Msg::from("alive")).unwrap();
    net.drive();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0][1][..], b"alive");
}
