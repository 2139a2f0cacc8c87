//! STREAM (`ZMQ_STREAM`, checklist §1.7's raw type outside the RFC; §1.12 queues and order;
//! §1.13 robustness): our STREAM socket against plain TCP peers (Python sockets,
//! `conformance/py/stream_peer.py`, and threads with `std::net`) and against libzmq 4.3.5's
//! STREAM (pyzmq). Both directions, the connect and disconnect notifications, a close from
//! either side, 1 MiB written raw and received whole; then what a raw peer must not be able to
//! do to us: garbage (delivered as data, nothing else), connection churn (no peer left behind),
//! huge writes our application does not read (memory bounded, the writer blocked), and a slow
//! reader (our sends block at the high-water mark instead of queueing without bound).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_proto::{MAX_INBOUND_BYTES, RAW_READ_CAP};

use crate::pyzmq::PyPeer;
use crate::util::{big_body, check_big_body, drain_events, within};
use crate::{Driver, Error, MonitorEvent, Msg, Sock, SocketEvent, SocketOptions, SocketType};

const LIMIT: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

fn stream_socket<D: Driver>(options: SocketOptions) -> Sock<D> {
    D::socket(SocketType::Stream, options)
}

fn linger() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.linger = Some(Duration::from_secs(2));
    o
}

fn port_of(endpoint: &str) -> String {
    endpoint.rsplit(':').next().expect("a port").to_owned()
}

/// A peer thread's result, waited for without blocking the runtime (our socket runs on it).
async fn join<D: Driver, T>(thread: std::thread::JoinHandle<T>) -> T {
    let started = Instant::now();
    while !thread.is_finished() {
        assert!(started.elapsed() < LIMIT, "{}: peer thread stuck", D::NAME);
        D::sleep(Duration::from_millis(5)).await;
    }
    thread.join().expect("peer thread")
}

/// `[routing id, data]`.
fn routed(id: &Bytes, data: impl Into<Bytes>) -> Msg {
    [id.clone(), data.into()].into_iter().collect()
}

/// The next message, checked to be `[routing id, data]`.
async fn recv2<D: Driver>(s: &Sock<D>) -> (Bytes, Bytes) {
    let m = within::<D, _>(LIMIT, "a STREAM message", s.recv())
        .await
        .expect("recv");
    assert_eq!(m.len(), 2, "{}: a STREAM message is [id, data]", D::NAME);
    (m[0].to_bytes(), m[1].to_bytes())
}

/// Data from `id` until `n` bytes arrived; each message holds at most [`RAW_READ_CAP`] bytes.
async fn recv_bytes<D: Driver>(s: &Sock<D>, id: &Bytes, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (from, data) = recv2::<D>(s).await;
        assert_eq!(&from, id, "{}: data from another peer", D::NAME);
        assert!(
            !data.is_empty(),
            "{}: peer gone after {} of {n} bytes",
            D::NAME,
            out.len()
        );
        assert!(
            data.len() <= RAW_READ_CAP,
            "{}: {} bytes",
            D::NAME,
            data.len()
        );
        out.extend_from_slice(&data);
    }
    assert_eq!(out.len(), n, "{}: more than was sent", D::NAME);
    out
}

/// The monitor saw the connection (accepted or connected) and its end, and no handshake:
/// a raw peer has none (libzmq reports none either).
async fn check_raw_events<D: Driver>(mon: &mut zmtp_async::Monitor<D::Runtime>, accepted: bool) {
    let events = drain_events::<D, _>(mon).await;
    let opened = events.iter().any(|e| match e {
        MonitorEvent::Accepted { .. } => accepted,
        MonitorEvent::Socket(SocketEvent::Connected { .. }) => !accepted,
        _ => false,
    });
    assert!(opened, "{}: no connection event in {events:?}", D::NAME);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::Disconnected { .. }))),
        "{}: no Disconnected in {events:?}",
        D::NAME
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            MonitorEvent::Socket(
                SocketEvent::HandshakeSucceeded { .. } | SocketEvent::HandshakeFailed { .. }
            )
        )),
        "{}: a handshake event for a raw peer: {events:?}",
        D::NAME
    );
}

/// Our STREAM binds; a Python TCP client talks, sends 1 MiB, takes 1 MiB back and closes:
/// notifications bracket its data, and the monitor reports the accept and the disconnect.
pub async fn stream_tcp_client_python<D: Driver>() {
    let s = stream_socket::<D>(linger());
    let mut mon = s.monitor();
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let size = MIB.to_string();
    let mut py = PyPeer::spawn("stream_peer.py", &["client", &port_of(&ep), &size]);
    let (id, hello) = recv2::<D>(&s).await;
    assert!(hello.is_empty(), "{}: no connect notification", D::NAME);
    assert_eq!(id.len(), 5, "{}: libzmq-style routing id", D::NAME);
    let greeting = recv_bytes::<D>(&s, &id, 17).await;
    assert_eq!(greeting, b"hello from python");
    s.send(routed(&id, "hello from stream"))
        .await
        .expect("send");
    let data = recv_bytes::<D>(&s, &id, MIB).await;
    check_big_body(&data, MIB).expect("1 MiB from the client");
    s.send(routed(&id, big_body(MIB)))
        .await
        .expect("send 1 MiB");
    py.passes::<D>(LIMIT).await;
    // The client closed: the disconnect notification follows its data.
    assert_eq!(recv2::<D>(&s).await, (id.clone(), Bytes::new()));
    assert_eq!(s.peer_count(), 0, "{}: the accepted peer is gone", D::NAME);
    let late = s.send(routed(&id, "late")).await.unwrap_err();
    assert_eq!(
        Error::of(&late),
        Some(&Error::Unroutable),
        "{}: its id is unknown now (EHOSTUNREACH)",
        D::NAME
    );
    check_raw_events::<D>(&mut mon, true).await;
}

/// Our STREAM connects (with `connect_routing_id`) to a Python TCP server: request, response,
/// 1 MiB written raw, then our close (`[id, ""]`) reaches the server as EOF after the data, and
/// our application gets no notification of its own close.
pub async fn stream_tcp_server_python<D: Driver>() {
    let s = stream_socket::<D>(linger());
    let mut mon = s.monitor();
    let size = MIB.to_string();
    let mut py = PyPeer::spawn("stream_peer.py", &["server", &size]);
    let port = py.line::<D>("PORT ", LIMIT).await;
    let id = s
        .connect_stream(&format!("tcp://127.0.0.1:{port}"), Some(b"py-server"))
        .await
        .expect("connect");
    assert_eq!(&id[..], b"py-server");
    assert_eq!(recv2::<D>(&s).await, (id.clone(), Bytes::new()));
    s.send(routed(&id, "request")).await.expect("send");
    assert_eq!(recv_bytes::<D>(&s, &id, 8).await, b"response");
    s.send(routed(&id, big_body(MIB)))
        .await
        .expect("send 1 MiB");
    s.send(routed(&id, Bytes::new())).await.expect("close");
    py.passes::<D>(LIMIT).await;
    // No notification for our own close, and no redial.
    let extra = crate::util::timeout::<D, _>(Duration::from_millis(300), s.recv()).await;
    assert!(extra.is_none(), "{}: unexpected {extra:?}", D::NAME);
    assert_eq!(s.peer_count(), 0, "{}: closed, not redialled", D::NAME);
    check_raw_events::<D>(&mut mon, false).await;
}

/// Our STREAM connects to libzmq's STREAM: each side sees the other's connection, "ping" goes
/// one way and 1 MiB the other, then libzmq closes the connection and we get the disconnect
/// notification after the data.
pub async fn stream_to_libzmq_stream<D: Driver>() {
    let s = stream_socket::<D>(linger());
    let size = MIB.to_string();
    let mut py = PyPeer::spawn("stream_peer.py", &["lz_server", &size]);
    let port = py.line::<D>("PORT ", LIMIT).await;
    let id = s
        .connect_stream(&format!("tcp://127.0.0.1:{port}"), None)
        .await
        .expect("connect");
    assert_eq!(recv2::<D>(&s).await, (id.clone(), Bytes::new()));
    s.send(routed(&id, "ping")).await.expect("send");
    let data = recv_bytes::<D>(&s, &id, MIB).await;
    check_big_body(&data, MIB).expect("1 MiB from libzmq");
    assert_eq!(recv2::<D>(&s).await, (id.clone(), Bytes::new()));
    py.passes::<D>(LIMIT).await;
}

/// libzmq's STREAM connects to ours: it sends 1 MiB, we answer and close; libzmq's STREAM gets
/// the disconnect notification.
pub async fn stream_from_libzmq_stream<D: Driver>() {
    let s = stream_socket::<D>(linger());
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let size = MIB.to_string();
    let mut py = PyPeer::spawn("stream_peer.py", &["lz_client", &port_of(&ep), &size]);
    let (id, hello) = recv2::<D>(&s).await;
    assert!(hello.is_empty());
    let data = recv_bytes::<D>(&s, &id, MIB).await;
    check_big_body(&data, MIB).expect("1 MiB from libzmq");
    s.send(routed(&id, "thanks")).await.expect("send");
    s.send(routed(&id, Bytes::new())).await.expect("close");
    py.passes::<D>(LIMIT).await;
    assert_eq!(s.peer_count(), 0);
}

/// §1.13: whatever a raw peer sends is data — a ZMTP greeting, a frame header announcing
/// 2^63 bytes, random bytes — delivered as sent, in order, to the right routing id; the
/// socket keeps serving.
pub async fn stream_garbage_is_data<D: Driver>() {
    let s = stream_socket::<D>(linger());
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let port: u16 = port_of(&ep).parse().expect("port");
    let mut payloads: Vec<Vec<u8>> = vec![
        crate::cases::faults::null_greeting().to_vec(),
        vec![0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xff; 3000],
    ];
    let mut rng = crate::util::Rng::new();
    payloads.push((0..50_000).map(|_| rng.next_u64() as u8).collect());
    for payload in payloads {
        let expect = payload.clone();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            c.set_read_timeout(Some(LIMIT)).expect("timeout");
            c.write_all(&payload).expect("write");
            // Our STREAM answers, then closes.
            let mut answer = Vec::new();
            c.read_to_end(&mut answer).expect("answer and EOF");
            answer
        });
        let (id, hello) = recv2::<D>(&s).await;
        assert!(hello.is_empty());
        let got = recv_bytes::<D>(&s, &id, expect.len()).await;
        assert_eq!(got, expect, "{}: delivered as sent", D::NAME);
        s.send(routed(&id, "ok")).await.expect("answer");
        s.send(routed(&id, Bytes::new())).await.expect("close");
        let answer = join::<D, _>(writer).await;
        assert_eq!(answer, b"ok");
    }
    assert_eq!(s.peer_count(), 0, "{}: every peer gone", D::NAME);
}

/// §1.13: 300 raw clients connect and go (some after sending, some at once, some reset): every
/// connection is announced and its end too, and the socket holds no peer afterwards.
pub async fn stream_connection_churn<D: Driver>() {
    const N: usize = 300;
    let s = stream_socket::<D>(linger());
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let port: u16 = port_of(&ep).parse().expect("port");
    let churn = std::thread::spawn(move || {
        for i in 0..N {
            let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            match i % 3 {
                0 => {
                    c.write_all(b"x").expect("write");
                }
                1 => {}
                _ => {
                    // An abortive close (RST).
                    let sock = socket2::SockRef::from(&c);
                    sock.set_linger(Some(Duration::ZERO)).expect("linger 0");
                }
            }
            drop(c);
        }
    });
    let (mut opened, mut closed) = (0, 0);
    let mut live = std::collections::HashSet::new();
    while closed < N {
        let (id, data) = recv2::<D>(&s).await;
        if data.is_empty() {
            if live.insert(id.clone()) {
                opened += 1;
            } else {
                live.remove(&id);
                closed += 1;
            }
        }
    }
    join::<D, _>(churn).await;
    assert_eq!((opened, closed), (N, N), "{}", D::NAME);
    assert!(live.is_empty());
    assert_eq!(s.peer_count(), 0, "{}: no peer left behind", D::NAME);
}

/// §1.12/§1.13: a raw peer writes as fast as it can while our application reads nothing. The
/// socket stops reading at its receive bound, so the writer blocks: what it managed to write
/// is at most our bound (`MAX_INBOUND_BYTES` of held data or `rcvhwm` messages, plus one
/// read) plus the kernel's socket buffers. Then every byte arrives, in order.
pub async fn stream_huge_write_unread_is_bounded<D: Driver>() {
    const TOTAL: usize = 96 * MIB;
    let s = stream_socket::<D>(linger());
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let port: u16 = port_of(&ep).parse().expect("port");
    let written = Arc::new(AtomicUsize::new(0));
    let progress = written.clone();
    let writer = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let chunk = big_body(MIB);
        for _ in 0..TOTAL / MIB {
            for piece in chunk.chunks(64 * 1024) {
                c.write_all(piece).expect("write");
                progress.fetch_add(piece.len(), Ordering::Relaxed);
            }
        }
    });
    let (id, hello) = recv2::<D>(&s).await;
    assert!(hello.is_empty());
    // Wait until the writer stalls (no progress for 500 ms).
    let mut last = 0;
    let started = Instant::now();
    loop {
        D::sleep(Duration::from_millis(500)).await;
        let now = written.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        assert!(
            started.elapsed() < LIMIT && now < TOTAL,
            "{}: the writer never stalled ({now} bytes)",
            D::NAME
        );
        last = now;
    }
    let kernel = kernel_buffer_max();
    let ours = MAX_INBOUND_BYTES + RAW_READ_CAP + 64 * 1024;
    eprintln!(
        "{}: STREAM unread peer stalled after {last} bytes (our bound {ours}, kernel buffers up to {kernel})",
        D::NAME
    );
    assert!(
        last <= ours + kernel,
        "{}: {last} bytes taken in, more than {ours} + {kernel}",
        D::NAME
    );
    // Everything arrives, in order.
    let mut pos = 0;
    let pattern = big_body(MIB);
    while pos < TOTAL {
        let (from, data) = recv2::<D>(&s).await;
        assert_eq!(from, id);
        assert!(!data.is_empty(), "{}: gone after {pos} bytes", D::NAME);
        assert!(
            matches_pattern(&pattern, pos, &data),
            "{}: corrupt after {pos}",
            D::NAME
        );
        pos += data.len();
    }
    join::<D, _>(writer).await;
}

/// True if `data` is what [`big_body`]'s repeated 1 MiB `pattern` holds from offset `pos`.
fn matches_pattern(pattern: &[u8], mut pos: usize, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let at = pos % pattern.len();
        let n = data.len().min(pattern.len() - at);
        if data[..n] != pattern[at..at + n] {
            return false;
        }
        data = &data[n..];
        pos += n;
    }
    true
}

/// The largest receive plus send buffer the kernel may give a TCP connection (autotuning).
fn kernel_buffer_max() -> usize {
    let max = |path: &str| -> usize {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.split_whitespace().last()?.parse().ok())
            .unwrap_or(8 * MIB)
    };
    max("/proc/sys/net/ipv4/tcp_rmem") + max("/proc/sys/net/ipv4/tcp_wmem")
}

/// §1.12: a slow reader makes our sends wait at the send high-water mark (`try_send` says
/// `WouldBlock`) instead of queueing without bound; all 32 MiB then arrive whole, in order,
/// followed by our close; another raw peer is answered meanwhile.
pub async fn stream_slow_reader<D: Driver>() {
    const TOTAL: usize = 32 * MIB;
    const PIECE: usize = 64 * 1024;
    let mut o = linger();
    o.sndhwm = 8;
    let s = stream_socket::<D>(o);
    let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
    let port: u16 = port_of(&ep).parse().expect("port");
    let reader = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(LIMIT)).expect("timeout");
        let pattern = big_body(MIB);
        let mut buf = vec![0; PIECE];
        let mut pos = 0;
        while pos < TOTAL {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "EOF after {pos} bytes");
            assert!(
                matches_pattern(&pattern, pos, &buf[..n]),
                "corrupt after {pos}"
            );
            pos += n;
            if pos < 4 * MIB {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        // Then our close, after the data.
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("EOF");
        assert!(rest.is_empty(), "{} bytes too many", rest.len());
        pos
    });
    let (slow, _) = recv2::<D>(&s).await;
    let pattern = big_body(MIB);
    let mut blocked = false;
    let mut pos = 0;
    while pos < TOTAL {
        let piece = pattern.slice(pos % MIB..pos % MIB + PIECE);
        match s.try_send(routed(&slow, piece.clone())) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.error, Error::WouldBlock, "{}", D::NAME);
                blocked = true;
                s.send(routed(&slow, piece)).await.expect("send");
            }
        }
        pos += PIECE;
    }
    assert!(blocked, "{}: 32 MiB queued without blocking", D::NAME);
    // Another peer is answered.
    let other = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(LIMIT)).expect("timeout");
        c.write_all(b"hi").expect("write");
        let mut b = [0; 2];
        c.read_exact(&mut b).expect("echo");
        b
    });
    let (oid, hello) = recv2::<D>(&s).await;
    assert!(hello.is_empty() && oid != slow, "{}", D::NAME);
    let hi = recv_bytes::<D>(&s, &oid, 2).await;
    s.send(routed(&oid, hi)).await.expect("echo");
    assert_eq!(&join::<D, _>(other).await, b"hi");
    s.send(routed(&slow, Bytes::new())).await.expect("close");
    assert_eq!(join::<D, _>(reader).await, TOTAL);
}

/// A STREAM socket carries raw bytes and `inproc://` carries whole messages, so binding or
/// connecting one to an inproc endpoint is refused at once with an endpoint error naming it
/// (not accepted and then failing, or redialling, in the background). Other sockets keep using
/// the name.
pub async fn stream_refuses_inproc<D: Driver>() {
    let name = format!("inproc://stream-refused-{}", D::NAME);
    let s = stream_socket::<D>(linger());
    for (operation, result) in [
        (zmtp_proto::EndpointOp::Bind, s.bind(&name).await.map(drop)),
        (zmtp_proto::EndpointOp::Connect, s.connect(&name).await),
    ] {
        let e = result.expect_err("STREAM over inproc must be refused");
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::InvalidInput,
            "{}: {e}",
            D::NAME
        );
        match Error::of(&e) {
            Some(Error::Endpoint {
                operation: op,
                endpoint,
                ..
            }) => {
                assert_eq!(*op, operation, "{}", D::NAME);
                assert_eq!(*endpoint, name, "{}", D::NAME);
            }
            other => panic!("{}: {other:?}", D::NAME),
        }
    }
    assert_eq!(s.peer_count(), 0, "{}: no peer was made", D::NAME);
    // The name is still free for a pair of message sockets.
    let pull = D::socket(SocketType::Pull, linger());
    pull.bind(&name).await.expect("bind the name");
    let push = D::socket(SocketType::Push, linger());
    push.connect(&name).await.expect("connect");
    push.send(Msg::from("still works")).await.expect("send");
    let m = within::<D, _>(LIMIT, "the inproc message", pull.recv())
        .await
        .expect("recv");
    assert_eq!(m.frames()[0].as_ref(), b"still works");
}

/// STREAM over `ipc://` is a byte stream like tcp: a Unix-socket client (a thread with
/// `std::os::unix::net`) is announced, its bytes arrive as `[id, data]`, our reply is written
/// raw, and its close is announced.
pub async fn stream_over_ipc<D: Driver>() {
    let path = std::env::temp_dir().join(format!(
        "monocoque-stream-{}-{}.sock",
        D::NAME,
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let s = stream_socket::<D>(linger());
    let ep = format!("ipc://{}", path.display());
    s.bind(&ep).await.expect("bind ipc");
    let client_path = path.clone();
    let client = std::thread::spawn(move || {
        let mut c = std::os::unix::net::UnixStream::connect(&client_path).expect("connect");
        c.write_all(b"ping over ipc").expect("write");
        let mut reply = [0u8; 4];
        c.read_exact(&mut reply).expect("read the reply");
        reply
    });
    let (id, hello) = recv2::<D>(&s).await;
    assert!(
        hello.is_empty(),
        "{}: the connection is announced first",
        D::NAME
    );
    let mut got = Vec::new();
    while got.len() < b"ping over ipc".len() {
        let (from, data) = recv2::<D>(&s).await;
        assert_eq!(from, id, "{}", D::NAME);
        got.extend_from_slice(&data);
    }
    assert_eq!(got, b"ping over ipc", "{}", D::NAME);
    s.send(routed(&id, "pong")).await.expect("send");
    assert_eq!(&join::<D, _>(client).await, b"pong", "{}", D::NAME);
    // The client has closed its end: the disconnection is announced.
    let (gone, bye) = recv2::<D>(&s).await;
    assert_eq!((gone, bye.is_empty()), (id, true), "{}", D::NAME);
    let _ = std::fs::remove_file(&path);
}
