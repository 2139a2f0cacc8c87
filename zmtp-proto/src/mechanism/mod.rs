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
mod plain;

pub use null::Null;
pub use plain::{PlainClient, PlainCredentials, PlainServer, PlainUsers, USER_ID};

use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::greeting::PeerGreeting;
use crate::metadata::Metadata;

/// Which mechanism a connection uses, with its settings.
///
/// libzmq's `ZMQ_PLAIN_USERNAME` + `ZMQ_PLAIN_PASSWORD` make a [`MechanismConfig::PlainClient`],
/// `ZMQ_PLAIN_SERVER` a [`MechanismConfig::PlainServer`] (whose users a ZAP handler would check
/// in libzmq; here they are a [`PlainUsers`] list).
///
/// ```
/// use zmtp_proto::mechanism::{PlainCredentials, PlainUsers};
/// use zmtp_proto::MechanismConfig;
///
/// assert_eq!(MechanismConfig::default().name(), "NULL");
/// let client = MechanismConfig::PlainClient(PlainCredentials::new("admin", "secret").unwrap());
/// let server = MechanismConfig::PlainServer(PlainUsers::new([("admin", "secret")]));
/// assert_eq!((client.name(), client.as_server()), ("PLAIN", false));
/// assert_eq!((server.name(), server.as_server()), ("PLAIN", true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismConfig {
    /// No security (RFC 23 "The NULL Security Mechanism").
    #[default]
    Null,
    /// PLAIN client (RFC 24): presents a user name and password, in clear text.
    PlainClient(PlainCredentials),
    /// PLAIN server (RFC 24): lets in the clients whose credentials `PlainUsers` accepts.
    PlainServer(PlainUsers),
}

impl MechanismConfig {
    /// The mechanism name as sent in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::PlainClient(_) | Self::PlainServer(_) => "PLAIN",
        }
    }

    /// Whether the greeting's as-server byte is set for this configuration.
    pub fn as_server(&self) -> bool {
        matches!(self, Self::PlainServer(_))
    }

    pub(crate) fn build(&self) -> Mechanism {
        match self {
            Self::Null => Mechanism::Null(Null::new()),
            Self::PlainClient(c) => Mechanism::PlainClient(PlainClient::new(c.clone())),
            Self::PlainServer(u) => Mechanism::PlainServer(PlainServer::new(u.clone())),
        }
    }
}

/// A running mechanism.
#[derive(Debug)]
pub(crate) enum Mechanism {
    /// NULL.
    Null(Null),
    /// PLAIN, client side.
    PlainClient(PlainClient),
    /// PLAIN, server side.
    PlainServer(PlainServer),
}

impl Mechanism {
    /// Checks the peer's greeting against our mechanism (checklist G1, N1).
    pub(crate) fn check_greeting(&self, peer: &PeerGreeting) -> Result<(), Error> {
        let ours = match self {
            Self::Null(_) => "NULL",
            Self::PlainClient(_) | Self::PlainServer(_) => "PLAIN",
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
        // P1: with PLAIN the peer's as-server byte is not checked, because libzmq takes its
        // role from its own options and does not set it (checklist §1.1). Two clients fail on
        // the unexpected HELLO; two servers wait for the handshake timeout.
        Ok(())
    }

    /// Called once the greeting exchange is complete: writes the first handshake commands.
    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        match self {
            Self::Null(m) => m.start(ours, out),
            Self::PlainClient(m) => m.start(ours, out),
            Self::PlainServer(m) => m.start(ours, out),
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
            Self::PlainClient(m) => m.handle_command(body, out),
            Self::PlainServer(m) => m.handle_command(body, out),
        }
    }

    /// True if frames would be transformed (encrypted) after the handshake. NULL and PLAIN
    /// never are, and no mechanism that does exists yet: the connection does not route frames
    /// through a mechanism after the handshake (it asserts this is false). CURVE will.
    pub(crate) fn encrypts(&self) -> bool {
        match self {
            Self::Null(_) | Self::PlainClient(_) | Self::PlainServer(_) => false,
        }
    }
}
