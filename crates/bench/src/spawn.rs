//! `--spawn`: a fresh `holdfast serve` of the generator's own, on SQLite in a temporary directory
//! or on the database it is given, without rate limits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::Spawn;
use crate::client::random_key;

/// A server the generator started for itself.
pub(crate) struct Spawned {
    _child: tokio::process::Child,
    _dir: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) async fn spawn_server(spawn: &Spawn) -> anyhow::Result<(Spawned, String, String, u32)> {
    let dir = std::env::temp_dir().join(format!("holdfast-bench-{}", random_key(10)));
    std::fs::create_dir_all(&dir)?;
    let url = spawn.database_url.as_deref().map_or_else(
        || format!("sqlite://{}", dir.join("bench.db").display()),
        str::to_owned,
    );
    let mut child = tokio::process::Command::new(&spawn.server_exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        // A load test measures the server, not its rate limits.
        .args(["--rate-limit", "0", "--capture-rate-limit", "0"])
        .arg("--secrets-key-file")
        .arg(dir.join("bench.key"))
        .env("HOLDFAST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting holdfast serve")?;
    let pid = child.id().context("server pid")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut key = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .context("the server did not start in 60 s")??
            .context("the server exited before listening")?;
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("sk_test_")) {
            key = Some(k.to_owned());
        }
        if let Some(addr) = line.strip_prefix("holdfast listening on ") {
            break addr.to_owned();
        }
    };
    let key = key.context("a fresh database prints its test key; use an empty database")?;
    Ok((
        Spawned {
            _child: child,
            _dir: Some(TempDir(dir)),
        },
        base,
        key,
        pid,
    ))
}
