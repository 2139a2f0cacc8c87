//! The PLAIN mechanism (RFC 24 "ZMTP PLAIN", checklist §1.8).
//!
//! Client and server have different roles (P1, P2):
//!
//! ```text
//! C: HELLO user pass   S: WELCOME          (or ERROR: credentials refused)
//! C: INITIATE metadata S: READY metadata   (or ERROR)
//! ```
//!
//! The credentials travel in clear text: PLAIN authenticates, it does not protect (P5). The
//! server checks them against a [`PlainUsers`] list or an application check. A server given no
//! users ([`PlainUsers::none`], the default) refuses every client, as libzmq's PLAIN server
//! does when no ZAP handler is running; letting anyone in takes the explicit
//! [`PlainUsers::insecure_accept_any`]. Parsing follows
//! libzmq's `plain_server.cpp`/`plain_client.cpp`: exact lengths, nothing after the password,
//! an empty WELCOME, and the ERROR reason `400` for refused credentials (a ZAP status code).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::peer_error;
use crate::command::{encode_command_header, split_name, Command};
use crate::error::Error;
use crate::metadata::Metadata;

/// The peer property our PLAIN server adds to a client's metadata: the user name it
/// authenticated (libzmq's `User-Id`, which a ZAP handler returns). A `User-Id` the client
/// sent itself is dropped.
pub const USER_ID: &str = "User-Id";

/// The ERROR reason sent to a client whose credentials are refused (ZAP status code 400).
const REFUSED: &[u8] = b"400";

/// A PLAIN client's credentials: a user name and a password of up to 255 bytes each.
///
/// ```
/// use zmtp_proto::PlainCredentials;
///
/// let c = PlainCredentials::new("admin", "secret").unwrap();
/// assert_eq!(c.username(), &b"admin"[..]);
/// assert!(PlainCredentials::new(vec![b'u'; 256], "p").is_err());
/// // The password never shows in debug output.
/// assert!(!format!("{c:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    username: Bytes,
    password: Bytes,
}

impl PlainCredentials {
    /// Credentials for a PLAIN client. Fails if either part is longer than 255 bytes, the
    /// most HELLO can carry (libzmq's `ZMQ_PLAIN_USERNAME`/`ZMQ_PLAIN_PASSWORD` refuse the same).
    pub fn new(username: impl Into<Bytes>, password: impl Into<Bytes>) -> Result<Self, Error> {
        let (username, password) = (username.into(), password.into());
        if username.len() > 255 || password.len() > 255 {
            return Err(Error::InvalidOption(
                "PLAIN user name and password are at most 255 bytes each",
            ));
        }
        Ok(Self { username, password })
    }

    /// The user name.
    pub fn username(&self) -> &Bytes {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &Bytes {
        &self.password
    }
}

impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("username", &String::from_utf8_lossy(&self.username))
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Whom a PLAIN server lets in: a list of user names with their passwords, a check of your
/// own (a user database, say: the role a ZAP handler plays for libzmq), nobody (the default,
/// as libzmq without a ZAP handler), or, on explicit request, anyone.
///
/// ```
/// use zmtp_proto::PlainUsers;
///
/// let users = PlainUsers::new([("admin", "secret"), ("guest", "")]);
/// assert!(users.accepts(b"admin", b"secret"));
/// assert!(!users.accepts(b"admin", b"guess"));
/// assert!(!users.accepts(b"root", b"secret"));
/// // No users: nobody gets in (libzmq's PLAIN server without a ZAP handler).
/// assert!(!PlainUsers::default().accepts(b"anyone", b"anything"));
/// // Anyone at all only when asked for by name.
/// assert!(PlainUsers::insecure_accept_any().accepts(b"anyone", b"anything"));
///
/// let only_ops = PlainUsers::from_fn(|user, password| {
///     user.starts_with(b"ops-") && password == b"rotate-me"
/// });
/// assert!(only_ops.accepts(b"ops-alice", b"rotate-me"));
/// assert!(!only_ops.accepts(b"dev-bob", b"rotate-me"));
/// ```
#[derive(Clone)]
pub struct PlainUsers(Users);

/// A user check: called with the user name and the password of each client's HELLO.
type Check = Arc<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

#[derive(Clone)]
enum Users {
    Any,
    List(Arc<BTreeMap<Bytes, Bytes>>),
    Check(Check),
}

impl PlainUsers {
    /// Only these `(user name, password)` pairs. An empty list lets nobody in, like
    /// [`PlainUsers::none`].
    ///
    /// ```
    /// use zmtp_proto::PlainUsers;
    ///
    /// let users = PlainUsers::new([("admin", "secret")]);
    /// assert!(users.accepts(b"admin", b"secret"));
    /// assert_eq!(PlainUsers::new(Vec::<(String, String)>::new()), PlainUsers::none());
    /// ```
    pub fn new<U, P>(users: impl IntoIterator<Item = (U, P)>) -> Self
    where
        U: Into<Bytes>,
        P: Into<Bytes>,
    {
        Self(Users::List(Arc::new(
            users
                .into_iter()
                .map(|(u, p)| (u.into(), p.into()))
                .collect(),
        )))
    }

    /// Nobody: every client is refused with ERROR `400`. This is what a libzmq PLAIN server
    /// does when no ZAP handler runs (libzmq 4.3.5 closes the connection after HELLO, without
    /// an ERROR; either way the client's handshake fails), and it is
    /// [`PlainUsers::default`]. Give a list or a check to let anyone in.
    ///
    /// ```
    /// use zmtp_proto::PlainUsers;
    ///
    /// assert!(!PlainUsers::none().accepts(b"admin", b"secret"));
    /// assert!(!PlainUsers::none().accepts(b"", b""));
    /// assert_eq!(PlainUsers::none(), PlainUsers::default());
    /// ```
    pub fn none() -> Self {
        Self(Users::List(Arc::new(BTreeMap::new())))
    }

    /// Any user name and any password: PLAIN then authenticates nobody, and the user name
    /// the server reports as `User-Id` is whatever the client claims. The handshake still
    /// checks the wire format and the socket types. No libzmq setting does this (its PLAIN
    /// server without a ZAP handler refuses everyone, see [`PlainUsers::none`]); use it for
    /// tests, or where the network alone decides who may connect.
    ///
    /// ```
    /// use zmtp_proto::PlainUsers;
    ///
    /// let anyone = PlainUsers::insecure_accept_any();
    /// assert!(anyone.accepts(b"mallory", b"any password at all"));
    /// assert_eq!(format!("{anyone:?}"), "PlainUsers::insecure_accept_any()");
    /// ```
    pub fn insecure_accept_any() -> Self {
        Self(Users::Any)
    }

    /// Whoever `check(user name, password)` accepts. The check runs inside the handshake, on
    /// the socket's driver, so it must not block; compare passwords in constant time.
    ///
    /// ```
    /// use zmtp_proto::PlainUsers;
    ///
    /// let ops = PlainUsers::from_fn(|user, _password| user.starts_with(b"ops-"));
    /// assert!(ops.accepts(b"ops-alice", b""));
    /// assert!(!ops.accepts(b"dev-bob", b""));
    /// ```
    pub fn from_fn(check: impl Fn(&[u8], &[u8]) -> bool + Send + Sync + 'static) -> Self {
        Self(Users::Check(Arc::new(check)))
    }

    /// Whether `username` with `password` may connect. For a list, the password comparison
    /// takes the same time whichever byte differs.
    ///
    /// ```
    /// use zmtp_proto::PlainUsers;
    ///
    /// let users = PlainUsers::new([("guest", "")]);
    /// assert!(users.accepts(b"guest", b""));
    /// assert!(!users.accepts(b"guest", b"x"));
    /// ```
    pub fn accepts(&self, username: &[u8], password: &[u8]) -> bool {
        match &self.0 {
            Users::Any => true,
            Users::List(users) => users
                .get(username)
                .is_some_and(|want| constant_time_eq(want, password)),
            Users::Check(check) => check(username, password),
        }
    }

    /// True if nobody can get in: an empty list.
    fn is_none(&self) -> bool {
        matches!(&self.0, Users::List(users) if users.is_empty())
    }
}

/// Nobody, as [`PlainUsers::none`]: a PLAIN server refuses every client unless told whom to
/// let in, as libzmq's does without a ZAP handler.
///
/// ```
/// use zmtp_proto::PlainUsers;
///
/// assert!(!PlainUsers::default().accepts(b"anyone", b"anything"));
/// ```
impl Default for PlainUsers {
    fn default() -> Self {
        Self::none()
    }
}

/// Lists compare by content, checks by identity (the same `from_fn` value, cloned).
impl PartialEq for PlainUsers {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Users::Any, Users::Any) => true,
            (Users::List(a), Users::List(b)) => a == b,
            (Users::Check(a), Users::Check(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for PlainUsers {}

impl std::fmt::Debug for PlainUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Users::Any => f.write_str("PlainUsers::insecure_accept_any()"),
            Users::List(users) if users.is_empty() => f.write_str("PlainUsers::none()"),
            Users::List(users) => f
                .debug_set()
                .entries(users.keys().map(|u| String::from_utf8_lossy(u)))
                .finish(),
            Users::Check(_) => f.write_str("PlainUsers::from_fn(..)"),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client side of a PLAIN handshake.
#[derive(Debug)]
pub(crate) struct PlainClient {
    credentials: PlainCredentials,
    ours: Metadata,
    state: ClientState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Start,
    WaitWelcome,
    WaitReady,
}

impl PlainClient {
    /// A client handshake that will present `credentials`.
    pub(crate) fn new(credentials: PlainCredentials) -> Self {
        Self {
            credentials,
            ours: Metadata::new(),
            state: ClientState::Start,
        }
    }

    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        let (user, pass) = (
            &self.credentials.username[..],
            &self.credentials.password[..],
        );
        encode_command_header(b"HELLO", 2 + user.len() + pass.len(), out);
        out.put_u8(user.len() as u8);
        out.put_slice(user);
        out.put_u8(pass.len() as u8);
        out.put_slice(pass);
        self.ours = ours.clone();
        self.state = ClientState::WaitWelcome;
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        let (name, data) = split_name(&body)?;
        match (self.state, &name[..]) {
            (_, b"ERROR") => Err(peer_error(&body)),
            (ClientState::WaitWelcome, b"WELCOME") => {
                if !data.is_empty() {
                    return Err(Error::MalformedCommand("WELCOME with a body"));
                }
                encode_command_header(b"INITIATE", self.ours.encoded_len(), out);
                self.ours.encode(out);
                self.state = ClientState::WaitReady;
                Ok(None)
            }
            (ClientState::WaitReady, b"READY") => Ok(Some(Metadata::parse(data)?)),
            _ => Err(Error::unexpected_command(&name)),
        }
    }
}

/// The server side of a PLAIN handshake.
#[derive(Debug)]
pub(crate) struct PlainServer {
    users: PlainUsers,
    ours: Metadata,
    user: Bytes,
    state: ServerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    WaitHello,
    WaitInitiate,
}

impl PlainServer {
    /// A server handshake that lets in `users`.
    pub(crate) fn new(users: PlainUsers) -> Self {
        Self {
            users,
            ours: Metadata::new(),
            user: Bytes::new(),
            state: ServerState::WaitHello,
        }
    }

    pub(crate) fn start(&mut self, ours: &Metadata, _out: &mut BytesMut) {
        // The client speaks first.
        self.ours = ours.clone();
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        let (name, data) = split_name(&body)?;
        match (self.state, &name[..]) {
            (_, b"ERROR") => Err(peer_error(&body)),
            (ServerState::WaitHello, b"HELLO") => {
                let (user, pass) = parse_hello(&data)?;
                if !self.users.accepts(&user, &pass) {
                    Command::Error(Bytes::from_static(REFUSED)).encode(out);
                    let why = if self.users.is_none() {
                        " (this server has no users, so it lets nobody in)"
                    } else {
                        ""
                    };
                    return Err(Error::AuthenticationFailed(format!(
                        "PLAIN credentials of user {:?} refused{why}",
                        String::from_utf8_lossy(&user)
                    )));
                }
                self.user = user;
                encode_command_header(b"WELCOME", 0, out);
                self.state = ServerState::WaitInitiate;
                Ok(None)
            }
            (ServerState::WaitInitiate, b"INITIATE") => {
                let theirs = Metadata::parse(data)?;
                Command::Ready(self.ours.clone()).encode(out);
                let mut meta = Metadata::new();
                meta.insert(USER_ID, self.user.clone());
                for (n, v) in theirs.iter() {
                    if !n.eq_ignore_ascii_case(USER_ID.as_bytes()) {
                        meta.insert(n.clone(), v.clone());
                    }
                }
                Ok(Some(meta))
            }
            _ => Err(Error::unexpected_command(&name)),
        }
    }
}

/// `HELLO = user-len user pass-len pass`, nothing after (checklist P2; libzmq refuses
/// extraneous data too).
fn parse_hello(data: &Bytes) -> Result<(Bytes, Bytes), Error> {
    let mut at = 0;
    let mut field = |what: &'static str| -> Result<Bytes, Error> {
        let len = usize::from(*data.get(at).ok_or(Error::MalformedCommand(what))?);
        let start = at + 1;
        if data.len() < start + len {
            return Err(Error::MalformedCommand(what));
        }
        at = start + len;
        Ok(data.slice(start..at))
    };
    let user = field("HELLO user name truncated")?;
    let pass = field("HELLO password truncated")?;
    if at != data.len() {
        return Err(Error::MalformedCommand(
            "HELLO has bytes after the password",
        ));
    }
    Ok((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2_hello_parses_exact_lengths_only() {
        let ok = Bytes::from_static(b"\x05admin\x06secret");
        let (u, p) = parse_hello(&ok).unwrap();
        assert_eq!((&u[..], &p[..]), (&b"admin"[..], &b"secret"[..]));
        let empty = Bytes::from_static(b"\x00\x00");
        assert_eq!(parse_hello(&empty).unwrap(), (Bytes::new(), Bytes::new()));
        for bad in [
            &b""[..],
            b"\x05adm",
            b"\x05admin",
            b"\x05admin\x07secret",
            b"\x05admin\x06secretX",
        ] {
            assert!(
                matches!(
                    parse_hello(&Bytes::from_static(bad)),
                    Err(Error::MalformedCommand(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn users_compare_lists_by_content_and_checks_by_identity() {
        let check = PlainUsers::from_fn(|_, _| true);
        assert_eq!(check, check.clone());
        assert_ne!(check, PlainUsers::from_fn(|_, _| true));
        assert_eq!(PlainUsers::new([("a", "b")]), PlainUsers::new([("a", "b")]));
        assert_ne!(PlainUsers::new([("a", "b")]), PlainUsers::new([("a", "c")]));
        assert_ne!(PlainUsers::insecure_accept_any(), check);
        assert_ne!(PlainUsers::insecure_accept_any(), PlainUsers::none());
        assert_eq!(
            PlainUsers::new(Vec::<(&str, &str)>::new()),
            PlainUsers::none()
        );
        assert_eq!(format!("{:?}", PlainUsers::default()), "PlainUsers::none()");
        assert_eq!(format!("{check:?}"), "PlainUsers::from_fn(..)");
        assert_eq!(format!("{:?}", PlainUsers::new([("a", "pw")])), "{\"a\"}");
    }

    #[test]
    fn constant_time_eq_compares_length_and_bytes() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
