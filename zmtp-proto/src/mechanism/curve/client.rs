//! The client side of a CURVE handshake (RFC 26).
//!
//! ```text
//! C: HELLO    = version C' short-nonce box[64 zeros](C'→S)
//! S: WELCOME  = long-nonce box[S' cookie](S→C')
//! C: INITIATE = cookie short-nonce box[C vouch metadata](C'→S'),  vouch = box[C' S](C→S')
//! S: READY    = short-nonce box[metadata](S'→C')
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::SalsaBox;
use zeroize::Zeroizing;

use super::cipher::CurveCipher;
use super::crypto::{key_box, long_nonce, open, seal, short_nonce, Keystream};
use super::keys::{CurveKeyPair, KEY_LEN};
use super::{peer_error, CurveClientConfig, COOKIE_LEN, HELLO_LEN, WELCOME_LEN};
use crate::command::{encode_command_header, split_name};
use crate::error::Error;
use crate::metadata::Metadata;

/// The client side of a CURVE handshake.
pub(crate) struct CurveClient {
    config: CurveClientConfig,
    /// C', made for this connection.
    transient: CurveKeyPair,
    rng: Keystream,
    ours: Metadata,
    /// The short nonce of our next command.
    nonce: u64,
    state: State,
    cipher: Option<CurveCipher>,
}

enum State {
    Start,
    WaitWelcome,
    /// WELCOME opened: the box between C' and S'.
    WaitReady(SalsaBox),
    Done,
}

impl std::fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveClient")
            .field("server_key", &self.config.server_key)
            .field("public", self.config.keys.public())
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    pub(crate) fn new(config: CurveClientConfig, mut rng: Keystream) -> Self {
        let transient = CurveKeyPair::from_secret(rng.secret_key());
        Self {
            config,
            transient,
            rng,
            ours: Metadata::new(),
            nonce: 1,
            state: State::Start,
            cipher: None,
        }
    }

    fn next_nonce(&mut self) -> u64 {
        let n = self.nonce;
        self.nonce += 1;
        n
    }

    /// Sends HELLO.
    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        self.ours = ours.clone();
        let nonce = self.next_nonce();
        encode_command_header(b"HELLO", HELLO_LEN - 6, out);
        out.put_slice(&[1, 0]);
        out.put_bytes(0, 72);
        out.put_slice(self.transient.public().as_bytes());
        out.put_u64(nonce);
        let to_server = key_box(self.config.server_key.as_bytes(), self.transient.secret());
        seal(
            &to_server,
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &[0; 64],
            out,
        );
        self.state = State::WaitWelcome;
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        let (name, _) = split_name(&body)?;
        match (&self.state, &name[..]) {
            (_, b"ERROR") => Err(peer_error(&body)),
            (State::WaitWelcome, b"WELCOME") => {
                let (server_transient, cookie) = self.welcome(&body)?;
                let short_box = self.initiate(&server_transient, &cookie, out);
                self.state = State::WaitReady(short_box);
                Ok(None)
            }
            (State::WaitReady(_), b"READY") => {
                let State::WaitReady(short_box) = std::mem::replace(&mut self.state, State::Done)
                else {
                    unreachable!("matched above")
                };
                self.ready(short_box, &body).map(Some)
            }
            _ => Err(Error::unexpected_command(&name)),
        }
    }

    /// Opens WELCOME (exactly 168 bytes): the server's transient key S' and its cookie.
    fn welcome(&self, body: &[u8]) -> Result<([u8; KEY_LEN], [u8; COOKIE_LEN]), Error> {
        if body.len() != WELCOME_LEN {
            return Err(Error::MalformedCommand("WELCOME is not 168 bytes"));
        }
        let from_server = key_box(self.config.server_key.as_bytes(), self.transient.secret());
        let plain = open(
            &from_server,
            &long_nonce(b"WELCOME-", &body[8..24]),
            &body[24..],
        )
        .ok_or(Error::Cryptographic(
            "WELCOME box does not open (wrong server key?)",
        ))?;
        Ok((
            plain[..KEY_LEN].try_into().expect("32 bytes"),
            plain[KEY_LEN..].try_into().expect("96 bytes"),
        ))
    }

    /// Sends INITIATE: the cookie back, then our long-term key, the vouch and our metadata.
    /// Returns the box between C' and S'.
    fn initiate(
        &mut self,
        server_transient: &[u8; KEY_LEN],
        cookie: &[u8; COOKIE_LEN],
        out: &mut BytesMut,
    ) -> SalsaBox {
        // vouch = long-nonce box[C' S](C→S')
        let mut vouch_nonce = [0; 16];
        self.rng.fill(&mut vouch_nonce);
        let mut vouch_plain = Zeroizing::new([0; 2 * KEY_LEN]);
        vouch_plain[..KEY_LEN].copy_from_slice(self.transient.public().as_bytes());
        vouch_plain[KEY_LEN..].copy_from_slice(self.config.server_key.as_bytes());
        let mut vouch = BytesMut::with_capacity(96);
        vouch.put_slice(&vouch_nonce);
        seal(
            &key_box(server_transient, self.config.keys.secret()),
            &long_nonce(b"VOUCH---", &vouch_nonce),
            &vouch_plain[..],
            &mut vouch,
        );

        let mut plain = Zeroizing::new(Vec::with_capacity(
            KEY_LEN + vouch.len() + self.ours.encoded_len(),
        ));
        plain.extend_from_slice(self.config.keys.public().as_bytes());
        plain.extend_from_slice(&vouch);
        self.ours.encode(&mut *plain);

        let nonce = self.next_nonce();
        encode_command_header(b"INITIATE", COOKIE_LEN + 8 + 16 + plain.len(), out);
        out.put_slice(cookie);
        out.put_u64(nonce);
        let short_box = key_box(server_transient, self.transient.secret());
        seal(
            &short_box,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &plain,
            out,
        );
        short_box
    }

    /// Opens READY (at least 30 bytes): the server's metadata. The handshake is complete.
    fn ready(&mut self, short_box: SalsaBox, body: &[u8]) -> Result<Metadata, Error> {
        if body.len() < 30 {
            return Err(Error::MalformedCommand("READY shorter than 30 bytes"));
        }
        let nonce = u64::from_be_bytes(body[6..14].try_into().expect("8 bytes"));
        let plain = open(
            &short_box,
            &short_nonce(b"CurveZMQREADY---", nonce),
            &body[14..],
        )
        .ok_or(Error::Cryptographic("READY box does not open"))?;
        let meta = Metadata::parse(Bytes::copy_from_slice(&plain))?;
        self.cipher = Some(CurveCipher::new(short_box, false, self.nonce, nonce));
        Ok(meta)
    }

    /// The frame transform, once READY arrived.
    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        self.cipher.take()
    }
}
