//! Endpoint strings (`tcp://host:port`, `ipc:///path`, `ipc://@abstract`), parsed once for
//! every driver. Resolving host names is I/O and stays in the drivers.

/// A parsed endpoint.
///
/// ```
/// use zmtp_proto::{Endpoint, Host};
///
/// let e: Endpoint = "tcp://[::1]:5555".parse().unwrap();
/// assert_eq!(e, Endpoint::Tcp { host: Host::Name("::1".into()), port: Some(5555) });
/// let e: Endpoint = "tcp://*:*".parse().unwrap();
/// assert_eq!(e, Endpoint::Tcp { host: Host::Any, port: None });
/// assert_eq!("ipc://@bus".parse::<Endpoint>().unwrap(), Endpoint::IpcAbstract("bus".into()));
/// assert!("udp://x:1".parse::<Endpoint>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP to or on a host and port.
    Tcp {
        /// The host part.
        host: Host,
        /// The port; `None` for `*` (bind an ephemeral port).
        port: Option<u16>,
    },
    /// A Unix domain socket at a filesystem path.
    Ipc(std::path::PathBuf),
    /// A Unix domain socket in Linux's abstract namespace (`ipc://@name`).
    IpcAbstract(String),
}

/// The host of a TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (bind only).
    Any,
    /// An IP literal (IPv6 without brackets) or a host name to resolve.
    Name(String),
}

/// Why an endpoint string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    /// The endpoint as given.
    pub endpoint: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid endpoint {:?}: {}", self.endpoint, self.reason)
    }
}

impl std::error::Error for EndpointError {}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, EndpointError> {
        let err = |reason| EndpointError {
            endpoint: s.to_owned(),
            reason,
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = if let Some(after) = rest.strip_prefix('[') {
                let (h, tail) = after
                    .split_once(']')
                    .ok_or_else(|| err("unclosed '[' in IPv6 address"))?;
                let port = tail
                    .strip_prefix(':')
                    .ok_or_else(|| err("missing ':port' after IPv6 address"))?;
                (h, port)
            } else {
                rest.rsplit_once(':')
                    .ok_or_else(|| err("missing ':port'"))?
            };
            if host.is_empty() {
                return Err(err("empty host"));
            }
            let port = match port {
                "*" | "0" => None,
                p => Some(
                    p.parse::<u16>()
                        .map_err(|_| err("port is not a number from 0 to 65535"))?,
                ),
            };
            let host = if host == "*" {
                Host::Any
            } else {
                Host::Name(host.to_owned())
            };
            Ok(Self::Tcp { host, port })
        } else if let Some(path) = s.strip_prefix("ipc://") {
            if path.is_empty() {
                return Err(err("empty ipc path"));
            }
            if let Some(name) = path.strip_prefix('@') {
                Ok(Self::IpcAbstract(name.to_owned()))
            } else {
                Ok(Self::Ipc(path.into()))
            }
        } else {
            Err(err("unsupported transport (expected tcp:// or ipc://)"))
        }
    }
}

impl Endpoint {
    /// Parses an endpoint to dial: like [`str::parse`], and refuses the wildcard host and port
    /// that only `bind` understands.
    ///
    /// ```
    /// use zmtp_proto::Endpoint;
    ///
    /// assert!(Endpoint::parse_dial("tcp://127.0.0.1:5555").is_ok());
    /// assert!(Endpoint::parse_dial("tcp://*:5555").is_err());
    /// assert!(Endpoint::parse_dial("tcp://127.0.0.1:*").is_err());
    /// assert!(Endpoint::parse_dial("ipc://@bus").is_ok());
    /// ```
    pub fn parse_dial(s: &str) -> Result<Self, EndpointError> {
        let e: Self = s.parse()?;
        if matches!(
            e,
            Self::Tcp {
                host: Host::Any,
                ..
            } | Self::Tcp { port: None, .. }
        ) {
            return Err(EndpointError {
                endpoint: s.to_owned(),
                reason: "cannot connect to a wildcard address or port",
            });
        }
        Ok(e)
    }

    /// The host and port to dial, for a TCP endpoint without wildcards.
    ///
    /// ```
    /// use zmtp_proto::Endpoint;
    ///
    /// let e: Endpoint = "tcp://localhost:5555".parse().unwrap();
    /// assert_eq!(e.dial_target(), Some(("localhost", 5555)));
    /// let e: Endpoint = "tcp://*:5555".parse().unwrap();
    /// assert_eq!(e.dial_target(), None);
    /// ```
    pub fn dial_target(&self) -> Option<(&str, u16)> {
        match self {
            Self::Tcp {
                host: Host::Name(host),
                port: Some(port),
            } => Some((host, *port)),
            _ => None,
        }
    }
}

/// The name of an in-process endpoint (`inproc://NAME`), if `endpoint` is one. In-process
/// endpoints are not [`Endpoint`]s: nothing about them is I/O, and the async layer serves them
/// for every driver. The name may be any non-empty string.
///
/// ```
/// use zmtp_proto::{inproc_name, is_inproc};
///
/// assert_eq!(inproc_name("inproc://workers"), Some("workers"));
/// assert_eq!(inproc_name("inproc://"), None);
/// assert_eq!(inproc_name("tcp://127.0.0.1:5555"), None);
/// assert!(is_inproc("inproc://x") && !is_inproc("ipc://x"));
/// ```
pub fn inproc_name(endpoint: &str) -> Option<&str> {
    endpoint.strip_prefix("inproc://").filter(|n| !n.is_empty())
}

/// True if `endpoint` is an in-process endpoint (see [`inproc_name`]).
pub fn is_inproc(endpoint: &str) -> bool {
    inproc_name(endpoint).is_some()
}

/// True if `given` (what the application passes to `unbind`) names the listener that was
/// reported as `bound` by `bind`: the same string, or `tcp://*:PORT` for `tcp://0.0.0.0:PORT`.
///
/// ```
/// use zmtp_proto::names_bound;
///
/// assert!(names_bound("tcp://*:5555", "tcp://0.0.0.0:5555"));
/// assert!(names_bound("ipc://@bus", "ipc://@bus"));
/// assert!(!names_bound("tcp://*:5555", "tcp://0.0.0.0:15555"));
/// ```
pub fn names_bound(given: &str, bound: &str) -> bool {
    given == bound
        || given.strip_prefix("tcp://*:").is_some_and(|port| {
            bound
                .rsplit_once(':')
                .is_some_and(|(_, bound_port)| bound_port == port)
        })
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } => {
                let host = match host {
                    Host::Any => "*",
                    Host::Name(h) => h,
                };
                let port = port.map_or_else(|| "*".to_owned(), |p| p.to_string());
                if host.contains(':') {
                    write!(f, "tcp://[{host}]:{port}")
                } else {
                    write!(f, "tcp://{host}:{port}")
                }
            }
            Self::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Self::IpcAbstract(n) => write!(f, "ipc://@{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://localhost:1",
            "tcp://[::1]:80",
            "tcp://*:*",
            "ipc:///tmp/x.sock",
            "ipc://@name",
        ] {
            let e: Endpoint = s.parse().unwrap();
            assert_eq!(e.to_string(), s);
        }
    }

    #[test]
    fn errors_are_clear() {
        let e = "tcp://host".parse::<Endpoint>().unwrap_err();
        assert_eq!(e.reason, "missing ':port'");
        assert!(e.to_string().contains("tcp://host"));
        assert!("tcp://h:99999".parse::<Endpoint>().is_err());
        assert!("tcp://[::1:5".parse::<Endpoint>().is_err());
        assert!("inproc://x".parse::<Endpoint>().is_err());
        assert!("ipc://".parse::<Endpoint>().is_err());
    }

    #[test]
    fn dial_targets() {
        let e = Endpoint::parse_dial("tcp://[::1]:80").unwrap();
        assert_eq!(e.dial_target(), Some(("::1", 80)));
        assert_eq!(
            Endpoint::parse_dial("ipc:///x").unwrap().dial_target(),
            None
        );
        let e = Endpoint::parse_dial("tcp://*:1").unwrap_err();
        assert_eq!(e.reason, "cannot connect to a wildcard address or port");
        assert!(names_bound("tcp://127.0.0.1:7", "tcp://127.0.0.1:7"));
        assert!(!names_bound("tcp://127.0.0.1:7", "tcp://127.0.0.1:8"));
    }
}
