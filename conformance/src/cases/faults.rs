//! Faults while the application waits in `recv` (checklist H1–H3, R1): every timer the
//! machine arms must fire whichever task ran the last round of I/O. A `recv` that waits runs
//! rounds on the application's task; the peer's FIN read there schedules a redial, and the
//! handshake that completes there schedules the first PING. Both must happen on time while the
//! application stays parked.

use std::time::{Duration, Instant};

use crate::cases::semantics::bind_retrying;
use crate::peer::{Heartbeat, Peer, PeerKind, PeerOptions};
use crate::relay::Relay;
use crate::util::{free_tcp_endpoint, is_disconnect, is_handshake, join, msg, wait_event, within};
use crate::{Driver, Error, SocketEvent, SocketType};

/// The reconnect interval of the parked PULL.
const RECONNECT_IVL: Duration = Duration::from_millis(100);

/// 100 ms PINGs, 500 ms timeout.
const HEARTBEAT: Heartbeat = Heartbeat {
    ivl: Duration::from_millis(100),
    timeout: Duration::from_millis(500),
    ttl: None,
};

/// Slack for scheduling on a loaded machine, on top of each bound the cases assert.
const SLACK: Duration = Duration::from_millis(100);

/// Our PULL connects to a peer PUSH and waits in `recv`; the peer is closed and bound again
/// at the same endpoint. Without any further call from the application, the PULL must redial
/// within `reconnect_ivl` (+ scheduling slack) of the new bind, and the `recv` that waited all
/// along gets the next message.
async fn parked_recv_redials<D: Driver>(kind: PeerKind) {
    let ep = free_tcp_endpoint();
    let push = bind_retrying::<D>(kind, SocketType::Push, &ep).await;
    let mut options = PeerOptions::default().to_socket_options();
    options.reconnect_ivl = RECONNECT_IVL;
    let pull = D::socket(SocketType::Pull, options);
    let mut mon = pull.monitor();
    pull.connect(&ep).await.expect("connect");
    push.send(msg(&["before"])).await;
    assert_eq!(
        within::<D, _>(Duration::from_secs(5), "first recv", pull.recv())
            .await
            .expect("recv"),
        msg(&["before"])
    );
    wait_event::<D, _>(&mut mon, Duration::from_secs(1), "handshake", is_handshake).await;

    let restart = async {
        // Let the `recv` park first.
        D::sleep(Duration::from_millis(100)).await;
        push.close().await;
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "Disconnected",
            is_disconnect,
        )
        .await;
        D::sleep(Duration::from_millis(50)).await;
        let push = bind_retrying::<D>(kind, SocketType::Push, &ep).await;
        let bound_at = Instant::now();
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "a new handshake while parked in recv",
            is_handshake,
        )
        .await;
        let took = bound_at.elapsed();
        push.send(msg(&["after"])).await;
        (push, took)
    };
    let (got, (push, took)) = join(
        within::<D, _>(Duration::from_secs(10), "parked recv", pull.recv()),
        restart,
    )
    .await;
    assert_eq!(got.expect("recv"), msg(&["after"]));
    assert!(
        took <= RECONNECT_IVL + SLACK,
        "{}: redialled {took:?} after the peer came back (reconnect_ivl {RECONNECT_IVL:?})",
        D::NAME
    );
    push.close().await;
    pull.close().await;
}

/// A libzmq PUSH restarts under our PULL parked in `recv`.
pub async fn parked_recv_redials_libzmq<D: Driver>() {
    parked_recv_redials::<D>(PeerKind::Libzmq).await;
}

/// Our own PUSH restarts under our PULL parked in `recv`.
pub async fn parked_recv_redials_ours<D: Driver>() {
    parked_recv_redials::<D>(PeerKind::Ours).await;
}

/// Our PULL (PINGing) waits in `recv` on a peer PUSH reached through a relay, connecting or
/// binding; the relay freezes. The PULL must keep PINGing while parked and drop the silent
/// peer for `HeartbeatTimeout` within `heartbeat_timeout` + one interval of the freeze.
async fn parked_recv_heartbeats<D: Driver>(kind: PeerKind) {
    for ours_binds in [false, true] {
        eprintln!("-- ours binds: {ours_binds}");
        let mut options = PeerOptions::default().to_socket_options();
        options.heartbeat_ivl = Some(HEARTBEAT.ivl);
        options.heartbeat_timeout = Some(HEARTBEAT.timeout);
        let pull = D::socket(SocketType::Pull, options);
        let mut mon = pull.monitor();
        let push = Peer::<D>::new(kind, SocketType::Push);
        let relay = if ours_binds {
            let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
            let relay = Relay::start(&ep).expect("relay");
            push.connect(relay.endpoint()).await;
            relay
        } else {
            let ep = push.bind("tcp://127.0.0.1:*").await;
            let relay = Relay::start(&ep).expect("relay");
            pull.connect(relay.endpoint()).await.expect("connect");
            relay
        };
        push.send(msg(&["hello"])).await;
        assert_eq!(
            within::<D, _>(Duration::from_secs(5), "first recv", pull.recv())
                .await
                .expect("recv"),
            msg(&["hello"])
        );
        wait_event::<D, _>(&mut mon, Duration::from_secs(1), "handshake", is_handshake).await;

        let freeze = async {
            // Parked for several intervals with the path alive: PINGs are answered.
            D::sleep(HEARTBEAT.ivl * 5).await;
            relay.set_frozen(true);
            let frozen_at = Instant::now();
            let e = wait_event::<D, _>(
                &mut mon,
                Duration::from_secs(5),
                "Disconnected while parked in recv",
                is_disconnect,
            )
            .await;
            (e, frozen_at.elapsed())
        };
        let raced = D::race(pull.recv(), freeze).await;
        let crate::Either::Right((e, took)) = raced else {
            panic!("{}: recv returned while the peer was silent", D::NAME);
        };
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
        let bound = HEARTBEAT.timeout + HEARTBEAT.ivl + SLACK;
        assert!(
            took <= bound,
            "{}: the silent peer was dropped {took:?} after the freeze (bound {bound:?})",
            D::NAME
        );
        drop(relay);
        push.close().await;
        pull.close().await;
    }
}

/// A libzmq PUSH goes silent under our PULL parked in `recv`.
pub async fn parked_recv_heartbeats_libzmq<D: Driver>() {
    parked_recv_heartbeats::<D>(PeerKind::Libzmq).await;
}

/// Our own PUSH goes silent under our PULL parked in `recv`.
pub async fn parked_recv_heartbeats_ours<D: Driver>() {
    parked_recv_heartbeats::<D>(PeerKind::Ours).await;
}
