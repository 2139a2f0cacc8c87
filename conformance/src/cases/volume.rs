//! Sizes and volumes: a 16 MiB message (F2/F3: long frames) and 100 000 messages delivered
//! in order with none lost (RFC 37: "all messages between two immediate peers arrive in
//! order"; F4 atomic delivery).

use std::time::Duration;

use crate::peer::{Peer, PeerKind};
use crate::util::{big_body, check_big_body, join, msg, TempDir, Transport};
use crate::{Driver, SocketType};

/// Size of the large message.
pub const LARGE: usize = 16 << 20;
/// Messages in the in-order cases.
pub const MANY: u64 = 100_000;

async fn large_one_way<D: Driver>(sender: &Peer<D>, receiver: &Peer<D>) {
    let body = big_body(LARGE);
    let mut m = msg(&["head", ""]);
    m.push(body);
    m.push("");
    sender.send(m).await;
    let got = receiver.recv().await;
    assert_eq!(got.len(), 4, "frames of the large message");
    assert_eq!(&got[0][..], b"head");
    assert!(got[1].is_empty() && got[3].is_empty(), "empty frames kept");
    if let Err(e) = check_big_body(&got[2], LARGE) {
        panic!("{}: large message from {sender:?}: {e}", D::NAME);
    }
}

async fn large_message<D: Driver>(kind: PeerKind) {
    let transports: &[Transport] = if kind == PeerKind::Ours {
        &Transport::ALL
    } else {
        &[Transport::Tcp]
    };
    for &transport in transports {
        let dir = TempDir::new();
        // Ours sends, the peer receives (the peer binds).
        let pull = Peer::<D>::new(kind, SocketType::Pull);
        let ep = pull
            .bind(&crate::util::bind_endpoint(transport, &dir, "big1"))
            .await;
        let push = Peer::<D>::new(PeerKind::Ours, SocketType::Push);
        push.connect(&ep).await;
        large_one_way(&push, &pull).await;
        push.close().await;
        pull.close().await;
        if kind == PeerKind::Ours {
            continue;
        }
        // The peer sends, ours receives (ours binds).
        let pull = Peer::<D>::new(PeerKind::Ours, SocketType::Pull);
        let ep = pull
            .bind(&crate::util::bind_endpoint(transport, &dir, "big2"))
            .await;
        let push = Peer::<D>::new(kind, SocketType::Push);
        push.connect(&ep).await;
        large_one_way(&push, &pull).await;
        push.close().await;
        pull.close().await;
    }
}

/// A 16 MiB frame between two of our sockets, TCP and IPC.
pub async fn large_message_ours<D: Driver>() {
    large_message::<D>(PeerKind::Ours).await;
}

/// A 16 MiB frame to and from libzmq.
pub async fn large_message_libzmq<D: Driver>() {
    large_message::<D>(PeerKind::Libzmq).await;
}

/// A 16 MiB frame to and from zmq.rs.
pub async fn large_message_zmqrs<D: Driver>() {
    large_message::<D>(PeerKind::ZmqRs).await;
}

async fn many_one_way<D: Driver>(sender: &Peer<D>, receiver: &Peer<D>) {
    join(
        sender.send_seq(MANY, 16),
        receiver.recv_seq(MANY, 16, 0, Duration::ZERO),
    )
    .await;
}

async fn many_in_order<D: Driver>(kind: PeerKind) {
    // Ours → peer, the peer binding.
    let pull = Peer::<D>::new(kind, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = Peer::<D>::new(PeerKind::Ours, SocketType::Push);
    push.connect(&ep).await;
    many_one_way(&push, &pull).await;
    push.close().await;
    pull.close().await;
    if kind == PeerKind::Ours {
        return;
    }
    // Peer → ours, ours binding.
    let pull = Peer::<D>::new(PeerKind::Ours, SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await;
    let push = Peer::<D>::new(kind, SocketType::Push);
    push.connect(&ep).await;
    many_one_way(&push, &pull).await;
    push.close().await;
    pull.close().await;
}

/// 100 000 messages in order between two of our sockets.
pub async fn many_in_order_ours<D: Driver>() {
    many_in_order::<D>(PeerKind::Ours).await;
}

/// 100 000 messages in order to and from libzmq.
pub async fn many_in_order_libzmq<D: Driver>() {
    many_in_order::<D>(PeerKind::Libzmq).await;
}

/// 100 000 messages in order to and from zmq.rs.
pub async fn many_in_order_zmqrs<D: Driver>() {
    many_in_order::<D>(PeerKind::ZmqRs).await;
}

/// A message of 1000 frames, sizes 0–299 bytes (every seventh empty): atomic delivery of a
/// long multipart message, both ways (F4, F7).
fn many_frames_msg() -> crate::Msg {
    (0..1000usize)
        .map(|i| {
            let len = if i % 7 == 0 { 0 } else { i % 300 };
            bytes::Bytes::from(vec![(i % 251) as u8; len])
        })
        .collect()
}

async fn many_frames<D: Driver>(kind: PeerKind) {
    let theirs = Peer::<D>::new(kind, SocketType::Dealer);
    let ep = theirs.bind("tcp://127.0.0.1:*").await;
    let ours = Peer::<D>::new(PeerKind::Ours, SocketType::Dealer);
    ours.connect(&ep).await;
    for _ in 0..3 {
        ours.send(many_frames_msg()).await;
        assert_eq!(theirs.recv().await, many_frames_msg(), "peer got");
        theirs.send(many_frames_msg()).await;
        assert_eq!(ours.recv().await, many_frames_msg(), "we got");
    }
    ours.close().await;
    theirs.close().await;
}

/// 1000-frame messages between our sockets.
pub async fn many_frames_ours<D: Driver>() {
    many_frames::<D>(PeerKind::Ours).await;
}

/// 1000-frame messages to and from libzmq.
pub async fn many_frames_libzmq<D: Driver>() {
    many_frames::<D>(PeerKind::Libzmq).await;
}

/// 1000-frame messages to and from zmq.rs.
pub async fn many_frames_zmqrs<D: Driver>() {
    many_frames::<D>(PeerKind::ZmqRs).await;
}

/// Messages each way in the full-duplex cases.
const DUPLEX: u64 = 20_000;

/// One of our DEALERs sends and receives at the same time (two futures on one socket) while
/// the peer DEALER does the same: both streams arrive complete and in order.
async fn full_duplex<D: Driver>(kind: PeerKind) {
    let theirs = Peer::<D>::new(kind, SocketType::Dealer);
    let ep = theirs.bind("tcp://127.0.0.1:*").await;
    let ours = Peer::<D>::new(PeerKind::Ours, SocketType::Dealer);
    ours.connect(&ep).await;
    let ours_side = join(
        ours.send_seq(DUPLEX, 32),
        ours.recv_seq(DUPLEX, 40, 0, Duration::ZERO),
    );
    let their_side = async {
        // A remote peer runs one operation at a time: it sends, then receives.
        theirs.send_seq(DUPLEX, 40).await;
        theirs.recv_seq(DUPLEX, 32, 0, Duration::ZERO).await;
    };
    join(ours_side, their_side).await;
    ours.close().await;
    theirs.close().await;
}

/// Full duplex between our sockets.
pub async fn full_duplex_ours<D: Driver>() {
    full_duplex::<D>(PeerKind::Ours).await;
}

/// Full duplex with libzmq.
pub async fn full_duplex_libzmq<D: Driver>() {
    full_duplex::<D>(PeerKind::Libzmq).await;
}

/// Full duplex with zmq.rs.
pub async fn full_duplex_zmqrs<D: Driver>() {
    full_duplex::<D>(PeerKind::ZmqRs).await;
}
