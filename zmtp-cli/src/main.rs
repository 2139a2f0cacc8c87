//! `zmtp`: netcat for ZeroMQ (`zmtp cat`), libzmq-compatible perf tools (`zmtp perf`), a
//! proxy (`zmtp proxy`) and a CURVE key generator (`zmtp keygen`).
//!
//! See `docs/cli.md` for the full description and examples. Exit codes: 0 on success, 1 on an
//! error (one `error:` line on stderr), 3 when `--timeout` fired.

mod backend;
mod cat;
mod drivers;
mod frames;
mod keygen;
mod lines;
mod perf;
mod proxy;
mod security;
mod sockopts;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "zmtp",
    version,
    about = "ZeroMQ from the shell: netcat for ZeroMQ (cat), libzmq-compatible perf tools (perf), \
             a proxy (proxy) \
             and CURVE key pairs (keygen)",
    after_help = "Exit codes: 0 success, 1 error (one 'error:' line on stderr), 3 --timeout fired."
)]
pub(crate) struct Cli {
    /// The I/O driver [default: compio where io_uring is available, else tokio].
    #[arg(long, global = true, value_enum, value_name = "DRIVER")]
    driver: Option<drivers::DriverName>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Netcat for ZeroMQ: stdin lines become messages, received messages become stdout lines.
    ///
    /// One message per line, frames separated by one TAB (an empty field is an empty frame).
    /// Types that send send each stdin line; types that receive print each message, flushed per
    /// line. At stdin EOF, queued messages are flushed (bounded by --linger) and the tool exits
    /// 0, unless -n is still waiting for messages.
    Cat(Box<CatArgs>),
    /// Latency and throughput, compatible with libzmq's local_lat, remote_lat, local_thr and
    /// remote_thr; with no arguments, both ends in one process on loopback for each driver.
    Perf(PerfArgs),
    /// A proxy (libzmq's zmq_proxy): messages move between a frontend and a backend socket,
    /// e.g. router '@tcp://*:5559' dealer '@tcp://*:5560' (a queue), xsub ... xpub ... (a
    /// forwarder), pull ... push ... (a streamer). Runs until a signal, or a TERMINATE command
    /// on --control.
    Proxy(ProxyArgs),
    /// Print a fresh CURVE key pair, as libzmq's curve_keygen does: the public key, then the
    /// secret key, 40 characters of Z85 each, each under its label.
    Keygen,
}

/// The socket types, by their libzmq names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TypeArg {
    /// REQ: for each stdin line send it, wait for the reply and print it.
    Req,
    /// REP: print each request; reply with --echo or with the next stdin line.
    Rep,
    /// DEALER: send stdin lines, print what arrives.
    Dealer,
    /// ROUTER: the first field is the peer's routing id, on input and output.
    Router,
    /// PUB: send stdin lines.
    Pub,
    /// SUB: print messages matching --subscribe.
    Sub,
    /// XPUB: send stdin lines, print (un)subscriptions.
    Xpub,
    /// XSUB: print messages, send stdin lines (subscriptions start with byte 1).
    Xsub,
    /// PUSH: send stdin lines.
    Push,
    /// PULL: print messages.
    Pull,
    /// PAIR: send stdin lines, print what arrives.
    Pair,
    /// STREAM: raw TCP peers, no ZMTP. Each line is a peer's routing id and data (a chunk
    /// read); an empty data field announces a connection or its end. Send `ID<TAB>data` to
    /// write data raw, `ID<TAB>` (empty data) to close that peer. Use --hex for binary data.
    Stream,
}

impl TypeArg {
    /// The socket type this names.
    pub(crate) fn socket_type(self) -> zmtp_proto::SocketType {
        use zmtp_proto::SocketType as T;
        match self {
            Self::Req => T::Req,
            Self::Rep => T::Rep,
            Self::Dealer => T::Dealer,
            Self::Router => T::Router,
            Self::Pub => T::Pub,
            Self::Sub => T::Sub,
            Self::Xpub => T::XPub,
            Self::Xsub => T::XSub,
            Self::Push => T::Push,
            Self::Pull => T::Pull,
            Self::Pair => T::Pair,
            Self::Stream => T::Stream,
        }
    }
}

/// Arguments of `zmtp proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The frontend's socket type.
    #[arg(value_enum, value_name = "FRONT_TYPE")]
    pub(crate) front_type: TypeArg,
    /// The frontend's endpoints: @EP binds, >EP connects (czmq's convention); several
    /// separated by commas. Each bind prints 'bound <endpoint>' on stderr.
    #[arg(value_name = "FRONT_EP")]
    pub(crate) front_ep: String,
    /// The backend's socket type.
    #[arg(value_enum, value_name = "BACK_TYPE")]
    pub(crate) back_type: TypeArg,
    /// The backend's endpoints, as for FRONT_EP.
    #[arg(value_name = "BACK_EP")]
    pub(crate) back_ep: String,
    /// Send a copy of every message moved to a socket of TYPE at EP (@ binds, > connects). A
    /// push, dealer or pair capture holds the proxy back when it cannot take more; pub drops.
    #[arg(long, num_args = 2, value_names = ["TYPE", "EP"])]
    pub(crate) capture: Option<Vec<String>>,
    /// Bind a REP socket at EP taking zmq_proxy_steerable's commands: PAUSE, RESUME,
    /// TERMINATE (exit 0), STATISTICS (eight 8-byte counters). Each gets a reply.
    #[arg(long, value_name = "EP")]
    pub(crate) control: Option<String>,
    /// Send and receive high-water marks of every socket, in messages (0 = unlimited)
    /// [default: 1000].
    #[arg(long, value_name = "N")]
    pub(crate) hwm: Option<usize>,
}

/// The security mechanisms, by their ZMTP names (`--mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MechanismArg {
    /// NULL: no security (the default without PLAIN or CURVE options).
    Null,
    /// PLAIN: a user name and password in clear text; needs --plain-user and --plain-password
    /// (client) or --plain-server (server).
    Plain,
    /// CURVE: encrypted and authenticated; needs --curve-server-key and --curve-secret-key
    /// (client) or --curve-server and --curve-secret-key (server).
    Curve,
}

/// Arguments of `zmtp cat`.
#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// The socket type.
    #[arg(value_enum, value_name = "TYPE")]
    pub(crate) socket_type: TypeArg,
    /// Bind to EP (tcp://HOST:PORT, tcp://*:*, ipc:///path); repeatable. Prints
    /// 'bound <endpoint>' on stderr.
    #[arg(long, value_name = "EP")]
    pub(crate) bind: Vec<String>,
    /// Connect to EP; repeatable.
    #[arg(long, value_name = "EP")]
    pub(crate) connect: Vec<String>,
    /// SUB/XSUB: subscribe to messages starting with PREFIX; repeatable ("" for everything;
    /// none given means no subscription, as in libzmq). Hex with --hex.
    #[arg(long, value_name = "PREFIX", allow_hyphen_values = true)]
    pub(crate) subscribe: Vec<OsString>,
    /// Frames on stdin and stdout are lower-case hex, so any bytes pass through.
    #[arg(long)]
    pub(crate) hex: bool,
    /// Exit 0 after printing N received messages (req: after N replies; rep and --echo: after
    /// answering the Nth).
    #[arg(short = 'n', long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Exit 3 if the whole run takes longer than MS milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) timeout: Option<u64>,
    /// rep: reply with the request's frames; router, dealer, pair: send every received message
    /// back unchanged (router: to the peer it came from). Stdin is not read.
    #[arg(long)]
    pub(crate) echo: bool,
    /// The routing id announced to peers (ZMQ_ROUTING_ID). Hex with --hex.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) identity: Option<OsString>,
    /// Send and receive high-water marks in messages (0 = unlimited) [default: 1000].
    #[arg(long, value_name = "N")]
    pub(crate) hwm: Option<usize>,
    /// How long to flush queued messages at exit, in milliseconds (-1 = forever).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        allow_negative_numbers = true
    )]
    pub(crate) linger: i64,
    /// Send a PING every MS milliseconds (ZMQ_HEARTBEAT_IVL).
    #[arg(long, value_name = "MS")]
    pub(crate) heartbeat_ivl: Option<u64>,
    /// Drop a peer silent for MS milliseconds after a PING (ZMQ_HEARTBEAT_TIMEOUT).
    #[arg(long, value_name = "MS")]
    pub(crate) heartbeat_timeout: Option<u64>,
    /// TTL announced to peers in PINGs, in milliseconds (ZMQ_HEARTBEAT_TTL; sent in
    /// deciseconds).
    #[arg(long, value_name = "MS")]
    pub(crate) heartbeat_ttl: Option<u64>,
    /// The security mechanism. Without it, the PLAIN or CURVE options choose (--plain-user and
    /// --plain-password or --plain-server: PLAIN; --curve-server-key or --curve-server: CURVE),
    /// and NULL is used otherwise; with it, those options must agree (null: none of them; plain
    /// or curve: one of that mechanism's two roles, and none of the other's options).
    #[arg(long, value_enum, value_name = "MECHANISM", ignore_case = true)]
    pub(crate) mechanism: Option<MechanismArg>,
    /// PLAIN client: the user name to present (ZMQ_PLAIN_USERNAME; needs --plain-password).
    /// Sent in clear text.
    #[arg(
        long,
        value_name = "USER",
        requires = "plain_password",
        conflicts_with = "plain_server"
    )]
    pub(crate) plain_user: Option<String>,
    /// PLAIN client: the password to present (ZMQ_PLAIN_PASSWORD; needs --plain-user).
    #[arg(long, value_name = "PASSWORD", requires = "plain_user")]
    pub(crate) plain_password: Option<String>,
    /// PLAIN server (ZMQ_PLAIN_SERVER): clients must present credentials that --allow lists;
    /// with no --allow, every client is refused, as by libzmq without a ZAP handler.
    #[arg(long)]
    pub(crate) plain_server: bool,
    /// PLAIN server: let in USER with PASSWORD; repeatable.
    #[arg(long, value_name = "USER:PASSWORD", requires = "plain_server")]
    pub(crate) allow: Vec<String>,
    /// PLAIN server: INSECURE, let in any user name with any password (authenticates nobody;
    /// no libzmq option does this). Instead of --allow.
    #[arg(long, requires = "plain_server", conflicts_with = "allow")]
    pub(crate) plain_accept_any: bool,
    /// CURVE server (ZMQ_CURVE_SERVER): needs --curve-secret-key. Clients must know its public
    /// key; with no --allow-curve any client that does gets in, as with libzmq without a ZAP
    /// handler.
    #[arg(long)]
    pub(crate) curve_server: bool,
    /// CURVE: our long-term secret key, 40 characters of Z85 (ZMQ_CURVE_SECRETKEY); needed by
    /// servers and clients alike. Make one with 'zmtp keygen'. Keys may begin with '-':
    /// the --curve-secret-key=KEY form (as for every key option) always works.
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub(crate) curve_secret_key: Option<String>,
    /// CURVE: our long-term public key (ZMQ_CURVE_PUBLICKEY); optional, as it is derived from
    /// --curve-secret-key, and it must match it when given.
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub(crate) curve_public_key: Option<String>,
    /// CURVE client: the server's public key (ZMQ_CURVE_SERVERKEY); needs --curve-secret-key.
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub(crate) curve_server_key: Option<String>,
    /// CURVE server: let in the client whose public key is KEY; repeatable. Clients not listed
    /// are refused (ERROR 400).
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub(crate) allow_curve: Vec<String>,
    /// libzmq's socket options.
    #[command(flatten)]
    pub(crate) sockopts: sockopts::SocketOptionArgs,
}

/// Arguments of `zmtp perf`.
#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    #[command(subcommand)]
    pub(crate) mode: Option<PerfMode>,
}

/// The four libzmq perf tools.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum PerfMode {
    /// Bind REP and echo COUNT messages (like libzmq's local_lat).
    LatServer(PerfEnd),
    /// Connect REQ, make COUNT round trips and print the average latency (like remote_lat).
    LatClient(PerfEnd),
    /// Bind PULL, receive COUNT messages and print the throughput (like local_thr).
    ThrServer(PerfEnd),
    /// Connect PUSH and send COUNT messages (like remote_thr).
    ThrClient(PerfEnd),
}

/// Arguments shared by the perf tools, in libzmq's order.
#[derive(Debug, Clone, Args)]
pub(crate) struct PerfEnd {
    /// Endpoint to bind (servers; port * picks one) or connect (clients).
    #[arg(value_name = "EP")]
    pub(crate) endpoint: String,
    /// Message size in bytes.
    #[arg(value_name = "SIZE")]
    pub(crate) size: usize,
    /// Number of messages (round trips for the latency tools).
    #[arg(value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
}

/// How a command ended, when not with success.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error: one `error:` line, exit 1.
    Error(String),
    /// `--timeout` fired: exit 3.
    Timeout(u64),
}

impl Failure {
    /// An error with the given message.
    pub(crate) fn error(msg: impl std::fmt::Display) -> Self {
        Self::Error(msg.to_string())
    }
}

/// The result of a command.
pub(crate) type CmdResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Scripts get one line, like every other error.
            // clap's message up to its usage section, joined into one line.
            let text = e.render().to_string();
            let summary: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| !l.is_empty())
                .collect();
            let summary = if summary.is_empty() {
                "error: invalid arguments".to_owned()
            } else {
                summary.join(" ")
            };
            eprintln!("{summary} (see 'zmtp --help')");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Cat(args) => cat::run(cli.driver, &args),
        Command::Perf(args) => perf::run(cli.driver, args.mode),
        Command::Proxy(args) => proxy::run(cli.driver, &args),
        Command::Keygen => keygen::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Timeout(ms)) => {
            eprintln!("zmtp: timed out after {ms} ms");
            ExitCode::from(3)
        }
    }
}
