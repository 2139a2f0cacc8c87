//! The drivers as the CLI uses them: every subcommand is generic over a
//! [`Runtime`](zmtp_async::Runtime) and uses its [`Socket`](zmtp_async::Socket) directly.
//! Everything the CLI does runs inside one `Runtime::block_on` call on one thread, without
//! spawning tasks of its own, so the same code works for drivers whose sockets are `Send`
//! (tokio) and for thread-per-core drivers whose sockets are not (compio).

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use zmtp_async::Runtime;

/// Monitor events: both drivers report the same type, from the shared layer.
pub(crate) use zmtp_async::MonitorEvent as Event;

/// A timer future on the runtime `R` (call inside `R::block_on`).
pub(crate) fn sleep<R: Runtime>(duration: Duration) -> impl Future<Output = ()> {
    R::sleep_until(Instant::now() + duration)
}

/// True if compio's runtime gets io_uring on this machine (it falls back to epoll otherwise).
pub(crate) fn has_io_uring() -> bool {
    static PROBE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROBE.get_or_init(|| {
        compio::runtime::Runtime::new().is_ok_and(|rt| rt.driver_type().is_iouring())
    })
}

/// The zmtp-proto error inside an I/O error from a driver, if there is one.
pub(crate) fn proto_error(e: &io::Error) -> Option<&zmtp_proto::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<zmtp_proto::Error>())
}
