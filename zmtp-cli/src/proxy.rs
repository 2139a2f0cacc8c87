//! `zmtp proxy`: a frontend and a backend socket joined by the shared layer's
//! [`Proxy`](zmtp_async::Proxy), with an optional capture socket and a REP control socket,
//! written once for every driver.
//!
//! Endpoints follow czmq's convention: `@EP` binds, `>EP` connects, and a comma-separated
//! list does several. Each bind prints `bound ENDPOINT` on stderr (frontend, backend, capture,
//! control, in that order), as `zmtp cat` does.

use std::time::Duration;

use zmtp_async::{Proxy, Runtime, Socket};
use zmtp_proto::SocketOptions;
use zmtp_proto::SocketType;

use crate::drivers::{self, with_backend, DriverName};
use crate::{CmdResult, Failure, ProxyArgs, TypeArg};

/// One end of the proxy: a socket type and what to bind and connect.
#[derive(Debug)]
struct End {
    what: &'static str,
    socket_type: SocketType,
    binds: Vec<String>,
    connects: Vec<String>,
}

impl End {
    /// Parses `spec`, a comma-separated list of `@EP` (bind) and `>EP` (connect).
    fn parse(what: &'static str, ty: TypeArg, spec: &str) -> Result<Self, Failure> {
        let mut end = Self {
            what,
            socket_type: ty.socket_type(),
            binds: Vec::new(),
            connects: Vec::new(),
        };
        for item in spec.split(',') {
            if let Some(ep) = item.strip_prefix('@') {
                end.binds.push(ep.to_owned());
            } else if let Some(ep) = item.strip_prefix('>') {
                end.connects.push(ep.to_owned());
            } else {
                return Err(Failure::error(format!(
                    "{what} endpoint {item:?}: prefix it with @ to bind or > to connect \
                     (quote it for the shell: '@tcp://*:5555')"
                )));
            }
        }
        Ok(end)
    }

    /// The socket, bound (each bind printed) and connected.
    async fn open<R: Runtime>(&self, options: &SocketOptions) -> Result<Socket<R>, Failure> {
        let socket = Socket::<R>::with_options(self.socket_type, options.clone());
        for endpoint in &self.binds {
            let bound = socket.bind(endpoint).await.map_err(|e| {
                Failure::error(format!("{}: cannot bind {endpoint}: {e}", self.what))
            })?;
            eprintln!("bound {bound}");
        }
        for endpoint in &self.connects {
            socket.connect(endpoint).await.map_err(|e| {
                Failure::error(format!("{}: cannot connect to {endpoint}: {e}", self.what))
            })?;
        }
        Ok(socket)
    }
}

/// `zmtp proxy`'s arguments, checked.
#[derive(Debug)]
struct Config {
    frontend: End,
    backend: End,
    capture: Option<End>,
    control: Option<End>,
    options: SocketOptions,
}

impl Config {
    fn from_args(args: &ProxyArgs) -> Result<Self, Failure> {
        let frontend = End::parse("frontend", args.front_type, &args.front_ep)?;
        let backend = End::parse("backend", args.back_type, &args.back_ep)?;
        let capture = match args.capture.as_deref() {
            None => None,
            Some([ty, ep]) => {
                let ty = <TypeArg as clap::ValueEnum>::from_str(ty, true)
                    .map_err(|_| Failure::error(format!("--capture: unknown socket type {ty}")))?;
                if !can_send(ty.socket_type()) {
                    return Err(Failure::error(format!(
                        "--capture: a {} socket cannot send",
                        ty.socket_type()
                    )));
                }
                Some(End::parse("capture", ty, ep)?)
            }
            Some(_) => return Err(Failure::error("--capture takes a TYPE and an EP")),
        };
        let control = args.control.as_ref().map(|ep| End {
            what: "control",
            socket_type: SocketType::Rep,
            binds: vec![ep.strip_prefix('@').unwrap_or(ep).to_owned()],
            connects: Vec::new(),
        });
        let (f, b) = (frontend.socket_type, backend.socket_type);
        let moves = |from, to| can_recv(from) && can_send(to);
        if !moves(f, b) && !moves(b, f) {
            return Err(Failure::error(format!(
                "a {f} frontend and a {b} backend move no message either way"
            )));
        }
        let mut options = SocketOptions::default();
        if let Some(hwm) = args.hwm {
            options.sndhwm = hwm;
            options.connection.rcvhwm = hwm;
        }
        options.linger = Some(Duration::from_millis(1000));
        Ok(Self {
            frontend,
            backend,
            capture,
            control,
            options,
        })
    }
}

fn can_send(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Pull | SocketType::Sub)
}

fn can_recv(ty: SocketType) -> bool {
    !matches!(ty, SocketType::Push | SocketType::Pub)
}

/// Runs `zmtp proxy`.
pub(crate) fn run(driver: Option<DriverName>, args: &ProxyArgs) -> CmdResult {
    let config = Config::from_args(args)?;
    let driver = drivers::resolve(driver);
    with_backend!(driver, B => B::block_on(session::<B>(&config))
        .map_err(|e| Failure::error(format!("cannot start the {} runtime: {e}", B::NAME)))?)
}

async fn session<B: Runtime>(config: &Config) -> CmdResult {
    let frontend = config.frontend.open::<B>(&config.options).await?;
    let backend = config.backend.open::<B>(&config.options).await?;
    let capture = match &config.capture {
        Some(end) => Some(end.open::<B>(&config.options).await?),
        None => None,
    };
    let control = match &config.control {
        Some(end) => Some(end.open::<B>(&config.options).await?),
        None => None,
    };
    let mut proxy = Proxy::new(&frontend, &backend);
    if let Some(capture) = &capture {
        proxy = proxy.with_capture(capture);
    }
    if let Some(control) = &control {
        proxy = proxy.with_control(control);
    }
    let result = proxy.run().await;
    drop(proxy);
    result.map_err(|e| Failure::error(format!("proxy: {e}")))?;
    // TERMINATE: flush what is queued (the reply to it, at least) for up to the linger time.
    frontend.close().await;
    backend.close().await;
    if let Some(capture) = capture {
        capture.close().await;
    }
    if let Some(control) = control {
        control.close().await;
    }
    Ok(())
}
