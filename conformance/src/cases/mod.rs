//! The conformance cases, as generic `async fn name<D: Driver>()`. Each is one `#[test]` of
//! [`conformance_tests!`](crate::conformance_tests); the module of each group says which
//! checklist items it covers.

pub mod api;
pub mod cancel;
pub mod curve;
pub mod curve_omq;
pub mod endpoints;
pub mod faults;
pub mod heartbeat;
pub mod inproc;
pub mod inproc_proxy;
pub mod inproc_semantics;
pub mod inproc_stress;
pub mod lifecycle;
pub mod load;
pub mod options;
pub mod pairs;
pub mod progress;
pub mod proxy;
pub mod restart;
pub mod robustness;
pub mod security;
pub mod semantics;
pub mod stream;
pub mod volume;

pub use api::*;
pub use cancel::*;
pub use curve::*;
pub use curve_omq::*;
pub use endpoints::*;
pub use faults::*;
pub use heartbeat::*;
pub use inproc::*;
pub use inproc_proxy::*;
pub use inproc_semantics::*;
pub use inproc_stress::*;
pub use lifecycle::*;
pub use load::*;
pub use options::*;
pub use pairs::{
    dealer_dealer_libzmq, dealer_dealer_ours, dealer_dealer_zmqrs, dealer_rep_libzmq,
    dealer_rep_ours, dealer_rep_zmqrs, dealer_router_libzmq, dealer_router_ours,
    dealer_router_zmqrs, pair_libzmq, pair_ours, pub_sub_libzmq, pub_sub_ours, pub_sub_zmqrs,
    pub_xsub_libzmq, pub_xsub_ours, pub_xsub_zmqrs, push_pull_libzmq, push_pull_ours,
    push_pull_zmqrs, req_router_libzmq, req_router_ours, req_router_zmqrs, reqrep_libzmq,
    reqrep_ours, reqrep_zmqrs, router_router_libzmq, router_router_ours, router_router_zmqrs,
    xpub_sub_libzmq, xpub_sub_ours, xpub_sub_zmqrs, xpub_xsub_libzmq, xpub_xsub_ours,
    xpub_xsub_zmqrs,
};
pub use progress::*;
pub use proxy::*;
pub use restart::*;
pub use robustness::*;
pub use security::*;
pub use semantics::*;
pub use stream::*;
pub use volume::*;
