//! compio's operations as the socket's I/O keeps them: an operation slot per peer and direction
//! ([`OpSlot`]), whose waker puts the peer on the ready list and reports to the socket's
//! [`Signal`]; the rare operations (accept, dial) with what they hand back; and the switch that
//! ends an operation on purpose ([`Stop`]). Dropping a compio operation cancels it in the
//! kernel, so nothing here is dropped in flight except through [`Stop`] or [`Op::cancel`].

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use compio::buf::BufResult;
use zmtp_async::Signal;
use zmtp_proto::Endpoint;
use zmtp_proto::PeerId;

use crate::transport::{self, Listener, Stream};

/// Pause before accepting again after `accept` failed (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A switch that ends an operation on purpose (dropping it, which cancels it in the kernel).
#[derive(Clone, Default)]
pub(crate) struct Stop(Rc<StopInner>);

#[derive(Default)]
pub(crate) struct StopInner {
    pub(crate) stopped: Cell<bool>,
    pub(crate) waker: Cell<Option<Waker>>,
}

impl Stop {
    pub(crate) fn stop(&self) {
        self.0.stopped.set(true);
        if let Some(w) = self.0.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.0.stopped.get()
    }

    /// Runs `fut` to completion unless [`Stop::stop`] is called first; then `fut` is dropped
    /// (cancelling its operation) and the result is `None`.
    pub(crate) async fn run<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if self.is_stopped() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            let waker = match self.0.waker.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.0.waker.set(Some(waker));
            Poll::Pending
        })
        .await
    }
}

/// The peers whose operation may have completed, and the signal their wakers report to.
pub(crate) struct Ready {
    /// Indices of peers with an operation that may have completed (duplicates are harmless).
    /// The signal's pending mark says it is not empty (read without taking the lock).
    pub(crate) list: Mutex<Vec<usize>>,
    pub(crate) signal: Arc<Signal>,
}

impl Ready {
    pub(crate) fn push(&self, index: usize) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(index);
        self.signal.set_pending();
    }

    /// Moves the list into `out` (empty, its allocation reused); false if it was empty.
    pub(crate) fn take(&self, out: &mut Vec<usize>) -> bool {
        debug_assert!(out.is_empty());
        if !self.signal.is_pending() {
            // Nothing was pushed since the last take (the usual answer on the last pass of
            // `CompioIo::poll_peers`): no lock. A push marks the signal before its waker runs,
            // and the woken task's next round takes it.
            return false;
        }
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *list, out);
        self.signal.clear_pending();
        !out.is_empty()
    }
}

/// The waker of one operation slot.
pub(crate) struct OpWaker {
    pub(crate) index: usize,
    pub(crate) woken: AtomicBool,
    pub(crate) ready: Arc<Ready>,
}

impl OpWaker {
    /// Puts the slot on the ready list; false if it was there already.
    pub(crate) fn mark(&self) -> bool {
        let first = !self.woken.swap(true, Ordering::AcqRel);
        if first {
            self.ready.push(self.index);
        }
        first
    }
}

impl Wake for OpWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.mark();
        self.ready.signal.wake();
    }
}

/// A future type kept in place from one operation to the next.
pub(crate) trait Op<A, T> {
    /// Starts an operation; the slot must be idle.
    fn start(&mut self, arg: A);
    /// Polls the operation in flight; after `Ready` the slot is idle again.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<T>;
    fn is_busy(&self) -> bool;
    /// Drops the operation in flight, cancelling it.
    fn cancel(&mut self);
}

pub(crate) struct OpBox<A, F> {
    pub(crate) make: fn(A) -> F,
    pub(crate) fut: Pin<Box<Option<F>>>,
}

impl<A, F: Future> Op<A, F::Output> for OpBox<A, F> {
    fn start(&mut self, arg: A) {
        debug_assert!(self.fut.is_none(), "operation already in flight");
        self.fut.set(Some((self.make)(arg)));
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(fut) = self.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let out = std::task::ready!(fut.poll(cx));
        // Never polled again after completion.
        self.fut.set(None);
        Poll::Ready(out)
    }

    fn is_busy(&self) -> bool {
        self.fut.is_some()
    }

    fn cancel(&mut self) {
        self.fut.set(None);
    }
}

/// One operation slot of a peer, with its waker.
pub(crate) struct OpSlot<A: 'static, T: 'static> {
    pub(crate) op: Box<dyn Op<A, T>>,
    pub(crate) flag: Arc<OpWaker>,
    pub(crate) waker: Waker,
}

impl<A: 'static, T: 'static> OpSlot<A, T> {
    pub(crate) fn new<F: Future<Output = T> + 'static>(
        make: fn(A) -> F,
        index: usize,
        ready: &Arc<Ready>,
    ) -> Self {
        let flag = Arc::new(OpWaker {
            index,
            woken: AtomicBool::new(false),
            ready: ready.clone(),
        });
        Self {
            op: Box::new(OpBox {
                make,
                fut: Box::pin(None),
            }),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Starts an operation; the next look at the ready list polls it (which submits it).
    pub(crate) fn start(&mut self, arg: A) {
        self.op.start(arg);
        self.flag.mark();
    }

    /// Polls the operation if its waker fired since the last poll.
    pub(crate) fn poll(&mut self) -> Poll<T> {
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        self.op.poll(&mut Context::from_waker(&self.waker))
    }
}

pub(crate) type ReadOpSlot = OpSlot<(Stream, BytesMut), (Stream, BufResult<usize, BytesMut>)>;
pub(crate) type WriteOpSlot = OpSlot<(Stream, Vec<Bytes>), (Stream, BufResult<usize, Vec<Bytes>>)>;

pub(crate) async fn read_op(
    (stream, buf): (Stream, BytesMut),
) -> (Stream, BufResult<usize, BytesMut>) {
    let result = stream.read(buf).await;
    (stream, result)
}

pub(crate) async fn write_op(
    (stream, bufs): (Stream, Vec<Bytes>),
) -> (Stream, BufResult<usize, Vec<Bytes>>) {
    let result = stream.write(bufs).await;
    (stream, result)
}

/// A rare operation in flight (accept, dial) and what it hands back.
pub(crate) type AcceptOrDial = Pin<Box<dyn Future<Output = AcceptedOrDialled>>>;

pub(crate) enum AcceptedOrDialled {
    Accepted {
        listener: Listener,
        stop: Stop,
        endpoint: Rc<str>,
        /// `None` if the listener was unbound.
        result: Option<std::io::Result<Stream>>,
    },
    Dialled {
        peer: PeerId,
        result: std::io::Result<Stream>,
    },
}

pub(crate) fn accept_op(
    listener: Listener,
    stop: Stop,
    endpoint: Rc<str>,
    pause: bool,
) -> AcceptOrDial {
    Box::pin(async move {
        let result = stop
            .run(async {
                if pause {
                    compio::time::sleep(ACCEPT_RETRY).await;
                }
                listener.accept().await
            })
            .await;
        AcceptedOrDialled::Accepted {
            listener,
            stop,
            endpoint,
            result,
        }
    })
}

pub(crate) fn dial_op(
    peer: PeerId,
    endpoint: Endpoint,
    tcp: zmtp_async::net::TcpSettings,
) -> AcceptOrDial {
    Box::pin(async move {
        AcceptedOrDialled::Dialled {
            peer,
            result: transport::connect(endpoint, tcp).await,
        }
    })
}
