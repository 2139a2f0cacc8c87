//! Progress without the application (design notes, "Progress without the user"): a burst
//! of sends is delivered in full while the application sleeps; a PUB that sends once a second
//! accepts subscribers and answers PINGs in between; servers accept and handshake new clients
//! while the application awaits something else.

use std::time::Duration;

use crate::cases::heartbeat::FAST;
use crate::peer::{Peer, PeerEvent, PeerKind, PeerOptions};
use crate::util::{check_seq, drain_events, is_disconnect, is_handshake, msg, seq_msg};
use crate::{Driver, MonitorEvent, SocketType};

const BURST: u64 = 500;
const BURST_SIZE: usize = 4096;

async fn burst_then_sleep<D: Driver>(kind: PeerKind) {
    // 1. Our PUSH sends a burst (2 MB: many writes) and is never touched again.
    eprintln!("-- our PUSH bursts to {kind} PULL");
    let pull = Peer::<D>::new(kind, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = D::socket(SocketType::Push, PeerOptions::default().to_socket_options());
    push.connect(&ep).await.expect("connect");
    for i in 0..BURST {
        push.send(seq_msg(i, BURST_SIZE)).await.expect("send");
    }
    D::sleep(Duration::from_millis(500)).await;
    // The receiving peer may take its time; our PUSH gets no further call until it is done.
    pull.recv_seq(BURST, BURST_SIZE, 0, Duration::ZERO).await;
    pull.close().await;
    push.close().await;

    // 2. The peer bursts to our PULL while the application sleeps; afterwards every message
    //    is already decoded and waiting: `try_recv` alone gets them all.
    eprintln!("-- {kind} PUSH bursts to our PULL");
    let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = Peer::<D>::new(kind, SocketType::Push);
    push.connect(&ep).await;
    push.send_seq(BURST, BURST_SIZE).await;
    D::sleep(Duration::from_secs(1)).await;
    for i in 0..BURST {
        let m = pull
            .try_recv()
            .expect("try_recv")
            .unwrap_or_else(|| panic!("{}: only {i} of {BURST} arrived while idle", D::NAME));
        check_seq(&m, i, BURST_SIZE).unwrap_or_else(|e| panic!("{e}"));
    }
    push.close().await;
    pull.close().await;
}

/// Burst then sleep, between our sockets.
pub async fn burst_then_sleep_ours<D: Driver>() {
    burst_then_sleep::<D>(PeerKind::Ours).await;
}

/// Burst then sleep, with libzmq.
pub async fn burst_then_sleep_libzmq<D: Driver>() {
    burst_then_sleep::<D>(PeerKind::Libzmq).await;
}

/// Burst then sleep, with zmq.rs.
pub async fn burst_then_sleep_zmqrs<D: Driver>() {
    burst_then_sleep::<D>(PeerKind::ZmqRs).await;
}

async fn slow_pub<D: Driver>(kind: PeerKind) {
    let publ = D::socket(SocketType::Pub, PeerOptions::default().to_socket_options());
    let mut mon = publ.monitor();
    let ep = publ.bind("tcp://127.0.0.1:*").await.expect("bind");
    let opts = PeerOptions {
        heartbeat: Some(FAST),
        ..PeerOptions::default()
    };
    let mut subs = Vec::new();
    for tick in 0..3u32 {
        publ.send(msg(&["tick", &tick.to_string()]))
            .await
            .expect("send");
        if tick < 2 {
            // A new subscriber turns up while the application is busy sleeping.
            let sub = Peer::<D>::with(kind, SocketType::Sub, &opts);
            sub.subscribe(b"tick").await;
            sub.connect(&ep).await;
            subs.push(sub);
        }
        D::sleep(Duration::from_secs(1)).await;
    }
    // The first subscriber joined after tick 0, the second after tick 1.
    for (i, sub) in subs.iter().enumerate() {
        for tick in i + 1..3 {
            assert_eq!(
                sub.recv().await,
                msg(&["tick", &tick.to_string()]),
                "subscriber {i}"
            );
        }
        if let Peer::Libzmq(..) = sub {
            let pe = sub.events().await;
            assert!(
                !pe.contains(&PeerEvent::Disconnected),
                "libzmq subscriber {i} timed out our PUB: {pe:?}"
            );
        }
    }
    let events = drain_events::<D, _>(&mut mon).await;
    let n = |p: fn(&crate::SocketEvent) -> bool| {
        events
            .iter()
            .filter(|e| matches!(e, MonitorEvent::Socket(s) if p(s)))
            .count()
    };
    assert_eq!(
        n(is_handshake),
        2,
        "two subscribers, one handshake each: {events:?}"
    );
    assert_eq!(n(is_disconnect), 0, "no subscriber lost: {events:?}");
    for sub in subs {
        sub.close().await;
    }
    publ.close().await;
}

/// A PUB sending once a second serves libzmq subscribers that PING every 100 ms.
pub async fn slow_pub_serves_subscribers_libzmq<D: Driver>() {
    slow_pub::<D>(PeerKind::Libzmq).await;
}

/// A PUB sending once a second serves our subscribers that PING every 100 ms.
pub async fn slow_pub_serves_subscribers_ours<D: Driver>() {
    slow_pub::<D>(PeerKind::Ours).await;
}

async fn servers_accept_while_busy<D: Driver>(kind: PeerKind) {
    for server_type in [SocketType::Rep, SocketType::Router] {
        eprintln!("-- our {server_type}, {kind} REQ clients");
        let server = D::socket(server_type, PeerOptions::default().to_socket_options());
        let mut mon = server.monitor();
        let ep = server.bind("tcp://127.0.0.1:*").await.expect("bind");
        let mut clients = Vec::new();
        for k in 0..3 {
            let c = Peer::<D>::new(kind, SocketType::Req);
            c.connect(&ep).await;
            c.send(msg(&["req", &k.to_string()])).await;
            clients.push(c);
        }
        // The application is busy elsewhere; the server socket gets no call (its monitor is
        // read, which drives nothing).
        let mut events = Vec::new();
        for _ in 0..50 {
            D::sleep(Duration::from_millis(100)).await;
            events.extend(drain_events::<D, _>(&mut mon).await);
            let accepted = events
                .iter()
                .filter(|e| matches!(e, MonitorEvent::Socket(s) if is_handshake(s)))
                .count();
            if accepted == 3 {
                break;
            }
        }
        let accepted = events
            .iter()
            .filter(|e| matches!(e, MonitorEvent::Socket(s) if is_handshake(s)))
            .count();
        assert_eq!(accepted, 3, "clients accepted while busy: {events:?}");
        for _ in 0..3 {
            let mut m =
                crate::util::within::<D, _>(Duration::from_secs(10), "request", server.recv())
                    .await
                    .expect("recv");
            let reply = if server_type == SocketType::Router {
                let id = m.pop_front().expect("identity");
                let delim = m.pop_front().expect("delimiter");
                assert!(delim.is_empty());
                let mut r = msg(&["", "rep", &String::from_utf8_lossy(&m[1])]);
                r.push_front(id);
                r
            } else {
                msg(&["rep", &String::from_utf8_lossy(&m[1])])
            };
            server.send(reply).await.expect("send reply");
        }
        for (k, c) in clients.iter().enumerate() {
            assert_eq!(c.recv().await, msg(&["rep", &k.to_string()]));
        }
        for c in clients {
            c.close().await;
        }
        server.close().await;
    }
}

/// Our REP and ROUTER accept our clients while the application sleeps.
pub async fn servers_accept_while_busy_ours<D: Driver>() {
    servers_accept_while_busy::<D>(PeerKind::Ours).await;
}

/// Our REP and ROUTER accept libzmq clients while the application sleeps.
pub async fn servers_accept_while_busy_libzmq<D: Driver>() {
    servers_accept_while_busy::<D>(PeerKind::Libzmq).await;
}

/// Our REP and ROUTER accept zmq.rs clients while the application sleeps.
pub async fn servers_accept_while_busy_zmqrs<D: Driver>() {
    servers_accept_while_busy::<D>(PeerKind::ZmqRs).await;
}

/// `close()` flushes what is queued (linger, 2 s here): a burst sent just before closing is
/// delivered in full, and so are messages queued before the peer even existed, if it turns up
/// within the linger time.
async fn close_flushes<D: Driver>(kind: PeerKind) {
    // 1. Connected: send 2000 messages and close at once.
    let pull = Peer::<D>::new(kind, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = D::socket(SocketType::Push, PeerOptions::default().to_socket_options());
    let mut mon = push.monitor();
    push.connect(&ep).await.expect("connect");
    crate::util::wait_event::<D, _>(&mut mon, Duration::from_secs(10), "handshake", is_handshake)
        .await;
    for i in 0..2000 {
        push.send(seq_msg(i, 1024)).await.expect("send");
    }
    crate::util::within::<D, _>(Duration::from_secs(5), "close", push.close()).await;
    pull.recv_seq(2000, 1024, 0, Duration::ZERO).await;
    pull.close().await;

    // 2. Not connected yet: queue, close, and let the peer bind 300 ms later.
    let ep = crate::util::free_tcp_endpoint();
    let push = D::socket(SocketType::Push, PeerOptions::default().to_socket_options());
    push.connect(&ep).await.expect("connect");
    for i in 0..10 {
        push.send(seq_msg(i, 64)).await.expect("send");
    }
    let (_, pull) = crate::util::join(
        crate::util::within::<D, _>(Duration::from_secs(5), "close", push.close()),
        async {
            D::sleep(Duration::from_millis(300)).await;
            let pull = Peer::<D>::new(kind, SocketType::Pull);
            pull.bind(&ep).await;
            pull
        },
    )
    .await;
    pull.recv_seq(10, 64, 0, Duration::ZERO).await;
    pull.close().await;
}

/// Close flushes, to our PULL.
pub async fn close_flushes_ours<D: Driver>() {
    close_flushes::<D>(PeerKind::Ours).await;
}

/// Close flushes, to libzmq.
pub async fn close_flushes_libzmq<D: Driver>() {
    close_flushes::<D>(PeerKind::Libzmq).await;
}

/// Close flushes, to zmq.rs.
pub async fn close_flushes_zmqrs<D: Driver>() {
    close_flushes::<D>(PeerKind::ZmqRs).await;
}
