//! # zmtp-conformance: one ZeroMQ conformance suite for every monocoque driver
//!
//! The cases are written once, as generic `async fn case<D: Driver>()`, and instantiated for a
//! driver by [`conformance_tests!`], which expands to one `#[test]` per case. Each case runs on
//! the driver's own runtime (its `block_on`, on the test's thread) and talks to one of three
//! kinds of peer:
//!
//! * **ours**: another socket of the same driver, in the same task;
//! * **libzmq** 4.3.4 through the `zmq` crate, each peer socket owned by a std thread of its
//!   own ([`peer::Libzmq`]): libzmq's API blocks, so the test thread never calls it;
//! * **zmq.rs** (`zeromq` 0.7), each peer socket on a current-thread tokio runtime in a std
//!   thread of its own ([`peer::ZmqRs`]), so it works whatever runtime the driver uses.
//!
//! Both remote kinds are actors: the test sends them commands through a channel and awaits the
//! answer on a runtime-agnostic one-shot, so the driver under test keeps running while a peer
//! works. Every wait has a timeout, every peer operation too, every case has an overall limit
//! ([`CASE_LIMIT`]) and a watchdog aborts the process if a case cannot even be interrupted.
//!
//! # Instantiating the suite for a driver
//!
//! Every driver's socket is [`zmtp_async::Socket<R>`](zmtp_async::Socket) for its runtime `R`,
//! so the cases use it directly ([`Sock<D>`]). The driver's crate adds the suite as a
//! dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! zmtp-conformance = { workspace = true }
//! ```
//!
//! and writes `tests/conformance.rs`: the [`Driver`] impl, and one macro call. For compio
//! (sockets are `!Send`, which the suite allows):
//!
//! ```ignore
//! use zmtp_conformance::{conformance_tests, Driver};
//!
//! struct Compio;
//!
//! impl Driver for Compio {
//!     type Runtime = driver_compio::Compio;
//!     const NAME: &'static str = "compio";
//!     // `run`, `socket`, `sleep` and `race` have defaults; override `run` to choose the
//!     // runtime's configuration, `race` to use the runtime's own select.
//! }
//!
//! conformance_tests!(Compio);
//! ```
//!
//! `driver-tokio/tests/conformance.rs` is the worked example for tokio (`tokio::select!` for
//! [`Driver::race`]). Run one driver's suite with
//! `cargo test -p driver-tokio --test conformance`; one case with `... -- reqrep_libzmq`.
//!
//! # What is covered
//!
//! See [`cases`] (each module cites the checklist items it checks):
//!
//! * [`cases::pairs`]: every compatible pair of the eleven standard socket types against each
//!   peer kind, our socket on either side, either side binding, over TCP and IPC, exchanging
//!   multipart messages with empty frames;
//! * [`cases::volume`]: a 16 MiB message, 100 000 messages in order, 1000-frame messages,
//!   full-duplex streams on one socket;
//! * [`cases::semantics`]: PUB/SUB filtering and XPUB/XSUB subscription messages, ROUTER
//!   identities (set and generated; released when a peer leaves; a live duplicate ignored, or
//!   handed over, checked against libzmq's ROUTER), reconnection after the peer restarts (with
//!   messages queued meanwhile), incompatible socket types refused while a compatible peer is
//!   served, `unbind`/`disconnect`, a PUB that never blocks, fan-out, fair queuing, REQ/REP
//!   state machines, unroutable ROUTER messages, fifty peers on one ROUTER;
//! * [`cases::heartbeat`]: PINGs answered over long idle periods (libzmq with
//!   `ZMQ_HEARTBEAT_IVL`), a vanished peer detected through `HeartbeatTimeout` (a frozen
//!   [`relay::Relay`] between the two), and a peer's TTL honoured;
//! * [`cases::cancel`]: `recv()` and `send()` (at the high-water mark) raced against timers in
//!   a loop, with [`Driver::race`] and with the portable [`util::select`];
//! * [`cases::progress`]: bursts delivered while the application sleeps, a PUB that sends once
//!   a second serving new subscribers and their PINGs, servers accepting clients while the
//!   application is busy, `close()` flushing for the linger time;
//! * [`cases::endpoints`]: wildcard binds, host names, abstract IPC names;
//! * [`cases::lifecycle`]: `unbind`, linger, ipc files, the monitor, `Stream`/`Sink`;
//! * [`cases::restart`]: the peer of each of the eleven types of ours, connecting, restarts
//!   over TCP (connected by host name) and IPC while the application waits in `recv`, waits
//!   in `send` at the high-water mark, or is busy elsewhere: redial, re-subscription, what was
//!   queued meanwhile delivered, the monitor's `Disconnected` and `ConnectRetried`;
//! * [`cases::faults`]: heartbeats while the application waits in `recv` or in `send` at the
//!   high-water mark, peers that never greet, peers killed mid-frame (RST and FIN), the redial
//!   backoff;
//! * [`cases::load`]: idle sockets whose driver is not polled, slow consumers (PUB drops for
//!   the stalled subscriber alone, PUSH waits, RSS bounded), a ROUTER with 1,000 peers and
//!   10,000 connect/disconnect cycles (descriptors and routing-table entries counted);
//! * [`cases::curve`]: CURVE between our sockets and against libzmq 4.3.5 (pyzmq, a
//!   [`pyzmq::PyPeer`] process), both roles, volumes, subscriptions, heartbeats, refusals;
//! * [`cases::curve_omq`]: CURVE against omq.rs (`omq-tokio`, an [`omq::Omq`] peer on its own
//!   tokio runtime in a thread), both roles, volumes, subscriptions, heartbeats, refusals;
//! * [`cases::robustness`]: `maxmsgsize` enforced, silent and garbage clients dropped;
//! * [`cases::options`]: libzmq's socket options where they show: on the wire against libzmq
//!   (`probe_router`, `router_notify`, `xpub_welcome_msg`, `invert_matching`, `xpub_manual`,
//!   `xpub_nodrop`, `reconnect_stop`) or on our connections' descriptors (keepalive, buffers,
//!   TOS, `tcp_maxrt`, `bindtodevice`), `connect_timeout` against a black hole, interface
//!   names, `ipv6`, defaults compared with libzmq's, options changed on a live socket.
//! * [`cases::proxy`]: the proxy as a queue, a forwarder and a streamer with libzmq (pyzmq)
//!   peers on both ends, capture, steering, high-water marks through it, cancel safety.
//! * [`cases::stream`]: STREAM against Python TCP peers and libzmq's STREAM (pyzmq), garbage,
//!   churn, unread huge writes (memory bounded) and slow readers.
//! * [`cases::api`]: `close` from another future wakes its waiters with `Error::Terminated`,
//!   linger set after creation or at close, a dropped socket's dialling ended by its linger,
//!   the process-wide `shutdown` (alone in its process: each driver's `tests/shutdown.rs`),
//!   errors to match on, every monitor getting every event.
//!
//! # What the peers do differently (and how the suite copes)
//!
//! * zmq.rs has no PAIR socket (no `pair_zmqrs` case), no heartbeats, no abstract IPC, and
//!   reconnects only its SUB/XSUB sockets (its reconnect case restarts our PUB under its SUB
//!   instead of our PULL under its PUSH). Its `send` fails at once where libzmq would queue
//!   (no peer yet) or drop (ROUTER, unknown identity): [`peer::ZmqRs`] retries for up to
//!   [`peer::RECV_LIMIT`]. Its `connect` waits for the handshake, so it reports a refused
//!   socket type itself.
//! * A bound libzmq SUB sends its subscriptions to a new connection only once its application
//!   calls into it (libzmq issue #2267): the XPUB cases poke it with short receives.
//!
//! # Running time
//!
//! Debug build, 2 cores: about 75–80 s per driver with the default two test threads (most of
//! it is waiting on timers: heartbeat idles, a PUB sending once a second, lingers, the fault
//! cases' deadlines and backoff, the 38 peer restarts of [`cases::restart`] per peer kind),
//! and some 20 s more for the omq.rs CURVE cases (omq's unoptimised crypto takes about 5 s to
//! seal or open each 16 MiB message).
//! `--test-threads=6` brings it to about 25 s.

pub mod cases;
pub mod omq;
pub mod peer;
pub mod pyzmq;
pub mod relay;
pub mod util;

use std::future::Future;
use std::time::{Duration, Instant};

pub use futures_util::future::Either;
pub use zmtp_async::MonitorEvent;
pub use zmtp_proto::{Error, Msg, SendError, SocketEvent, SocketOptions, SocketType};

use zmtp_async::Runtime;

/// The socket of driver `D`: the shared layer's socket on `D`'s runtime.
pub type Sock<D> = zmtp_async::Socket<<D as Driver>::Runtime>;

/// A runtime driver under test.
pub trait Driver: Sized + 'static {
    /// The driver's runtime.
    type Runtime: Runtime;
    /// A short name for messages.
    const NAME: &'static str;
    /// Runs `f` to completion on the driver's runtime, on the current thread.
    fn run<F: Future>(f: F) -> F::Output {
        Self::Runtime::block_on(f).expect("a runtime")
    }
    /// A new socket (called inside [`Driver::run`]).
    fn socket(ty: SocketType, options: SocketOptions) -> Sock<Self> {
        zmtp_async::Socket::with_options(ty, options)
    }
    /// The runtime's timer.
    fn sleep(d: Duration) -> impl Future<Output = ()> {
        Self::Runtime::sleep_until(Instant::now() + d)
    }
    /// Runs two futures until the first completes and drops the other (the `select!` the
    /// cancel-safety cases use). The default is the runtime-agnostic [`util::select`].
    fn race<A: Future, B: Future>(
        a: A,
        b: B,
    ) -> impl Future<Output = Either<A::Output, B::Output>> {
        util::select(a, b)
    }
}

/// Upper bound for one case; a case still running after it fails.
pub const CASE_LIMIT: Duration = Duration::from_secs(60);

/// Runs one case on the driver's runtime with the overall time limit and a watchdog.
/// The [`conformance_tests!`] macro calls this; it is public for hand-written extra tests.
pub fn run_case<D: Driver, F, Fut>(name: &str, case: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let watchdog = util::Watchdog::start(name, CASE_LIMIT + Duration::from_secs(30));
    D::run(async {
        if util::timeout::<D, _>(CASE_LIMIT, case()).await.is_none() {
            panic!(
                "{}: case {name} exceeded {:?} and was cancelled",
                D::NAME,
                CASE_LIMIT
            );
        }
    });
    drop(watchdog);
}

/// Expands to one `#[test]` per conformance case for the driver type given (which implements
/// [`Driver`]). See the crate documentation for a complete instantiation.
#[macro_export]
macro_rules! conformance_tests {
    ($driver:ty) => {
        $crate::__conformance_cases! { $driver;
            // Every compatible pair, both sides binding, TCP and IPC, multipart + empty frames.
            reqrep_ours, reqrep_libzmq, reqrep_zmqrs,
            req_router_ours, req_router_libzmq, req_router_zmqrs,
            dealer_rep_ours, dealer_rep_libzmq, dealer_rep_zmqrs,
            dealer_router_ours, dealer_router_libzmq, dealer_router_zmqrs,
            dealer_dealer_ours, dealer_dealer_libzmq, dealer_dealer_zmqrs,
            router_router_ours, router_router_libzmq, router_router_zmqrs,
            pub_sub_ours, pub_sub_libzmq, pub_sub_zmqrs,
            pub_xsub_ours, pub_xsub_libzmq, pub_xsub_zmqrs,
            xpub_sub_ours, xpub_sub_libzmq, xpub_sub_zmqrs,
            xpub_xsub_ours, xpub_xsub_libzmq, xpub_xsub_zmqrs,
            push_pull_ours, push_pull_libzmq, push_pull_zmqrs,
            pair_ours, pair_libzmq,
            // Sizes and volumes.
            large_message_ours, large_message_libzmq, large_message_zmqrs,
            many_in_order_ours, many_in_order_libzmq, many_in_order_zmqrs,
            many_frames_ours, many_frames_libzmq, many_frames_zmqrs,
            full_duplex_ours, full_duplex_libzmq, full_duplex_zmqrs,
            // Endpoint forms.
            endpoints_ours, endpoints_libzmq,
            // Semantics.
            pubsub_filtering_ours, pubsub_filtering_libzmq, pubsub_filtering_zmqrs,
            router_identities_ours, router_identities_libzmq, router_identities_zmqrs,
            router_returning_id_ours, router_returning_id_libzmq,
            router_live_duplicate_ours, router_live_duplicate_libzmq,
            router_connect_side_keeps_id_ours, router_connect_side_keeps_id_libzmq,
            reconnect_ours, reconnect_libzmq, reconnect_zmqrs,
            heartbeat_keeps_libzmq_connected, heartbeat_keeps_ours_connected,
            heartbeat_after_cancelled_recv_libzmq,
            heartbeat_detects_vanished_libzmq, heartbeat_detects_vanished_ours,
            heartbeat_ttl_libzmq, heartbeat_ttl_ours,
            // Peer restarts for every connect-side type, TCP and IPC: parked in `recv`, parked
            // in `send` at the high-water mark, busy elsewhere.
            parked_recv_redials_libzmq, parked_recv_redials_ours,
            parked_send_redials_libzmq, parked_send_redials_ours,
            busy_redials_libzmq, busy_redials_ours,
            // Heartbeats while parked; peers that never greet, or die mid-frame; backoff.
            parked_recv_heartbeats_libzmq, parked_recv_heartbeats_ours,
            parked_send_heartbeats_libzmq, parked_send_heartbeats_ours,
            silent_client_dropped_libzmq, silent_client_dropped_ours,
            killed_mid_frame_libzmq, killed_mid_frame_ours,
            reconnect_backoff,
            // Idleness and load.
            idle_sockets_sleep, slow_consumer_ours, slow_consumer_libzmq,
            router_thousand_peers, router_connect_cycles,
            // Security (PLAIN).
            plain_ours, plain_libzmq,
            plain_without_users_libzmq,
            // Security (CURVE): libzmq through pyzmq.
            curve_ours, curve_client_of_libzmq, curve_server_for_libzmq,
            curve_heartbeats_libzmq, curve_pub_sub_libzmq, curve_refusals_libzmq,
            // Security (CURVE): omq.rs (omq-tokio).
            curve_client_of_omq, curve_server_for_omq, curve_pub_sub_omq, curve_refusals_omq,
            incompatible_refused_ours, incompatible_refused_libzmq, incompatible_refused_zmqrs,
            unbind_disconnect_ours, unbind_disconnect_libzmq,
            pub_never_blocks_ours, pub_never_blocks_libzmq,
            fan_out_ours, fan_out_libzmq, fan_out_zmqrs,
            reqrep_state_machine, router_unroutable,
            many_peers_ours, fair_queue_libzmq,
            maxmsgsize_enforced_libzmq, bad_clients_dropped,
            // Cancel safety.
            cancel_recv_ours, cancel_recv_libzmq, cancel_recv_portable_select,
            cancel_send_at_hwm_ours, cancel_send_at_hwm_libzmq, try_send_at_hwm_hands_back,
            cancel_send_slice_at_hwm_ours, cancel_send_slice_at_hwm_libzmq,
            // Progress without the application.
            burst_then_sleep_ours, burst_then_sleep_libzmq, burst_then_sleep_zmqrs,
            slow_pub_serves_subscribers_libzmq, slow_pub_serves_subscribers_ours,
            servers_accept_while_busy_ours, servers_accept_while_busy_libzmq,
            servers_accept_while_busy_zmqrs,
            close_flushes_ours, close_flushes_libzmq, close_flushes_zmqrs,
            // Around the protocol: listeners, close, ipc files, monitor, Stream/Sink.
            unbind_releases_the_port, close_gives_up_after_linger, ipc_file_removed_on_close,
            monitor_reports_and_ends, slow_receiver_pauses_and_resumes,
            stream_and_sink_in_order, sink_waits_at_the_high_water_mark,
            // libzmq's socket options (issue 21).
            probe_router_libzmq, router_notify_libzmq, connect_routing_id_router_libzmq,
            xpub_welcome_msg_libzmq,
            invert_matching_libzmq, xpub_manual_libzmq, xpub_nodrop_libzmq,
            reconnect_stop_libzmq, tcp_options_on_the_socket_libzmq, connect_timeout_black_hole,
            bind_interface_name_libzmq, ipv6_libzmq, options_defaults_and_changes_libzmq,
            // The proxy, libzmq peers on both ends.
            proxy_queue_libzmq, proxy_forwarder_libzmq, proxy_streamer_capture_libzmq,
            proxy_steerable_libzmq, proxy_hwm_backpressure_libzmq, proxy_cancel_safe_libzmq,
            proxy_drops_unroutable_ours,
            // STREAM: raw TCP peers (Python sockets, libzmq's STREAM) and robustness.
            stream_tcp_client_python, stream_tcp_server_python, stream_to_libzmq_stream,
            stream_from_libzmq_stream, stream_garbage_is_data, stream_connection_churn,
            stream_huge_write_unread_is_bounded, stream_slow_reader, stream_refuses_inproc,
            stream_over_ipc,
            // The API as libzmq users expect it (issue 21); `process_shutdown` runs alone, in
            // each driver's `tests/shutdown.rs`.
            close_wakes_waiters, close_with_linger_bounds_close, dropped_socket_stops_dialling,
            dropped_socket_lingers_forever_by_default, errors_to_match_on,
            connect_retried_says_why, every_monitor_gets_every_event,
            events_carry_remote_libzmq, events_carry_remote_ours, borrowed_sends_libzmq,
            // In-process transport.
            inproc_pairs_same_task, inproc_pairs_across_threads,
            inproc_hwm_blocks_at_the_sum, inproc_hwm_drops_for_pub, inproc_pubsub_filtering,
            inproc_router_ids, inproc_names_unbind_disconnect, inproc_close_with_messages_queued,
            inproc_cancel_safety, inproc_monitor_events, inproc_no_copy,
            inproc_stress_across_threads,
            // The semantics cases and the proxy over inproc.
            pubsub_filtering_inproc, router_identities_inproc, pub_never_blocks_inproc,
            fan_out_inproc, inproc_proxy_queue, inproc_proxy_streamer,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($driver:ty; $( $(#[$attr:meta])* $name:ident ),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                $crate::run_case::<$driver, _, _>(
                    ::std::stringify!($name),
                    $crate::cases::$name::<$driver>,
                );
            }
        )*
    };
}
