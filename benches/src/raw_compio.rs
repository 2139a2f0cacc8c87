//! The raw-TCP floor over compio (io_uring): the same framing and batching as [`crate::raw`],
//! with owned-buffer I/O on one compio runtime per thread. Round trips drive both ends from
//! one task; streaming uses a sender thread and a receiver thread.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use compio::buf::{BufResult, IntoInner, IoBuf};
use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use futures_util::future::join;

use crate::compio_runtime as runtime;
use crate::raw::{decode_header, encode_header, push_frame, BATCH, VECTORED_THRESHOLD};
use crate::{
    io_err, is_warmup, payload, warmup_payload, FanOut, Measurement, Params, Scenario,
    SubscriberTally,
};

const READ_BUF: usize = 256 * 1024;

/// Runs `scenario` over compio TCP.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep | Scenario::DealerRouter => runtime()?.block_on(round_trip(params)),
        Scenario::PushPull => push_pull(params),
        Scenario::PubSub => pub_sub(params),
    }
}

async fn connected_pair(listener: &TcpListener) -> io::Result<(TcpStream, TcpStream)> {
    let addr = listener.local_addr()?;
    let (accepted, connected) = join(listener.accept(), TcpStream::connect(addr)).await;
    let (a, b) = (accepted?.0, connected?);
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    Ok((a, b))
}

/// Frame parser over an owned buffer that compio reads append to; large bodies are read
/// straight into a buffer of their own.
struct Reader {
    buf: Vec<u8>,
    start: usize,
    large: Vec<u8>,
}

/// Where the body of the last frame lives: a range of `Reader::buf`, or `Reader::large`.
enum Body {
    Buffered(usize, usize),
    Large,
}

impl Reader {
    fn new() -> Self {
        Self {
            buf: Vec::with_capacity(READ_BUF),
            start: 0,
            large: Vec::new(),
        }
    }

    fn body(&self, b: &Body) -> &[u8] {
        match *b {
            Body::Buffered(x, y) => &self.buf[x..y],
            Body::Large => &self.large,
        }
    }

    /// Reads until one whole frame is available.
    async fn next_frame(&mut self, s: &mut TcpStream) -> io::Result<Body> {
        loop {
            let avail = &self.buf[self.start..];
            if let Some((h, len)) = decode_header(avail) {
                if avail.len() >= h + len {
                    let body = Body::Buffered(self.start + h, self.start + h + len);
                    self.start += h + len;
                    return Ok(body);
                }
                if len > READ_BUF / 4 {
                    let mut large = std::mem::take(&mut self.large);
                    large.clear();
                    large.extend_from_slice(&avail[h..]);
                    let have = large.len();
                    large.reserve(len - have);
                    let BufResult(r, slice) = s.read_exact(large.slice(have..len)).await;
                    self.large = slice.into_inner();
                    r?;
                    self.buf.clear();
                    self.start = 0;
                    return Ok(Body::Large);
                }
            }
            // Keep the unparsed tail at the front so that the next read appends after it.
            if self.start == self.buf.len() {
                self.buf.clear();
            } else if self.start > 0 {
                self.buf.drain(..self.start);
            }
            self.start = 0;
            let buf = std::mem::take(&mut self.buf);
            let BufResult(r, buf) = s.append(buf).await;
            self.buf = buf;
            if r? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

async fn write_all(s: &mut TcpStream, buf: Vec<u8>) -> io::Result<Vec<u8>> {
    let BufResult(r, buf) = s.write_all(buf).await;
    r.map(|()| buf)
}

/// One hop of a round trip: `from` writes `frame` while `reader` waits on `to` for it. Both
/// are in flight together, so they go to the kernel in one `io_uring_enter` (waiting for the
/// write's completion before submitting the read would cost a second one, which no
/// implementation needs). Hands back the write buffer and where the frame is.
async fn hop(
    from: &mut TcpStream,
    frame: Vec<u8>,
    to: &mut TcpStream,
    reader: &mut Reader,
) -> io::Result<(Vec<u8>, Body)> {
    let (written, got) = join(write_all(from, frame), reader.next_frame(to)).await;
    Ok((written?, got?))
}

async fn round_trip(p: &Params) -> io::Result<Measurement> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (mut server, mut client) = connected_pair(&listener).await?;
    let body = payload(p.size);
    let mut out = Vec::with_capacity(p.size + 9);
    let mut echo = Vec::with_capacity(p.size + 9);
    let mut server_in = Reader::new();
    let mut client_in = Reader::new();
    let mut start = Instant::now();
    for i in 0..=p.count {
        if i == 1 {
            start = Instant::now();
        }
        out.clear();
        push_frame(&mut out, &body);
        let request;
        (out, request) = hop(&mut client, out, &mut server, &mut server_in).await?;
        echo.clear();
        push_frame(&mut echo, server_in.body(&request));
        let reply;
        (echo, reply) = hop(&mut server, echo, &mut client, &mut client_in).await?;
        std::hint::black_box(client_in.body(&reply));
    }
    Ok(Measurement {
        elapsed: start.elapsed(),
        delivered: p.count,
    })
}

/// Sends one warm-up frame and `count` frames of `body` to every stream: small frames
/// batched through a 64 KiB buffer, large ones as a vectored write of header and a shared
/// (not copied) body.
async fn stream_out(
    writers: &mut [TcpStream],
    body: Bytes,
    count: u64,
    fan: Option<&FanOut>,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(BATCH + body.len() + 9);
    push_frame(&mut out, &warmup_payload(body.len()));
    for w in writers.iter_mut() {
        out = write_all(w, out).await?;
    }
    out.clear();
    if let Some(fan) = fan {
        fan.mark_start();
    }
    for _ in 0..count {
        if body.len() >= VECTORED_THRESHOLD {
            if !out.is_empty() {
                for w in writers.iter_mut() {
                    out = write_all(w, out).await?;
                }
                out.clear();
            }
            for w in writers.iter_mut() {
                let mut header = [0u8; 9];
                let h = encode_header(body.len(), &mut header);
                let bufs = [Bytes::copy_from_slice(&header[..h]), body.clone()];
                let BufResult(r, _) = w.write_vectored_all(bufs).await;
                r?;
            }
        } else {
            push_frame(&mut out, &body);
            if out.len() >= BATCH {
                for w in writers.iter_mut() {
                    out = write_all(w, out).await?;
                }
                out.clear();
            }
        }
    }
    for w in writers.iter_mut() {
        out = write_all(w, out).await?;
    }
    Ok(())
}

fn push_pull(p: &Params) -> io::Result<Measurement> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (size, count) = (p.size, p.count);
    let sender = std::thread::spawn(move || -> io::Result<()> {
        runtime()?.block_on(async {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            stream_out(&mut [s], Bytes::from(payload(size)), count, None).await
        })
    });
    let result = runtime()?.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        let (mut s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        let mut reader = Reader::new();
        loop {
            let body = reader.next_frame(&mut s).await?;
            if is_warmup(reader.body(&body)) {
                break;
            }
        }
        let start = Instant::now();
        for _ in 0..count {
            let body = reader.next_frame(&mut s).await?;
            std::hint::black_box(reader.body(&body));
        }
        io::Result::Ok(start.elapsed())
    });
    sender.join().map_err(|_| io_err("sender panicked"))??;
    Ok(Measurement {
        elapsed: result?,
        delivered: count,
    })
}

fn pub_sub(p: &Params) -> io::Result<Measurement> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let fan = FanOut::new();
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (fan, count) = (Arc::clone(&fan), p.count);
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            runtime()?.block_on(async {
                let mut s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let mut reader = Reader::new();
                let mut tally = SubscriberTally::default();
                loop {
                    let body = reader.next_frame(&mut s).await?;
                    if tally.on_message(reader.body(&body), &fan, count) {
                        break;
                    }
                }
                tally.finish(&fan);
                Ok(())
            })
        }));
    }
    let n = p.subscribers;
    let result = runtime()?.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        let mut writers = Vec::new();
        for _ in 0..n {
            let (s, _) = listener.accept().await?;
            s.set_nodelay(true)?;
            writers.push(s);
        }
        stream_out(
            &mut writers,
            Bytes::from(payload(p.size)),
            p.count,
            Some(&fan),
        )
        .await
    });
    for s in subs {
        s.join().map_err(|_| io_err("subscriber panicked"))??;
    }
    result?;
    Ok(fan.measurement())
}
