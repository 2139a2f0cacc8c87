//! Faults while the application waits (checklist H1–H4, §1.12, §1.13, F4, G4): every timer the
//! machine arms must fire whichever task ran the last round of I/O. A `recv` that waits, or a
//! `send` parked at the high-water mark, runs rounds on the application's task; the handshake
//! that completes there schedules the first PING, which must leave on time while the
//! application stays parked (the redials after a peer's FIN read there are
//! [`restart`](super::restart)'s).
//!
//! Also here: peers that connect and never greet (`handshake_ivl`), peers killed in the middle
//! of a frame (RST and FIN), and the redial backoff (`reconnect_ivl_max`).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use zmtp_async::Monitor;

use crate::cases::semantics::bind_retrying;
use crate::peer::{Heartbeat, Peer, PeerKind, PeerOptions};
use crate::relay::Relay;
use crate::util::{
    drain_events, free_tcp_endpoint, is_disconnect, is_handshake, join, msg, oneshot, seq_frame,
    seq_msg, timeout, wait_event, within,
};
use crate::{Driver, Either, Error, MonitorEvent, Msg, Sock, SocketEvent, SocketType};

/// The reconnect interval of the sockets that redial.
pub(crate) const RECONNECT_IVL: Duration = Duration::from_millis(100);

/// 100 ms PINGs, 500 ms timeout.
const HEARTBEAT: Heartbeat = Heartbeat {
    ivl: Duration::from_millis(100),
    timeout: Duration::from_millis(500),
    ttl: None,
};

/// Slack for scheduling on a loaded machine, on top of each bound the cases assert.
const SLACK: Duration = Duration::from_millis(100);

/// Connects our socket and a peer through a [`Relay`], our socket binding (the peer dials the
/// relay) or the peer binding (we dial the relay).
async fn through_relay<D: Driver>(ours: &Sock<D>, peer: &Peer<D>, ours_binds: bool) -> Relay {
    if ours_binds {
        let ep = ours.bind("tcp://127.0.0.1:*").await.expect("bind");
        let relay = Relay::start(&ep).expect("relay");
        peer.connect(relay.endpoint()).await;
        relay
    } else {
        let ep = peer.bind("tcp://127.0.0.1:*").await;
        let relay = Relay::start(&ep).expect("relay");
        ours.connect(relay.endpoint()).await.expect("connect");
        relay
    }
}

/// Our PULL (PINGing) waits in `recv` on a peer PUSH reached through a relay, connecting or
/// binding; the relay freezes. The PULL must keep PINGing while parked and drop the silent
/// peer for `HeartbeatTimeout` within `heartbeat_timeout` + one interval of the freeze.
async fn parked_recv_heartbeats<D: Driver>(kind: PeerKind) {
    for ours_binds in [false, true] {
        eprintln!("-- ours binds: {ours_binds}");
        let mut options = PeerOptions::default().to_socket_options();
        options.connection.heartbeat_ivl = Some(HEARTBEAT.ivl);
        options.connection.heartbeat_timeout = Some(HEARTBEAT.timeout);
        let pull = D::socket(SocketType::Pull, options);
        let mut mon = pull.monitor();
        let push = Peer::<D>::new(kind, SocketType::Push);
        let relay = through_relay(&pull, &push, ours_binds).await;
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
        let Either::Right((e, took)) = raced else {
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

// ---- parked in `send` at the high-water mark ---------------------------------------------------

/// The send high-water mark of a socket parked in `send`.
pub(crate) const SNDHWM: usize = 4;

/// Size of the messages that fill the path to a peer that does not read: large enough that the
/// TCP buffers (a few MiB on the loopback) fill after a few dozen.
pub(crate) const FILL_SIZE: usize = 64 * 1024;

/// Sends [`seq_msg`]`(next..)` with `try_send` until the socket stays at its high-water mark
/// (refusing for 200 ms in a row while the driver writes what it can); returns the next
/// sequence number.
pub(crate) async fn fill_to_hwm<D: Driver>(sock: &Sock<D>, mut next: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut refused_since: Option<Instant> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "{}: never reached the high-water mark ({next} messages taken)",
            D::NAME
        );
        match sock.try_send(seq_msg(next, FILL_SIZE)) {
            Ok(()) => {
                next += 1;
                refused_since = None;
            }
            Err(e) => {
                assert_eq!(e.error, Error::WouldBlock, "try_send: {e}");
                let since = *refused_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(200) {
                    return next;
                }
                D::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// H3, H4: our PUSH (PINGing, `sndhwm` 4) sends to a peer PULL through a relay, connecting or
/// binding; the relay stalls (stops reading both ways: our writes block, nothing comes back,
/// as when the peer's host vanishes) and the PUSH sends until a `send` parks at the
/// high-water mark. The PUSH must keep its heartbeat timers running while parked and drop the
/// silent peer for `HeartbeatTimeout` within `heartbeat_timeout` + one interval (+ slack) of
/// the stall, and not before `heartbeat_timeout` − one interval.
async fn parked_send_heartbeats<D: Driver>(kind: PeerKind) {
    for ours_binds in [false, true] {
        eprintln!("-- ours binds: {ours_binds}");
        let mut options = PeerOptions::default().to_socket_options();
        options.sndhwm = SNDHWM;
        options.connection.heartbeat_ivl = Some(HEARTBEAT.ivl);
        options.connection.heartbeat_timeout = Some(HEARTBEAT.timeout);
        options.linger = Some(Duration::ZERO);
        let push = D::socket(SocketType::Push, options);
        let mut mon = push.monitor();
        let pull = Peer::<D>::new(kind, SocketType::Pull);
        let relay = through_relay(&push, &pull, ours_binds).await;
        within::<D, _>(
            Duration::from_secs(5),
            "first send",
            push.send(msg(&["hello"])),
        )
        .await
        .expect("send");
        assert_eq!(pull.recv().await, msg(&["hello"]));
        wait_event::<D, _>(&mut mon, Duration::from_secs(1), "handshake", is_handshake).await;
        // Several intervals with the path alive: PINGs are answered.
        D::sleep(HEARTBEAT.ivl * 5).await;
        let early = drain_events::<D, _>(&mut mon).await;
        assert!(
            !early
                .iter()
                .any(|e| matches!(e, MonitorEvent::Socket(e) if is_disconnect(e))),
            "{}: dropped while the peer answered: {early:?}",
            D::NAME
        );

        // One body shared by every message, so the loop takes a millisecond or two: on one
        // thread, no timer of ours runs while the application computes between sends that
        // never wait (driver-tokio writes full batches from the application's task), and
        // building 64 KiB bodies byte by byte (debug build) held the PING up by ~170 ms.
        let body = seq_frame(0, FILL_SIZE);
        relay.set_stalled(true);
        let stalled_at = Instant::now();
        let progress = Cell::new((0u64, stalled_at));
        let sender = async {
            for i in 0u64.. {
                push.send(Msg::from(body.clone())).await.expect("send");
                progress.set((i + 1, Instant::now()));
            }
        };
        let watch = async {
            let e = wait_event::<D, _>(
                &mut mon,
                Duration::from_secs(5),
                "Disconnected while parked in send",
                is_disconnect,
            )
            .await;
            (e, Instant::now())
        };
        let Either::Right((e, dropped_at)) = D::race(sender, watch).await else {
            panic!("{}: the send loop ended", D::NAME);
        };
        let (sent, last_sent_at) = progress.get();
        let took = dropped_at - stalled_at;
        let parked_for = dropped_at - last_sent_at;
        eprintln!(
            "{}: {kind}: dropped {took:?} after the stall; {sent} messages sent in {:?}, then \
             the send parked for {parked_for:?}: {e:?}",
            D::NAME,
            last_sent_at - stalled_at
        );
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
            parked_for >= Duration::from_millis(100),
            "{}: the send was not parked at the high-water mark when the peer was dropped \
             (last send completed {parked_for:?} before)",
            D::NAME
        );
        let bound = HEARTBEAT.timeout + HEARTBEAT.ivl + SLACK;
        assert!(
            took <= bound,
            "{}: the silent peer was dropped {took:?} after the stall (bound {bound:?})",
            D::NAME
        );
        let floor = HEARTBEAT.timeout - HEARTBEAT.ivl;
        assert!(
            took >= floor,
            "{}: the peer was dropped {took:?} after the stall, before {floor:?}",
            D::NAME
        );
        drop(relay);
        pull.close().await;
        push.close().await;
    }
}

/// A libzmq PULL goes silent under our PUSH parked in `send`.
pub async fn parked_send_heartbeats_libzmq<D: Driver>() {
    parked_send_heartbeats::<D>(PeerKind::Libzmq).await;
}

/// Our own PULL goes silent under our PUSH parked in `send`.
pub async fn parked_send_heartbeats_ours<D: Driver>() {
    parked_send_heartbeats::<D>(PeerKind::Ours).await;
}

// ---- peers that never greet, peers killed mid-frame ----------------------------------------

/// The handshake deadline of the bound PULL in [`silent_client_dropped`].
const HANDSHAKE_IVL: Duration = Duration::from_millis(300);

/// §1.13 (the whole handshake is bounded by a deadline, libzmq's `ZMQ_HANDSHAKE_IVL`): our
/// bound PULL (`handshake_ivl` 300 ms) serves a good peer PUSH; a raw TCP client connects and
/// sends nothing. It must be dropped with `HandshakeFailed(HandshakeTimeout)` no earlier than
/// the deadline and within 300 ms after it, while the good peer's messages keep arriving
/// (one every 50 ms, before, during and after).
async fn silent_client_dropped<D: Driver>(kind: PeerKind) {
    let mut options = PeerOptions::default().to_socket_options();
    options.connection.handshake_ivl = Some(HANDSHAKE_IVL);
    let pull = D::socket(SocketType::Pull, options);
    let mut mon = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let addr = ep.strip_prefix("tcp://").expect("tcp endpoint").to_owned();
    let good = Peer::<D>::new(kind, SocketType::Push);
    good.connect(&ep).await;
    good.send(msg(&["good", "first"])).await;
    let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["good", "first"]));
    wait_event::<D, _>(&mut mon, Duration::from_secs(1), "handshake", is_handshake).await;

    let mut silent = TcpStream::connect(&addr).expect("connect");
    let connected_at = Instant::now();
    let watch = async {
        let e = wait_event::<D, _>(&mut mon, Duration::from_secs(5), "HandshakeFailed", |e| {
            matches!(e, SocketEvent::HandshakeFailed { .. })
        })
        .await;
        (e, connected_at.elapsed())
    };
    let serve = async {
        let mut served = Vec::new();
        for i in 0..12 {
            let m = msg(&["good", &i.to_string()]);
            good.send(m.clone()).await;
            let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
            assert_eq!(got.expect("recv"), m);
            served.push(connected_at.elapsed());
            D::sleep(Duration::from_millis(50)).await;
        }
        served
    };
    let ((e, took), served) = join(watch, serve).await;
    eprintln!(
        "{}: {kind}: the silent client was dropped {took:?} after it connected \
         (handshake_ivl {HANDSHAKE_IVL:?}): {e:?}; the good peer served at {served:?}",
        D::NAME
    );
    let SocketEvent::HandshakeFailed { error, .. } = &e else {
        unreachable!()
    };
    assert_eq!(
        *error,
        Error::HandshakeTimeout,
        "§1.13: dropped at the handshake deadline, got {e:?}"
    );
    assert!(
        error.to_string().contains("handshake timed out"),
        "the error names the handshake timeout: {error}"
    );
    // The timer starts when the connection is accepted, after `connect` returned here.
    assert!(
        took >= HANDSHAKE_IVL,
        "{}: dropped {took:?} after connecting, before the deadline ({HANDSHAKE_IVL:?})",
        D::NAME
    );
    let bound = HANDSHAKE_IVL + Duration::from_millis(300);
    assert!(
        took <= bound,
        "{}: dropped {took:?} after connecting (bound {bound:?})",
        D::NAME
    );
    assert!(
        served.iter().any(|&t| t > took),
        "{}: the good peer was served after the drop: {served:?}",
        D::NAME
    );
    // The silent client sees its connection closed (after our greeting).
    silent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut rest = Vec::new();
    match silent.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{}: the silent client's connection is still open",
            D::NAME
        ),
    }
    let events = drain_events::<D, _>(&mut mon).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(e) if is_disconnect(e))),
        "{}: the good peer was disconnected: {events:?}",
        D::NAME
    );
    good.close().await;
    pull.close().await;
}

/// A silent client next to a libzmq PUSH.
pub async fn silent_client_dropped_libzmq<D: Driver>() {
    silent_client_dropped::<D>(PeerKind::Libzmq).await;
}

/// A silent client next to our own PUSH.
pub async fn silent_client_dropped_ours<D: Driver>() {
    silent_client_dropped::<D>(PeerKind::Ours).await;
}

/// A ZMTP 3.1 greeting with the NULL mechanism (§1.1, §1.14).
pub(crate) fn null_greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// `READY` with `Socket-Type: PUSH` (N5, M1).
const READY_PUSH: &[u8] = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH";

/// A raw PUSH client, by hand: writes its greeting and READY in one go (G4: the server gets the
/// greeting and the first frame in one read), reads the server's greeting and READY, then sends
/// the one-frame message `whole` (N3: not before it has received READY; libzmq 4.3.5 fails the
/// handshake with `ZMTP_UNEXPECTED_COMMAND` when a message comes with the client's READY).
/// Blocking: run it on a thread of its own.
fn raw_push(addr: &str) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = null_greeting().to_vec();
    out.extend_from_slice(READY_PUSH);
    s.write_all(&out)?;
    let mut greeting = [0u8; 64];
    s.read_exact(&mut greeting)?;
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if greeting[0] != 0xFF || greeting[9] & 1 == 0 || greeting[10] != 3 {
        return Err(bad(format!("not a ZMTP 3 greeting: {greeting:02x?}")));
    }
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    let len = if head[0] & 0x02 != 0 {
        let mut size = [0u8; 8];
        size[0] = head[1];
        s.read_exact(&mut size[1..])?;
        u64::from_be_bytes(size)
    } else {
        u64::from(head[1])
    };
    let mut body = vec![0u8; usize::try_from(len).map_err(|e| bad(e.to_string()))?];
    s.read_exact(&mut body)?;
    if head[0] & 0x04 == 0 || !body.starts_with(b"\x05READY") {
        return Err(bad(format!("not READY: {head:02x?} {body:02x?}")));
    }
    s.write_all(b"\x00\x05whole")?;
    Ok(s)
}

/// F4 (a message is delivered whole or not at all), G4, N3: our bound PULL serves a good peer
/// PUSH and a raw client ([`raw_push`]) that completes the handshake and sends one message,
/// then the first frame of a two-frame message and 30 of the 100 bytes of its second frame,
/// and dies: with an RST (`SO_LINGER` 0), then, in a second round, with a FIN. The raw peer
/// must be reported `Disconnected`; nothing of the partial message may be delivered; the good
/// peer is served before and after.
async fn killed_mid_frame<D: Driver>(kind: PeerKind) {
    for rst in [true, false] {
        let how = if rst { "RST" } else { "FIN" };
        eprintln!("-- killed with {how}");
        let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
        let mut mon = pull.monitor();
        let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
        let addr = ep.strip_prefix("tcp://").expect("tcp endpoint").to_owned();
        let good = Peer::<D>::new(kind, SocketType::Push);
        good.connect(&ep).await;
        good.send(msg(&["good", "before"])).await;
        let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
        assert_eq!(got.expect("recv"), msg(&["good", "before"]));
        wait_event::<D, _>(&mut mon, Duration::from_secs(1), "handshake", is_handshake).await;

        let (tx, rx) = oneshot();
        std::thread::Builder::new()
            .name("raw-push".into())
            .spawn(move || tx.send(raw_push(&addr)))
            .expect("spawn");
        let mut raw = within::<D, _>(Duration::from_secs(10), "the raw client's handshake", rx)
            .await
            .expect("the raw client's thread")
            .expect("the raw client's handshake");
        let e = wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "the raw client's handshake",
            is_handshake,
        )
        .await;
        let SocketEvent::HandshakeSucceeded { peer: raw_peer, .. } = e else {
            unreachable!()
        };
        let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
        assert_eq!(got.expect("recv"), msg(&["whole"]));

        let mut partial = b"\x01\x04head\x00\x64".to_vec();
        partial.extend_from_slice(&[7u8; 30]);
        raw.write_all(&partial).expect("write");
        // Let our side read the partial message before the peer dies.
        D::sleep(Duration::from_millis(100)).await;
        let killed_at = Instant::now();
        let raw = if rst {
            socket2::SockRef::from(&raw)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER 0");
            drop(raw);
            None
        } else {
            raw.shutdown(Shutdown::Write).expect("shutdown");
            Some(raw)
        };
        let e = wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "the killed peer's Disconnected",
            |e| {
                matches!(e,
                    SocketEvent::Disconnected { peer, .. } | SocketEvent::HandshakeFailed { peer, .. }
                    if *peer == raw_peer)
            },
        )
        .await;
        eprintln!(
            "{}: {kind}: killed with {how}: reported {:?} later: {e:?}",
            D::NAME,
            killed_at.elapsed()
        );
        assert!(
            matches!(
                e,
                SocketEvent::Disconnected {
                    error: Error::Closed,
                    ..
                }
            ),
            "{}: a peer lost after its handshake is reported Disconnected (Closed, for an RST \
             as for a FIN), got {e:?}",
            D::NAME
        );
        drop(raw);

        for i in 0..5 {
            good.send(msg(&["good", &i.to_string()])).await;
        }
        for i in 0..5 {
            let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
            assert_eq!(
                got.expect("recv"),
                msg(&["good", &i.to_string()]),
                "F4: nothing of the partial message is delivered"
            );
        }
        let extra = timeout::<D, _>(Duration::from_millis(200), pull.recv()).await;
        assert!(extra.is_none(), "{}: delivered {extra:?}", D::NAME);
        good.close().await;
        pull.close().await;
    }
}

/// A raw client dies mid-frame next to a libzmq PUSH.
pub async fn killed_mid_frame_libzmq<D: Driver>() {
    killed_mid_frame::<D>(PeerKind::Libzmq).await;
}

/// A raw client dies mid-frame next to our own PUSH.
pub async fn killed_mid_frame_ours<D: Driver>() {
    killed_mid_frame::<D>(PeerKind::Ours).await;
}

// ---- redial backoff ------------------------------------------------------------------------

/// §1.12 (connections SHOULD be remade after a delay; libzmq's `ZMQ_RECONNECT_IVL_MAX`): our
/// PUSH connects to a port where nothing listens, `reconnect_ivl` 50 ms and
/// `reconnect_ivl_max` 400 ms. Each refused dial is reported as `ConnectRetried` with the
/// delay before the next: 50, 100, 200, 400, 400, 400 ms (libzmq 4.3.5 announces the same,
/// measured with pyzmq). The events are measured apart by at least the delay announced before
/// them (−5 ms: each is timed when the monitor hands it over) and at most 250 ms more. Then a
/// peer binds there, the PUSH connects, and the peer goes away again: the backoff starts over
/// (the redial 50 ms after the disconnection, refused, announces 100 ms, then 200 ms).
pub async fn reconnect_backoff<D: Driver>() {
    const IVL: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_millis(400);
    let ep = free_tcp_endpoint();
    let mut options = PeerOptions::default().to_socket_options();
    options.reconnect_ivl = IVL;
    options.reconnect_ivl_max = MAX;
    options.linger = Some(Duration::ZERO);
    let push = D::socket(SocketType::Push, options);
    let mut mon = push.monitor();
    push.connect(&ep).await.expect("connect");
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next_retry::<D>(&mut mon).await);
    }
    check_backoff::<D>(
        "nothing listens",
        &[50, 100, 200, 400, 400, 400].map(Duration::from_millis),
        &seen,
        None,
    );

    let pull = bind_retrying::<D>(PeerKind::Ours, SocketType::Pull, &ep).await;
    wait_event::<D, _>(&mut mon, Duration::from_secs(3), "handshake", is_handshake).await;
    pull.close().await;
    wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(3),
        "Disconnected",
        is_disconnect,
    )
    .await;
    let disconnected_at = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_retry::<D>(&mut mon).await);
    }
    check_backoff::<D>(
        "after a connection",
        &[100, 200].map(Duration::from_millis),
        &seen,
        Some((IVL, disconnected_at)),
    );
    push.close().await;
}

/// The next `ConnectRetried`: its delay, and when the monitor handed it over.
async fn next_retry<D: Driver>(mon: &mut Monitor<D::Runtime>) -> (Duration, Instant) {
    let e = wait_event::<D, _>(mon, Duration::from_secs(3), "ConnectRetried", |e| {
        matches!(e, SocketEvent::ConnectRetried { .. })
    })
    .await;
    let SocketEvent::ConnectRetried { delay, .. } = e else {
        unreachable!()
    };
    (delay, Instant::now())
}

/// Checks the delays `seen` announced against `want`, and the time between events (from
/// `start`, a delay and an instant, if given) against the delay announced before each.
fn check_backoff<D: Driver>(
    round: &str,
    want: &[Duration],
    seen: &[(Duration, Instant)],
    start: Option<(Duration, Instant)>,
) {
    const EARLY: Duration = Duration::from_millis(5);
    const LATE: Duration = Duration::from_millis(250);
    let delays: Vec<Duration> = seen.iter().map(|&(d, _)| d).collect();
    let timed: Vec<(Duration, Instant)> = start.into_iter().chain(seen.iter().copied()).collect();
    let gaps: Vec<Duration> = timed.windows(2).map(|w| w[1].1 - w[0].1).collect();
    eprintln!(
        "{}: {round}: announced delays {delays:?}, measured gaps {gaps:?}",
        D::NAME
    );
    assert_eq!(
        delays,
        want,
        "{}: {round}: the backoff doubles up to reconnect_ivl_max",
        D::NAME
    );
    for (w, gap) in timed.windows(2).zip(&gaps) {
        let delay = w[0].0;
        assert!(
            *gap + EARLY >= delay && *gap <= delay + LATE,
            "{}: {round}: a dial came {gap:?} after a delay of {delay:?} was announced",
            D::NAME
        );
    }
}
