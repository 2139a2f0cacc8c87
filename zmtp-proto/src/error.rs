//! Errors.
//!
//! [`Error`] is what a connection (or socket) reports; every variant names the check that failed
//! so that a log line or monitor event says exactly why a peer was dropped. Errors caused by the
//! peer are fatal for that connection and sticky: once a connection has failed, every further
//! input returns the same error.

use crate::socket_type::SocketType;

/// The endpoint call that failed, in an [`Error::Endpoint`] (displayed in lower case:
/// `bind`, `connect`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointOp {
    /// `bind`.
    Bind,
    /// `connect` (the endpoint was refused before any dial).
    Connect,
    /// `unbind`.
    Unbind,
    /// `disconnect`.
    Disconnect,
    /// A dial that `connect` started in the background (reported by the monitor's
    /// `ConnectRetried`).
    Dial,
}

impl std::fmt::Display for EndpointOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bind => "bind",
            Self::Connect => "connect",
            Self::Unbind => "unbind",
            Self::Disconnect => "disconnect",
            Self::Dial => "dial",
        })
    }
}

/// Everything that can go wrong on a ZMTP connection or socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The first or tenth greeting byte is wrong: the peer does not speak ZMTP 3 (or speaks 1.0).
    BadSignature,
    /// The peer announced a ZMTP version older than 3.0.
    UnsupportedVersion {
        /// Major version the peer announced.
        major: u8,
        /// Minor version the peer announced.
        minor: u8,
    },
    /// The peer's mechanism differs from ours (checklist G1).
    MechanismMismatch {
        /// Our mechanism.
        ours: &'static str,
        /// The peer's mechanism, as sent (NUL padding removed, lossy UTF-8).
        theirs: String,
    },
    /// The peer's as-server flag conflicts with the mechanism's rules.
    BadAsServer,
    /// A frame's flags byte has a reserved bit set or MORE set on a command.
    BadFrameFlags(u8),
    /// A frame declared a size of 2^63 or more.
    FrameTooLong(u64),
    /// A message (or one of its frames) is larger than the configured maximum.
    MessageTooLarge {
        /// Size declared or reached.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A message has more frames than the configured maximum.
    TooManyFrames {
        /// Configured maximum.
        max: usize,
    },
    /// A command frame does not follow `name-len name data` or its data does not parse.
    MalformedCommand(&'static str),
    /// The peer sent a command that is not allowed at this point of the handshake.
    UnexpectedCommand(String),
    /// The peer sent a message frame before the handshake completed.
    MessageBeforeHandshake,
    /// READY or INITIATE metadata is malformed.
    MalformedMetadata(&'static str),
    /// The peer did not send a `Socket-Type` property.
    MissingSocketType,
    /// The peer's `Socket-Type` is not one we know.
    UnknownSocketType(String),
    /// The peer's socket type may not talk to ours (RFC 37 table, checklist §1.7).
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's socket type.
        theirs: SocketType,
    },
    /// The peer rejected the handshake with an ERROR command.
    PeerError(String),
    /// The handshake did not finish within `handshake_ivl`.
    HandshakeTimeout,
    /// No traffic arrived within the heartbeat timeout after a PING, or within the peer's TTL.
    HeartbeatTimeout,
    /// A CURVE box did not open, held the wrong keys, or came with a nonce that was not above
    /// the last one (libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC` and `_INVALID_SEQUENCE`).
    Cryptographic(&'static str),
    /// Authentication failed on our side (PLAIN/CURVE credentials refused).
    AuthenticationFailed(String),
    /// The connection was closed.
    Closed,
    /// The socket refused this peer (PAIR already paired, ROUTER identity in use).
    PeerRefused(&'static str),
    /// An option value is out of range (e.g. a PLAIN user name longer than 255 bytes).
    InvalidOption(&'static str),
    /// An operation is not valid in the socket's current state (e.g. REQ sending twice).
    InvalidState(&'static str),
    /// The operation is not supported by this socket type.
    NotSupported(&'static str),
    /// No peer is available to take the message and the socket type does not block.
    Unroutable,
    /// The outgoing queue is full (high-water mark reached); try again later.
    WouldBlock,
    /// No peer can take the message: the socket has none yet (a bound PUSH, DEALER, REQ or
    /// PAIR nobody connected to). Like [`Error::WouldBlock`], its `io::ErrorKind` is
    /// `WouldBlock` (libzmq's `EAGAIN`): a `send` waits for a peer, `try_send` reports this.
    NoPeer,
    /// The socket was closed (`close`, `close_with_linger`, or the process-wide `shutdown` of
    /// `zmtp-async`): every `send` and `recv` waiting on it, and every later one, ends with
    /// this error. libzmq's `ETERM`. Its `io::ErrorKind` is `ConnectionAborted`.
    Terminated,
    /// `bind`, `connect`, `unbind` or `disconnect` failed for `endpoint`, or a dial to it did
    /// (the cause in [`SocketEvent::ConnectRetried`](crate::socket::SocketEvent)). `kind` is
    /// the `io::ErrorKind` the call reports: `AddrInUse`, `AddrNotAvailable` (no such host or
    /// interface to bind), `PermissionDenied`, `InvalidInput` (a malformed endpoint),
    /// `NotFound` (`unbind`/`disconnect` of an endpoint never given; a host name that does
    /// not resolve), `ConnectionRefused`...
    Endpoint {
        /// What was asked.
        operation: EndpointOp,
        /// The endpoint as given.
        endpoint: String,
        /// The kind of failure.
        kind: std::io::ErrorKind,
        /// Why, in words (the operating system's message, or the parser's); boxed to keep the
        /// error small (a refused `send` hands its message back beside it).
        reason: Box<str>,
    },
}

impl Error {
    /// The peer's ERROR command, with its reason as sent (lossy UTF-8).
    pub(crate) fn from_peer_reason(reason: &[u8]) -> Self {
        Self::PeerError(String::from_utf8_lossy(reason).into_owned())
    }

    /// A command named `name` where the handshake allows none of that name.
    pub(crate) fn unexpected_command(name: &[u8]) -> Self {
        Self::UnexpectedCommand(String::from_utf8_lossy(name).into_owned())
    }

    /// True if the error ends the connection (as opposed to a socket-level refusal such as
    /// [`Error::WouldBlock`]).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::InvalidOption(_)
                | Self::InvalidState(_)
                | Self::NotSupported(_)
                | Self::Unroutable
                | Self::WouldBlock
                | Self::NoPeer
                | Self::Terminated
                | Self::Endpoint { .. }
        )
    }

    /// The socket's error inside an `io::Error` that a socket call returned, to match on
    /// (every error a socket call returns carries one).
    ///
    /// ```
    /// use zmtp_proto::Error;
    /// let e = std::io::Error::from(Error::Terminated);
    /// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted);
    /// assert!(matches!(Error::of(&e), Some(Error::Terminated)));
    /// let os = std::io::Error::other("not ours");
    /// assert_eq!(Error::of(&os), None);
    /// ```
    pub fn of(e: &std::io::Error) -> Option<&Self> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Self>())
    }

    /// An endpoint operation's failure from the `io::Error` behind it. An error the standard
    /// library leaves uncategorized (a host name that does not resolve) gets `unresolved` as
    /// its kind, so that a program can tell it apart.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use zmtp_proto::{EndpointOp, Error};
    /// let os = std::io::Error::from(ErrorKind::AddrInUse);
    /// let e = Error::endpoint(EndpointOp::Bind, "tcp://127.0.0.1:5555", &os, ErrorKind::AddrNotAvailable);
    /// assert!(matches!(e, Error::Endpoint { kind: ErrorKind::AddrInUse, .. }));
    /// assert!(e.to_string().starts_with("bind tcp://127.0.0.1:5555: "));
    /// ```
    pub fn endpoint(
        operation: EndpointOp,
        endpoint: &str,
        e: &std::io::Error,
        unresolved: std::io::ErrorKind,
    ) -> Self {
        if let Some(Self::Endpoint { kind, reason, .. }) = Self::of(e) {
            // Already one of ours (a driver's own refusal): keep its kind and words.
            return Self::Endpoint {
                operation,
                endpoint: endpoint.into(),
                kind: *kind,
                reason: reason.clone(),
            };
        }
        let kind = match e.kind() {
            // `Uncategorized` (getaddrinfo's failures) cannot be named on stable Rust.
            k if k == std::io::ErrorKind::Other || format!("{k:?}") == "Uncategorized" => {
                unresolved
            }
            k => k,
        };
        Self::Endpoint {
            operation,
            endpoint: endpoint.into(),
            kind,
            reason: e.to_string().into(),
        }
    }

    /// True if the peer refused us during the handshake (ERROR command or failed
    /// authentication): libzmq does not reconnect with the same credentials after this.
    pub fn is_handshake_refusal(&self) -> bool {
        matches!(self, Self::PeerError(_) | Self::AuthenticationFailed(_))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSignature => write!(f, "bad greeting signature (not a ZMTP 3 peer)"),
            Self::UnsupportedVersion { major, minor } => {
                write!(
                    f,
                    "peer speaks ZMTP {major}.{minor}, at least 3.0 is required"
                )
            }
            Self::MechanismMismatch { ours, theirs } => {
                write!(f, "mechanism mismatch: ours {ours}, peer's {theirs:?}")
            }
            Self::BadAsServer => write!(f, "peer's as-server flag is invalid for the mechanism"),
            Self::BadFrameFlags(b) => write!(f, "invalid frame flags 0x{b:02x}"),
            Self::FrameTooLong(n) => write!(f, "frame size {n} exceeds 2^63-1"),
            Self::MessageTooLarge { size, max } => {
                write!(f, "message of {size} bytes exceeds maxmsgsize {max}")
            }
            Self::TooManyFrames { max } => write!(f, "message has more than {max} frames"),
            Self::MalformedCommand(why) => write!(f, "malformed command: {why}"),
            Self::UnexpectedCommand(name) => write!(f, "unexpected command {name:?}"),
            Self::MessageBeforeHandshake => {
                write!(f, "message frame before the handshake completed")
            }
            Self::MalformedMetadata(why) => write!(f, "malformed metadata: {why}"),
            Self::MissingSocketType => write!(f, "peer sent no Socket-Type"),
            Self::UnknownSocketType(t) => write!(f, "unknown peer socket type {t:?}"),
            Self::IncompatibleSocketType { ours, theirs } => {
                write!(f, "socket type {theirs} may not connect to {ours}")
            }
            Self::PeerError(reason) => write!(f, "peer refused the handshake: {reason:?}"),
            Self::HandshakeTimeout => write!(f, "handshake timed out"),
            Self::HeartbeatTimeout => write!(f, "heartbeat timed out (peer silent)"),
            Self::Cryptographic(why) => write!(f, "CURVE: {why}"),
            Self::AuthenticationFailed(why) => write!(f, "authentication failed: {why}"),
            Self::Closed => write!(f, "connection closed"),
            Self::PeerRefused(why) => write!(f, "peer refused: {why}"),
            Self::InvalidOption(why) => write!(f, "invalid option: {why}"),
            Self::InvalidState(why) => write!(f, "invalid state: {why}"),
            Self::NotSupported(why) => write!(f, "not supported: {why}"),
            Self::Unroutable => write!(f, "no route to peer"),
            Self::WouldBlock => write!(f, "operation would block (high-water mark reached)"),
            Self::NoPeer => write!(f, "no peer to send to (nobody connected yet)"),
            Self::Terminated => write!(f, "the socket was closed (ETERM)"),
            Self::Endpoint {
                operation,
                endpoint,
                reason,
                ..
            } => write!(f, "{operation} {endpoint}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match &e {
            Error::WouldBlock | Error::NoPeer => ErrorKind::WouldBlock,
            Error::Closed | Error::Terminated => ErrorKind::ConnectionAborted,
            Error::HandshakeTimeout | Error::HeartbeatTimeout => ErrorKind::TimedOut,
            // libzmq's EFSM (REQ sending twice) is a misuse of the call, not a missing feature.
            Error::InvalidState(_) => ErrorKind::InvalidInput,
            Error::NotSupported(_) => ErrorKind::Unsupported,
            Error::Endpoint { kind, .. } => *kind,
            Error::InvalidOption(_) => ErrorKind::InvalidInput,
            Error::Unroutable => ErrorKind::NotConnected,
            Error::PeerError(_) | Error::AuthenticationFailed(_) => ErrorKind::PermissionDenied,
            _ => ErrorKind::InvalidData,
        };
        Self::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    /// A refused `send` hands its message back beside the error: the error stays small.
    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<super::Error>() <= 48);
    }
}
