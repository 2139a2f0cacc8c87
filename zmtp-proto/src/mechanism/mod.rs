//! Security mechanisms (RFC 23/37 "Security", checklist §1.5, §1.8, §1.9).
//!
//! A mechanism owns the handshake that follows the greeting and, for mechanisms that encrypt
//! (CURVE), the per-frame transform after it. The connection is generic over the mechanism
//! through the [`Mechanism`] enum: adding PLAIN or CURVE means adding a variant and its module;
//! the connection's handshake loop and frame path do not change.
//!
//! NULL does not transform frames, so the frame path stays zero-copy; a transforming mechanism
//! reports [`Mechanism::encrypts`] and the connection routes every frame through it.

mod null;

pub use null::Null;

use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::greeting::PeerGreeting;
use crate::metadata::Metadata;

/// Which mechanism a connection uses, with its settings.
///
/// ```
/// use zmtp_proto::MechanismConfig;
/// assert_eq!(MechanismConfig::default().name(), "NULL");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismConfig {
    /// No security (RFC 23 "The NULL Security Mechanism").
    #[default]
    Null,
}

impl MechanismConfig {
    /// The mechanism name as sent in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
        }
    }

    /// Whether the greeting's as-server byte is set for this configuration.
    pub fn as_server(&self) -> bool {
        match self {
            Self::Null => false,
        }
    }

    pub(crate) fn build(&self) -> Mechanism {
        match self {
            Self::Null => Mechanism::Null(Null::new()),
        }
    }
}

/// A running mechanism.
#[derive(Debug)]
pub(crate) enum Mechanism {
    /// NULL.
    Null(Null),
}

impl Mechanism {
    /// Checks the peer's greeting against our mechanism (checklist G1, N1).
    pub(crate) fn check_greeting(&self, peer: &PeerGreeting) -> Result<(), Error> {
        let ours = match self {
            Self::Null(_) => "NULL",
        };
        if peer.mechanism_name() != ours.as_bytes()
            || peer.mechanism[ours.len()..].iter().any(|&b| b != 0)
        {
            return Err(Error::MechanismMismatch {
                ours,
                theirs: String::from_utf8_lossy(peer.mechanism_name()).into_owned(),
            });
        }
        // N1: as-server MUST be 0 with NULL. libzmq never sets it, so this costs no interop.
        if matches!(self, Self::Null(_)) && peer.as_server {
            return Err(Error::BadAsServer);
        }
        Ok(())
    }

    /// Called once the greeting exchange is complete: writes the first handshake commands.
    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        match self {
            Self::Null(m) => m.start(ours, out),
        }
    }

    /// Handles one command received during the handshake. Returns the peer's metadata once the
    /// handshake is complete, `None` while it goes on.
    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        match self {
            Self::Null(m) => m.handle_command(body, out),
        }
    }

    /// True if frames are transformed (encrypted) after the handshake. NULL never is.
    pub(crate) fn encrypts(&self) -> bool {
        match self {
            Self::Null(_) => false,
        }
    }
}
