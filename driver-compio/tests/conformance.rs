//! The shared conformance suite (`zmtp-conformance`) for the compio driver, twice: on compio's
//! io_uring driver (`io_uring::*`; it falls back to epoll where io_uring is unavailable) and on
//! its polling driver forced (`epoll::*`), the fallback users get on older kernels.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;

use zmtp_conformance::Driver;

/// The compio driver on a fresh runtime per case; `EPOLL` forces compio's polling driver.
struct Compio<const EPOLL: bool>;

impl<const EPOLL: bool> Driver for Compio<EPOLL> {
    type Runtime = driver_compio::Compio;
    const NAME: &'static str = if EPOLL { "compio-epoll" } else { "compio" };

    fn run<F: Future>(f: F) -> F::Output {
        let mut proactor = compio::driver::ProactorBuilder::new();
        if EPOLL {
            proactor.driver_type(compio::driver::DriverType::Poll);
        }
        let runtime = compio::runtime::RuntimeBuilder::new()
            .with_proactor(proactor)
            .build()
            .expect("compio runtime");
        if EPOLL {
            assert!(
                runtime.driver_type().is_polling(),
                "epoll driver not in use"
            );
        }
        runtime.block_on(f)
    }
}

mod io_uring {
    zmtp_conformance::conformance_tests!(super::Compio<false>);
}

mod epoll {
    zmtp_conformance::conformance_tests!(super::Compio<true>);
}
