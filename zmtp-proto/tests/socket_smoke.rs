//! First end-to-end checks of the socket engines over the in-memory network.
mod net;

use std::time::Duration;

use net::Net;
use zmtp_proto::{Msg, SocketEvent, SocketType};

#[test]
fn push_pull_queued_before_connect() {
    let mut net = Net::new(1);
    let push = net.add_default(SocketType::Push);
    let pull = net.add_default(SocketType::Pull);
    net.connect(push, pull);
    for i in 0..10 {
        net.sockets[push].send(Msg::from(format!("m{i}"))).unwrap();
    }
    net.drive();
    let got = net.recv_all(pull);
    assert_eq!(got.len(), 10);
    assert_eq!(got[3], Msg::from("m3".to_string()));
}

/// Closing before the dial completes still delivers what was queued: like libzmq, the socket
/// keeps dialling for the linger period (`echo hi | zmtp cat push --connect ...`).
#[test]
fn close_before_connect_delivers_within_linger() {
    let mut net = Net::new(5);
    let pull = net.add_default(SocketType::Pull);
    let mut o = zmtp_proto::SocketOptions::default();
    o.linger = Some(Duration::from_secs(1));
    let push = net.add(SocketType::Push, o);
    net.connect(push, pull);
    net.sockets[push].send(Msg::from("early")).unwrap();
    let now = net.now;
    net.sockets[push].close(now);
    assert!(
        !net.sockets[push].is_closed(),
        "a message is waiting for its peer"
    );
    net.drive();
    assert_eq!(net.recv_all(pull), [Msg::from("early")]);
    assert!(net.sockets[push].is_closed());
}

/// A handshake that fails after `close()` (here a CURVE server that cannot open our HELLO: we
/// hold the wrong server key) does not drop what is queued: like libzmq, the socket keeps
/// redialling for the linger period, and gives up only when it runs out.
#[test]
fn failed_handshake_while_closing_keeps_dialling_for_the_linger() {
    use zmtp_proto::MechanismConfig;
    use zmtp_proto::{
        CurveClientConfig, CurveClients, CurveKeyPair, CurveSecretKey, CurveServerConfig,
    };
    let key = |n| CurveKeyPair::from_secret(CurveSecretKey::from_bytes([n; 32]));
    let mut net = Net::new(6);
    let mut o = zmtp_proto::SocketOptions::default();
    o.connection.mechanism =
        MechanismConfig::CurveServer(CurveServerConfig::new(key(1), CurveClients::any()));
    let pull = net.add(SocketType::Pull, o);
    let mut o = zmtp_proto::SocketOptions::default();
    o.linger = Some(Duration::from_secs(2));
    o.connection.mechanism =
        MechanismConfig::CurveClient(CurveClientConfig::new(*key(9).public(), key(2)));
    let push = net.add(SocketType::Push, o);
    net.connect(push, pull);
    net.sockets[push].send(Msg::from("queued")).unwrap();
    let now = net.now;
    net.sockets[push].close(now);
    net.drive();
    let failed = |net: &mut Net| {
        net.take_events(push)
            .iter()
            .filter(|e| matches!(e, SocketEvent::HandshakeFailed { .. }))
            .count()
    };
    assert_eq!(
        failed(&mut net),
        1,
        "the wrong server key fails the handshake"
    );
    assert!(
        !net.sockets[push].is_closed(),
        "the queued message keeps the socket dialling"
    );
    net.advance(Duration::from_secs(1));
    assert!(!net.sockets[push].is_closed());
    assert!(
        failed(&mut net) >= 1,
        "redialled and failed again within the linger"
    );
    net.advance(Duration::from_secs(1));
    assert!(
        net.sockets[push].is_closed(),
        "gives up when the linger runs out"
    );
    assert!(net.recv_all(pull).is_empty());
}

#[test]
fn req_rep_round_trip() {
    let mut net = Net::new(2);
    let rep = net.add_default(SocketType::Rep);
    let req = net.add_default(SocketType::Req);
    net.connect(req, rep);
    net.sockets[req].send(Msg::from("ping")).unwrap();
    net.drive();
    let got = net.sockets[rep].recv().unwrap().unwrap();
    assert_eq!(got, Msg::from("ping"));
    net.sockets[rep].send(Msg::from("pong")).unwrap();
    net.drive();
    assert_eq!(net.sockets[req].recv().unwrap().unwrap(), Msg::from("pong"));
}

#[test]
fn router_dealer_identity() {
    let mut net = Net::new(3);
    let router = net.add_default(SocketType::Router);
    let mut o = zmtp_proto::SocketOptions::default();
    o.connection.routing_id = bytes::Bytes::from_static(b"D1");
    let dealer = net.add(SocketType::Dealer, o);
    net.connect(dealer, router);
    net.sockets[dealer].send(Msg::from(["a", "b"])).unwrap();
    net.drive();
    let got = net.sockets[router].recv().unwrap().unwrap();
    assert_eq!(got, Msg::from(["D1", "a", "b"]));
    net.sockets[router].send(Msg::from(["D1", "r"])).unwrap();
    net.drive();
    assert_eq!(net.sockets[dealer].recv().unwrap().unwrap(), Msg::from("r"));
}

#[test]
fn pub_sub_filter_and_reconnect() {
    let mut net = Net::new(4);
    let publ = net.add_default(SocketType::Pub);
    let sub = net.add_default(SocketType::Sub);
    net.connect(sub, publ);
    net.sockets[sub].subscribe(b"A").unwrap();
    net.drive();
    net.sockets[publ].send(Msg::from("A1")).unwrap();
    net.sockets[publ].send(Msg::from("B1")).unwrap();
    net.drive();
    assert_eq!(net.recv_all(sub), vec![Msg::from("A1")]);
    net.cut(0);
    net.advance(Duration::from_millis(150));
    net.sockets[publ].send(Msg::from("A2")).unwrap();
    net.drive();
    assert_eq!(net.recv_all(sub), vec![Msg::from("A2")]);
}
