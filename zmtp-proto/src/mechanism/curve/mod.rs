//! The CURVE mechanism (RFC 25 CurveZMQ, RFC 26 ZMTP-CURVE; checklist §1.9).
//!
//! A client knows the server's long-term public key S beforehand; both sides make transient
//! key pairs for each connection, so a long-term secret key that leaks later does not reveal
//! past traffic. After the handshake every frame is encrypted ([`cipher`]).
//!
//! Randomness comes in from outside, as time does: a connection is built with 32 bytes of
//! entropy from the driver ([`Connection::with_entropy`](crate::Connection::with_entropy)),
//! which seed an XSalsa20 keystream for its transient keys, cookie key and nonces (zeroed with
//! the connection). A CURVE
//! connection built without entropy fails at once rather than use predictable keys.
//!
//! ```
//! use zmtp_proto::{CurveClientConfig, CurveClients, CurveKeyPair, CurveServerConfig};
//! use zmtp_proto::{MechanismConfig, SocketType};
//! # use zmtp_proto::CurveSecretKey;
//!
//! // Long-term keys: CurveKeyPair::generate(&mut rand::rngs::OsRng) in real code.
//! let server = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([1; 32]));
//! let client = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([2; 32]));
//! let server_config = MechanismConfig::CurveServer(CurveServerConfig::new(
//!     server.clone(),
//!     CurveClients::only([*client.public()]),
//! ));
//! let client_config =
//!     MechanismConfig::CurveClient(CurveClientConfig::new(*server.public(), client));
//! assert_eq!((server_config.name(), server_config.as_server()), ("CURVE", true));
//! assert_eq!((client_config.name(), client_config.as_server()), ("CURVE", false));
//! ```

pub(crate) mod cipher;
mod client;
pub(crate) mod crypto;
mod keys;
mod server;

use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) use cipher::CurveCipher;
pub(crate) use client::CurveClient;
use keys::KEY_LEN;
pub use keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey};
pub(crate) use server::CurveServer;

/// HELLO's body, name included.
const HELLO_LEN: usize = 200;
/// WELCOME's body, name included.
const WELCOME_LEN: usize = 168;
/// A cookie: a 16-byte nonce and a box of C' and s'.
const COOKIE_LEN: usize = 96;
/// The ERROR reason sent to a client whose key is refused (ZAP status code 400, as libzmq).
const REFUSED: &[u8] = b"400";

use super::peer_error;

/// A CURVE client's settings: the server's public key (`ZMQ_CURVE_SERVERKEY`) and the
/// client's own long-term pair (`ZMQ_CURVE_PUBLICKEY` + `ZMQ_CURVE_SECRETKEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct CurveClientConfig {
    server_key: CurvePublicKey,
    keys: CurveKeyPair,
}

impl CurveClientConfig {
    /// A client that talks to the server whose public key is `server_key`, as `keys`.
    pub fn new(server_key: CurvePublicKey, keys: CurveKeyPair) -> Self {
        Self { server_key, keys }
    }

    /// The server's public key.
    pub fn server_key(&self) -> &CurvePublicKey {
        &self.server_key
    }

    /// The client's long-term key pair.
    pub fn keys(&self) -> &CurveKeyPair {
        &self.keys
    }
}

impl std::fmt::Debug for CurveClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClientConfig")
            .field("server_key", &self.server_key)
            .field("keys", &self.keys)
            .finish()
    }
}

/// A CURVE server's settings (`ZMQ_CURVE_SERVER` with `ZMQ_CURVE_SECRETKEY`): its long-term
/// pair and the clients it lets in.
#[derive(Clone, PartialEq, Eq)]
pub struct CurveServerConfig {
    keys: CurveKeyPair,
    clients: CurveClients,
}

impl CurveServerConfig {
    /// A server with long-term pair `keys` that lets in `clients`.
    pub fn new(keys: CurveKeyPair, clients: CurveClients) -> Self {
        Self { keys, clients }
    }

    /// The server's long-term key pair.
    pub fn keys(&self) -> &CurveKeyPair {
        &self.keys
    }

    /// Whom the server lets in.
    pub fn clients(&self) -> &CurveClients {
        &self.clients
    }
}

impl std::fmt::Debug for CurveServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServerConfig")
            .field("keys", &self.keys)
            .field("clients", &self.clients)
            .finish()
    }
}

/// Which clients a CURVE server lets in, by long-term public key.
///
/// [`CurveClients::any`] (the default) is libzmq's behaviour without a ZAP handler: any client
/// that knows the server's public key gets in, and the traffic is encrypted all the same. An
/// allow list or a check of your own plays the ZAP handler's part. A refused client gets ERROR
/// `400`, as libzmq's ZAP refusal sends.
///
/// ```
/// use zmtp_proto::{CurveClients, CurvePublicKey};
///
/// let alice = CurvePublicKey::from_bytes([1; 32]);
/// let bob = CurvePublicKey::from_bytes([2; 32]);
/// assert!(CurveClients::any().accepts(&bob));
/// let only_alice = CurveClients::only([alice]);
/// assert!(only_alice.accepts(&alice) && !only_alice.accepts(&bob));
/// let check = CurveClients::from_fn(move |key| key == &bob);
/// assert!(check.accepts(&bob) && !check.accepts(&alice));
/// ```
#[derive(Clone, Default)]
pub struct CurveClients(Clients);

type Check = Arc<dyn Fn(&CurvePublicKey) -> bool + Send + Sync>;

#[derive(Clone, Default)]
enum Clients {
    #[default]
    Any,
    Only(Arc<BTreeSet<[u8; KEY_LEN]>>),
    Check(Check),
}

impl CurveClients {
    /// Any client that knows the server's public key (libzmq without ZAP).
    pub fn any() -> Self {
        Self(Clients::Any)
    }

    /// Only the clients with these public keys (`zmtp cat --allow-curve`).
    pub fn only(keys: impl IntoIterator<Item = CurvePublicKey>) -> Self {
        Self(Clients::Only(Arc::new(
            keys.into_iter().map(|k| *k.as_bytes()).collect(),
        )))
    }

    /// Whoever `check(client key)` accepts. It runs inside the handshake, on the socket's
    /// driver, so it must not block.
    pub fn from_fn(check: impl Fn(&CurvePublicKey) -> bool + Send + Sync + 'static) -> Self {
        Self(Clients::Check(Arc::new(check)))
    }

    /// Whether the client whose long-term key is `key` may connect. A list is searched with
    /// constant-time comparisons.
    pub fn accepts(&self, key: &CurvePublicKey) -> bool {
        match &self.0 {
            Clients::Any => true,
            Clients::Only(keys) => keys
                .iter()
                .fold(false, |found, k| found | key.ct_eq_bytes(k)),
            Clients::Check(check) => check(key),
        }
    }
}

/// Lists compare by content, checks by identity.
impl PartialEq for CurveClients {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Clients::Any, Clients::Any) => true,
            (Clients::Only(a), Clients::Only(b)) => a == b,
            (Clients::Check(a), Clients::Check(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for CurveClients {}

impl std::fmt::Debug for CurveClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Clients::Any => f.write_str("CurveClients::any()"),
            Clients::Only(keys) => f
                .debug_set()
                .entries(keys.iter().map(|k| CurvePublicKey::from_bytes(*k)))
                .finish(),
            Clients::Check(_) => f.write_str("CurveClients::from_fn(..)"),
        }
    }
}
