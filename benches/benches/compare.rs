//! Criterion view of the side-by-side scenarios, in process: each sample runs one
//! implementation's scenario with `iters` round trips or messages and reports the time the
//! scenario measured (connection setup is excluded). The fresh-process interleaved runner
//! (`benches/compare.sh`) is the source of docs/benchmarks.md; this is for quick local
//! comparisons and criterion's change detection.
//!
//! ```text
//! cargo bench -p zmtp-benches --bench compare                  # ours, libzmq, zmq.rs, floors
//! cargo bench -p zmtp-benches --features peers --bench compare # + omq.rs, monocoque-rs
//! cargo bench -p zmtp-benches --bench compare -- pushpull/16   # one group
//! ```

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmtp_benches::{Measurement, Params, Scenario};

type Runner = fn(Scenario, &Params) -> std::io::Result<Measurement>;

fn implementations() -> Vec<(&'static str, Runner)> {
    #[cfg_attr(not(feature = "peers"), allow(unused_mut))] // Only the peers feature adds more.
    let mut v: Vec<(&'static str, Runner)> = vec![
        ("tokio", zmtp_benches::ours::run::<driver_tokio::Tokio>),
        ("compio", zmtp_benches::ours::run::<driver_compio::Compio>),
        ("libzmq", zmtp_benches::libzmq::run),
        ("zmqrs", zmtp_benches::zmqrs::run),
        ("raw", zmtp_benches::raw::run),
        ("raw-compio", zmtp_benches::raw_compio::run),
    ];
    #[cfg(feature = "peers")]
    {
        v.push(("omq", zmtp_benches::omq::run));
        v.push(("monocoque", |s, p| {
            zmtp_benches::monocoque::run(s, p, false)
        }));
        v.push(("monocoque-coalesce", |s, p| {
            zmtp_benches::monocoque::run(s, p, true)
        }));
    }
    v
}

fn scenario(c: &mut Criterion, name: &str, which: Scenario, size: usize, min_count: u64) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    if which.is_round_trip() {
        group.throughput(Throughput::Elements(1));
    } else {
        group.throughput(Throughput::Bytes(size as u64));
    }
    for (imp, run) in implementations() {
        if imp == "monocoque-coalesce" && which.is_round_trip() {
            continue;
        }
        group.bench_function(BenchmarkId::from_parameter(imp), |b| {
            b.iter_custom(|iters| {
                // Tiny runs are dominated by start-up effects: measure at least `min_count`
                // and scale the time back to `iters`.
                let count = iters.max(min_count);
                let params = Params {
                    size,
                    count,
                    subscribers: 4,
                    hwm: 0,
                };
                let m = run(which, &params).expect("benchmark run failed");
                m.elapsed.mul_f64(iters as f64 / count as f64)
            });
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    scenario(c, "reqrep/16", Scenario::ReqRep, 16, 1_000);
    scenario(c, "dealer/16", Scenario::DealerRouter, 16, 1_000);
    scenario(c, "pushpull/16", Scenario::PushPull, 16, 100_000);
    scenario(c, "pushpull/1024", Scenario::PushPull, 1024, 50_000);
    scenario(c, "pushpull/65536", Scenario::PushPull, 65536, 2_000);
    scenario(c, "pubsub4/16", Scenario::PubSub, 16, 50_000);
}

criterion_group!(compare, benches);
criterion_main!(compare);
