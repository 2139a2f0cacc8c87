//! Raw bytes into the wire decoders: frame header, command, metadata and greeting. Nothing may
//! panic, and whatever parses re-encodes to something that parses to the same value.
#![no_main]

use std::hint::black_box;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmtp_proto::fuzzing::Command;
use zmtp_proto::fuzzing::{encode_header, FrameHeader};
use zmtp_proto::fuzzing::GreetingReader;
use zmtp_proto::Metadata;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = black_box(FrameHeader::parse(data)) {
        assert!(h.size < 1 << 63);
        assert!(h.header_len == 2 || h.header_len == 9);
        if h.size <= 255 {
            // Our encoder picks the short form for small sizes; the result parses back.
            let mut out = Vec::new();
            encode_header(h.flags, h.size as usize, &mut out);
            let back = FrameHeader::parse(&out).unwrap().unwrap();
            assert_eq!(
                (back.size, back.more(), back.is_command()),
                (h.size, h.more(), h.is_command())
            );
        }
    }

    let body = Bytes::copy_from_slice(data);
    if let Ok(cmd) = black_box(Command::parse(&body)) {
        let mut out = Vec::new();
        cmd.encode(&mut out);
        let h = FrameHeader::parse(&out).unwrap().unwrap();
        assert!(h.is_command());
        let again = Command::parse(&Bytes::copy_from_slice(&out[h.header_len..])).unwrap();
        assert_eq!(again, cmd);
    }

    if let Ok(meta) = black_box(Metadata::parse(body)) {
        let mut out = Vec::new();
        meta.encode(&mut out);
        assert_eq!(out.len(), meta.encoded_len());
        assert_eq!(Metadata::parse(Bytes::from(out)).unwrap(), meta);
    }

    let mut reader = GreetingReader::new();
    let mut rest = data;
    while !rest.is_empty() && !reader.is_complete() {
        // Feed in pieces whose size comes from the data itself.
        let n = (usize::from(rest[0]) % 16 + 1).min(rest.len());
        match reader.feed(&rest[..n]) {
            Ok(used) => rest = &rest[used..],
            Err(_) => break,
        }
    }
    black_box(reader.greeting());
});
