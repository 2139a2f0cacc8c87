//! `zmtp cat`: netcat for ZeroMQ, written once for every driver.
//!
//! One task drives everything: it waits at the same time for the next stdin line (when the
//! socket type and its state want one), the next received message, the completion of a send
//! that had to wait, and monitor events. Each of these futures is cancel safe, so they are
//! simply re-created on every turn of the loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::poll_fn;
use std::future::Future;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use zmtp_proto::{MechanismConfig, Msg, SocketType};
use zmtp_proto::{PeerId, SocketEvent, SocketOptions};

use zmtp_async::{Monitor, Runtime, Socket};

use crate::backend::{proto_error, sleep, Event};
use crate::drivers::{self, with_backend, DriverName};
use crate::frames::{decode_hex, encode_hex, format_msg, parse_line};
use crate::lines::Lines;
use crate::security;
use crate::{CatArgs, CmdResult, Failure, TypeArg};

/// Runs `zmtp cat`.
pub(crate) fn run(driver: Option<DriverName>, args: &CatArgs) -> CmdResult {
    let config = Config::from_args(args)?;
    for note in &config.notes {
        eprintln!("zmtp: {note}");
    }
    let driver = drivers::resolve(driver);
    with_backend!(driver, B => run_on::<B>(&config))
}

fn run_on<B: Runtime>(config: &Config) -> CmdResult {
    B::block_on(async {
        let session = pin!(session::<B>(config));
        match config.timeout {
            None => session.await,
            Some(limit) => {
                let timer = pin!(sleep::<B>(limit));
                match futures_util::future::select(session, timer).await {
                    futures_util::future::Either::Left((result, _)) => result,
                    futures_util::future::Either::Right(((), _)) => {
                        Err(Failure::Timeout(limit.as_millis() as u64))
                    }
                }
            }
        }
    })
    .map_err(|e| Failure::error(format!("cannot start the {} runtime: {e}", B::NAME)))?
}

/// How the socket type uses stdin and the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// push, pub: stdin lines out, nothing in.
    SendOnly,
    /// pull, sub: messages in, stdin unused.
    RecvOnly,
    /// req: a line out, its reply in, in lock step.
    Req,
    /// rep: a request in, its reply (echoed or the next line) out.
    Rep,
    /// dealer, router, pair, xpub, xsub: both at once.
    Both,
}

/// `zmtp cat`'s arguments, checked and converted.
#[derive(Debug)]
struct Config {
    socket_type: SocketType,
    role: Role,
    options: SocketOptions,
    binds: Vec<String>,
    connects: Vec<String>,
    subscriptions: Vec<Vec<u8>>,
    hex: bool,
    echo: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
    /// Printed on stderr (after `zmtp: `) before the socket is set up.
    notes: Vec<String>,
}

impl Config {
    fn from_args(args: &CatArgs) -> Result<Self, Failure> {
        let (socket_type, role) = match args.socket_type {
            TypeArg::Req => (SocketType::Req, Role::Req),
            TypeArg::Rep => (SocketType::Rep, Role::Rep),
            TypeArg::Dealer => (SocketType::Dealer, Role::Both),
            TypeArg::Router => (SocketType::Router, Role::Both),
            TypeArg::Pub => (SocketType::Pub, Role::SendOnly),
            TypeArg::Sub => (SocketType::Sub, Role::RecvOnly),
            TypeArg::Xpub => (SocketType::XPub, Role::Both),
            TypeArg::Xsub => (SocketType::XSub, Role::Both),
            TypeArg::Push => (SocketType::Push, Role::SendOnly),
            TypeArg::Pull => (SocketType::Pull, Role::RecvOnly),
            TypeArg::Pair => (SocketType::Pair, Role::Both),
            TypeArg::Stream => (SocketType::Stream, Role::Both),
        };
        // First, so that a security mistake is reported before anything else.
        let mut notes = Vec::new();
        let mechanism = security::mechanism(args, &mut notes)?;
        if args.bind.is_empty() && args.connect.is_empty() {
            return Err(Failure::error(
                "nothing to do: give at least one --bind or --connect endpoint",
            ));
        }
        if args.echo
            && !matches!(
                socket_type,
                SocketType::Rep | SocketType::Router | SocketType::Dealer | SocketType::Pair
            )
        {
            return Err(Failure::error(format!(
                "--echo needs a rep, router, dealer or pair socket, not {socket_type}"
            )));
        }
        if !args.subscribe.is_empty() && !socket_type.is_subscriber() {
            return Err(Failure::error(format!(
                "--subscribe needs a sub or xsub socket, not {socket_type}"
            )));
        }
        if args.count.is_some() && role == Role::SendOnly {
            return Err(Failure::error(format!(
                "--count counts received messages, and a {socket_type} socket receives none"
            )));
        }
        let bytes_of = |value: &std::ffi::OsStr, what: &str| -> Result<Vec<u8>, Failure> {
            let raw = value.as_bytes();
            if args.hex {
                decode_hex(raw).map_err(|e| Failure::error(format!("{what}: {e}")))
            } else {
                Ok(raw.to_vec())
            }
        };
        let subscriptions = args
            .subscribe
            .iter()
            .map(|s| bytes_of(s, "--subscribe"))
            .collect::<Result<Vec<_>, _>>()?;

        let mut options = SocketOptions::default();
        if args.identity.is_some() && socket_type == SocketType::Stream {
            return Err(Failure::error(
                "--identity: a stream socket announces no routing id (it speaks no ZMTP)",
            ));
        }
        if let Some(id) = &args.identity {
            let id = bytes_of(id, "--identity")?;
            if id.len() > 255 {
                return Err(Failure::error(
                    "--identity: a routing id has at most 255 bytes",
                ));
            }
            if id.first() == Some(&0) {
                return Err(Failure::error(
                    "--identity: a routing id may not start with a zero byte (reserved by ZeroMQ)",
                ));
            }
            options.connection.routing_id = Bytes::from(id);
        }
        if let Some(hwm) = args.hwm {
            options.sndhwm = hwm;
            options.connection.rcvhwm = hwm;
        }
        options.linger = u64::try_from(args.linger).ok().map(Duration::from_millis);
        options.connection.heartbeat_ivl = args.heartbeat_ivl.map(Duration::from_millis);
        options.connection.heartbeat_timeout = args.heartbeat_timeout.map(Duration::from_millis);
        options.connection.heartbeat_ttl = args.heartbeat_ttl.map(Duration::from_millis);
        options.connection.mechanism = mechanism;
        // Report messages for unknown routing ids instead of dropping them silently, and wait
        // at the high-water mark instead of dropping.
        options.router_mandatory = socket_type == SocketType::Router;
        args.sockopts
            .apply(&mut options, socket_type, args.hex)
            .map_err(Failure::error)?;

        Ok(Self {
            socket_type,
            role,
            options,
            binds: args.bind.clone(),
            connects: args.connect.clone(),
            subscriptions,
            hex: args.hex,
            echo: args.echo,
            count: args.count,
            timeout: args.timeout.map(Duration::from_millis),
            notes,
        })
    }

    /// True if stdin is read at all.
    fn reads_stdin(&self) -> bool {
        match self.role {
            Role::SendOnly | Role::Req => true,
            Role::Rep | Role::Both => !self.echo,
            Role::RecvOnly => false,
        }
    }
}

/// Sets up the socket, runs the loop, and closes the socket (flushing for up to `--linger`).
async fn session<B: Runtime>(config: &Config) -> CmdResult {
    let socket = Socket::<B>::with_options(config.socket_type, config.options.clone());
    let mut monitor = socket.monitor();
    for endpoint in &config.binds {
        let bound = socket
            .bind(endpoint)
            .await
            .map_err(|e| Failure::error(format!("cannot bind {endpoint}: {e}")))?;
        eprintln!("bound {bound}");
    }
    for endpoint in &config.connects {
        socket
            .connect(endpoint)
            .await
            .map_err(|e| Failure::error(format!("cannot connect to {endpoint}: {e}")))?;
    }
    for topic in &config.subscriptions {
        socket
            .subscribe(topic)
            .await
            .map_err(|e| Failure::error(format!("cannot subscribe: {e}")))?;
    }
    let lines = if config.reads_stdin() {
        Some(Lines::stdin().map_err(|e| Failure::error(format!("cannot read stdin: {e}")))?)
    } else {
        None
    };
    let mut state = Loop::new(config);
    state.run(&socket, &mut monitor, lines.as_ref()).await?;
    state.close(socket, &mut monitor).await
}

/// Where a req or rep socket is in its request/reply cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Other types: no cycle.
    Free,
    /// req: waiting for the next stdin line to send.
    Input,
    /// req: waiting for the reply.
    AwaitReply,
    /// rep: waiting for the next request.
    AwaitRequest,
    /// rep: waiting for the stdin line that answers the request.
    AwaitLine,
}

/// What woke the loop.
enum Step {
    Event(Option<Event>),
    Sent(io::Result<()>),
    Received(io::Result<Msg>),
    Line(io::Result<Option<Vec<u8>>>),
}

/// The state of the main loop.
struct Loop<'a> {
    config: &'a Config,
    phase: Phase,
    /// Messages to send, in order; the first is being sent.
    outgoing: VecDeque<Msg>,
    stdin_done: bool,
    received: u64,
    monitor_open: bool,
    /// Endpoints of the peers we dialled, by peer.
    dialled: HashMap<PeerId, Arc<str>>,
    /// Listening endpoints of the peers we accepted, by peer.
    accepted: HashMap<PeerId, String>,
    line_number: u64,
    out: Vec<u8>,
    /// Notes already written to stderr (a redialled peer fails the same way every time).
    noted: HashSet<String>,
}

impl<'a> Loop<'a> {
    fn new(config: &'a Config) -> Self {
        let phase = match config.role {
            Role::Req => Phase::Input,
            Role::Rep => Phase::AwaitRequest,
            _ => Phase::Free,
        };
        Self {
            config,
            phase,
            outgoing: VecDeque::new(),
            stdin_done: !config.reads_stdin(),
            received: 0,
            monitor_open: true,
            dialled: HashMap::new(),
            accepted: HashMap::new(),
            line_number: 0,
            out: Vec::new(),
            noted: HashSet::new(),
        }
    }

    /// True when the run is complete (everything queued was handed to the socket).
    fn finished(&self) -> bool {
        if !self.outgoing.is_empty() {
            return false;
        }
        let answered = self.phase != Phase::AwaitLine;
        if self.config.count.is_some_and(|n| self.received >= n) && answered {
            return true;
        }
        if !self.stdin_done || !self.config.reads_stdin() {
            return false;
        }
        match self.config.role {
            Role::SendOnly | Role::Req | Role::Rep => true,
            // Bidirectional types keep receiving after EOF only for -n.
            Role::Both => self.config.count.is_none(),
            Role::RecvOnly => false,
        }
    }

    fn wants_line(&self) -> bool {
        if self.stdin_done || !self.outgoing.is_empty() {
            return false;
        }
        match self.config.role {
            Role::SendOnly | Role::Both => true,
            Role::Req => self.phase == Phase::Input,
            Role::Rep => self.phase == Phase::AwaitLine,
            Role::RecvOnly => false,
        }
    }

    fn wants_message(&self) -> bool {
        match self.config.role {
            Role::SendOnly => false,
            Role::RecvOnly => true,
            Role::Req => self.phase == Phase::AwaitReply && self.outgoing.is_empty(),
            Role::Rep => self.phase == Phase::AwaitRequest && self.outgoing.is_empty(),
            // Echo waits for the echo to be taken before taking more (backpressure).
            Role::Both => !self.config.echo || self.outgoing.is_empty(),
        }
    }

    async fn run<R: Runtime>(
        &mut self,
        socket: &Socket<R>,
        monitor: &mut Monitor<R>,
        lines: Option<&Lines>,
    ) -> CmdResult {
        while !self.finished() {
            let step = {
                let event = pin!(self.monitor_open.then(|| monitor.next()));
                let sent = pin!(self.outgoing.front().cloned().map(|m| socket.send(m)));
                let received = pin!(self.wants_message().then(|| socket.recv()));
                let line = pin!(lines.filter(|_| self.wants_line()).map(Lines::next));
                next_step(event, sent, received, line).await
            };
            match step {
                Step::Event(Some(event)) => self.on_event(event)?,
                Step::Event(None) => self.monitor_open = false,
                Step::Sent(result) => self.on_sent(result)?,
                Step::Received(result) => {
                    let msg = result.map_err(|e| Failure::error(format!("receive failed: {e}")))?;
                    if !self.on_message(msg)? {
                        // stdout is gone (e.g. `| head -1`): stop quietly.
                        return Ok(());
                    }
                }
                Step::Line(Ok(Some(line))) => self.on_line(&line)?,
                Step::Line(Ok(None)) => self.stdin_done = true,
                Step::Line(Err(e)) => {
                    return Err(Failure::error(format!("cannot read stdin: {e}")));
                }
            }
        }
        Ok(())
    }

    /// Closes the socket, flushing for up to `--linger`, and handles the monitor's events
    /// until it ends: a push or pub client whose queued messages wait for a handshake that the
    /// server refuses fails as it would during the run, instead of exiting 0. The monitor
    /// ends once the socket is closed.
    async fn close<R: Runtime>(
        &mut self,
        socket: Socket<R>,
        monitor: &mut Monitor<R>,
    ) -> CmdResult {
        let mut closing = pin!(socket.close());
        let mut closed = false;
        while self.monitor_open {
            let mut next = pin!(monitor.next());
            // Events first: the one that explains why the close was quick comes with it.
            let step = poll_fn(|cx| {
                if let Poll::Ready(event) = next.as_mut().poll(cx) {
                    return Poll::Ready(Some(event));
                }
                if !closed && closing.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            match step {
                Some(Some(event)) => self.on_event(event)?,
                Some(None) => self.monitor_open = false,
                None => closed = true,
            }
        }
        if !closed {
            closing.await;
        }
        Ok(())
    }

    fn on_line(&mut self, line: &[u8]) -> CmdResult {
        self.line_number += 1;
        let msg = parse_line(line, self.config.hex)
            .map_err(|e| Failure::error(format!("stdin line {}: {e}", self.line_number)))?;
        self.outgoing.push_back(msg);
        self.phase = match self.phase {
            Phase::Input => Phase::AwaitReply,
            Phase::AwaitLine => Phase::AwaitRequest,
            other => other,
        };
        Ok(())
    }

    /// Prints a received message; false if stdout is closed.
    fn on_message(&mut self, msg: Msg) -> Result<bool, Failure> {
        self.out.clear();
        format_msg(&msg, self.config.hex, &mut self.out);
        let mut stdout = io::stdout().lock();
        match stdout.write_all(&self.out).and_then(|()| stdout.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) => return Err(Failure::error(format!("cannot write stdout: {e}"))),
        }
        self.received += 1;
        if self.config.echo {
            self.outgoing.push_back(msg);
        }
        self.phase = match self.phase {
            Phase::AwaitReply => Phase::Input,
            Phase::AwaitRequest if !self.config.echo => Phase::AwaitLine,
            other => other,
        };
        Ok(true)
    }

    fn on_sent(&mut self, result: io::Result<()>) -> CmdResult {
        let msg = self
            .outgoing
            .pop_front()
            .expect("a send completed, so a message was outgoing");
        match result {
            Ok(()) => Ok(()),
            Err(e) if proto_error(&e) == Some(&zmtp_proto::Error::Unroutable) => {
                let mut id = Vec::new();
                match msg.first() {
                    Some(first) if self.config.hex => encode_hex(first, &mut id),
                    Some(first) => id.extend_from_slice(first),
                    None => {}
                }
                eprintln!(
                    "zmtp: no peer with routing id {:?}; message dropped",
                    String::from_utf8_lossy(&id)
                );
                Ok(())
            }
            Err(e) => Err(Failure::error(format!("send failed: {e}"))),
        }
    }

    fn on_event(&mut self, event: Event) -> CmdResult {
        match event {
            Event::Accepted { endpoint, peer, .. } => {
                self.accepted.insert(peer, endpoint);
            }
            Event::AcceptFailed { endpoint, error } => {
                self.note(format!("zmtp: accepting on {endpoint} failed: {error}"));
            }
            Event::Socket(SocketEvent::Connected { peer, endpoint }) => {
                self.dialled.insert(peer, endpoint);
            }
            Event::Socket(SocketEvent::HandshakeFailed { peer, error, .. }) => {
                let curve_client = matches!(
                    self.config.options.connection.mechanism,
                    MechanismConfig::CurveClient(_)
                );
                if let Some(endpoint) = self.dialled.get(&peer) {
                    // We are the client and the server said no (an ERROR command, as for a
                    // CURVE key not on its allow list), or, with CURVE, its boxes do not open
                    // with the key we were given: redialling will not change that.
                    if error.is_handshake_refusal()
                        || (curve_client && matches!(error, zmtp_proto::Error::Cryptographic(_)))
                    {
                        return Err(Failure::error(format!("{endpoint}: {error}")));
                    }
                }
                // A CURVE server whose HELLO box does not open closes the connection without
                // a word (libzmq too), so a wrong --curve-server-key looks like this.
                let hint = if curve_client && error == zmtp_proto::Error::Closed {
                    " (does the server's public key match --curve-server-key?)"
                } else {
                    ""
                };
                self.note(format!(
                    "zmtp: handshake with {} failed: {error}{hint}",
                    self.who(peer)
                ));
            }
            Event::Socket(SocketEvent::Disconnected { peer, error, .. }) => {
                if error != zmtp_proto::Error::Closed {
                    self.note(format!("zmtp: {} disconnected: {error}", self.who(peer)));
                }
                self.accepted.remove(&peer);
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes a note to stderr, once: repeats of the same line are not shown.
    fn note(&mut self, line: String) {
        if !self.noted.contains(&line) {
            eprintln!("{line}");
            self.noted.insert(line);
        }
    }

    /// Names a peer for a log line.
    fn who(&self, peer: PeerId) -> String {
        if let Some(endpoint) = self.dialled.get(&peer) {
            endpoint.to_string()
        } else if let Some(endpoint) = self.accepted.get(&peer) {
            format!("a peer accepted on {endpoint}")
        } else {
            "a peer".to_owned()
        }
    }
}

/// Waits for the first of the (present) futures, in priority order.
async fn next_step<E, S, R, L>(
    mut event: Pin<&mut Option<E>>,
    mut sent: Pin<&mut Option<S>>,
    mut received: Pin<&mut Option<R>>,
    mut line: Pin<&mut Option<L>>,
) -> Step
where
    E: Future<Output = Option<Event>>,
    S: Future<Output = io::Result<()>>,
    R: Future<Output = io::Result<Msg>>,
    L: Future<Output = io::Result<Option<Vec<u8>>>>,
{
    poll_fn(|cx| {
        if let Poll::Ready(r) = poll_some(event.as_mut(), cx) {
            return Poll::Ready(Step::Event(r));
        }
        if let Poll::Ready(r) = poll_some(sent.as_mut(), cx) {
            return Poll::Ready(Step::Sent(r));
        }
        if let Poll::Ready(r) = poll_some(received.as_mut(), cx) {
            return Poll::Ready(Step::Received(r));
        }
        if let Poll::Ready(r) = poll_some(line.as_mut(), cx) {
            return Poll::Ready(Step::Line(r));
        }
        Poll::Pending
    })
    .await
}

/// Polls the future if there is one; an absent future never completes.
fn poll_some<F: Future>(f: Pin<&mut Option<F>>, cx: &mut Context<'_>) -> Poll<F::Output> {
    match f.as_pin_mut() {
        Some(f) => f.poll(cx),
        None => Poll::Pending,
    }
}
