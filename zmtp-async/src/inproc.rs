//! The in-process transport (`inproc://NAME`), written once for every driver: nothing of it is
//! I/O.
//!
//! Two sockets of one process joined by an in-process connection share a [`Pipe`]: a
//! lock-guarded pair of queues of whole messages ([`Carried`] items), one per direction, plus
//! the credit each side's application has given back and the [`Signal`]s that wake each side.
//! A round of either socket (on its driver task or inline, on the application's task) moves
//! what its machine has for the peer into the pipe and what the peer left in the pipe into its
//! machine, whose connection for that peer is in message mode
//! ([`Connection::carrying`](zmtp_proto::Connection::carrying)): no greeting, no mechanism, no
//! framing, no copy of a body — the `Msg` sent is the `Msg` received. The two sockets may be
//! on one task, on two tasks of one runtime, or on different threads and runtimes (compio's
//! thread-per-core runtimes included): the pipe is the only thing they share.
//!
//! # Names
//!
//! Bound names live in one registry per process (libzmq scopes them to a context; a program
//! here has no context, so the process is the scope). A name is bound by one socket at a time
//! (a second bind fails with `AddrInUse`), is free again once that socket unbinds it or is
//! finished, and may be connected to before it is bound: the connection is made when a socket
//! binds the name (libzmq ≥ 4.0 does the same).
//!
//! # High-water marks
//!
//! As in libzmq, a direction holds at most the sender's `sndhwm` plus the receiver's
//! `rcvhwm` messages: the sender's machine queues up to `sndhwm` (as for tcp), and hands its
//! connection at most `rcvhwm` messages that the receiver's application has not taken yet
//! (its window). The receiver reports what it took once per low-water mark, not per message.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use zmtp_proto::inproc_name;
use zmtp_proto::Carried;
use zmtp_proto::PeerInfo;
use zmtp_proto::{Action, PeerId};

use crate::monitor::MonitorEvent;
use crate::runtime::{Clock, Shared};
use crate::signal::Signal;
use crate::state::SocketState;

/// The side that connected.
const CONNECTOR: usize = 0;
/// The side that bound the name.
const BINDER: usize = 1;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; if it ever did, the queues are still sound.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one side of a pipe announces: its type and routing id, and its receive high-water
/// mark (the other side's window).
#[derive(Debug, Clone)]
struct Announce {
    info: PeerInfo,
    rcvhwm: usize,
}

/// One in-process connection, shared by the two sockets it joins.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// The endpoint, as given to `connect` and `bind`.
    endpoint: Arc<str>,
    state: Mutex<PipeState>,
}

#[derive(Debug)]
struct PipeState {
    /// `queues[s]`: items side `s` sent that the other side has not picked up yet.
    queues: [VecDeque<Carried>; 2],
    /// `acked[s]`: how many of side `s`'s messages the other side's application took, as last
    /// reported.
    acked: [u64; 2],
    /// `gone[s]`: side `s` closed its end; the other side takes what is left, then detaches.
    gone: [bool; 2],
    /// What wakes each side (the binder's is known once a socket binds the name).
    signals: [Option<Arc<Signal>>; 2],
    /// What each side announces (the binder's once known).
    announce: [Option<Announce>; 2],
}

impl Pipe {
    fn new(endpoint: Arc<str>, connector: Announce, signal: Arc<Signal>) -> Arc<Self> {
        Arc::new(Self {
            endpoint,
            state: Mutex::new(PipeState {
                queues: [VecDeque::new(), VecDeque::new()],
                acked: [0; 2],
                gone: [false; 2],
                signals: [Some(signal), None],
                announce: [Some(connector), None],
            }),
        })
    }

    /// The binder is known: it is woken for the pipe and the connector learns what it
    /// announces. False if the connector has gone already.
    fn bind(&self, binder: &Announce, signal: &Arc<Signal>) -> bool {
        let mut s = lock(&self.state);
        if s.gone[CONNECTOR] {
            return false;
        }
        s.announce[BINDER] = Some(binder.clone());
        s.signals[BINDER] = Some(signal.clone());
        if let Some(connector) = &s.signals[CONNECTOR] {
            connector.wake();
        }
        true
    }

    /// Closes `side`'s end and wakes the other side to notice.
    fn close(&self, side: usize) {
        let mut s = lock(&self.state);
        // What this side sent stays: the other side still takes it (as libzmq's pipe keeps
        // it), then detaches.
        s.gone[side] = true;
        if let Some(other) = &s.signals[1 - side] {
            other.wake();
        }
    }
}

/// The pipes connected to a bound name and not yet taken by the binding socket's round.
#[derive(Debug, Default)]
struct Backlog(Mutex<Vec<Arc<Pipe>>>);

#[derive(Debug)]
enum Entry {
    /// A socket bound the name.
    Bound {
        announce: Announce,
        signal: Arc<Signal>,
        backlog: Arc<Backlog>,
    },
    /// Sockets connected to the name before anyone bound it.
    Waiting(Vec<Arc<Pipe>>),
}

/// The process-wide names (see the [module docs](self)).
fn registry() -> MutexGuard<'static, HashMap<String, Entry>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    lock(REGISTRY.get_or_init(Mutex::default))
}

/// One in-process connection of a socket, by peer.
#[derive(Debug)]
struct Link {
    peer: PeerId,
    pipe: Arc<Pipe>,
    side: usize,
    /// The machine's connection for the peer is made (a connector waits for a binder).
    attached: bool,
}

/// The in-process side of one socket: the names it bound and its links.
#[derive(Debug)]
pub(crate) struct Inproc {
    signal: Arc<Signal>,
    /// The socket's backlog, once it bound a name.
    backlog: Option<Arc<Backlog>>,
    /// The endpoints bound (`inproc://NAME`).
    names: Vec<String>,
    links: Vec<Link>,
    /// Items on their way, between the pipe and the machine (kept for its capacity).
    scratch: VecDeque<Carried>,
}

impl Inproc {
    pub(crate) fn new(signal: &Arc<Signal>) -> Self {
        Self {
            signal: signal.clone(),
            backlog: None,
            names: Vec::new(),
            links: Vec::new(),
            scratch: VecDeque::new(),
        }
    }

    /// Binds `endpoint` (`inproc://NAME`); connections waiting for the name are made now.
    pub(crate) fn bind(&mut self, state: &mut SocketState, endpoint: &str) -> io::Result<()> {
        let Some(name) = inproc_name(endpoint) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid endpoint {endpoint:?}: empty inproc name"),
            ));
        };
        let announce = Announce {
            info: state.machine().inproc_info(),
            rcvhwm: state.machine().options().connection.rcvhwm,
        };
        let backlog = self.backlog.get_or_insert_with(Arc::default).clone();
        let mut names = registry();
        let waiting = match names.remove(name) {
            Some(bound @ Entry::Bound { .. }) => {
                names.insert(name.to_owned(), bound);
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{endpoint}: address in use (another socket bound it)"),
                ));
            }
            Some(Entry::Waiting(pipes)) => pipes,
            None => Vec::new(),
        };
        {
            let mut queued = lock(&backlog.0);
            for pipe in waiting {
                if pipe.bind(&announce, &self.signal) {
                    queued.push(pipe);
                }
            }
        }
        names.insert(
            name.to_owned(),
            Entry::Bound {
                announce,
                signal: self.signal.clone(),
                backlog,
            },
        );
        drop(names);
        self.names.push(endpoint.to_owned());
        Ok(())
    }

    /// Stops binding `endpoint`; false if it was not bound here. Connections made stay.
    pub(crate) fn unbind(&mut self, endpoint: &str) -> bool {
        let Some(i) = self.names.iter().position(|n| n == endpoint) else {
            return false;
        };
        self.names.swap_remove(i);
        self.release(endpoint);
        true
    }

    /// Frees the name of `endpoint` in the registry if this socket holds it.
    fn release(&self, endpoint: &str) {
        let Some(name) = inproc_name(endpoint) else {
            return;
        };
        let mut names = registry();
        let ours = matches!(names.get(name), Some(Entry::Bound { backlog, .. })
            if self.backlog.as_ref().is_some_and(|b| Arc::ptr_eq(b, backlog)));
        if ours {
            names.remove(name);
        }
    }

    /// True if the socket has nothing in-process: no link, no name, no action.
    fn is_unused(&self, state: &SocketState) -> bool {
        self.links.is_empty() && self.backlog.is_none() && !state.machine().has_action()
    }

    /// A round: accepts connections to our names, carries out the machine's in-process
    /// actions, then moves items both ways.
    pub(crate) fn round(&mut self, state: &mut SocketState, clock: &mut Clock) {
        if self.is_unused(state) {
            return;
        }
        self.accept(state, clock);
        self.actions(state, clock);
        self.receive(state, clock);
        self.transmit(state);
    }

    /// After the application sent or took messages: the actions and the output only.
    pub(crate) fn flush(&mut self, state: &mut SocketState, clock: &mut Clock) {
        if self.is_unused(state) {
            return;
        }
        self.actions(state, clock);
        self.transmit(state);
    }

    fn accept(&mut self, state: &mut SocketState, clock: &mut Clock) {
        let Some(backlog) = &self.backlog else { return };
        let pipes = std::mem::take(&mut *lock(&backlog.0));
        for pipe in pipes {
            let Some(announce) = lock(&pipe.state).announce[CONNECTOR].clone() else {
                continue;
            };
            let now = clock.now();
            let peer = state
                .machine_mut()
                .accept_inproc(announce.info, announce.rcvhwm, now);
            state.push_monitor(MonitorEvent::Accepted {
                endpoint: pipe.endpoint.to_string(),
                peer,
                // An in-process peer has no address of its own.
                remote: None,
            });
            self.links.push(Link {
                peer,
                pipe,
                side: BINDER,
                attached: true,
            });
        }
    }

    fn actions(&mut self, state: &mut SocketState, clock: &mut Clock) {
        while let Some(action) = state.machine_mut().poll_inproc_action() {
            match action {
                Action::Dial { peer, endpoint } => self.dial(state, clock, peer, endpoint),
                Action::Close { peer } => {
                    if let Some(i) = self.links.iter().position(|l| l.peer == peer) {
                        let link = self.links.swap_remove(i);
                        link.pipe.close(link.side);
                    }
                    let now = clock.now();
                    state.machine_mut().detach(peer, now);
                }
            }
        }
        // A connector waiting for a binder, whose peer went (disconnected) before: the pipe
        // leaves the registry's waiting list when a binder comes, or here.
        let machine = state.machine();
        let mut gone = Vec::new();
        self.links.retain(|l| {
            let keep = l.attached || machine.is_inproc(l.peer);
            if !keep {
                gone.push(l.pipe.clone());
            }
            keep
        });
        for pipe in gone {
            pipe.close(CONNECTOR);
            forget_waiting(&pipe);
        }
        // Connectors whose binder came.
        for link in self.links.iter_mut().filter(|l| !l.attached) {
            let Some(binder) = lock(&link.pipe.state).announce[BINDER].clone() else {
                continue;
            };
            link.attached = true;
            let now = clock.now();
            state
                .machine_mut()
                .attach_inproc(link.peer, binder.info, binder.rcvhwm, now);
        }
    }

    fn dial(
        &mut self,
        state: &mut SocketState,
        clock: &mut Clock,
        peer: PeerId,
        endpoint: Arc<str>,
    ) {
        let Some(name) = inproc_name(&endpoint) else {
            let now = clock.now();
            state.machine_mut().dial_failed(peer, now);
            return;
        };
        let ours = Announce {
            info: state.machine().inproc_info(),
            rcvhwm: state.machine().options().connection.rcvhwm,
        };
        let pipe = Pipe::new(endpoint.clone(), ours, self.signal.clone());
        let mut names = registry();
        let binder = match names.get_mut(name) {
            Some(Entry::Bound {
                announce,
                signal,
                backlog,
            }) => {
                pipe.bind(announce, signal);
                lock(&backlog.0).push(pipe.clone());
                signal.wake();
                Some(announce.clone())
            }
            Some(Entry::Waiting(pipes)) => {
                pipes.push(pipe.clone());
                None
            }
            None => {
                names.insert(name.to_owned(), Entry::Waiting(vec![pipe.clone()]));
                None
            }
        };
        drop(names);
        self.links.push(Link {
            peer,
            pipe,
            side: CONNECTOR,
            attached: binder.is_some(),
        });
        if let Some(b) = binder {
            let now = clock.now();
            state
                .machine_mut()
                .attach_inproc(peer, b.info, b.rcvhwm, now);
        }
    }

    /// Takes what the peers left in the pipes: items, credit, and whether they closed.
    fn receive(&mut self, state: &mut SocketState, clock: &mut Clock) {
        let mut i = 0;
        while i < self.links.len() {
            let link = &self.links[i];
            if !link.attached {
                i += 1;
                continue;
            }
            let (side, other) = (link.side, 1 - link.side);
            let (acked, closed) = {
                let mut s = lock(&link.pipe.state);
                std::mem::swap(&mut s.queues[other], &mut self.scratch);
                (s.acked[side], s.gone[other])
            };
            let peer = link.peer;
            let machine = state.machine_mut();
            if !self.scratch.is_empty() {
                let now = clock.now();
                if let Some(view) = machine.messages(peer) {
                    view.deliver(self.scratch.drain(..), now);
                }
                self.scratch.clear();
            }
            if let Some(view) = machine.messages(peer) {
                view.set_acked(acked);
            }
            if closed {
                let link = self.links.swap_remove(i);
                link.pipe.close(side);
                let now = clock.now();
                state.machine_mut().detach(peer, now);
                continue;
            }
            i += 1;
        }
    }

    /// Moves what the machine has for its in-process peers into the pipes, and the credit
    /// reports; wakes each peer that has something new.
    fn transmit(&mut self, state: &mut SocketState) {
        let machine = state.machine_mut();
        while let Some(peer) = machine.poll_inproc_transmit() {
            let Some(link) = self.links.iter().find(|l| l.peer == peer) else {
                continue;
            };
            let Some(view) = machine.messages(peer) else {
                continue;
            };
            let report = view.take_carried(&mut self.scratch);
            let (side, other) = (link.side, 1 - link.side);
            let wake = {
                let mut s = lock(&link.pipe.state);
                if s.gone[other] {
                    // The peer closed: what we send is dropped, as over a connection that
                    // broke. The next receive detaches the peer.
                    self.scratch.clear();
                    continue;
                }
                // A queue left non-empty was not picked up since its wake: no second one.
                let wake =
                    (s.queues[side].is_empty() && !self.scratch.is_empty()) || report.is_some();
                s.queues[side].append(&mut self.scratch);
                if let Some(taken) = report {
                    s.acked[other] = taken;
                }
                wake.then(|| s.signals[other].clone()).flatten()
            };
            // Woken after the lock is released: the peer's round takes it at once.
            if let Some(signal) = wake {
                signal.wake();
            }
        }
    }

    /// The socket is finished: every link closes and the names are free again.
    pub(crate) fn finish(&mut self) {
        for link in self.links.drain(..) {
            if link.attached {
                link.pipe.close(link.side);
            } else {
                link.pipe.close(CONNECTOR);
                forget_waiting(&link.pipe);
            }
        }
        for name in std::mem::take(&mut self.names) {
            self.release(&name);
        }
        if let Some(backlog) = &self.backlog {
            // Connections made to us that we never took.
            for pipe in lock(&backlog.0).drain(..) {
                pipe.close(BINDER);
            }
        }
    }
}

impl Drop for Inproc {
    fn drop(&mut self) {
        // A socket whose runtime went away before its driver finished.
        self.finish();
    }
}

/// `Socket::bind` of an `inproc://` endpoint: binds the name and reports it like a listener.
pub(crate) fn bind<I>(shared: &mut Shared<I>, endpoint: &str) -> io::Result<String> {
    let Shared { state, inproc, .. } = shared;
    inproc.bind(state, endpoint)?;
    // Reported as `Listening`, and as `ListenerClosed` on unbind or close, like a listener.
    state.add_bound(endpoint);
    // Connections that waited for the name are taken by the next round.
    state.notify_driver();
    Ok(endpoint.to_owned())
}

/// Removes a connector's pipe from the registry's waiting list.
fn forget_waiting(pipe: &Arc<Pipe>) {
    let Some(name) = inproc_name(&pipe.endpoint) else {
        return;
    };
    let mut names = registry();
    if let Some(Entry::Waiting(pipes)) = names.get_mut(name) {
        pipes.retain(|p| !Arc::ptr_eq(p, pipe));
        if pipes.is_empty() {
            names.remove(name);
        }
    }
}

/// The in-process pipes of one socket, for diagnostics: a stress test that sees a stall dumps
/// them (from any thread) beside the sockets' [`Signal`]s. Not part of the API a program uses.
#[doc(hidden)]
#[derive(Clone)]
pub struct InprocProbe(Vec<(Arc<Pipe>, usize)>);

impl std::fmt::Debug for InprocProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (pipe, side) in &self.0 {
            let s = lock(&pipe.state);
            list.entry(&format_args!(
                "{} side {side}: queued [{}, {}], acked {:?}, gone {:?}",
                pipe.endpoint,
                s.queues[0].len(),
                s.queues[1].len(),
                s.acked,
                s.gone,
            ));
        }
        list.finish()
    }
}

impl<R: crate::Runtime> crate::Socket<R> {
    /// The socket's in-process pipes as they are now (see [`InprocProbe`]).
    #[doc(hidden)]
    pub fn inproc_probe(&self) -> InprocProbe {
        use crate::runtime::Share;
        let shared = self.shared.lock();
        InprocProbe(
            shared
                .inproc
                .links
                .iter()
                .map(|l| (l.pipe.clone(), l.side))
                .collect(),
        )
    }
}
