//! Choosing a driver: `--driver`, the default, and the dispatch from a name to a [`Runtime`]
//! type.
//!
//! [`Runtime`]: zmtp_async::Runtime

use clap::ValueEnum;

use crate::backend::has_io_uring;

/// The drivers `--driver` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DriverName {
    /// io_uring through compio (falls back to compio's epoll backend where io_uring is
    /// unavailable).
    Compio,
    /// epoll through tokio.
    Tokio,
}

/// The drivers built into this binary, in the order `zmtp perf` runs them.
pub(crate) const AVAILABLE: &[DriverName] = &[DriverName::Compio, DriverName::Tokio];

/// The driver to use for `requested` (`None`: the default, compio where io_uring is available,
/// else tokio). Asking for compio where io_uring is unavailable is not an error: compio falls
/// back to its epoll backend, and a note on stderr says so.
pub(crate) fn resolve(requested: Option<DriverName>) -> DriverName {
    match requested {
        None if has_io_uring() => DriverName::Compio,
        None => DriverName::Tokio,
        Some(DriverName::Compio) => {
            if !has_io_uring() {
                eprintln!(
                    "zmtp: io_uring is unavailable here; the compio driver uses its epoll backend"
                );
            }
            DriverName::Compio
        }
        Some(DriverName::Tokio) => DriverName::Tokio,
    }
}

/// The driver's name for tables: compio says which backend it runs on.
pub(crate) fn label(driver: DriverName) -> &'static str {
    match driver {
        DriverName::Compio if has_io_uring() => "compio",
        DriverName::Compio => "compio (epoll)",
        DriverName::Tokio => "tokio",
    }
}

/// Runs `$body` with the type alias `$b` naming the [`Runtime`](crate::backend::Backend) of
/// the driver `$driver` (a resolved [`DriverName`]).
macro_rules! with_backend {
    ($driver:expr, $b:ident => $body:expr) => {
        match $driver {
            $crate::drivers::DriverName::Tokio => {
                type $b = driver_tokio::Tokio;
                $body
            }
            $crate::drivers::DriverName::Compio => {
                type $b = driver_compio::Compio;
                $body
            }
        }
    };
}
pub(crate) use with_backend;
