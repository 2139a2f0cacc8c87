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
//!
//! # Two sockets of one thread
//!
//! Where a runtime's sockets never leave the thread that made them
//! ([`Runtime::PINNED`](crate::Runtime::PINNED): compio), a socket that connects to a name
//! bound by such a socket *of its own thread* gets a pipe of that thread instead: its state
//! lives in a thread-local table, and each link holds only its key ([`PipeRef::Local`]), so
//! moving messages takes no lock. A connector of that thread that connected before the name
//! was bound gets its pipe moved there when the name is bound. The name, its registry and
//! `AddrInUse` are the same; a connector on another thread (or of a runtime whose sockets may
//! move) gets the shared, lock-guarded pipe. Waking the peer still goes
//! through its [`Signal`]. tokio's sockets are `Send` and may move between worker threads, so
//! tokio always uses the shared pipe.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use zmtp_proto::inproc_name;
use zmtp_proto::Carried;
use zmtp_proto::PeerInfo;
use zmtp_proto::{Action, PeerId};

use crate::lock;
use crate::monitor::MonitorEvent;
use crate::runtime::{Clock, Shared};
use crate::signal::Signal;
use crate::state::SocketState;
use crate::thread_slab::{this_thread, SlabKey, ThreadSlab};

/// The side that connected.
const CONNECTOR: usize = 0;
/// The side that bound the name.
const BINDER: usize = 1;

thread_local! {
    /// The pipes of this thread (see [`PipeRef::Local`]).
    static LOCAL: RefCell<ThreadSlab<LocalPipe>> = RefCell::default();
    /// How many times this thread took a lock of the in-process transport: a shared pipe's
    /// state or a backlog (a diagnostic).
    static LOCKS: Cell<u64> = const { Cell::new(0) };
}

/// How many times the calling thread took a lock of the in-process transport so far (the
/// state of a shared, cross-thread pipe, or a bound name's backlog of new connections): a
/// pair of sockets that joined by a pipe of their thread adds nothing to it once joined.
/// A diagnostic for tests and benchmarks, not part of the API a program uses.
#[doc(hidden)]
pub fn inproc_locks() -> u64 {
    LOCKS.with(Cell::get)
}

/// Counts one lock taken (see [`inproc_locks`]).
fn count_lock() {
    LOCKS.with(|n| n.set(n.get() + 1));
}

/// What one side of a pipe announces: its type and routing id, and its receive high-water
/// mark (the other side's window).
#[derive(Debug, Clone)]
struct Announce {
    info: PeerInfo,
    rcvhwm: usize,
}

/// One in-process connection, shared by the two sockets it joins (threads apart, or sockets
/// that may move).
#[derive(Debug)]
pub(crate) struct Pipe {
    /// The endpoint, as given to `connect` and `bind`.
    endpoint: Arc<str>,
    /// The connector's thread (its table of pipes), if its socket never leaves it: a binder
    /// of that thread moves the pipe there (see [`PipeState::moved_to`]).
    pinned: Option<u64>,
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
    /// The state moved to a pipe of the connector's thread, here: a connector that connected
    /// before the name was bound, by a binder of its own thread. Set in the state left
    /// behind, which nothing uses after the connector follows the key.
    moved_to: Option<SlabKey>,
}

impl PipeState {
    fn new(connector: Announce, signal: Arc<Signal>) -> Self {
        Self {
            queues: [VecDeque::new(), VecDeque::new()],
            acked: [0; 2],
            gone: [false; 2],
            signals: [Some(signal), None],
            announce: [Some(connector), None],
            moved_to: None,
        }
    }

    /// The binder is known: the connector learns what it announces. Returns the connector's
    /// signal, to wake; `None` if the connector has gone already.
    fn bind(&mut self, binder: &Announce, signal: &Arc<Signal>) -> Option<Arc<Signal>> {
        if self.gone[CONNECTOR] {
            return None;
        }
        self.announce[BINDER] = Some(binder.clone());
        self.signals[BINDER] = Some(signal.clone());
        self.signals[CONNECTOR].clone()
    }
}

impl Pipe {
    fn new(
        endpoint: Arc<str>,
        connector: Announce,
        signal: Arc<Signal>,
        pinned: Option<u64>,
    ) -> Arc<Self> {
        Arc::new(Self {
            endpoint,
            pinned,
            state: Mutex::new(PipeState::new(connector, signal)),
        })
    }

    /// The pipe's state, locked (and counted, see [`inproc_locks`]).
    fn lock(&self) -> MutexGuard<'_, PipeState> {
        count_lock();
        lock(&self.state)
    }

    /// The binder is known: it is woken for the pipe and the connector learns what it
    /// announces. `None` if the connector has gone already. A binder pinned to the
    /// connector's thread (`table`) moves the pipe into that thread's table, where it is
    /// reached without a lock; the connector follows on its next round.
    fn bind(
        self: Arc<Self>,
        binder: &Announce,
        signal: &Arc<Signal>,
        table: Option<u64>,
    ) -> Option<PipeRef> {
        let mut s = self.lock();
        let connector = s.bind(binder, signal)?;
        let mut pipe = PipeRef::Shared(self.clone());
        if table.is_some() && table == self.pinned {
            let moved = PipeState {
                queues: std::mem::take(&mut s.queues),
                acked: s.acked,
                gone: s.gone,
                signals: s.signals.clone(),
                announce: s.announce.clone(),
                moved_to: None,
            };
            let mut local = Some(LocalPipe {
                endpoint: self.endpoint.clone(),
                state: moved,
            });
            match LOCAL.try_with(|pipes| pipes.borrow_mut().insert(&mut local)) {
                Ok(Some(key)) => {
                    s.moved_to = Some(key);
                    pipe = PipeRef::Local(key);
                }
                // The thread is exiting or its table is full: the pipe stays shared, with
                // whatever its queues held.
                _ => {
                    if let Some(local) = local {
                        s.queues = local.state.queues;
                    }
                }
            }
        }
        drop(s);
        connector.wake();
        Some(pipe)
    }

    /// Where the pipe's state went, if a binder of the connector's thread moved it.
    fn moved_to(&self) -> Option<SlabKey> {
        self.lock().moved_to
    }
}

/// A pipe of one thread: the state of a [`Pipe`] without its lock.
#[derive(Debug)]
struct LocalPipe {
    endpoint: Arc<str>,
    state: PipeState,
}

/// How a link reaches its pipe.
#[derive(Debug, Clone)]
enum PipeRef {
    /// A lock-guarded pipe any thread may reach.
    Shared(Arc<Pipe>),
    /// A pipe of this thread (both sockets are pinned to it): no lock.
    Local(SlabKey),
}

impl PipeRef {
    /// Runs `f` on the pipe's state; `None` if the pipe is no more (a local pipe both sides
    /// closed, or one reached from another thread, which a pinned socket never does).
    fn with<T>(&self, f: impl FnOnce(&mut PipeState) -> T) -> Option<T> {
        match self {
            Self::Shared(pipe) => Some(f(&mut pipe.lock())),
            Self::Local(key) => LOCAL
                .try_with(|pipes| pipes.borrow_mut().get_mut(*key).map(|p| f(&mut p.state)))
                .ok()
                .flatten(),
        }
    }

    fn endpoint(&self) -> Arc<str> {
        match self {
            Self::Shared(pipe) => pipe.endpoint.clone(),
            Self::Local(key) => LOCAL
                .try_with(|pipes| pipes.borrow_mut().get_mut(*key).map(|p| p.endpoint.clone()))
                .ok()
                .flatten()
                .unwrap_or_else(|| Arc::from("inproc://")),
        }
    }

    /// Closes `side`'s end and wakes the other side to notice. A local pipe is freed once
    /// both sides closed.
    fn close(&self, side: usize) {
        let other = self.with(|s| {
            // What this side sent stays: the other side still takes it (as libzmq's pipe
            // keeps it), then detaches.
            s.gone[side] = true;
            (s.gone[1 - side], s.signals[1 - side].clone())
        });
        let Some((both, other)) = other else { return };
        if let (Self::Local(key), true) = (self, both) {
            let removed = LOCAL.try_with(|pipes| pipes.borrow_mut().remove(*key));
            // Dropped outside the table.
            drop(removed);
        }
        if let Some(other) = other {
            other.wake();
        }
    }
}

/// The pipes connected to a bound name and not yet taken by the binding socket's round.
///
/// The binder's every round looks here, so the look takes no lock: `ready` is set (under the
/// lock) by every push and cleared (under the lock) only by the take that empties the list,
/// so the list is empty whenever `ready` is clear.
#[derive(Debug, Default)]
struct Backlog {
    pipes: Mutex<Vec<PipeRef>>,
    ready: AtomicBool,
}

impl Backlog {
    /// The list, locked (and counted, see [`inproc_locks`]).
    fn lock(&self) -> MutexGuard<'_, Vec<PipeRef>> {
        count_lock();
        lock(&self.pipes)
    }

    /// Adds pipes connected to the name.
    fn push(&self, pipes: impl IntoIterator<Item = PipeRef>) {
        let mut list = self.lock();
        list.extend(pipes);
        if !list.is_empty() {
            self.ready.store(true, Ordering::Release);
        }
    }

    /// Takes the pipes connected since the last call; no lock when there are none.
    fn take(&self) -> Vec<PipeRef> {
        if !self.ready.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut list = self.lock();
        self.ready.store(false, Ordering::Relaxed);
        std::mem::take(&mut *list)
    }
}

#[derive(Debug)]
enum Entry {
    /// A socket bound the name.
    Bound {
        announce: Announce,
        signal: Arc<Signal>,
        backlog: Arc<Backlog>,
        /// The binder's thread (its table of pipes), if its socket never leaves it.
        pinned: Option<u64>,
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
    pipe: PipeRef,
    side: usize,
    /// What wakes the peer (known once the link is attached).
    wake: Option<Arc<Signal>>,
    /// The machine's connection for the peer is made (a connector waits for a binder).
    attached: bool,
}

/// The in-process side of one socket: the names it bound and its links.
#[derive(Debug)]
pub(crate) struct Inproc {
    signal: Arc<Signal>,
    /// The socket never leaves its thread ([`Runtime::PINNED`](crate::Runtime::PINNED)).
    pinned: bool,
    /// The socket's backlog, once it bound a name.
    backlog: Option<Arc<Backlog>>,
    /// The endpoints bound (`inproc://NAME`).
    names: Vec<String>,
    links: Vec<Link>,
    /// Items on their way, between the pipe and the machine (kept for its capacity).
    scratch: VecDeque<Carried>,
}

impl Inproc {
    pub(crate) fn new(signal: &Arc<Signal>, pinned: bool) -> Self {
        Self {
            signal: signal.clone(),
            pinned,
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
        let table = if self.pinned { this_thread() } else { None };
        backlog.push(
            waiting
                .into_iter()
                .filter_map(|pipe| pipe.bind(&announce, &self.signal, table)),
        );
        names.insert(
            name.to_owned(),
            Entry::Bound {
                announce,
                signal: self.signal.clone(),
                backlog,
                pinned: if self.pinned { this_thread() } else { None },
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
        let pipes = backlog.take();
        for pipe in pipes {
            let Some((announce, wake)) = pipe
                .with(|s| (s.announce[CONNECTOR].clone(), s.signals[CONNECTOR].clone()))
                .and_then(|(a, w)| Some((a?, w)))
            else {
                continue;
            };
            let now = clock.now();
            let peer = state
                .machine_mut()
                .accept_inproc(announce.info, announce.rcvhwm, now);
            state.push_monitor(MonitorEvent::Accepted {
                endpoint: pipe.endpoint().to_string(),
                peer,
                // An in-process peer has no address of its own.
                remote: None,
            });
            self.links.push(Link {
                peer,
                pipe,
                side: BINDER,
                wake,
                attached: true,
            });
        }
    }

    /// Connectors that connected before the name was bound, whose binder (of their thread)
    /// moved the pipe into the thread's table: they reach it there from now on.
    fn follow_moves(&mut self) {
        for link in self.links.iter_mut().filter(|l| !l.attached) {
            if let PipeRef::Shared(pipe) = &link.pipe {
                if let Some(key) = pipe.moved_to() {
                    link.pipe = PipeRef::Local(key);
                }
            }
        }
    }

    fn actions(&mut self, state: &mut SocketState, clock: &mut Clock) {
        self.follow_moves();
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
            if let PipeRef::Shared(pipe) = pipe {
                forget_waiting(&pipe);
            }
        }
        // Connectors whose binder came.
        for link in self.links.iter_mut().filter(|l| !l.attached) {
            let Some((Some(binder), wake)) = link
                .pipe
                .with(|s| (s.announce[BINDER].clone(), s.signals[BINDER].clone()))
            else {
                continue;
            };
            link.wake = wake;
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
        let table = if self.pinned { this_thread() } else { None };
        let mut names = registry();
        let (pipe, binder) = match names.get_mut(name) {
            Some(Entry::Bound {
                announce,
                signal,
                backlog,
                pinned,
            }) => {
                let mut state = PipeState::new(ours, self.signal.clone());
                // No wake for us: we attach now.
                let _ = state.bind(announce, signal);
                let pipe = if self.pinned && pinned.is_some() && *pinned == this_thread() {
                    // Both sockets stay on this thread: a pipe of the thread, no lock.
                    let mut local = Some(LocalPipe {
                        endpoint: endpoint.clone(),
                        state,
                    });
                    let inserted = LOCAL.try_with(|pipes| pipes.borrow_mut().insert(&mut local));
                    match (inserted, local) {
                        // The thread is exiting (its table is gone) or the table is full:
                        // a shared pipe.
                        (_, Some(LocalPipe { endpoint, state })) => {
                            PipeRef::Shared(Arc::new(Pipe {
                                endpoint,
                                pinned: None,
                                state: Mutex::new(state),
                            }))
                        }
                        (Ok(Some(key)), None) => PipeRef::Local(key),
                        // Taken but not inserted: `insert` takes the pipe only to store it.
                        (_, None) => unreachable!("the pipe is either in the table or here"),
                    }
                } else {
                    PipeRef::Shared(Arc::new(Pipe {
                        endpoint: endpoint.clone(),
                        pinned: None,
                        state: Mutex::new(state),
                    }))
                };
                backlog.push([pipe.clone()]);
                signal.wake();
                (pipe, Some((announce.clone(), signal.clone())))
            }
            Some(Entry::Waiting(pipes)) => {
                let pipe = Pipe::new(endpoint.clone(), ours, self.signal.clone(), table);
                pipes.push(pipe.clone());
                (PipeRef::Shared(pipe), None)
            }
            None => {
                let pipe = Pipe::new(endpoint.clone(), ours, self.signal.clone(), table);
                names.insert(name.to_owned(), Entry::Waiting(vec![pipe.clone()]));
                (PipeRef::Shared(pipe), None)
            }
        };
        drop(names);
        let (binder, wake) = binder.unzip();
        self.links.push(Link {
            peer,
            pipe,
            side: CONNECTOR,
            wake,
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
            let scratch = &mut self.scratch;
            let (acked, closed) = link
                .pipe
                .with(|s| {
                    std::mem::swap(&mut s.queues[other], scratch);
                    (Some(s.acked[side]), s.gone[other])
                })
                // A pipe that is no more: the peer is gone.
                .unwrap_or((None, true));
            let peer = link.peer;
            let machine = state.machine_mut();
            if !self.scratch.is_empty() {
                let now = clock.now();
                if let Some(view) = machine.messages(peer) {
                    view.deliver(self.scratch.drain(..), now);
                }
                self.scratch.clear();
            }
            if let (Some(view), Some(acked)) = (machine.messages(peer), acked) {
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
            let scratch = &mut self.scratch;
            let wake = link.pipe.with(|s| {
                if s.gone[other] {
                    // The peer closed: what we send is dropped, as over a connection that
                    // broke. The next receive detaches the peer.
                    scratch.clear();
                    return false;
                }
                // A queue left non-empty was not picked up since its wake: no second one.
                let wake = (s.queues[side].is_empty() && !scratch.is_empty()) || report.is_some();
                s.queues[side].append(scratch);
                if let Some(taken) = report {
                    s.acked[other] = taken;
                }
                wake
            });
            if wake.is_none() {
                // The pipe is no more: dropped, as above.
                self.scratch.clear();
            }
            // Woken after the lock is released: the peer's round takes it at once.
            if wake == Some(true) {
                if let Some(signal) = &link.wake {
                    signal.wake();
                }
            }
        }
    }

    /// The socket is finished: every link closes and the names are free again.
    pub(crate) fn finish(&mut self) {
        self.follow_moves();
        for link in self.links.drain(..) {
            if link.attached {
                link.pipe.close(link.side);
            } else {
                link.pipe.close(CONNECTOR);
                if let PipeRef::Shared(pipe) = &link.pipe {
                    forget_waiting(pipe);
                }
            }
        }
        for name in std::mem::take(&mut self.names) {
            self.release(&name);
        }
        if let Some(backlog) = &self.backlog {
            // Connections made to us that we never took.
            for pipe in backlog.take() {
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
pub struct InprocProbe(Vec<(PipeRef, usize)>);

impl std::fmt::Debug for InprocProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (pipe, side) in &self.0 {
            let kind = match pipe {
                PipeRef::Shared(_) => "shared",
                PipeRef::Local(_) => "local",
            };
            let endpoint = pipe.endpoint();
            // A local pipe is seen from its own thread only.
            let line = pipe.with(|s| {
                format!(
                    "{} {kind} side {side}: queued [{}, {}], acked {:?}, gone {:?}",
                    endpoint,
                    s.queues[0].len(),
                    s.queues[1].len(),
                    s.acked,
                    s.gone,
                )
            });
            list.entry(&format_args!(
                "{}",
                line.unwrap_or_else(|| format!("{kind} side {side}: not visible here"))
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
