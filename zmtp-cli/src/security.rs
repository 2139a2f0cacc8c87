//! `zmtp cat`'s security options: `--mechanism` and the PLAIN and CURVE options, checked
//! against each other and turned into a [`MechanismConfig`].
//!
//! The rules, as `docs/cli.md` gives them:
//!
//! - Without `--mechanism`, the options choose: PLAIN options make PLAIN, CURVE options make
//!   CURVE, neither makes NULL. With it, they must agree. PLAIN and CURVE options together are
//!   an error: a socket has one mechanism.
//! - A CURVE client needs the server's key (`--curve-server-key`) and its own key pair
//!   (`--curve-secret-key`, `--curve-public-key` optional and checked), as libzmq requires
//!   `ZMQ_CURVE_SERVERKEY`, `ZMQ_CURVE_PUBLICKEY` and `ZMQ_CURVE_SECRETKEY`: no key pair is made
//!   up for it.
//! - A CURVE server needs `--curve-secret-key`; `--allow-curve` lists the clients it lets in,
//!   and without it any client that knows the server's public key gets in (libzmq without a
//!   ZAP handler).
//!
//! Secret keys never appear in an error or a note.

use zmtp_proto::MechanismConfig;
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig, PlainCredentials, PlainUsers,
};

use crate::{CatArgs, Failure, MechanismArg};

/// The mechanism `args` ask for. Notes for stderr (printed after `zmtp: `) go to `notes`.
pub(crate) fn mechanism(
    args: &CatArgs,
    notes: &mut Vec<String>,
) -> Result<MechanismConfig, Failure> {
    let plain = plain_option(args);
    let curve = curve_option(args);
    if let (Some(p), Some(c)) = (plain, curve) {
        return Err(Failure::error(format!(
            "{p} and {c} cannot be used together: PLAIN and CURVE options are for different \
             mechanisms, and a socket has one"
        )));
    }
    let chosen = match args.mechanism {
        Some(m) => m,
        None if curve.is_some() => MechanismArg::Curve,
        None if plain.is_some() => MechanismArg::Plain,
        None => MechanismArg::Null,
    };
    match chosen {
        MechanismArg::Null => {
            if let Some(option) = plain.or(curve) {
                let instead = if plain.is_some() { "plain" } else { "curve" };
                return Err(Failure::error(format!(
                    "--mechanism null cannot be used with {option} (use --mechanism {instead})"
                )));
            }
            Ok(MechanismConfig::Null)
        }
        MechanismArg::Plain => match curve {
            Some(option) => Err(Failure::error(format!(
                "--mechanism plain cannot be used with {option} (use --mechanism curve)"
            ))),
            None => plain_mechanism(args, notes),
        },
        MechanismArg::Curve => match plain {
            Some(option) => Err(Failure::error(format!(
                "--mechanism curve cannot be used with {option} (use --mechanism plain)"
            ))),
            None => curve_mechanism(args, notes),
        },
    }
}

/// The first PLAIN option given, by name.
fn plain_option(args: &CatArgs) -> Option<&'static str> {
    if args.plain_server {
        Some("--plain-server")
    } else if args.plain_user.is_some() || args.plain_password.is_some() {
        Some("--plain-user/--plain-password")
    } else if !args.allow.is_empty() {
        Some("--allow")
    } else if args.plain_accept_any {
        Some("--plain-accept-any")
    } else {
        None
    }
}

/// The first CURVE option given, by name.
fn curve_option(args: &CatArgs) -> Option<&'static str> {
    if args.curve_server {
        Some("--curve-server")
    } else if args.curve_server_key.is_some() {
        Some("--curve-server-key")
    } else if args.curve_secret_key.is_some() {
        Some("--curve-secret-key")
    } else if args.curve_public_key.is_some() {
        Some("--curve-public-key")
    } else if !args.allow_curve.is_empty() {
        Some("--allow-curve")
    } else {
        None
    }
}

/// PLAIN: a client (`--plain-user` and `--plain-password`) or a server (`--plain-server`);
/// clap already keeps the two roles apart and `--allow` with the server.
fn plain_mechanism(args: &CatArgs, notes: &mut Vec<String>) -> Result<MechanismConfig, Failure> {
    if let (Some(user), Some(pass)) = (&args.plain_user, &args.plain_password) {
        let credentials = PlainCredentials::new(user.clone(), pass.clone())
            .map_err(|e| Failure::error(format!("--plain-user/--plain-password: {e}")))?;
        return Ok(MechanismConfig::PlainClient(credentials));
    }
    if !args.plain_server {
        return Err(Failure::error(
            "--mechanism plain needs --plain-user and --plain-password (a client) or \
             --plain-server (a server)",
        ));
    }
    let users = if args.plain_accept_any {
        notes.push(
            "warning: --plain-accept-any: any user name and password is let in; \
             PLAIN authenticates nobody"
                .to_owned(),
        );
        PlainUsers::insecure_accept_any()
    } else if args.allow.is_empty() {
        notes.push(
            "PLAIN server with no --allow: every client is refused, as by libzmq \
             without a ZAP handler"
                .to_owned(),
        );
        PlainUsers::none()
    } else {
        let users = args
            .allow
            .iter()
            .map(|a| {
                a.split_once(':')
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
                    .ok_or_else(|| Failure::error(format!("--allow {a:?}: expected USER:PASSWORD")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        PlainUsers::new(users)
    };
    Ok(MechanismConfig::PlainServer(users))
}

/// CURVE: a server (`--curve-server`) or a client (`--curve-server-key`), each with its own
/// long-term key pair.
fn curve_mechanism(args: &CatArgs, notes: &mut Vec<String>) -> Result<MechanismConfig, Failure> {
    match (args.curve_server, &args.curve_server_key) {
        (true, Some(_)) => Err(Failure::error(
            "--curve-server and --curve-server-key cannot be used together: a CURVE socket is \
             a server (--curve-server) or a client of the server with that key \
             (--curve-server-key)",
        )),
        (false, None) => Err(Failure::error(
            "CURVE needs a role: --curve-server (a server) or --curve-server-key KEY (a client \
             of the server with that public key)",
        )),
        (true, None) => {
            let keys = key_pair(args, "server")?;
            notes.push(format!("CURVE server public key: {}", keys.public()));
            let clients = if args.allow_curve.is_empty() {
                notes.push(
                    "CURVE server with no --allow-curve: any client that knows this public key \
                     gets in, as with libzmq without a ZAP handler"
                        .to_owned(),
                );
                CurveClients::any()
            } else {
                let keys = args
                    .allow_curve
                    .iter()
                    .enumerate()
                    .map(|(i, k)| public_key(k, &format!("--allow-curve (number {})", i + 1)))
                    .collect::<Result<Vec<_>, _>>()?;
                CurveClients::only(keys)
            };
            Ok(MechanismConfig::CurveServer(CurveServerConfig::new(
                keys, clients,
            )))
        }
        (false, Some(server_key)) => {
            if !args.allow_curve.is_empty() {
                return Err(Failure::error(
                    "--allow-curve needs --curve-server (it lists the clients a CURVE server \
                     lets in)",
                ));
            }
            let server_key = public_key(server_key, "--curve-server-key")?;
            let keys = key_pair(args, "client")?;
            Ok(MechanismConfig::CurveClient(CurveClientConfig::new(
                server_key, keys,
            )))
        }
    }
}

/// Our long-term pair: `--curve-secret-key`, checked against `--curve-public-key` if given.
fn key_pair(args: &CatArgs, role: &str) -> Result<CurveKeyPair, Failure> {
    let Some(secret) = &args.curve_secret_key else {
        let public = if args.curve_public_key.is_some() {
            " (--curve-public-key alone is not enough: the secret key proves it is ours)"
        } else {
            ""
        };
        return Err(Failure::error(format!(
            "a CURVE {role} needs its own key pair: give --curve-secret-key KEY{public}; \
             'zmtp keygen' makes one"
        )));
    };
    // The parse error names the rule broken, never the text given.
    let secret = CurveSecretKey::from_z85(secret)
        .map_err(|e| Failure::error(format!("--curve-secret-key: {e}")))?;
    let pair = CurveKeyPair::from_secret(secret);
    if let Some(public) = &args.curve_public_key {
        if public_key(public, "--curve-public-key")? != *pair.public() {
            // Not echoed: a secret key given here by mistake must not reach the terminal.
            return Err(Failure::error(format!(
                "--curve-public-key does not belong to --curve-secret-key (whose public key \
                 is {})",
                pair.public()
            )));
        }
    }
    Ok(pair)
}

/// A public key given as `option`'s value. An invalid one is not echoed: it may be a secret
/// key given in the wrong place.
fn public_key(text: &str, option: &str) -> Result<CurvePublicKey, Failure> {
    CurvePublicKey::from_z85(text).map_err(|e| Failure::error(format!("{option}: {e}")))
}
