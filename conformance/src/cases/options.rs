//! libzmq's socket options (issue 21), each checked where it shows: on the wire against a
//! libzmq peer (`probe_router` seen by a libzmq ROUTER, `router_notify` messages for a libzmq
//! DEALER coming and going, `xpub_welcome_msg` received by a libzmq SUB, `invert_matching`,
//! `xpub_manual` and `xpub_nodrop` seen by libzmq subscribers, `reconnect_stop` against libzmq
//! listeners), or on the OS socket (`getsockopt` on a duplicate of our connection's descriptor:
//! keepalive and its timers, buffer sizes, TOS, `TCP_USER_TIMEOUT`, the bound device), plus
//! `connect_timeout` against a black-holed listener, binding to an interface name, `ipv6`,
//! the defaults read back next to libzmq's, and options changed on a live socket.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::SockRef;

use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{drain_events, free_tcp_endpoint, msg, seq_msg, within};
use crate::{Driver, MonitorEvent, Msg, SocketEvent, SocketOptions, SocketType};

/// Runs blocking libzmq calls in a thread of their own while the driver under test keeps
/// running (the case polls for the result, sleeping on the driver's runtime).
async fn off_thread<D: Driver, T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    loop {
        match rx.try_recv() {
            Ok(v) => return v,
            Err(std::sync::mpsc::TryRecvError::Empty) => D::sleep(Duration::from_millis(5)).await,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                panic!("{}: the libzmq thread panicked", D::NAME)
            }
        }
    }
}

/// `ZMQ_PROBE_ROUTER`: a libzmq ROUTER receives `[our id, ""]` before anything we send, from
/// a DEALER and from a REQ.
pub async fn probe_router_libzmq<D: Driver>() {
    for ty in [SocketType::Dealer, SocketType::Req] {
        let router = Peer::<D>::new(PeerKind::Libzmq, SocketType::Router);
        let ep = router.bind("tcp://127.0.0.1:*").await;
        let mut o = SocketOptions::default();
        o.probe_router = true;
        o.connection.routing_id = Bytes::from_static(b"ours");
        let ours = D::socket(ty, o);
        ours.connect(&ep).await.unwrap();
        assert_eq!(router.recv().await, msg(&["ours", ""]), "{ty}: the probe");
        ours.send("after").await.unwrap();
        let want = if ty == SocketType::Req {
            msg(&["ours", "", "after"])
        } else {
            msg(&["ours", "after"])
        };
        assert_eq!(router.recv().await, want, "{ty}: then the message");
    }
}

/// `ZMQ_ROUTER_NOTIFY`: our ROUTER delivers `[id, ""]` when a libzmq DEALER connects, and
/// again after its last message when it goes.
pub async fn router_notify_libzmq<D: Driver>() {
    let mut o = SocketOptions::default();
    o.router_notify = SocketOptions::NOTIFY_CONNECT | SocketOptions::NOTIFY_DISCONNECT;
    let router = D::socket(SocketType::Router, o);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let opts = PeerOptions {
        routing_id: Some(Bytes::from_static(b"lz")),
        ..PeerOptions::default()
    };
    let dealer = Peer::<D>::with(PeerKind::Libzmq, SocketType::Dealer, &opts);
    dealer.connect(&ep).await;
    let recv = || within::<D, _>(Duration::from_secs(5), "a ROUTER message", router.recv());
    assert_eq!(
        recv().await.unwrap(),
        msg(&["lz", ""]),
        "connect notification"
    );
    dealer.send(msg(&["hi"])).await;
    assert_eq!(recv().await.unwrap(), msg(&["lz", "hi"]));
    dealer.close().await;
    assert_eq!(
        recv().await.unwrap(),
        msg(&["lz", ""]),
        "disconnect notification"
    );
    // Options of ROUTER only.
    let dealer = D::socket(SocketType::Dealer, SocketOptions::default());
    let err = dealer
        .set_options(|o| o.router_notify = SocketOptions::NOTIFY_CONNECT)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// `ZMQ_CONNECT_ROUTING_ID` on a ROUTER: each `connect` names its peer, whatever routing id
/// the peer announces (two libzmq ROUTERs announcing their own), and consumes the option; a
/// message routed to the name before the connection is up waits for it; replies arrive under
/// the name. Other types than ROUTER and STREAM refuse the option, as libzmq does.
pub async fn connect_routing_id_router_libzmq<D: Driver>() {
    let peers: Vec<_> = ["announced-1", "announced-2"]
        .into_iter()
        .map(|id| {
            let opts = PeerOptions {
                routing_id: Some(Bytes::from_static(id.as_bytes())),
                ..PeerOptions::default()
            };
            Peer::<D>::with(PeerKind::Libzmq, SocketType::Router, &opts)
        })
        .collect();
    let mut o = SocketOptions::default();
    o.connection.routing_id = Bytes::from_static(b"ours");
    let router = D::socket(SocketType::Router, o);
    for (peer, name) in peers.iter().zip(["first", "second"]) {
        let ep = peer.bind("tcp://127.0.0.1:*").await;
        router
            .set_options(|o| o.connect_routing_id = Some(Bytes::from_static(name.as_bytes())))
            .expect("ROUTER takes connect_routing_id");
        router.connect(&ep).await.unwrap();
        assert_eq!(
            router.options().connect_routing_id,
            None,
            "{}: the connect consumes the option",
            D::NAME
        );
        // Routed to the name at once: it waits for the connection.
        router.send(msg(&[name, "hello"])).await.unwrap();
    }
    for (peer, name) in peers.iter().zip(["first", "second"]) {
        assert_eq!(peer.recv().await, msg(&["ours", "hello"]), "to {name}");
        peer.send(msg(&["ours", "back"])).await;
        let got = within::<D, _>(Duration::from_secs(5), "a reply", router.recv())
            .await
            .unwrap();
        assert_eq!(
            got,
            msg(&[name, "back"]),
            "{}: the reply from {name}",
            D::NAME
        );
    }
    let dealer = D::socket(SocketType::Dealer, SocketOptions::default());
    let err = dealer
        .set_options(|o| o.connect_routing_id = Some(Bytes::from_static(b"x")))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

/// `ZMQ_XPUB_WELCOME_MSG`: a libzmq SUB subscribed to the welcome's topic receives it on
/// connecting, from our XPUB and from our PUB.
pub async fn xpub_welcome_msg_libzmq<D: Driver>() {
    for ty in [SocketType::XPub, SocketType::Pub] {
        let mut o = SocketOptions::default();
        o.xpub_welcome_msg = Some(Bytes::from_static(b"WELCOME"));
        let publ = D::socket(ty, o);
        let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
        let sub = Peer::<D>::new(PeerKind::Libzmq, SocketType::Sub);
        sub.subscribe(b"WEL").await;
        sub.connect(&ep).await;
        assert_eq!(
            sub.recv().await,
            msg(&["WELCOME"]),
            "{ty}: the welcome message"
        );
        if ty == SocketType::XPub {
            let s = within::<D, _>(Duration::from_secs(5), "subscription", publ.recv()).await;
            assert_eq!(s.unwrap(), Msg::from(&b"\x01WEL"[..]));
        }
    }
}

/// `ZMQ_INVERT_MATCHING`: our XPUB sends a libzmq XSUB subscribed to "a" only what does not
/// start with "a"; our SUB with the option delivers only what does not match.
pub async fn invert_matching_libzmq<D: Driver>() {
    let mut o = SocketOptions::default();
    o.invert_matching = true;
    let mut x = o.clone();
    x.xpub_verbose = true; // the second subscriber's "a" is reported too
    let xpub = D::socket(SocketType::XPub, x);
    let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap();
    let xsub = Peer::<D>::new(PeerKind::Libzmq, SocketType::XSub);
    xsub.connect(&ep).await;
    xsub.subscribe(b"a").await;
    let s = within::<D, _>(Duration::from_secs(5), "subscription", xpub.recv()).await;
    assert_eq!(s.unwrap(), Msg::from(&b"\x01a"[..]));
    for m in ["apple", "banana", "avocado", "cherry"] {
        xpub.send(m).await.unwrap();
    }
    assert_eq!(xsub.recv().await, msg(&["banana"]));
    assert_eq!(xsub.recv().await, msg(&["cherry"]));
    assert_eq!(xsub.recv_timeout(Duration::from_millis(200)).await, None);

    // Our SUB inverts too (against our own inverted publisher: libzmq's PUB sends a SUB only
    // what matches, so an inverted SUB needs an inverted PUB).
    let sub = D::socket(SocketType::Sub, o);
    sub.subscribe("a").await.unwrap();
    sub.connect(&ep).await.unwrap();
    let s = within::<D, _>(Duration::from_secs(5), "subscription", xpub.recv()).await;
    assert_eq!(s.unwrap(), Msg::from(&b"\x01a"[..]));
    for m in ["apple", "banana"] {
        xpub.send(m).await.unwrap();
    }
    let got = within::<D, _>(Duration::from_secs(5), "inverted", sub.recv()).await;
    assert_eq!(got.unwrap(), msg(&["banana"]));
    assert_eq!(xsub.recv().await, msg(&["banana"]));
}

/// `ZMQ_XPUB_MANUAL`: subscriptions of a libzmq XSUB are not applied; the application gets
/// them and applies its own choice, which is what the XSUB then receives.
pub async fn xpub_manual_libzmq<D: Driver>() {
    let mut o = SocketOptions::default();
    o.xpub_manual = true;
    let xpub = D::socket(SocketType::XPub, o);
    let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap();
    let xsub = Peer::<D>::new(PeerKind::Libzmq, SocketType::XSub);
    xsub.connect(&ep).await;
    xsub.subscribe(b"a").await;
    let s = within::<D, _>(Duration::from_secs(5), "subscription", xpub.recv()).await;
    assert_eq!(s.unwrap(), Msg::from(&b"\x01a"[..]));
    xpub.send("apple").await.unwrap(); // "a" was not applied: nobody gets this
    xpub.subscribe("x").await.unwrap(); // the application's choice for that subscriber
    xpub.send("apple").await.unwrap();
    xpub.send("xray").await.unwrap();
    assert_eq!(xsub.recv().await, msg(&["xray"]));
    assert_eq!(xsub.recv_timeout(Duration::from_millis(200)).await, None);
    // A SUB may not subscribe that way without the option.
    let plain = D::socket(SocketType::XPub, SocketOptions::default());
    assert!(plain.subscribe("x").await.is_err());
}

/// `ZMQ_XPUB_NODROP`: with a libzmq SUB that does not read, our PUB's `try_send` fails with
/// `WouldBlock` once the queue is full instead of dropping; every message sent arrives.
pub async fn xpub_nodrop_libzmq<D: Driver>() {
    const SIZE: usize = 64 * 1024;
    let mut o = SocketOptions::default();
    o.xpub_nodrop = true;
    o.sndhwm = 4;
    let xpub = D::socket(SocketType::XPub, o);
    let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap();
    let opts = PeerOptions {
        rcvhwm: Some(4),
        ..PeerOptions::default()
    };
    let sub = Peer::<D>::with(PeerKind::Libzmq, SocketType::Sub, &opts);
    sub.subscribe(b"").await;
    sub.connect(&ep).await;
    let s = within::<D, _>(Duration::from_secs(5), "subscription", xpub.recv()).await;
    assert_eq!(s.unwrap(), Msg::from(&b"\x01"[..]));
    let mut sent = 0u64;
    let mut blocked = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        match xpub.try_send(seq_msg(sent, SIZE)) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert_eq!(e.error, crate::Error::WouldBlock, "{e}");
                // Let the driver write what it can; blocked for good once that stops helping.
                D::sleep(Duration::from_millis(50)).await;
                if xpub.try_send(seq_msg(sent, SIZE)).is_ok() {
                    sent += 1;
                    continue;
                }
                blocked = true;
                break;
            }
        }
    }
    assert!(blocked, "{}: the PUB never refused ({sent} sent)", D::NAME);
    // Nothing was dropped: the subscriber gets every message, in order.
    sub.recv_seq(sent, SIZE, 0, Duration::ZERO).await;
    assert_eq!(sub.recv_timeout(Duration::from_millis(200)).await, None);
    // And once it has read them, sending works again.
    within::<D, _>(
        Duration::from_secs(5),
        "send after drain",
        xpub.send("more"),
    )
    .await
    .unwrap();
}

/// `ZMQ_RECONNECT_STOP`: with `CONN_REFUSED`, a refused dial is the last (no
/// `ConnectRetried`, and a libzmq PULL that binds the address later never hears from us); with
/// `AFTER_DISCONNECT`, a peer that went away is not redialled when a new libzmq PULL takes its
/// address.
pub async fn reconnect_stop_libzmq<D: Driver>() {
    let ep = free_tcp_endpoint();
    let mut o = SocketOptions::default();
    o.reconnect_ivl = Duration::from_millis(50);
    o.reconnect_stop = SocketOptions::RECONNECT_STOP_CONN_REFUSED;
    let push = D::socket(SocketType::Push, o.clone());
    let mut mon = push.monitor();
    push.connect(&ep).await.unwrap();
    D::sleep(Duration::from_millis(300)).await;
    let events = drain_events::<D, _>(&mut mon).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::ConnectRetried { .. }))),
        "{}: redialled after a refusal: {events:?}",
        D::NAME
    );
    let pull = Peer::<D>::new(PeerKind::Libzmq, SocketType::Pull);
    pull.bind(&ep).await;
    D::sleep(Duration::from_millis(300)).await;
    assert!(push.try_send("nobody").is_err(), "no peer left to send to");
    assert_eq!(pull.recv_timeout(Duration::from_millis(200)).await, None);
    pull.close().await;

    // The control: without the option the same socket keeps trying.
    let ep = free_tcp_endpoint();
    o.reconnect_stop = 0;
    let push = D::socket(SocketType::Push, o.clone());
    let mut mon = push.monitor();
    push.connect(&ep).await.unwrap();
    crate::util::wait_event::<D, _>(&mut mon, Duration::from_secs(5), "ConnectRetried", |e| {
        matches!(e, SocketEvent::ConnectRetried { .. })
    })
    .await;

    // AFTER_DISCONNECT.
    o.reconnect_stop = SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT;
    let pull = Peer::<D>::new(PeerKind::Libzmq, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = D::socket(SocketType::Push, o);
    push.connect(&ep).await.unwrap();
    push.send("one").await.unwrap();
    assert_eq!(pull.recv().await, msg(&["one"]));
    pull.close().await;
    D::sleep(Duration::from_millis(200)).await;
    let pull = Peer::<D>::new(PeerKind::Libzmq, SocketType::Pull);
    pull.bind(&ep).await;
    D::sleep(Duration::from_millis(400)).await;
    assert!(push.try_send("two").is_err(), "the peer was not kept");
    assert_eq!(pull.recv_timeout(Duration::from_millis(200)).await, None);
}

// ---- the OS socket ---------------------------------------------------------------------

/// Duplicates of this process's established TCP sockets whose local port is `local` (if
/// given) and remote port `remote` (if given), found through `/proc/net/tcp{,6}` and
/// `/proc/self/fd`, duplicated with `pidfd_getfd` (so that `getsockopt` needs no unsafe code).
fn our_tcp_sockets(local: Option<u16>, remote: Option<u16>) -> Vec<OwnedFd> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "01" {
                continue;
            }
            let port = |c: &str| u16::from_str_radix(c.rsplit(':').next().unwrap_or(""), 16).ok();
            let (l, r) = (port(cols[1]), port(cols[2]));
            if local.is_none_or(|p| l == Some(p)) && remote.is_none_or(|p| r == Some(p)) {
                inodes.push(format!("socket:[{}]", cols[9]));
            }
        }
    }
    let pidfd = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
    {
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if !inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
            continue;
        }
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(dup) =
            rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
        {
            out.push(dup);
        }
    }
    out
}

fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

fn tcp_options() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.tcp_keepalive = Some(true);
    o.tcp_keepalive_idle = Some(Duration::from_secs(30));
    o.tcp_keepalive_intvl = Some(Duration::from_secs(5));
    o.tcp_keepalive_cnt = Some(4);
    o.sndbuf = Some(64 * 1024);
    o.rcvbuf = Some(96 * 1024);
    o.tos = 0x28;
    o.tcp_maxrt = Some(Duration::from_millis(7000));
    o.bindtodevice = Some("lo".into());
    o
}

fn check_fd(what: &str, fd: &OwnedFd) {
    let s = SockRef::from(fd);
    let ctx = format!("{what} (fd {})", fd.as_raw_fd());
    assert!(s.tcp_nodelay().unwrap(), "{ctx}: TCP_NODELAY");
    assert!(s.keepalive().unwrap(), "{ctx}: SO_KEEPALIVE");
    assert_eq!(
        s.tcp_keepalive_time().unwrap(),
        Duration::from_secs(30),
        "{ctx}: TCP_KEEPIDLE"
    );
    assert_eq!(
        s.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(5),
        "{ctx}: TCP_KEEPINTVL"
    );
    assert_eq!(s.tcp_keepalive_retries().unwrap(), 4, "{ctx}: TCP_KEEPCNT");
    // Linux doubles the value set (room for its bookkeeping) and reports the double.
    assert_eq!(
        s.send_buffer_size().unwrap(),
        2 * 64 * 1024,
        "{ctx}: SO_SNDBUF"
    );
    assert_eq!(
        s.recv_buffer_size().unwrap(),
        2 * 96 * 1024,
        "{ctx}: SO_RCVBUF"
    );
    assert_eq!(s.tos_v4().unwrap(), 0x28, "{ctx}: IP_TOS");
    assert_eq!(
        s.tcp_user_timeout().unwrap(),
        Some(Duration::from_millis(7000)),
        "{ctx}: TCP_USER_TIMEOUT (ZMQ_TCP_MAXRT)"
    );
    assert_eq!(
        s.device().unwrap().as_deref(),
        Some(&b"lo"[..]),
        "{ctx}: SO_BINDTODEVICE"
    );
}

/// The transport options on our dialled and accepted connections, read back with
/// `getsockopt` from their descriptors, each with a libzmq peer at the other end.
pub async fn tcp_options_on_the_socket_libzmq<D: Driver>() {
    // Dialled: our DEALER connects to a libzmq ROUTER.
    let router = Peer::<D>::new(PeerKind::Libzmq, SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await;
    let mut o = tcp_options();
    o.connection.routing_id = Bytes::from_static(b"d");
    let dealer = D::socket(SocketType::Dealer, o);
    dealer.connect(&ep).await.unwrap();
    dealer.send("x").await.unwrap();
    assert_eq!(router.recv().await, msg(&["d", "x"]));
    let fds = our_tcp_sockets(None, Some(port_of(&ep)));
    assert_eq!(fds.len(), 1, "one connection dialled to {ep}");
    check_fd("dialled", &fds[0]);

    // Accepted: a libzmq DEALER connects to our ROUTER; its options come from the listener.
    let ours = D::socket(SocketType::Router, tcp_options());
    let ep = ours.bind("tcp://127.0.0.1:*").await.unwrap();
    let opts = PeerOptions {
        routing_id: Some(Bytes::from_static(b"lz")),
        ..PeerOptions::default()
    };
    let peer = Peer::<D>::with(PeerKind::Libzmq, SocketType::Dealer, &opts);
    peer.connect(&ep).await;
    peer.send(msg(&["y"])).await;
    let got = within::<D, _>(Duration::from_secs(5), "accepted", ours.recv()).await;
    assert_eq!(got.unwrap(), msg(&["lz", "y"]));
    let fds = our_tcp_sockets(Some(port_of(&ep)), None);
    assert_eq!(fds.len(), 1, "one connection accepted on {ep}");
    check_fd("accepted", &fds[0]);

    // Keepalive off (0), and the OS default (-1) leaves it off as Linux has it.
    let mut o = SocketOptions::default();
    o.tcp_keepalive = Some(false);
    let pull = D::socket(SocketType::Pull, o);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Peer::<D>::new(PeerKind::Libzmq, SocketType::Push);
    push.connect(&ep).await;
    push.send(msg(&["z"])).await;
    within::<D, _>(Duration::from_secs(5), "z", pull.recv())
        .await
        .unwrap();
    let fds = our_tcp_sockets(Some(port_of(&ep)), None);
    assert!(!SockRef::from(&fds[0]).keepalive().unwrap());

    // ZMQ_BACKLOG: the listener's accept queue, as `ss` shows it (Send-Q of a listener);
    // libzmq's default 100, and a value set.
    for backlog in [None, Some(7)] {
        let mut o = SocketOptions::default();
        if let Some(b) = backlog {
            o.backlog = b;
        }
        let pull = D::socket(SocketType::Pull, o);
        let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
        let ss = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{}", port_of(&ep))])
            .output()
            .expect("ss (iproute2)");
        let line = String::from_utf8_lossy(&ss.stdout).into_owned();
        let send_q = line.split_whitespace().nth(2).unwrap_or("");
        assert_eq!(send_q, backlog.unwrap_or(100).to_string(), "ss: {line}");
    }
}

/// `ZMQ_CONNECT_TIMEOUT`: a dial to a black hole (a listener whose backlog is full, so that
/// the kernel drops our SYNs, as a lossy or firewalled path would) fails after the timeout and
/// is retried, instead of waiting for the kernel's two minutes of SYN retries.
pub async fn connect_timeout_black_hole<D: Driver>() {
    let hole = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    hole.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    hole.listen(0).unwrap();
    let addr = hole.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (backlog 0 takes one connection; SYNs beyond it are dropped).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "the listener should be a black hole now"
    );
    let mut o = SocketOptions::default();
    o.connect_timeout = Some(Duration::from_millis(250));
    o.reconnect_ivl = Duration::from_millis(50);
    let dealer = D::socket(SocketType::Dealer, o);
    let mut mon = dealer.monitor();
    let start = Instant::now();
    dealer.connect(&format!("tcp://{addr}")).await.unwrap();
    crate::util::wait_event::<D, _>(&mut mon, Duration::from_secs(5), "a timed-out dial", |e| {
        matches!(e, SocketEvent::ConnectRetried { .. })
    })
    .await;
    let first = start.elapsed();
    assert!(
        first >= Duration::from_millis(200) && first < Duration::from_secs(2),
        "{}: the dial failed after {first:?}, not after the 250 ms connect_timeout",
        D::NAME
    );
    crate::util::wait_event::<D, _>(&mut mon, Duration::from_secs(5), "a second dial", |e| {
        matches!(e, SocketEvent::ConnectRetried { .. })
    })
    .await;
    drop(fillers);
}

/// Binding to an interface name, as libzmq: `tcp://lo:*` binds the loopback address (the
/// endpoint reports it, as libzmq's `ZMQ_LAST_ENDPOINT` does), and a libzmq PUSH connects to
/// it; every interface with an IPv4 address works the same way; an unknown name fails.
pub async fn bind_interface_name_libzmq<D: Driver>() {
    // libzmq 4.3.5 (pyzmq: the `zmq` crate's static build has no getifaddrs and refuses
    // interface names with ENODEV).
    let lz_ep = off_thread::<D, _>(|| {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import zmq; s = zmq.Context().socket(zmq.PULL); s.bind('tcp://lo:*'); \
                 print(s.getsockopt(zmq.LAST_ENDPOINT).decode()); s.close(0)",
            ])
            .output()
            .expect("python3 (scripts/test.sh installs pyzmq)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
    .await;
    assert!(lz_ep.starts_with("tcp://127.0.0.1:"), "libzmq: {lz_ep}");

    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let ep = pull.bind("tcp://lo:*").await.unwrap();
    assert!(ep.starts_with("tcp://127.0.0.1:"), "ours: {ep}");
    let push = Peer::<D>::new(PeerKind::Libzmq, SocketType::Push);
    push.connect(&ep).await;
    push.send(msg(&["via lo"])).await;
    let got = within::<D, _>(Duration::from_secs(5), "via lo", pull.recv()).await;
    assert_eq!(got.unwrap(), msg(&["via lo"]));

    // Every other interface with an IPv4 address (eth0 here, if it has one).
    for name in std::fs::read_dir("/sys/class/net").unwrap().flatten() {
        let name = name.file_name().to_string_lossy().into_owned();
        if name == "lo" {
            continue;
        }
        match pull.bind(&format!("tcp://{name}:*")).await {
            Ok(ep) => {
                let push = Peer::<D>::new(PeerKind::Libzmq, SocketType::Push);
                push.connect(&ep).await;
                push.send(msg(&[&name])).await;
                let got = within::<D, _>(Duration::from_secs(5), "via nic", pull.recv()).await;
                assert_eq!(got.unwrap(), msg(&[&name]), "via {ep}");
            }
            Err(e) => eprintln!("{}: {name}: {e} (no IPv4 address?)", D::NAME),
        }
    }
    let err = pull.bind("tcp://no-such-nic-or-host.invalid:*").await;
    assert!(err.is_err());
}

/// `ZMQ_IPV6`: off (libzmq's default), an IPv6 address is refused; on, `[::1]` binds, and `*`
/// binds `::` accepting IPv4 too (a libzmq PUSH connects through 127.0.0.1).
pub async fn ipv6_libzmq<D: Driver>() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("{}: no IPv6 loopback here; skipped", D::NAME);
        return;
    }
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let err = pull.bind("tcp://[::1]:*").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    pull.set_options(|o| o.ipv6 = true).unwrap();
    let v6 = pull.bind("tcp://[::1]:*").await.unwrap();
    assert!(v6.starts_with("tcp://[::1]:"), "{v6}");
    let any = pull.bind("tcp://*:*").await.unwrap();
    assert!(any.starts_with("tcp://[::]:"), "{any}");
    // An interface name takes its IPv6 address then (libzmq 4.3.5: `tcp://[::1]:PORT`).
    let lo = pull.bind("tcp://lo:*").await.unwrap();
    assert!(lo.starts_with("tcp://[::1]:"), "{lo}");
    let v4 = format!("tcp://127.0.0.1:{}", port_of(&any));
    let v6_ep = v6.clone();
    let lz = off_thread::<D, _>(move || {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::PUSH).unwrap();
        s.set_ipv6(true).unwrap();
        s.set_linger(2000).unwrap();
        s.connect(&v6_ep).unwrap();
        s.connect(&v4).unwrap();
        for m in ["a", "b"] {
            s.send(m, 0).unwrap();
        }
        drop(s);
        ctx
    });
    let ctx = lz.await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = within::<D, _>(Duration::from_secs(5), "ipv6", pull.recv()).await;
        got.push(m.unwrap());
    }
    got.sort_by(|a, b| a[0].cmp(&b[0]));
    assert_eq!(got, [msg(&["a"]), msg(&["b"])]);
    drop(ctx);
    // Dialling an IPv6 address without the option never connects (libzmq resolves it with
    // AF_INET, which fails, and keeps retrying).
    let push = D::socket(SocketType::Push, SocketOptions::default());
    let mut mon = push.monitor();
    push.connect(&v6).await.unwrap();
    D::sleep(Duration::from_millis(200)).await;
    let events = drain_events::<D, _>(&mut mon).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::Connected { .. }))),
        "{events:?}"
    );
}

/// The defaults read back from a new socket match what libzmq's `zmq_getsockopt` reports for
/// a new socket; options change on a live socket (and take effect: a raised high-water mark
/// lets more messages queue); options of another type and values out of range are refused.
pub async fn options_defaults_and_changes_libzmq<D: Driver>() {
    const NAMES: [&str; 17] = [
        "sndhwm",
        "rcvhwm",
        "reconnect_ivl",
        "reconnect_ivl_max",
        "tcp_keepalive",
        "tcp_keepalive_idle",
        "tcp_keepalive_cnt",
        "tcp_keepalive_intvl",
        "sndbuf",
        "rcvbuf",
        "tos",
        "ipv6",
        "connect_timeout",
        "maxmsgsize",
        "handshake_ivl",
        "linger",
        "backlog",
    ];
    let lz: Vec<i64> = off_thread::<D, _>(|| {
        let ctx = zmq::Context::new();
        let s = ctx.socket(zmq::DEALER).unwrap();
        let v = vec![
            s.get_sndhwm().unwrap().into(),
            s.get_rcvhwm().unwrap().into(),
            s.get_reconnect_ivl().unwrap().into(),
            s.get_reconnect_ivl_max().unwrap().into(),
            s.get_tcp_keepalive().unwrap().into(),
            s.get_tcp_keepalive_idle().unwrap().into(),
            s.get_tcp_keepalive_cnt().unwrap().into(),
            s.get_tcp_keepalive_intvl().unwrap().into(),
            s.get_sndbuf().unwrap().into(),
            s.get_rcvbuf().unwrap().into(),
            s.get_tos().unwrap().into(),
            i64::from(s.is_ipv6().unwrap()),
            s.get_connect_timeout().unwrap().into(),
            s.get_maxmsgsize().unwrap(),
            s.get_handshake_ivl().unwrap().into(),
            s.get_linger().unwrap().into(),
            s.get_backlog().unwrap().into(),
        ];
        drop(s);
        drop(ctx);
        v
    })
    .await;
    let ours = D::socket(SocketType::Dealer, SocketOptions::default());
    let o = ours.options();
    // libzmq's integers: -1 for "the OS default" or "forever", 0 for "none" where it says so.
    let or = |d: Option<Duration>, unit: fn(Duration) -> i64, none: i64| d.map_or(none, unit);
    let secs = |d: Duration| d.as_secs() as i64;
    let millis = |d: Duration| d.as_millis() as i64;
    let mine: Vec<i64> = vec![
        o.sndhwm as i64,
        o.connection.rcvhwm as i64,
        millis(o.reconnect_ivl),
        millis(o.reconnect_ivl_max),
        o.tcp_keepalive.map_or(-1, i64::from),
        or(o.tcp_keepalive_idle, secs, -1),
        o.tcp_keepalive_cnt.map_or(-1, i64::from),
        or(o.tcp_keepalive_intvl, secs, -1),
        o.sndbuf.map_or(-1, |n| n as i64),
        o.rcvbuf.map_or(-1, |n| n as i64),
        o.tos.into(),
        i64::from(o.ipv6),
        or(o.connect_timeout, millis, 0),
        o.connection.maxmsgsize.map_or(-1, |n| n as i64),
        or(o.connection.handshake_ivl, millis, 0),
        or(o.linger, millis, -1),
        o.backlog.into(),
    ];
    let pairs = |v: &[i64]| {
        NAMES
            .iter()
            .copied()
            .zip(v.iter().copied())
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&mine), pairs(&lz), "defaults: ours vs libzmq's");

    // Changed on a live socket, read back, and in effect.
    let push = D::socket(SocketType::Push, SocketOptions::default());
    push.set_options(|o| o.sndhwm = 2).unwrap();
    assert_eq!(push.options().sndhwm, 2);
    push.connect(&free_tcp_endpoint()).await.unwrap();
    push.try_send("1").unwrap();
    push.try_send("2").unwrap();
    assert!(push.try_send("3").is_err(), "hwm 2 reached");
    push.set_options(|o| o.sndhwm = 0).unwrap(); // 0 = unlimited, as libzmq
    for _ in 0..5000 {
        push.try_send("more").unwrap();
    }
    // Refused: options of other types, values out of range; nothing changes.
    let err = push.set_options(|o| o.router_mandatory = true).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let err = push
        .set_options(|o| o.tcp_keepalive_cnt = Some(0))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(!push.options().router_mandatory);
    let mut bad = SocketOptions::default();
    bad.xpub_nodrop = true;
    assert!(crate::Sock::<D>::try_with_options(SocketType::Sub, bad).is_err());
}
