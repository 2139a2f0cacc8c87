//! Z85 decoding (RFC 32) of arbitrary text, and CURVE keys parsed from it.
//!
//! Checks: no panic; whatever decodes encodes back to the same text; a key parses exactly when
//! the text is 40 valid characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmtp_proto::{CurvePublicKey, CurveSecretKey};
use zmtp_proto::fuzzing::z85;

fuzz_target!(|text: &str| {
    match z85::decode(text) {
        Ok(bytes) => {
            assert_eq!(bytes.len(), text.len() / 5 * 4);
            assert_eq!(z85::encode(&bytes).unwrap(), text);
        }
        Err(_) => assert!(!text.is_empty(), "the empty text is valid"),
    }
    let key = CurvePublicKey::from_z85(text);
    assert_eq!(key.is_ok(), text.len() == 40 && z85::decode(text).is_ok());
    if let Ok(key) = key {
        assert_eq!(key.to_z85(), text);
        let secret = CurveSecretKey::from_z85(text).unwrap();
        assert_eq!(&*secret.expose_z85(), text);
    }
});
