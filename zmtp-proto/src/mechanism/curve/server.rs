//! The server side of a CURVE handshake (RFC 26; the client's module shows the commands).
//!
//! Between HELLO and INITIATE the server keeps only its cookie key: C' and s' travel in the
//! cookie, encrypted with it. The cookie key is made for this connection and forgotten (zeroed)
//! after a valid INITIATE (RFC 26's rule; libzmq 4.3 keeps it), so a HELLO or INITIATE replayed
//! on another connection, or a cookie from another connection, fails to open.

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::cipher::CurveCipher;
use super::crypto::{cookie_box, key_box, long_nonce, open, seal, short_nonce, Keystream, MAC_LEN};
use super::keys::{CurvePublicKey, CurveSecretKey, KEY_LEN};
use super::{peer_error, CurveServerConfig, COOKIE_LEN, HELLO_LEN, REFUSED};
use crate::command::{encode_command_header, split_name, Command};
use crate::error::Error;
use crate::mechanism::USER_ID;
use crate::metadata::Metadata;

/// The smallest INITIATE: name, cookie, short nonce and a box of C and the vouch.
const MIN_INITIATE_LEN: usize = 9 + COOKIE_LEN + 8 + MAC_LEN + KEY_LEN + 96;

/// The server side of a CURVE handshake.
pub(crate) struct CurveServer {
    config: CurveServerConfig,
    rng: Keystream,
    ours: Metadata,
    state: State,
    cipher: Option<CurveCipher>,
}

enum State {
    WaitHello,
    /// WELCOME sent: the cookie key and HELLO's short nonce.
    WaitInitiate {
        cookie_key: Zeroizing<[u8; KEY_LEN]>,
        hello_nonce: u64,
    },
    Done,
}

impl std::fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveServer")
            .field("public", self.config.keys.public())
            .field("clients", &self.config.clients)
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    pub(crate) fn new(config: CurveServerConfig, rng: Keystream) -> Self {
        Self {
            config,
            rng,
            ours: Metadata::new(),
            state: State::WaitHello,
            cipher: None,
        }
    }

    /// The client speaks first.
    pub(crate) fn start(&mut self, ours: &Metadata, _out: &mut BytesMut) {
        self.ours = ours.clone();
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        let (name, _) = split_name(&body)?;
        match (&self.state, &name[..]) {
            // C7: a client SHALL NOT send ERROR, but one that does has given up.
            (_, b"ERROR") => Err(peer_error(&body)),
            (State::WaitHello, b"HELLO") => {
                let hello_nonce = self.hello(&body)?;
                let cookie_key = self.welcome(&body, out);
                self.state = State::WaitInitiate {
                    cookie_key,
                    hello_nonce,
                };
                Ok(None)
            }
            (State::WaitInitiate { .. }, b"INITIATE") => {
                // Leaving WaitInitiate drops (zeroes) the cookie key, whatever happens next.
                let State::WaitInitiate {
                    cookie_key,
                    hello_nonce,
                } = std::mem::replace(&mut self.state, State::Done)
                else {
                    unreachable!("matched above")
                };
                self.initiate(&cookie_key, hello_nonce, &body, out)
                    .map(Some)
            }
            _ => Err(Error::unexpected_command(&name)),
        }
    }

    /// Checks HELLO (exactly 200 bytes, version 1.0, zero padding, a box of 64 zeros from C' to
    /// S). Returns its short nonce.
    fn hello(&self, body: &[u8]) -> Result<u64, Error> {
        if body.len() != HELLO_LEN {
            return Err(Error::MalformedCommand("HELLO is not 200 bytes"));
        }
        if body[6..8] != [1, 0] {
            return Err(Error::MalformedCommand("HELLO version is not 1.0"));
        }
        if body[8..80].iter().any(|&b| b != 0) {
            return Err(Error::MalformedCommand("HELLO padding is not zero"));
        }
        let client_transient: [u8; KEY_LEN] = body[80..112].try_into().expect("32 bytes");
        let nonce = u64::from_be_bytes(body[112..120].try_into().expect("8 bytes"));
        let plain = open(
            &key_box(&client_transient, self.config.keys.secret()),
            &short_nonce(b"CurveZMQHELLO---", nonce),
            &body[120..],
        )
        .ok_or(Error::Cryptographic(
            "HELLO box does not open (the client has another server key)",
        ))?;
        if plain.iter().any(|&b| b != 0) {
            return Err(Error::Cryptographic("HELLO box does not hold 64 zeros"));
        }
        Ok(nonce)
    }

    /// Sends WELCOME with a fresh transient key pair and a cookie holding it; returns the
    /// cookie key.
    fn welcome(&mut self, hello: &[u8], out: &mut BytesMut) -> Zeroizing<[u8; KEY_LEN]> {
        let client_transient: [u8; KEY_LEN] = hello[80..112].try_into().expect("32 bytes");
        let transient = self.rng.secret_key();
        let mut cookie_key = Zeroizing::new([0; KEY_LEN]);
        self.rng.fill(&mut cookie_key[..]);

        // cookie = long-nonce box[C' s'](K)
        let mut cookie_plain = Zeroizing::new(Vec::with_capacity(2 * KEY_LEN));
        cookie_plain.extend_from_slice(&client_transient);
        cookie_plain.extend_from_slice(&transient.expose_bytes()[..]);
        let mut cookie_nonce = [0; 16];
        self.rng.fill(&mut cookie_nonce);
        let mut welcome_plain = BytesMut::with_capacity(KEY_LEN + COOKIE_LEN);
        welcome_plain.put_slice(transient.public_key().as_bytes());
        welcome_plain.put_slice(&cookie_nonce);
        seal(
            &cookie_box(&cookie_key),
            &long_nonce(b"COOKIE--", &cookie_nonce),
            &cookie_plain,
            &mut welcome_plain,
        );

        let mut welcome_nonce = [0; 16];
        self.rng.fill(&mut welcome_nonce);
        encode_command_header(b"WELCOME", 16 + MAC_LEN + KEY_LEN + COOKIE_LEN, out);
        out.put_slice(&welcome_nonce);
        seal(
            &key_box(&client_transient, self.config.keys.secret()),
            &long_nonce(b"WELCOME-", &welcome_nonce),
            &welcome_plain,
            out,
        );
        cookie_key
    }

    /// Checks INITIATE (cookie, box, vouch, the client's key), then sends READY. Returns the
    /// client's metadata, with `User-Id` set to its public key in Z85.
    fn initiate(
        &mut self,
        cookie_key: &[u8; KEY_LEN],
        hello_nonce: u64,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<Metadata, Error> {
        if body.len() < MIN_INITIATE_LEN {
            return Err(Error::MalformedCommand("INITIATE shorter than 257 bytes"));
        }
        let cookie = &body[9..9 + COOKIE_LEN];
        let keys = open(
            &cookie_box(cookie_key),
            &long_nonce(b"COOKIE--", &cookie[..16]),
            &cookie[16..],
        )
        .ok_or(Error::Cryptographic(
            "INITIATE cookie does not open (not this connection's)",
        ))?;
        let client_transient: [u8; KEY_LEN] = keys[..KEY_LEN].try_into().expect("32 bytes");
        let transient = CurveSecretKey::from_bytes(keys[KEY_LEN..].try_into().expect("32 bytes"));
        let nonce_at = 9 + COOKIE_LEN;
        let nonce = u64::from_be_bytes(body[nonce_at..nonce_at + 8].try_into().expect("8 bytes"));
        if nonce <= hello_nonce {
            return Err(Error::Cryptographic("INITIATE nonce is not above HELLO's"));
        }
        let short_box = key_box(&client_transient, &transient);
        let plain = open(
            &short_box,
            &short_nonce(b"CurveZMQINITIATE", nonce),
            &body[nonce_at + 8..],
        )
        .ok_or(Error::Cryptographic("INITIATE box does not open"))?;

        // vouch = long-nonce box[C' S](C→S')
        let client = CurvePublicKey::from_bytes(plain[..KEY_LEN].try_into().expect("32 bytes"));
        let vouch = &plain[KEY_LEN..KEY_LEN + 96];
        let vouched = open(
            &key_box(client.as_bytes(), &transient),
            &long_nonce(b"VOUCH---", &vouch[..16]),
            &vouch[16..],
        )
        .ok_or(Error::Cryptographic("INITIATE vouch does not open"))?;
        let vouched_transient = CurvePublicKey::from_bytes(client_transient);
        if !vouched_transient.ct_eq_bytes(&vouched[..KEY_LEN])
            || !self.config.keys.public().ct_eq_bytes(&vouched[KEY_LEN..])
        {
            return Err(Error::Cryptographic(
                "INITIATE vouch is for another key or server",
            ));
        }
        if !self.config.clients.accepts(&client) {
            Command::Error(Bytes::from_static(REFUSED)).encode(out);
            return Err(Error::AuthenticationFailed(format!(
                "CURVE client key {client} is not allowed"
            )));
        }
        let theirs = Metadata::parse(Bytes::copy_from_slice(&plain[KEY_LEN + 96..]))?;

        // READY = short-nonce box[metadata](S'→C'), our first short nonce.
        let ready_nonce = 1;
        encode_command_header(b"READY", 8 + MAC_LEN + self.ours.encoded_len(), out);
        out.put_u64(ready_nonce);
        let mut meta = BytesMut::with_capacity(self.ours.encoded_len());
        self.ours.encode(&mut meta);
        seal(
            &short_box,
            &short_nonce(b"CurveZMQREADY---", ready_nonce),
            &meta,
            out,
        );
        self.cipher = Some(CurveCipher::new(short_box, true, ready_nonce + 1, nonce));

        let mut meta = Metadata::new();
        meta.insert(USER_ID, client.to_z85());
        for (n, v) in theirs.iter() {
            if !n.eq_ignore_ascii_case(USER_ID.as_bytes()) {
                meta.insert(n.clone(), v.clone());
            }
        }
        Ok(meta)
    }

    /// The frame transform, once INITIATE was accepted.
    pub(crate) fn take_cipher(&mut self) -> Option<CurveCipher> {
        self.cipher.take()
    }
}
