//! Robustness (checklist F3, §1.13): a message above `maxmsgsize` costs the sender its
//! connection, not the socket; clients that stay silent, send garbage or announce another mechanism are dropped (the
//! monitor says why: `HandshakeTimeout`, `BadSignature`, `MechanismMismatch`) while
//! the socket keeps serving everyone else.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::cases::faults::null_greeting;
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{msg, wait_event, within};
use crate::{Driver, Error, SocketEvent, SocketType};

/// F3: our PULL with `maxmsgsize` 64 KiB; a libzmq PUSH sends 128 KiB. The connection is
/// dropped with `MessageTooLarge` (nothing of the message is delivered), libzmq reconnects,
/// and small messages flow again.
pub async fn maxmsgsize_enforced_libzmq<D: Driver>() {
    let mut opts = PeerOptions::default().to_socket_options();
    opts.connection.maxmsgsize = Some(64 * 1024);
    let pull = D::socket(SocketType::Pull, opts);
    let mut mon = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = Peer::<D>::new(PeerKind::Libzmq, SocketType::Push);
    push.connect(&ep).await;
    push.send(msg(&["small"])).await;
    let got = within::<D, _>(Duration::from_secs(10), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["small"]));
    let mut big = msg(&["big"]);
    big.push(vec![7u8; 128 * 1024]);
    push.send(big).await;
    let e = wait_event::<D, _>(&mut mon, Duration::from_secs(10), "Disconnected", |e| {
        matches!(e, SocketEvent::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(
            e,
            SocketEvent::Disconnected {
                error: Error::MessageTooLarge { .. },
                ..
            }
        ),
        "F3: dropped for MessageTooLarge, got {e:?}"
    );
    // libzmq lost the big message with the connection; it reconnects by itself.
    push.send(msg(&["after"])).await;
    let got = within::<D, _>(Duration::from_secs(10), "recv", pull.recv()).await;
    assert_eq!(
        got.expect("recv"),
        msg(&["after"]),
        "nothing of the big message"
    );
    push.close().await;
    pull.close().await;
}

/// §1.13: a client that connects and says nothing is dropped at the handshake deadline; one
/// that sends garbage is dropped at once (not a ZMTP 3 greeting); a libzmq client connected
/// meanwhile is served throughout.
pub async fn bad_clients_dropped<D: Driver>() {
    let mut opts = PeerOptions::default().to_socket_options();
    opts.connection.handshake_ivl = Some(Duration::from_millis(300));
    let pull = D::socket(SocketType::Pull, opts);
    let mut mon = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let addr = ep.strip_prefix("tcp://").expect("tcp endpoint").to_owned();
    let good = Peer::<D>::new(PeerKind::Libzmq, SocketType::Push);
    good.connect(&ep).await;

    let silent = TcpStream::connect(&addr).expect("connect");
    let e = wait_event::<D, _>(&mut mon, Duration::from_secs(5), "HandshakeTimeout", |e| {
        matches!(
            e,
            SocketEvent::HandshakeFailed {
                error: Error::HandshakeTimeout,
                ..
            }
        )
    })
    .await;
    eprintln!("silent client: {e:?}");

    let mut garbage = TcpStream::connect(&addr).expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let e = wait_event::<D, _>(&mut mon, Duration::from_secs(5), "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    })
    .await;
    // G1, V5: not a ZMTP greeting (the first byte is not 0xFF) is refused at once, not by the
    // deadline, and the monitor says why.
    assert!(
        matches!(
            e,
            SocketEvent::HandshakeFailed {
                error: Error::BadSignature,
                ..
            }
        ),
        "garbage is refused at once for its signature: {e:?}"
    );

    // G1: a ZMTP 3.1 greeting announcing PLAIN to a NULL socket is refused with the two
    // mechanisms named.
    let mut plain = TcpStream::connect(&addr).expect("connect");
    let mut greeting = null_greeting();
    greeting[12..17].copy_from_slice(b"PLAIN");
    plain.write_all(&greeting).expect("write");
    let e = wait_event::<D, _>(&mut mon, Duration::from_secs(5), "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    })
    .await;
    let SocketEvent::HandshakeFailed { error, .. } = &e else {
        unreachable!()
    };
    assert_eq!(
        *error,
        Error::MechanismMismatch {
            ours: "NULL",
            theirs: "PLAIN".into()
        },
        "a mechanism mismatch is reported as one"
    );
    for i in 0..5 {
        good.send(msg(&["good", &i.to_string()])).await;
    }
    for i in 0..5 {
        let got = within::<D, _>(Duration::from_secs(10), "recv", pull.recv()).await;
        assert_eq!(got.expect("recv"), msg(&["good", &i.to_string()]));
    }
    drop((silent, garbage, plain));
    good.close().await;
    pull.close().await;
}
