//! The in-process transport (`inproc://`): every compatible pair of socket types, bind before
//! connect and connect before bind, same task, other threads (each with a runtime of its own,
//! compio's thread-per-core runtimes included); high-water marks (blocking and dropping, the
//! sum of both sides' marks), disconnect and unbind, close with messages queued, cancel
//! safety, PUB/SUB filtering, ROUTER identities, the monitor, and the names' registry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::cases::pairs::{exchange, Pattern};
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{msg, timeout};
use crate::{Driver, Msg, SocketOptions, SocketType};

/// A name no other case of this process uses.
pub fn inproc_endpoint(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://{tag}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

const PATTERNS: [Pattern; 12] = [
    Pattern::ReqRep,
    Pattern::ReqRouter,
    Pattern::DealerRep,
    Pattern::DealerRouter,
    Pattern::DealerDealer,
    Pattern::RouterRouter,
    Pattern::PubSub,
    Pattern::PubXSub,
    Pattern::XPubSub,
    Pattern::XPubXSub,
    Pattern::PushPull,
    Pattern::Pair,
];

fn pattern_options(pat: Pattern) -> (PeerOptions, PeerOptions) {
    let mut a = PeerOptions::default();
    let mut b = PeerOptions::default();
    if pat == Pattern::RouterRouter {
        a.routing_id = Some(bytes::Bytes::from_static(b"router-a"));
        b.routing_id = Some(bytes::Bytes::from_static(b"router-b"));
    }
    (a, b)
}

/// Every compatible pair on one task: either side binding, bind before connect and connect
/// before bind (the pattern's exchange of multipart messages with empty frames, as over tcp).
pub async fn inproc_pairs_same_task<D: Driver>() {
    for pat in PATTERNS {
        let (ta, tb) = pat.types();
        let (oa, ob) = pattern_options(pat);
        for a_binds in [true, false] {
            for bind_first in [true, false] {
                eprintln!("-- {pat:?} over inproc: a binds {a_binds}, bind first {bind_first}");
                let a = Peer::<D>::with(PeerKind::Ours, ta, &oa);
                let b = Peer::<D>::with(PeerKind::Ours, tb, &ob);
                let (binder, connecter) = if a_binds { (&a, &b) } else { (&b, &a) };
                let ep = inproc_endpoint("pairs");
                if bind_first {
                    assert_eq!(binder.bind(&ep).await, ep);
                    connecter.connect(&ep).await;
                } else {
                    connecter.connect(&ep).await;
                    assert_eq!(binder.bind(&ep).await, ep);
                }
                exchange(pat, &a, &b).await;
                a.close().await;
                b.close().await;
            }
        }
    }
}
