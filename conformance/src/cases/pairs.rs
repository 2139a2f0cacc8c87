//! Every compatible pair of socket types (checklist §1.7), against every peer kind: our
//! socket on either side of the pair, either side binding, over TCP and IPC, exchanging
//! multipart messages with empty frames (F4, F7) in the pattern's own way (R1–R4, S1, S4).

use std::time::Duration;

use bytes::Bytes;

use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{bind_endpoint, msg, prefixed, TempDir, Transport};
use crate::{Driver, Msg, SocketType};

/// A pair of socket types that may talk to each other, first the "client" side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// REQ → REP.
    ReqRep,
    /// REQ → ROUTER.
    ReqRouter,
    /// DEALER → REP.
    DealerRep,
    /// DEALER → ROUTER.
    DealerRouter,
    /// DEALER ↔ DEALER.
    DealerDealer,
    /// ROUTER ↔ ROUTER (both with routing ids).
    RouterRouter,
    /// PUB → SUB.
    PubSub,
    /// PUB → XSUB.
    PubXSub,
    /// XPUB → SUB.
    XPubSub,
    /// XPUB → XSUB.
    XPubXSub,
    /// PUSH → PULL.
    PushPull,
    /// PAIR ↔ PAIR.
    Pair,
}

impl Pattern {
    /// The two socket types.
    pub fn types(self) -> (SocketType, SocketType) {
        use SocketType::*;
        match self {
            Self::ReqRep => (Req, Rep),
            Self::ReqRouter => (Req, Router),
            Self::DealerRep => (Dealer, Rep),
            Self::DealerRouter => (Dealer, Router),
            Self::DealerDealer => (Dealer, Dealer),
            Self::RouterRouter => (Router, Router),
            Self::PubSub => (Pub, Sub),
            Self::PubXSub => (Pub, XSub),
            Self::XPubSub => (XPub, Sub),
            Self::XPubXSub => (XPub, XSub),
            Self::PushPull => (Push, Pull),
            Self::Pair => (Pair, Pair),
        }
    }

    fn options(self) -> (PeerOptions, PeerOptions) {
        let mut a = PeerOptions::default();
        let mut b = PeerOptions::default();
        if self == Self::RouterRouter {
            a.routing_id = Some(Bytes::from_static(b"router-a"));
            b.routing_id = Some(Bytes::from_static(b"router-b"));
        }
        (a, b)
    }
}

fn m1(round: usize) -> Msg {
    let r = round.to_string();
    msg(&["m1", "", &r, "tail", ""])
}

fn m2(round: usize) -> Msg {
    let r = round.to_string();
    msg(&["", "m2", &r, ""])
}

fn assert_msg(got: &Msg, want: &Msg, what: &str) {
    assert_eq!(got, want, "{what}: wrong message");
}

/// Runs the pattern's exchange between `a` (first type) and `b` (second type), which are
/// connected (or connecting).
pub async fn exchange<D: Driver>(pat: Pattern, a: &Peer<D>, b: &Peer<D>) {
    const ROUNDS: usize = 3;
    match pat {
        Pattern::ReqRep => {
            for r in 0..ROUNDS {
                a.send(m1(r)).await;
                assert_msg(&b.recv().await, &m1(r), "REP got");
                b.send(m2(r)).await;
                assert_msg(&a.recv().await, &m2(r), "REQ got");
            }
        }
        Pattern::ReqRouter => {
            for r in 0..ROUNDS {
                a.send(m1(r)).await;
                let mut got = b.recv().await;
                let id = got.pop_front().expect("identity frame");
                assert_msg(
                    &got,
                    &prefixed(&[b""], &m1(r)),
                    "ROUTER got (after identity)",
                );
                b.send(prefixed(&[&id, b""], &m2(r))).await;
                assert_msg(&a.recv().await, &m2(r), "REQ got");
            }
        }
        Pattern::DealerRep => {
            for r in 0..ROUNDS {
                a.send(prefixed(&[b""], &m1(r))).await;
                assert_msg(&b.recv().await, &m1(r), "REP got");
                b.send(m2(r)).await;
                assert_msg(&a.recv().await, &prefixed(&[b""], &m2(r)), "DEALER got");
            }
        }
        Pattern::DealerRouter => {
            for r in 0..ROUNDS {
                a.send(m1(r)).await;
                let mut got = b.recv().await;
                let id = got.pop_front().expect("identity frame");
                assert_msg(&got, &m1(r), "ROUTER got (after identity)");
                b.send(prefixed(&[&id], &m2(r))).await;
                assert_msg(&a.recv().await, &m2(r), "DEALER got");
            }
        }
        Pattern::DealerDealer | Pattern::Pair => {
            for r in 0..ROUNDS {
                a.send(m1(r)).await;
                assert_msg(&b.recv().await, &m1(r), "B got");
                b.send(m2(r)).await;
                assert_msg(&a.recv().await, &m2(r), "A got");
            }
        }
        Pattern::RouterRouter => {
            // A ROUTER drops what it cannot route yet: probe until the connection is up.
            probe_until_delivered(a, b, |p| prefixed(&[b"router-b"], &p)).await;
            for r in 0..ROUNDS {
                a.send(prefixed(&[b"router-b"], &m1(r))).await;
                assert_msg(
                    &b.recv().await,
                    &prefixed(&[b"router-a"], &m1(r)),
                    "ROUTER B got",
                );
                b.send(prefixed(&[b"router-a"], &m2(r))).await;
                assert_msg(
                    &a.recv().await,
                    &prefixed(&[b"router-b"], &m2(r)),
                    "ROUTER A got",
                );
            }
        }
        Pattern::PubSub | Pattern::PubXSub | Pattern::XPubSub | Pattern::XPubXSub => {
            b.subscribe(b"").await;
            if a.socket_type() == SocketType::XPub {
                // S4: the subscription reaches the XPUB application as `0x01 topic`.
                assert_msg(
                    &xpub_notice(a, b).await,
                    &Msg::from(&b"\x01"[..]),
                    "XPUB notice",
                );
            }
            // Subscriptions travel asynchronously (even after XPUB saw one, other
            // implementations may lag): probe until the first message gets through.
            probe_until_delivered(a, b, |p| p).await;
            for r in 0..ROUNDS {
                let m = prefixed(&[b"topic"], &m2(r));
                a.send(m.clone()).await;
                assert_msg(&b.recv().await, &m, "subscriber got");
            }
        }
        Pattern::PushPull => {
            for r in 0..ROUNDS {
                a.send(m1(r)).await;
                a.send(m2(r)).await;
            }
            for r in 0..ROUNDS {
                assert_msg(&b.recv().await, &m1(r), "PULL got");
                assert_msg(&b.recv().await, &m2(r), "PULL got");
            }
        }
    }
}

/// Waits for the first message on XPUB `a` while poking subscriber `b`: a bound libzmq SUB
/// attaches a new connection (and sends its subscriptions) only when its application calls
/// into it (libzmq issue #2267), so a receive with a 1 ms timeout is made on `b` meanwhile.
async fn xpub_notice<D: Driver>(a: &Peer<D>, b: &Peer<D>) -> Msg {
    for _ in 0..100 {
        if let Some(m) = a.recv_timeout(Duration::from_millis(100)).await {
            return m;
        }
        let early = b.recv_timeout(Duration::from_millis(1)).await;
        assert!(early.is_none(), "nothing was published yet, got {early:?}");
    }
    panic!("{}: no subscription reached the XPUB in 10 s", D::NAME);
}

/// Sends `wrap(probe)` from `a` every 100 ms until `b` receives one, then swallows any
/// further probes still in flight.
async fn probe_until_delivered<D: Driver>(a: &Peer<D>, b: &Peer<D>, wrap: impl Fn(Msg) -> Msg) {
    for _ in 0..100 {
        a.send(wrap(msg(&["probe"]))).await;
        if let Some(got) = b.recv_timeout(Duration::from_millis(100)).await {
            assert!(
                got.last().is_some_and(|f| &f[..] == b"probe"),
                "expected a probe, got {got:?}"
            );
            // Late copies of the probe.
            for extra in b.drain(Duration::from_millis(50)).await {
                assert!(
                    extra.last().is_some_and(|f| &f[..] == b"probe"),
                    "expected only probes, got {extra:?}"
                );
            }
            return;
        }
    }
    panic!("{}: no probe got through in 10 s", D::NAME);
}

/// The whole matrix for one pattern and one peer kind: our socket as either type (for a
/// peer of our own kind, as both), either side binding, TCP and IPC.
pub async fn matrix<D: Driver>(pat: Pattern, kind: PeerKind) {
    let (ta, tb) = pat.types();
    let (oa, ob) = pat.options();
    for transport in Transport::ALL {
        let ours_sides: &[bool] = if kind == PeerKind::Ours {
            &[true]
        } else {
            &[true, false]
        };
        for &ours_is_a in ours_sides {
            for a_binds in [true, false] {
                eprintln!(
                    "-- {pat:?} over {transport:?}: ours is {}, peer is {kind}, {} binds",
                    if ours_is_a { ta } else { tb },
                    if a_binds { ta } else { tb },
                );
                let dir = TempDir::new();
                let (ka, kb) = if ours_is_a {
                    (PeerKind::Ours, kind)
                } else {
                    (kind, PeerKind::Ours)
                };
                let a = Peer::<D>::with(ka, ta, &oa);
                let b = Peer::<D>::with(kb, tb, &ob);
                let (binder, connecter) = if a_binds { (&a, &b) } else { (&b, &a) };
                let ep = binder
                    .bind(&bind_endpoint(transport, &dir, "pair.sock"))
                    .await;
                connecter.connect(&ep).await;
                exchange(pat, &a, &b).await;
                a.close().await;
                b.close().await;
            }
        }
    }
}

macro_rules! pattern_cases {
    ($($pat:ident: $ours:ident, $libzmq:ident $(, $zmqrs:ident)?;)*) => {
        $(
            #[doc = concat!("`", stringify!($pat), "` against our own sockets.")]
            pub async fn $ours<D: Driver>() {
                matrix::<D>(Pattern::$pat, PeerKind::Ours).await;
            }
            #[doc = concat!("`", stringify!($pat), "` against libzmq.")]
            pub async fn $libzmq<D: Driver>() {
                matrix::<D>(Pattern::$pat, PeerKind::Libzmq).await;
            }
            $(
                #[doc = concat!("`", stringify!($pat), "` against zmq.rs.")]
                pub async fn $zmqrs<D: Driver>() {
                    matrix::<D>(Pattern::$pat, PeerKind::ZmqRs).await;
                }
            )?
        )*
    };
}

pattern_cases! {
    ReqRep: reqrep_ours, reqrep_libzmq, reqrep_zmqrs;
    ReqRouter: req_router_ours, req_router_libzmq, req_router_zmqrs;
    DealerRep: dealer_rep_ours, dealer_rep_libzmq, dealer_rep_zmqrs;
    DealerRouter: dealer_router_ours, dealer_router_libzmq, dealer_router_zmqrs;
    DealerDealer: dealer_dealer_ours, dealer_dealer_libzmq, dealer_dealer_zmqrs;
    RouterRouter: router_router_ours, router_router_libzmq, router_router_zmqrs;
    PubSub: pub_sub_ours, pub_sub_libzmq, pub_sub_zmqrs;
    PubXSub: pub_xsub_ours, pub_xsub_libzmq, pub_xsub_zmqrs;
    XPubSub: xpub_sub_ours, xpub_sub_libzmq, xpub_sub_zmqrs;
    XPubXSub: xpub_xsub_ours, xpub_xsub_libzmq, xpub_xsub_zmqrs;
    PushPull: push_pull_ours, push_pull_libzmq, push_pull_zmqrs;
    Pair: pair_ours, pair_libzmq;
}
