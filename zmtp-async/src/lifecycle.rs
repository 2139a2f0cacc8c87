//! A socket's life beyond one call: its linger, chosen after creation or at close time, and the
//! process-wide [`shutdown`] that stops every socket still running (libzmq's
//! `zmq_ctx_shutdown`), [`terminate`] that also waits for them to end (`zmq_ctx_term`), and
//! [`running_sockets`] to see how many are left.
//!
//! Every socket registers its [`Signal`] (thread-safe, unlike a compio socket's state) in one
//! process-wide list when it is created; [`shutdown`] asks each through it, and each socket's
//! driver task (or its next application call) carries the request out on its own thread.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::lock;
use crate::runtime::{Runtime, Share};
use crate::signal::Signal;
use crate::socket::Socket;

/// The signals of every socket created so far whose state is still alive (dead entries are
/// pruned as the list grows).
static SOCKETS: Mutex<Vec<Weak<Signal>>> = Mutex::new(Vec::new());

/// Driver tasks not yet ended.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Tasks in [`terminate`], woken when the last driver task ends.
static IDLE_WAITERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

/// Adds a new socket's signal to the process-wide list.
pub(crate) fn register(signal: &Arc<Signal>) {
    let mut sockets = lock(&SOCKETS);
    if sockets.len() == sockets.capacity() {
        // About to grow: drop the entries of sockets that are gone first (amortised O(1)).
        sockets.retain(|w| w.strong_count() > 0);
    }
    sockets.push(Arc::downgrade(signal));
}

/// Counts one driver task while it exists.
#[derive(Debug)]
pub(crate) struct Running(());

impl Running {
    pub(crate) fn new() -> Self {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waiters = std::mem::take(&mut *lock(&IDLE_WAITERS));
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

/// Closes every socket of this process that is still running, on every runtime and thread:
/// the process-wide stop that libzmq's `zmq_ctx_shutdown` / `zmq_ctx_term` give a context.
///
/// Each socket, whether its handle is still held or was dropped and is lingering, is closed as
/// by [`Socket::close_with_linger`] with `linger` at most: every `send` and `recv` waiting on
/// it ends with [`Error::Terminated`](zmtp_proto::Error::Terminated) (libzmq's `ETERM`), as
/// does every later call; it delivers what it has queued for at most `linger` (a shorter linger
/// of its own is kept), then stops dialling and drops its connections. With
/// `Duration::ZERO`, everything stops at once and queued messages are discarded.
///
/// It returns at once; [`running_sockets`] tells how many driver tasks have not ended yet.
/// Sockets created afterwards are not affected. Returns how many sockets were asked.
///
/// ```
/// use std::time::Duration;
/// use driver_tokio::{Error, Socket, SocketType, Tokio};
/// use zmtp_async::Runtime;
///
/// Tokio::block_on(async {
///     let pull = Socket::new(SocketType::Pull);
///     pull.bind("tcp://127.0.0.1:*").await.unwrap();
///     zmtp_async::shutdown(Duration::ZERO);
///     let err = pull.recv().await.unwrap_err();
///     assert!(matches!(Error::of(&err), Some(Error::Terminated)));
/// })
/// .unwrap();
/// ```
pub fn shutdown(linger: Duration) -> usize {
    let sockets = std::mem::take(&mut *lock(&SOCKETS));
    let mut asked = 0;
    for signal in sockets.iter().filter_map(Weak::upgrade) {
        signal.request_shutdown(linger);
        asked += 1;
    }
    asked
}

/// How many sockets' driver tasks are still running in this process: sockets open, and sockets
/// closed or dropped that still deliver what they queued (their linger). A dropped socket
/// whose linger is infinite (the default, as in libzmq) and whose peer never comes keeps
/// running, and dialling, until [`shutdown`].
///
/// ```
/// # use driver_compio::{Socket, SocketType};
/// # compio::runtime::Runtime::new().unwrap().block_on(async {
/// let pull = Socket::new(SocketType::Pull);
/// assert!(zmtp_async::running_sockets() >= 1);
/// # });
/// ```
pub fn running_sockets() -> usize {
    RUNNING.load(Ordering::Acquire)
}

/// [`shutdown`], then waits until no socket's driver task runs any more in this process
/// ([`running_sockets`] is 0): libzmq's `zmq_ctx_term`. With `Duration::ZERO` that is as soon
/// as each driver task has run once more; with a longer `linger`, sockets that still deliver
/// what they queued take up to that long.
///
/// Sockets created meanwhile are waited for too, and so are sockets on a runtime that no
/// longer runs its tasks (without being dropped): call it where every socket's runtime keeps
/// running.
///
/// ```
/// use std::time::Duration;
/// use driver_compio::{Socket, SocketType};
///
/// compio::runtime::Runtime::new().unwrap().block_on(async {
///     let push = Socket::new(SocketType::Push);
///     push.connect("tcp://127.0.0.1:9").await.unwrap(); // nobody listens there
///     push.send("never delivered").await.unwrap();
///     drop(push); // its linger is infinite: it would keep dialling
///     zmtp_async::terminate(Duration::ZERO).await;
///     assert_eq!(zmtp_async::running_sockets(), 0);
/// });
/// ```
pub async fn terminate(linger: Duration) {
    shutdown(linger);
    poll_fn(|cx| {
        if running_sockets() == 0 {
            return Poll::Ready(());
        }
        let mut waiters = lock(&IDLE_WAITERS);
        // Checked again under the lock: the last task to end takes it before it wakes us.
        if running_sockets() == 0 {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    })
    .await;
}

impl<R: Runtime> Socket<R> {
    /// Sets the linger time (libzmq's `ZMQ_LINGER`, settable at any time): how long a closed
    /// or dropped socket keeps delivering what it queued before it discards it, stops dialling
    /// and drops its connections. `None` waits forever (the default, as in libzmq);
    /// `Some(Duration::ZERO)` discards at once. On a socket already closing, the new time
    /// counts from this call.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use driver_compio::{Socket, SocketType};
    /// let req = Socket::new(SocketType::Req);
    /// assert_eq!(req.linger(), None);
    /// req.set_linger(Some(Duration::from_millis(100)));
    /// assert_eq!(req.linger(), Some(Duration::from_millis(100)));
    /// # });
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) {
        self.shared.lock().state.set_linger(linger, Instant::now());
    }

    /// The linger time (see [`Socket::set_linger`]).
    pub fn linger(&self) -> Option<Duration> {
        self.shared.lock().state.machine().options().linger
    }

    /// Closes the socket with `linger` as its linger time, whatever it was: [`Socket::close`]
    /// returns within about `linger`.
    ///
    /// ```
    /// # compio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::{Duration, Instant};
    /// use driver_compio::{Socket, SocketType};
    /// let req = Socket::new(SocketType::Req);
    /// req.connect("tcp://127.0.0.1:9").await.unwrap(); // nobody listens there
    /// req.send("never answered").await.unwrap();
    /// let started = Instant::now();
    /// req.close_with_linger(Duration::from_millis(50)).await;
    /// assert!(started.elapsed() < Duration::from_secs(1));
    /// # });
    /// ```
    pub async fn close_with_linger(&self, linger: Duration) {
        self.set_linger(Some(linger));
        self.close().await;
    }
}
