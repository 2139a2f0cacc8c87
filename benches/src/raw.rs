//! The raw-TCP floor: the same message patterns over plain blocking sockets with minimal
//! framing (a ZMTP frame header: flags, then a 1-byte or 8-byte length), no handshake, no
//! routing, no queues.
//!
//! It is meant to be a real floor: small messages are batched through a 64 KiB buffer
//! (one copy from the caller's buffer, like every implementation), large bodies go out with a
//! vectored write of header and body (no copy at all), and the reader parses frames out of a
//! 256 KiB buffer with as few reads as the kernel allows, reading large bodies straight into
//! their own buffer.

use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crate::{payload, warmup_payload, FanOut, Measurement, Params, Scenario, SubscriberTally};

/// Bodies at least this large are written with a vectored write instead of being copied into
/// the batch buffer.
pub const VECTORED_THRESHOLD: usize = 8 * 1024;
/// Small frames accumulate in a buffer of this size before one write.
pub const BATCH: usize = 64 * 1024;
const READ_BUF: usize = 256 * 1024;

/// Runs `scenario` over plain TCP.
pub fn run(scenario: Scenario, params: &Params) -> io::Result<Measurement> {
    match scenario {
        Scenario::ReqRep | Scenario::DealerRouter => round_trip(params),
        Scenario::PushPull => push_pull(params),
        Scenario::PubSub => pub_sub(params),
    }
}

/// A connected pair of loopback TCP sockets with `TCP_NODELAY`.
pub fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(listener.local_addr()?)?;
    let (b, _) = listener.accept()?;
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    Ok((a, b))
}

/// Writes a ZMTP-style frame header for a body of `len` bytes; returns the header length.
pub fn encode_header(len: usize, out: &mut [u8; 9]) -> usize {
    if len < 256 {
        out[0] = 0;
        out[1] = len as u8;
        2
    } else {
        out[0] = 2;
        out[1..9].copy_from_slice(&(len as u64).to_be_bytes());
        9
    }
}

/// Parses a frame header: `(header length, body length)`, or `None` if incomplete.
pub fn decode_header(b: &[u8]) -> Option<(usize, usize)> {
    let flags = *b.first()?;
    if flags & 2 == 0 {
        Some((2, *b.get(1)? as usize))
    } else {
        let len: [u8; 8] = b.get(1..9)?.try_into().ok()?;
        Some((9, u64::from_be_bytes(len) as usize))
    }
}

/// Appends one frame (header + copy of `body`) to `out`.
pub fn push_frame(out: &mut Vec<u8>, body: &[u8]) {
    let mut h = [0u8; 9];
    let n = encode_header(body.len(), &mut h);
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(body);
}

/// Writes every byte of `bufs` with vectored writes.
pub fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where the body of the last frame returned by [`FrameReader::next_frame`] lives.
enum Body {
    Buffered(usize, usize),
    Large(usize),
}

/// Parses frames out of a stream with as few reads as possible.
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    large: Vec<u8>,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self {
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            large: Vec::new(),
        }
    }
}

impl FrameReader {
    /// The body of the next frame.
    pub fn next_frame(&mut self, s: &mut impl Read) -> io::Result<&[u8]> {
        let body = loop {
            let avail = &self.buf[self.start..self.end];
            if let Some((h, len)) = decode_header(avail) {
                if avail.len() >= h + len {
                    let b = Body::Buffered(self.start + h, self.start + h + len);
                    self.start += h + len;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    break b;
                }
                if len > self.buf.len() / 4 {
                    // A large body: take what is buffered, read the rest straight into place.
                    let have = avail.len() - h;
                    self.large.resize(len, 0);
                    self.large[..have].copy_from_slice(&avail[h..]);
                    s.read_exact(&mut self.large[have..])?;
                    self.start = 0;
                    self.end = 0;
                    break Body::Large(len);
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.buf.len() - self.end < self.buf.len() / 4 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = s.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        };
        Ok(match body {
            Body::Buffered(a, b) => &self.buf[a..b],
            Body::Large(len) => &self.large[..len],
        })
    }
}

/// One thread drives both ends: write a request, read it, write it back, read the reply.
fn round_trip(p: &Params) -> io::Result<Measurement> {
    let (mut client, mut server) = pair()?;
    let body = payload(p.size);
    let mut out = Vec::with_capacity(p.size + 9);
    let mut echo = Vec::with_capacity(p.size + 9);
    let mut client_in = FrameReader::default();
    let mut server_in = FrameReader::default();
    let mut start = Instant::now();
    for i in 0..=p.count {
        if i == 1 {
            start = Instant::now();
        }
        out.clear();
        push_frame(&mut out, &body);
        client.write_all(&out)?;
        let request = server_in.next_frame(&mut server)?;
        echo.clear();
        push_frame(&mut echo, request);
        server.write_all(&echo)?;
        let reply = client_in.next_frame(&mut client)?;
        std::hint::black_box(reply);
    }
    Ok(Measurement {
        elapsed: start.elapsed(),
        delivered: p.count,
    })
}

/// Sends one warm-up frame and `count` frames of `body` to every writer, batching small
/// frames and writing large ones vectored.
fn stream_out(
    writers: &mut [TcpStream],
    body: &[u8],
    count: u64,
    fan: Option<&FanOut>,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(BATCH + body.len() + 9);
    push_frame(&mut out, &warmup_payload(body.len()));
    for w in writers.iter_mut() {
        w.write_all(&out)?;
    }
    out.clear();
    if let Some(fan) = fan {
        fan.mark_start();
    }
    let mut header = [0u8; 9];
    for _ in 0..count {
        if body.len() >= VECTORED_THRESHOLD {
            if !out.is_empty() {
                for w in writers.iter_mut() {
                    w.write_all(&out)?;
                }
                out.clear();
            }
            let h = encode_header(body.len(), &mut header);
            for w in writers.iter_mut() {
                let mut slices = [IoSlice::new(&header[..h]), IoSlice::new(body)];
                write_all_vectored(w, &mut slices)?;
            }
        } else {
            push_frame(&mut out, body);
            if out.len() >= BATCH {
                for w in writers.iter_mut() {
                    w.write_all(&out)?;
                }
                out.clear();
            }
        }
    }
    for w in writers.iter_mut() {
        w.write_all(&out)?;
    }
    Ok(())
}

fn push_pull(p: &Params) -> io::Result<Measurement> {
    let (push, mut pull) = pair()?;
    let count = p.count;
    let size = p.size;
    let sender = std::thread::spawn(move || stream_out(&mut [push], &payload(size), count, None));
    let mut reader = FrameReader::default();
    while !crate::is_warmup(reader.next_frame(&mut pull)?) {}
    let start = Instant::now();
    for _ in 0..count {
        std::hint::black_box(reader.next_frame(&mut pull)?);
    }
    let elapsed = start.elapsed();
    sender
        .join()
        .map_err(|_| crate::io_err("sender panicked"))??;
    Ok(Measurement {
        elapsed,
        delivered: count,
    })
}

fn pub_sub(p: &Params) -> io::Result<Measurement> {
    let fan = FanOut::new();
    let mut writers = Vec::new();
    let mut subs = Vec::new();
    for _ in 0..p.subscribers {
        let (w, mut r) = pair()?;
        writers.push(w);
        let fan = Arc::clone(&fan);
        let count = p.count;
        subs.push(std::thread::spawn(move || -> io::Result<()> {
            let mut reader = FrameReader::default();
            let mut tally = SubscriberTally::default();
            loop {
                let body = reader.next_frame(&mut r)?;
                if tally.on_message(body, &fan, count) {
                    break;
                }
            }
            tally.finish(&fan);
            Ok(())
        }));
    }
    stream_out(&mut writers, &payload(p.size), p.count, Some(&fan))?;
    for s in subs {
        s.join()
            .map_err(|_| crate::io_err("subscriber panicked"))??;
    }
    Ok(fan.measurement())
}
