//! Socket types and their compatibility table (RFC 37 "Socket-Type", checklist §1.7).

/// A ZeroMQ socket type, as announced in the `Socket-Type` metadata property.
///
/// ```
/// use zmtp_proto::SocketType;
///
/// assert!(SocketType::Req.is_compatible(SocketType::Router));
/// assert!(!SocketType::Req.is_compatible(SocketType::Req));
/// assert_eq!(SocketType::from_name(b"DEALER"), Some(SocketType::Dealer));
/// assert_eq!(SocketType::Pub.as_str(), "PUB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Requester.
    Req,
    /// Replier.
    Rep,
    /// Asynchronous requester.
    Dealer,
    /// Asynchronous replier with identities.
    Router,
    /// Pipeline sink.
    Pull,
    /// Pipeline source.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends subscriptions as messages.
    XSub,
    /// Raw TCP peers (`ZMQ_STREAM`): no greeting, no framing; each chunk read arrives as
    /// `[routing id, data]`. It speaks no ZMTP, so it is never announced in metadata, is not
    /// among [`SocketType::ALL`] and is compatible with no ZMTP type (see
    /// `socket/raw_peers.rs`).
    Stream,
}

impl SocketType {
    /// All eleven standard socket types.
    pub const ALL: [Self; 11] = [
        Self::Pair,
        Self::Pub,
        Self::Sub,
        Self::Req,
        Self::Rep,
        Self::Dealer,
        Self::Router,
        Self::Pull,
        Self::Push,
        Self::XPub,
        Self::XSub,
    ];

    /// The canonical name sent in `Socket-Type` (upper case, as libzmq sends and compares).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
            Self::Pull => "PULL",
            Self::Push => "PUSH",
            Self::XPub => "XPUB",
            Self::XSub => "XSUB",
            Self::Stream => "STREAM",
        }
    }

    /// Parses a `Socket-Type` value. Matching is exact, like libzmq (`check_socket_type`).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// Whether a peer of type `peer` may talk to a socket of this type (RFC 37 table).
    pub fn is_compatible(self, peer: Self) -> bool {
        use SocketType::*;
        match self {
            Req => matches!(peer, Rep | Router),
            Rep => matches!(peer, Req | Dealer),
            Dealer => matches!(peer, Rep | Dealer | Router),
            Router => matches!(peer, Req | Dealer | Router),
            Pub | XPub => matches!(peer, Sub | XSub),
            Sub | XSub => matches!(peer, Pub | XPub),
            Push => peer == Pull,
            Pull => peer == Push,
            Pair => peer == Pair,
            // No handshake: a STREAM socket's peers are raw byte streams, never ZMTP sockets.
            Stream => false,
        }
    }

    /// Whether this type sends the `Identity` property in READY (libzmq: REQ, DEALER, ROUTER).
    pub fn sends_identity(self) -> bool {
        matches!(self, Self::Req | Self::Dealer | Self::Router)
    }

    /// Whether this type sends subscriptions upstream (SUB, XSUB).
    pub fn is_subscriber(self) -> bool {
        matches!(self, Self::Sub | Self::XSub)
    }

    /// Whether this type talks to raw byte streams instead of ZMTP peers (STREAM).
    ///
    /// ```
    /// use zmtp_proto::SocketType;
    /// assert!(SocketType::Stream.is_raw());
    /// assert_eq!(SocketType::from_name(b"STREAM"), None); // never announced by a ZMTP peer
    /// assert_eq!("stream".parse::<SocketType>(), Ok(SocketType::Stream));
    /// ```
    pub fn is_raw(self) -> bool {
        self == Self::Stream
    }

    /// Whether this type filters by subscriptions on send (PUB, XPUB).
    pub fn is_publisher(self) -> bool {
        matches!(self, Self::Pub | Self::XPub)
    }
}

impl std::fmt::Display for SocketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SocketType {
    type Err = String;
    /// Parses a socket type name, case-insensitively (`"req"`, `"ROUTER"`, `"stream"`).
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.to_ascii_uppercase();
        if upper == "STREAM" {
            return Ok(Self::Stream);
        }
        Self::from_name(upper.as_bytes()).ok_or_else(|| format!("unknown socket type {s:?}"))
    }
}
