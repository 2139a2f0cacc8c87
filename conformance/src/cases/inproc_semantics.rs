//! The semantics cases of `semantics.rs` that apply to two sockets of ours, run over
//! `inproc://` instead of tcp (the same code, bound on an in-process name): PUB/SUB filtering
//! (S1–S5), ROUTER identities (R3, M4), a PUB that never blocks on a stalled subscriber
//! (§1.12), and fan-out to four subscribers. (Reconnection after a restart, incompatible types
//! and unbind/disconnect have in-process counterparts in `inproc.rs`.)

use crate::cases::semantics::{
    fan_out, pub_never_blocks, pubsub_filtering, router_identities, Over,
};
use crate::peer::PeerKind;
use crate::Driver;

/// PUB/SUB filtering between our sockets over inproc (S1–S5).
pub async fn pubsub_filtering_inproc<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::Ours, Over::Inproc).await;
}

/// ROUTER identities between our sockets over inproc (R3, M4).
pub async fn router_identities_inproc<D: Driver>() {
    router_identities::<D>(PeerKind::Ours, Over::Inproc).await;
}

/// Our PUB never blocks on a stalled subscriber over inproc, and keeps serving it (§1.12).
pub async fn pub_never_blocks_inproc<D: Driver>() {
    pub_never_blocks::<D>(PeerKind::Ours, Over::Inproc).await;
}

/// PUB fan-out to four of our subscribers over inproc.
pub async fn fan_out_inproc<D: Driver>() {
    fan_out::<D>(PeerKind::Ours, Over::Inproc).await;
}
