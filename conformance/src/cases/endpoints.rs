//! Endpoint forms: `tcp://*:port` (wildcard bind, reported resolved), host names
//! (`tcp://localhost:port`), and Linux abstract IPC names (`ipc://@name`), with our socket on
//! either side. zmq.rs has no abstract namespace support, so these run against ours and libzmq.

use crate::peer::{Peer, PeerKind};
use crate::util::{msg, TempDir};
use crate::{Driver, SocketType};

async fn exchange<D: Driver>(push: &Peer<D>, pull: &Peer<D>, what: &str) {
    push.send(msg(&[what])).await;
    assert_eq!(pull.recv().await, msg(&[what]), "over {what}");
}

async fn endpoints<D: Driver>(kind: PeerKind) {
    // Wildcard bind on our side; the peer connects by name.
    let pull = Peer::<D>::new(PeerKind::Ours, SocketType::Pull);
    let bound = pull.bind("tcp://*:0").await;
    let port = bound
        .strip_prefix("tcp://0.0.0.0:")
        .unwrap_or_else(|| panic!("wildcard bind reported {bound}"));
    assert_ne!(port, "0", "the ephemeral port is reported");
    let push = Peer::<D>::new(kind, SocketType::Push);
    push.connect(&format!("tcp://localhost:{port}")).await;
    exchange(&push, &pull, "wildcard bind, host name").await;
    push.close().await;
    pull.close().await;

    // The peer binds; we connect by name.
    let pull = Peer::<D>::new(kind, SocketType::Pull);
    let bound = pull.bind("tcp://127.0.0.1:*").await;
    let port = bound.rsplit(':').next().expect("port");
    let push = Peer::<D>::new(PeerKind::Ours, SocketType::Push);
    push.connect(&format!("tcp://localhost:{port}")).await;
    exchange(&push, &pull, "connect by host name").await;
    push.close().await;
    pull.close().await;

    // Abstract IPC names, both sides binding in turn.
    let name = format!("ipc://@zc-{}-{:p}", std::process::id(), &TempDir::new());
    for ours_binds in [true, false] {
        let (pk, sk) = if ours_binds {
            (kind, PeerKind::Ours)
        } else {
            (PeerKind::Ours, kind)
        };
        let pull = Peer::<D>::new(sk, SocketType::Pull);
        let bound = pull.bind(&name).await;
        assert_eq!(bound, name, "an abstract endpoint is reported as given");
        let push = Peer::<D>::new(pk, SocketType::Push);
        push.connect(&name).await;
        exchange(&push, &pull, "abstract ipc").await;
        push.close().await;
        pull.close().await;
    }
}

/// Endpoint forms with our sockets on both sides.
pub async fn endpoints_ours<D: Driver>() {
    endpoints::<D>(PeerKind::Ours).await;
}

/// Endpoint forms against libzmq.
pub async fn endpoints_libzmq<D: Driver>() {
    endpoints::<D>(PeerKind::Libzmq).await;
}
