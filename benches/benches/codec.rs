//! Codec throughput of `zmtp-proto` alone: no sockets, no runtime, one `Connection` per side.
//!
//! - decode: a pre-encoded stream of single-frame messages is fed through `read_buf` +
//!   `handle_read` in reads of at most 64 KiB (the copy a kernel read would do), and every
//!   message is drained with `poll_message`;
//! - encode: `send` for each message, then `transmit_chunks` + `advance_transmit` as a
//!   vectored write would. Bodies of 8 KiB and more are queued by reference (zero copy), so
//!   the 64 KiB encode figure measures bookkeeping, not copying.
//!
//! Throughput counts message payload bytes (frame headers excluded).
//! Run: `cargo bench -p zmtp-benches --bench codec -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)] // reason: criterion's macros generate undocumented pub items

use std::hint::black_box;
use std::io::IoSlice;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmtp_proto::{Connection, ConnectionConfig, Msg, SocketType};

/// Payload bytes moved per benchmark iteration, whatever the message size.
const BATCH_BYTES: usize = 4 << 20;
const SIZES: [(usize, &str); 3] = [(16, "16B"), (1024, "1KiB"), (64 * 1024, "64KiB")];
/// Largest read the decode loop hands to the connection at once.
const READ: usize = 64 * 1024;

/// Writes everything `conn` has pending into `out` the way a vectored write would.
fn drain_output(conn: &mut Connection, out: &mut Vec<u8>) {
    while conn.has_transmit() {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = conn.transmit_chunks(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            out.extend_from_slice(s);
            written += s.len();
        }
        conn.advance_transmit(written);
    }
}

/// A PUSH/PULL pair whose handshake is done, in memory.
fn connected() -> (Connection, Connection) {
    let now = Instant::now();
    let mut push = Connection::new(SocketType::Push, ConnectionConfig::default(), now);
    let mut pull = Connection::new(SocketType::Pull, ConnectionConfig::default(), now);
    let mut wire = Vec::new();
    for _ in 0..3 {
        wire.clear();
        drain_output(&mut push, &mut wire);
        pull.handle_input(&wire, now).unwrap();
        wire.clear();
        drain_output(&mut pull, &mut wire);
        push.handle_input(&wire, now).unwrap();
    }
    assert!(push.is_active() && pull.is_active());
    while pull.poll_event().is_some() {}
    while push.poll_event().is_some() {}
    (push, pull)
}

fn message(size: usize) -> Msg {
    Msg::from(Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>()))
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (size, name) in SIZES {
        let count = BATCH_BYTES / size;
        let (mut push, mut pull) = connected();
        let msg = message(size);
        let mut stream = Vec::with_capacity(count * (size + 9));
        for _ in 0..count {
            push.send(&msg).unwrap();
        }
        drain_output(&mut push, &mut stream);
        let now = Instant::now();
        group.throughput(Throughput::Bytes((count * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut received = 0;
                for chunk in stream.chunks(READ) {
                    pull.read_buf().extend_from_slice(chunk);
                    pull.handle_read(now).unwrap();
                    while let Some(m) = pull.poll_message() {
                        received += black_box(m).byte_len();
                    }
                }
                assert_eq!(received, count * size);
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (size, name) in SIZES {
        let count = BATCH_BYTES / size;
        let (mut push, _pull) = connected();
        let msg = message(size);
        group.throughput(Throughput::Bytes((count * size) as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut written = 0;
                for i in 0..count {
                    push.send(black_box(&msg)).unwrap();
                    // Write after every 64 KiB of payload, as a driver with one write in
                    // flight would.
                    if (i + 1) * size % READ < size || i + 1 == count {
                        while push.has_transmit() {
                            let mut slices = [IoSlice::new(&[]); 64];
                            let n = push.transmit_chunks(&mut slices);
                            let len: usize = slices[..n].iter().map(|s| black_box(s.len())).sum();
                            push.advance_transmit(len);
                            written += len;
                        }
                    }
                }
                assert!(written >= count * size);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
