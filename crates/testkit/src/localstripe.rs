//! localstripe 1.15.10 (PyPI) on a free port of 127.0.0.1, for as long as a test needs it.
//!
//! localstripe pickles its whole store to the fixed path `/tmp/localstripe.pickle` after every
//! write, and its own `start()` reads that file back. Two instances would race on the file and
//! a new one could inherit another's state, so the launcher here never reads it and turns the
//! dump off: every instance starts empty and keeps its state in memory only. Instances are then
//! independent; each test binary shares one ([`Localstripe::shared`]) because Python takes about
//! a second to start, and tests keep apart by the objects they create.
//!
//! The launcher exits when its standard input closes, so an instance never outlives the process
//! that started it, even one kept in a `static` (whose `Drop` never runs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The version `scripts/localstripe.sh` installs.
pub const VERSION: &str = "1.15.10";

const LAUNCHER: &str = r#"
import logging, os, socket, sys, threading
from aiohttp import web
from localstripe import resources
# Keep the store in memory: no shared /tmp/localstripe.pickle between instances.
resources.Store.dump_to_disk = lambda self: None
from localstripe.server import app

def exit_with_parent():
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=exit_with_parent, daemon=True).start()
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
web.run_app(app, sock=sock, print=None)
"#;

/// A running localstripe. Dropping it stops the process.
#[derive(Debug)]
pub struct Localstripe {
    child: Child,
    /// Held open: the launcher exits when it closes.
    _stdin: ChildStdin,
    port: u16,
    http: reqwest::Client,
}

/// Where `scripts/localstripe.sh` puts its virtualenv.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOCALSTRIPE_VENV") {
        return PathBuf::from(dir);
    }
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    tmp.join("holdfast-localstripe-venv")
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Localstripe {
    /// Starts an instance. `None` (with a note on stderr) when the virtualenv is missing outside
    /// CI; under `CI=true` a missing virtualenv is a failure.
    ///
    /// # Panics
    /// When the virtualenv is missing under CI, or localstripe does not start.
    pub fn start() -> Option<Localstripe> {
        let python = venv_dir().join("bin").join("python");
        if !python.exists() {
            let note = format!(
                "localstripe is not installed ({} is missing): run `scripts/localstripe.sh \
                 --install-only`",
                python.display()
            );
            assert!(!under_ci(), "{note}");
            eprintln!("skipping the localstripe tests: {note}");
            return None;
        }
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting localstripe with {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let (Ok(_), Ok(port)) = (read, line.trim().parse::<u16>()) else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("localstripe did not start: {err}");
        };
        // Drain stderr so that a chatty server never blocks on a full pipe.
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = stderr.read_to_end(&mut sink);
            });
        }
        let instance = Localstripe {
            child,
            _stdin: stdin,
            port,
            // No pooled connections: a shared instance serves tests on different runtimes.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        };
        instance.wait_until_answering(Duration::from_secs(30));
        Some(instance)
    }

    /// One instance for the whole test binary, started on first use.
    pub fn shared() -> Option<&'static Localstripe> {
        static SHARED: OnceLock<Option<Localstripe>> = OnceLock::new();
        SHARED.get_or_init(Localstripe::start).as_ref()
    }

    fn wait_until_answering(&self, limit: Duration) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let request = "GET /v1/payment_intents/pi_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                               Authorization: Bearer sk_test_ping\r\nConnection: close\r\n\r\n";
                let mut answer = [0_u8; 12];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && answer.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            assert!(
                started.elapsed() < limit,
                "localstripe did not answer on port {} within {limit:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: the API base to give the connector.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url()))
            .bearer_auth("sk_test_holdfast")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("localstripe {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "localstripe {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("localstripe {path}: {e}: {text}"))
    }

    /// localstripe's own PaymentIntent, with `latest_charge` (for both-sides assertions).
    pub async fn payment_intent(&self, id: &str) -> serde_json::Value {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/payment_intents/{id}?expand[]=latest_charge"),
            &[],
        )
        .await
    }

    /// A card PaymentMethod for a test card number (3D Secure cards: 4000002500003155, …).
    pub async fn card_payment_method(&self, number: &str) -> String {
        let pm = self
            .call(
                reqwest::Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2034"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        pm["id"].as_str().expect("a payment method id").to_owned()
    }

    /// Finishes (or fails) 3D Secure as the buyer would, through localstripe's own route.
    pub async fn authenticate(&self, payment_intent: &str, client_secret: &str, success: bool) {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{payment_intent}/_authenticate"),
            &[
                ("client_secret", client_secret),
                ("success", if success { "true" } else { "false" }),
            ],
        )
        .await;
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
