//! Security mechanisms (RFC 23/37 "Security", checklist §1.5, §1.8, §1.9).
//!
//! A mechanism owns the handshake that follows the greeting and, for CURVE, the per-frame
//! transform after it. The connection is generic over the mechanism through the [`Mechanism`]
//! enum: adding one means adding a variant and its module.
//!
//! NULL and PLAIN do not transform frames, so their frame path stays zero-copy. A CURVE
//! handshake ends by handing the connection a [`CurveCipher`] ([`Mechanism::take_cipher`]),
//! through which the connection then routes every frame, both ways.

pub(crate) mod curve;
mod null;
mod plain;

pub use curve::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig,
};
pub(crate) use null::Null;
pub(crate) use plain::{PlainClient, PlainServer};
pub use plain::{PlainCredentials, PlainUsers, USER_ID};

use curve::{CurveCipher, CurveClient, CurveServer};

use bytes::{Bytes, BytesMut};

use crate::command::Command;
use crate::error::Error;
use crate::greeting::PeerGreeting;
use crate::metadata::Metadata;

/// Which mechanism a connection uses, with its settings.
///
/// libzmq's `ZMQ_PLAIN_USERNAME` + `ZMQ_PLAIN_PASSWORD` make a [`MechanismConfig::PlainClient`],
/// `ZMQ_PLAIN_SERVER` a [`MechanismConfig::PlainServer`] (whose users a ZAP handler would check
/// in libzmq; here they are a [`PlainUsers`] list). `ZMQ_CURVE_SERVERKEY` with the client's key
/// pair makes a [`MechanismConfig::CurveClient`], `ZMQ_CURVE_SERVER` a
/// [`MechanismConfig::CurveServer`].
///
/// ```
/// use zmtp_proto::{PlainCredentials, PlainUsers};
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
    /// CURVE client (RFC 26): encrypts everything, authenticates the server by its key.
    CurveClient(CurveClientConfig),
    /// CURVE server (RFC 26): encrypts everything, lets in the clients `CurveClients` accepts.
    CurveServer(CurveServerConfig),
}

impl MechanismConfig {
    /// The mechanism name as sent in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::PlainClient(_) | Self::PlainServer(_) => "PLAIN",
            Self::CurveClient(_) | Self::CurveServer(_) => "CURVE",
        }
    }

    /// Whether the greeting's as-server byte is set for this configuration.
    pub fn as_server(&self) -> bool {
        matches!(self, Self::PlainServer(_) | Self::CurveServer(_))
    }

    /// Whether a connection with this mechanism needs entropy (CURVE's transient keys).
    pub fn needs_entropy(&self) -> bool {
        matches!(self, Self::CurveClient(_) | Self::CurveServer(_))
    }

    /// The running mechanism; `entropy` seeds CURVE's generator, which refuses to start
    /// without it.
    pub(crate) fn build(&self, entropy: Option<[u8; 32]>) -> Result<Mechanism, Error> {
        let rng = || {
            entropy
                .as_ref()
                .map(curve::crypto::Keystream::new)
                .ok_or(Error::InvalidOption(
                    "CURVE needs 32 bytes of entropy per connection (Connection::with_entropy, \
                 Socket::seed_rng)",
                ))
        };
        Ok(match self {
            Self::Null => Mechanism::Null(Null::new()),
            Self::PlainClient(c) => Mechanism::PlainClient(PlainClient::new(c.clone())),
            Self::PlainServer(u) => Mechanism::PlainServer(PlainServer::new(u.clone())),
            Self::CurveClient(c) => {
                Mechanism::CurveClient(Box::new(CurveClient::new(c.clone(), rng()?)))
            }
            Self::CurveServer(c) => {
                Mechanism::CurveServer(Box::new(CurveServer::new(c.clone(), rng()?)))
            }
        })
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
    /// CURVE, client side.
    CurveClient(Box<CurveClient>),
    /// CURVE, server side.
    CurveServer(Box<CurveServer>),
}

impl Mechanism {
    /// Checks the peer's greeting against our mechanism (checklist G1, N1).
    pub(crate) fn check_greeting(&self, peer: &PeerGreeting) -> Result<(), Error> {
        let ours = match self {
            Self::Null(_) => "NULL",
            Self::PlainClient(_) | Self::PlainServer(_) => "PLAIN",
            Self::CurveClient(_) | Self::CurveServer(_) => "CURVE",
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
        // P1: with PLAIN (and CURVE) the peer's as-server byte is not checked, because libzmq takes its
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
            Self::CurveClient(m) => m.start(ours, out),
            Self::CurveServer(m) => m.start(ours, out),
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
            Self::CurveClient(m) => m.handle_command(body, out),
            Self::CurveServer(m) => m.handle_command(body, out),
        }
    }

    /// The frame transform for after the handshake: `Some` once, when a CURVE handshake has
    /// just completed; NULL and PLAIN never transform frames.
    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        match self {
            Self::Null(_) | Self::PlainClient(_) | Self::PlainServer(_) => None,
            Self::CurveClient(m) => m.take_cipher(),
            Self::CurveServer(m) => m.take_cipher(),
        }
    }
}

/// The error an ERROR command from the peer during the handshake stands for.
pub(crate) fn peer_error(body: &Bytes) -> Error {
    match Command::parse(body) {
        Ok(Command::Error(reason)) => Error::from_peer_reason(&reason),
        Ok(_) => Error::MalformedCommand("ERROR"),
        Err(e) => e,
    }
}
