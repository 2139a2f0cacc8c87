//! Heartbeats (checklist H1–H5): a peer that PINGs gets PONGs and the connection survives
//! idle periods of many intervals; a peer that vanishes (its connection stays open but
//! nothing comes back) is detected through `HeartbeatTimeout`, and the socket reconnects.

use std::time::{Duration, Instant};

use crate::peer::{Heartbeat, Peer, PeerEvent, PeerKind, PeerOptions};
use crate::relay::Relay;
use crate::util::{drain_events, is_disconnect, is_handshake, msg, wait_event};
use crate::{Driver, Either, Error, MonitorEvent, SocketEvent, SocketType};

/// 100 ms PINGs, 300 ms timeout.
pub const FAST: Heartbeat = Heartbeat {
    ivl: Duration::from_millis(100),
    timeout: Duration::from_millis(300),
    ttl: None,
};

/// TTL announced by the peer in the TTL cases.
const TTL: Duration = Duration::from_millis(500);

/// Idle time: twelve intervals.
const IDLE: Duration = Duration::from_millis(1200);

fn hb(on: bool) -> PeerOptions {
    PeerOptions {
        heartbeat: on.then_some(FAST),
        ..PeerOptions::default()
    }
}

fn count(events: &[MonitorEvent], pred: fn(&SocketEvent) -> bool) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, MonitorEvent::Socket(s) if pred(s)))
        .count()
}

/// Our DEALER and a peer DEALER, `peer_hb` / `ours_hb` saying who PINGs; either side binds.
/// After an idle period the connection must be the one made at the start. With
/// `cancelled_recv`, the application starts a `recv` and drops it (a `select!` whose timer
/// won) just before going idle: the PINGs that arrive afterwards must still be answered
/// without any further call on the socket.
async fn stays_connected<D: Driver>(kind: PeerKind, cancelled_recv: bool) {
    for (ours_binds, ours_hb, peer_hb) in [
        (false, false, true),
        (true, false, true),
        (true, true, true),
        (false, true, false),
    ] {
        eprintln!("-- ours binds: {ours_binds}, ours PINGs: {ours_hb}, {kind} PINGs: {peer_hb}");
        let ours = D::socket(SocketType::Dealer, hb(ours_hb).to_socket_options());
        let mut mon = ours.monitor();
        let peer = Peer::<D>::with(kind, SocketType::Dealer, &hb(peer_hb));
        if ours_binds {
            let ep = ours.bind("tcp://127.0.0.1:*").await.expect("bind");
            peer.connect(&ep).await;
        } else {
            let ep = peer.bind("tcp://127.0.0.1:*").await;
            ours.connect(&ep).await.expect("connect");
        }
        ours.send(msg(&["ping?"])).await.expect("send");
        assert_eq!(peer.recv().await, msg(&["ping?"]));
        if cancelled_recv {
            let raced = D::race(ours.recv(), D::sleep(Duration::from_millis(20))).await;
            assert!(matches!(raced, Either::Right(())), "nothing was sent to us");
        }
        D::sleep(IDLE).await;
        peer.send(msg(&["still here"])).await;
        let got = crate::util::within::<D, _>(Duration::from_secs(5), "recv", ours.recv()).await;
        assert_eq!(got.expect("recv"), msg(&["still here"]));
        let events = drain_events::<D, _>(&mut mon).await;
        assert_eq!(
            count(&events, is_disconnect),
            0,
            "ours disconnected: {events:?}"
        );
        assert_eq!(
            count(&events, is_handshake),
            1,
            "ours reconnected: {events:?}"
        );
        if let Peer::Libzmq(..) = &peer {
            let pe = peer.events().await;
            let n = |e: PeerEvent| pe.iter().filter(|&&x| x == e).count();
            assert_eq!(n(PeerEvent::Disconnected), 0, "libzmq disconnected: {pe:?}");
            assert_eq!(n(PeerEvent::HandshakeSucceeded), 1, "libzmq events: {pe:?}");
        }
        peer.close().await;
        ours.close().await;
    }
}

/// libzmq with `ZMQ_HEARTBEAT_IVL` stays connected to us over twelve idle intervals.
pub async fn heartbeat_keeps_libzmq_connected<D: Driver>() {
    stays_connected::<D>(PeerKind::Libzmq, false).await;
}

/// Our sockets PINGing each other stay connected over twelve idle intervals.
pub async fn heartbeat_keeps_ours_connected<D: Driver>() {
    stays_connected::<D>(PeerKind::Ours, false).await;
}

/// As [`heartbeat_keeps_libzmq_connected`], after a `recv` cancelled just before the idle
/// period (progress without the user must not depend on a future that was dropped).
pub async fn heartbeat_after_cancelled_recv_libzmq<D: Driver>() {
    stays_connected::<D>(PeerKind::Libzmq, true).await;
}

/// Our DEALER (PINGing) reaches a peer DEALER through a relay; the relay freezes; our socket
/// must report `Disconnected(HeartbeatTimeout)` within a few timeouts, then reconnect once the
/// relay forwards again.
async fn detects_vanished<D: Driver>(kind: PeerKind) {
    let peer = Peer::<D>::new(kind, SocketType::Dealer);
    let target = peer.bind("tcp://127.0.0.1:*").await;
    let relay = Relay::start(&target).expect("relay");
    let ours = D::socket(SocketType::Dealer, hb(true).to_socket_options());
    let mut mon = ours.monitor();
    ours.connect(relay.endpoint()).await.expect("connect");
    ours.send(msg(&["hello"])).await.expect("send");
    assert_eq!(peer.recv().await, msg(&["hello"]));
    wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(5),
        "HandshakeSucceeded",
        is_handshake,
    )
    .await;

    relay.set_frozen(true);
    let frozen_at = Instant::now();
    let e = wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(5),
        "Disconnected(HeartbeatTimeout)",
        |e| matches!(e, SocketEvent::Disconnected { .. }),
    )
    .await;
    let took = frozen_at.elapsed();
    assert!(
        matches!(
            e,
            SocketEvent::Disconnected {
                error: Error::HeartbeatTimeout,
                ..
            }
        ),
        "H3: a silent peer is dropped for HeartbeatTimeout, got {e:?}"
    );
    assert!(
        took >= FAST.timeout / 2,
        "detected after {took:?}, sooner than the {:?} timeout allows",
        FAST.timeout
    );
    assert!(
        took < Duration::from_secs(3),
        "detected only after {took:?}"
    );

    // The connect side reconnects as usual once the path works again.
    relay.set_frozen(false);
    wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(5),
        "a new handshake",
        is_handshake,
    )
    .await;
    ours.send(msg(&["back"])).await.expect("send");
    // The old connection's peer-side half may still be open: a DEALER peer round-robins, so
    // ask for the message from whichever connection it arrives on.
    assert_eq!(peer.recv().await, msg(&["back"]));
    ours.close().await;
    peer.close().await;
}

/// A vanished libzmq peer is detected by our heartbeat.
pub async fn heartbeat_detects_vanished_libzmq<D: Driver>() {
    detects_vanished::<D>(PeerKind::Libzmq).await;
}

/// A vanished peer of our own is detected by our heartbeat.
pub async fn heartbeat_detects_vanished_ours<D: Driver>() {
    detects_vanished::<D>(PeerKind::Ours).await;
}

/// The peer PINGs with a TTL (`ZMQ_HEARTBEAT_TTL`); our socket has no heartbeat of its own.
/// When the peer vanishes, our socket must drop it once the TTL passes without traffic
/// (checklist H3 (b), H4).
async fn ttl_honoured<D: Driver>(kind: PeerKind) {
    let opts = PeerOptions {
        heartbeat: Some(Heartbeat {
            ttl: Some(TTL),
            ..FAST
        }),
        ..PeerOptions::default()
    };
    let peer = Peer::<D>::with(kind, SocketType::Dealer, &opts);
    let target = peer.bind("tcp://127.0.0.1:*").await;
    let relay = Relay::start(&target).expect("relay");
    let ours = D::socket(SocketType::Dealer, hb(false).to_socket_options());
    let mut mon = ours.monitor();
    ours.connect(relay.endpoint()).await.expect("connect");
    ours.send(msg(&["hello"])).await.expect("send");
    assert_eq!(peer.recv().await, msg(&["hello"]));
    // A few PINGs with the TTL arrive, and the connection stays up meanwhile.
    D::sleep(Duration::from_millis(600)).await;
    let early = drain_events::<D, _>(&mut mon).await;
    assert_eq!(
        count(&early, is_disconnect),
        0,
        "dropped while the peer lived: {early:?}"
    );

    relay.set_frozen(true);
    let frozen_at = Instant::now();
    let e = wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(5),
        "Disconnected(HeartbeatTimeout) after the TTL",
        is_disconnect,
    )
    .await;
    let took = frozen_at.elapsed();
    assert!(
        matches!(
            e,
            SocketEvent::Disconnected {
                error: Error::HeartbeatTimeout,
                ..
            }
        ),
        "H3: the peer's TTL expired, got {e:?}"
    );
    // The TTL runs from the last PING received (at most one interval before the freeze).
    assert!(
        took >= TTL - FAST.ivl - Duration::from_millis(50),
        "dropped after {took:?}, before the {TTL:?} TTL"
    );
    assert!(took < Duration::from_secs(3), "dropped only after {took:?}");
    ours.close().await;
    peer.close().await;
}

/// libzmq announces a TTL in its PINGs; our socket drops it when it vanishes.
pub async fn heartbeat_ttl_libzmq<D: Driver>() {
    ttl_honoured::<D>(PeerKind::Libzmq).await;
}

/// Our socket announces a TTL; another of ours drops it when it vanishes.
pub async fn heartbeat_ttl_ours<D: Driver>() {
    ttl_honoured::<D>(PeerKind::Ours).await;
}
