//! DEALER, PUSH, PULL and PAIR: round-robin out, fair-queued in (RFC 28 DEALER, RFC 30
//! PUSH/PULL, RFC 31 PAIR).
//!
//! These types never drop: when every peer is at its high-water mark (or there is no peer yet),
//! `send` reports [`Error::WouldBlock`] and hands the message back. PAIR is the same with at
//! most one peer.

use super::core::Core;
use super::transfer::Outgoing;
use super::PeerId;
use crate::error::Error;

/// Sends to the next peer in round-robin order that has room (checklist §1.12: DEALER, PUSH,
/// PAIR block rather than drop). The message is taken in place: left empty once queued,
/// untouched on [`Error::WouldBlock`].
pub(crate) fn send_round_robin(core: &mut Core, msg: impl Outgoing) -> Result<(), Error> {
    core.send_round_robin(msg).map_err(|_| Error::WouldBlock)
}

/// PAIR takes at most one peer: a second one is refused (RFC 31).
pub(crate) fn pair_on_active(core: &mut Core, id: PeerId) -> Result<(), Error> {
    let other_active = core
        .peer_ids()
        .any(|other| other != id && core.peer(other).is_some_and(|p| p.info.is_some()));
    if other_active {
        Err(Error::PeerRefused("PAIR socket already has a peer"))
    } else {
        Ok(())
    }
}
