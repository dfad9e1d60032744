//! A private PostgreSQL cluster for running without `DATABASE_URL`.
//!
//! The cluster lives in one folder (by default `./.latchkey/pg`) and listens
//! only on a Unix socket inside that folder, so it never competes with another
//! server for a TCP port and nothing outside this machine can reach it.
//! A handle stops the server only if it started it; a server found already
//! running (another process, or an earlier run) is reused and left running.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::process::Command;

/// Only names the socket file: no TCP port is listened on, so it cannot clash.
const PORT: u16 = 5432;
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// PostgreSQL refuses to run as root; as root we run it as this user.
const SERVICE_USER: &str = "postgres";
const LOG_FILE: &str = "postgres.log";
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// Init and start take seconds; a lock this old was left by a killed process.
const STALE_LOCK: Duration = Duration::from_secs(120);
const LOCK_POLL: Duration = Duration::from_millis(200);
/// How many lines of a tool's stderr or log go into an error message.
const TAIL_LINES: usize = 3;

/// Why the embedded cluster could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    /// No initdb/pg_ctl on this machine.
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/*/bin; \
         set DATABASE_URL=postgres://…, or run `docker compose up -d postgres`, \
         or install PostgreSQL (e.g. apt-get install postgresql)"
    )]
    BinariesNotFound,

    /// Running as root without a `postgres` user to drop to.
    #[error(
        "running as root, which PostgreSQL refuses, and there is no `{SERVICE_USER}` user to run it as; \
         create one (e.g. useradd --system {SERVICE_USER}), run as another user, or set DATABASE_URL"
    )]
    NoServiceUser,

    /// `<dir>/.s.PGSQL.5432` would not fit in a socket address.
    #[error(
        "PostgreSQL folder {} is too long for a Unix socket ({len} bytes with the socket name, at most {MAX_SOCKET_PATH}); \
         choose a shorter folder or set DATABASE_URL",
        .dir.display()
    )]
    PathTooLong { dir: PathBuf, len: usize },

    /// The `postgres` user cannot reach the folder.
    #[error(
        "user `{SERVICE_USER}` cannot write {}; make its parent folders searchable (chmod o+x) or choose another folder",
        .dir.display()
    )]
    NotAccessible { dir: PathBuf },

    /// Another process held `<dir>.lock` for too long.
    #[error(
        "gave up after {}s waiting for {} (another process is starting PostgreSQL there; delete the file if none is)",
        LOCK_WAIT.as_secs(),
        .path.display()
    )]
    LockTimeout { path: PathBuf },

    /// A file operation, or running a program, failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// A program (initdb, pg_ctl, chown) exited with failure; `detail` is
    /// the tail of its stderr and, for a start, of the server log.
    #[error("{program} failed ({status}): {detail}")]
    Command {
        program: String,
        status: String,
        detail: String,
    },
}

type Result<T, E = EmbeddedPgError> = std::result::Result<T, E>;

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> EmbeddedPgError {
    let path = path.to_path_buf();
    move |source| EmbeddedPgError::Io {
        action,
        path,
        source,
    }
}

/// A PostgreSQL cluster in a folder, reachable through its Unix socket.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    tools: Tools,
    port: u16,
    /// True while this handle owns a server it started and has not stopped.
    started: AtomicBool,
}

impl EmbeddedPostgres {
    /// Find initdb/pg_ctl/postgres: first in PATH, else the newest
    /// /usr/lib/postgresql/*/bin. initdb the folder if it has no PG_VERSION,
    /// then start the server with pg_ctl unless a live one already runs
    /// there, in which case it is reused (and [`stop`](Self::stop) leaves it).
    pub async fn start(dir: &Path) -> Result<EmbeddedPostgres, EmbeddedPgError> {
        let tools = Tools::locate().await?;
        // Check before creating anything, and again once symlinks are resolved.
        check_socket_path(
            &std::path::absolute(dir).map_err(io_err("could not resolve folder", dir))?,
        )?;
        let dir = prepare_dir(dir).await?;
        check_socket_path(&dir)?;

        // Two processes (or test threads) may start at once: serialise the
        // init-and-start so only one runs initdb and pg_ctl start.
        let _lock = DirLock::acquire(lock_path(&dir)).await?;
        if tools.as_service_user {
            tools.hand_over(&dir).await?;
        }
        if !dir.join("PG_VERSION").exists() {
            tools.initdb(&dir).await?;
        }
        let (port, started) = match tools.running_port(&dir).await? {
            Some(port) => {
                tracing::info!(dir = %dir.display(), port, "reusing running PostgreSQL");
                (port, false)
            }
            None => {
                tools.start_server(&dir).await?;
                (PORT, true)
            }
        };
        Ok(EmbeddedPostgres {
            dir,
            tools,
            port,
            started: AtomicBool::new(started),
        })
    }

    /// A URL for sqlx's `PgConnectOptions` that connects through the socket,
    /// e.g. `postgres://postgres@localhost:5432/postgres?host=/abs/.latchkey/pg`.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{SERVICE_USER}@localhost:{}/{}?host={}",
            self.port,
            percent_encode(database.as_bytes()),
            percent_encode(self.dir.as_os_str().as_bytes()),
        )
    }

    /// `pg_ctl stop -m fast`, only when this handle started the server.
    /// Idempotent: later calls (and calls on a reused server) do nothing.
    pub async fn stop(&self) -> Result<(), EmbeddedPgError> {
        if !self.started.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let result = self.tools.stop_server(&self.dir).await;
        if result.is_err() {
            // Still ours and maybe still running: let a later call retry.
            self.started.store(true, Ordering::SeqCst);
        }
        result
    }
}

/// Where the PostgreSQL programs are and how to run them.
#[derive(Debug)]
struct Tools {
    bin_dir: PathBuf,
    /// Running as root: run every PostgreSQL program as [`SERVICE_USER`].
    as_service_user: bool,
    /// `runuser` if present (util-linux), else `su` (also busybox).
    switch_user: PathBuf,
}

impl Tools {
    async fn locate() -> Result<Tools> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedPgError::BinariesNotFound)?;
        let as_service_user = effective_uid().await == Some(0);
        let switch_user = find_in_path("runuser").unwrap_or_else(|| PathBuf::from("su"));
        let tools = Tools {
            bin_dir,
            as_service_user,
            switch_user,
        };
        if as_service_user && !tools.service_user_exists().await {
            return Err(EmbeddedPgError::NoServiceUser);
        }
        Ok(tools)
    }

    /// A command running the PostgreSQL program `program` from `bin_dir`.
    fn pg_command(&self, program: &str, args: &[OsString]) -> Command {
        self.command(self.bin_dir.join(program).as_os_str(), args)
    }

    /// A command running `exe` as the user PostgreSQL runs as.
    fn command(&self, exe: &OsStr, args: &[OsString]) -> Command {
        let mut cmd = if !self.as_service_user {
            Command::new(exe)
        } else if self.switch_user.ends_with("runuser") {
            let mut cmd = Command::new(&self.switch_user);
            cmd.args(["-u", SERVICE_USER, "--"]).arg(exe);
            cmd
        } else {
            // `su -c CMD -- USER ARG0 ARGS` hands ARG0 ARGS to the shell as
            // $0 $@, which avoids quoting paths into a shell string; the `--`
            // keeps su from taking the program's options (-D, -w) as its own.
            let mut cmd = Command::new(&self.switch_user);
            cmd.args([
                "-s",
                "/bin/sh",
                "-c",
                "exec \"$0\" \"$@\"",
                "--",
                SERVICE_USER,
            ])
            .arg(exe);
            cmd
        };
        // The service user may not be able to enter our working directory,
        // and PostgreSQL programs complain when they cannot.
        cmd.args(args).current_dir("/").stdin(Stdio::null());
        cmd
    }

    async fn service_user_exists(&self) -> bool {
        let status = Command::new("id")
            .args(["-u", SERVICE_USER])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        status.is_ok_and(|s| s.success())
    }

    /// Give the folder to the service user and check that it can reach it
    /// (every parent folder must be searchable by it).
    async fn hand_over(&self, dir: &Path) -> Result<()> {
        let owner = format!("{SERVICE_USER}:");
        let mut chown = Command::new("chown");
        chown.arg("-R").arg(owner).arg(dir).stdin(Stdio::null());
        let output = run(&mut chown, "chown").await?;
        check_output("chown", &output, "")?;

        let args: Vec<OsString> = vec![
            "-w".into(),
            dir.into(),
            "-a".into(),
            "-x".into(),
            dir.into(),
        ];
        let output = run(&mut self.command("test".as_ref(), &args), "test").await?;
        if !output.status.success() {
            return Err(EmbeddedPgError::NotAccessible {
                dir: dir.to_path_buf(),
            });
        }
        Ok(())
    }

    async fn initdb(&self, dir: &Path) -> Result<()> {
        tracing::info!(dir = %dir.display(), "initialising PostgreSQL cluster");
        let args: Vec<OsString> = vec![
            "-D".into(),
            dir.into(),
            "-U".into(),
            SERVICE_USER.into(),
            "--auth=trust".into(),
            "--encoding=UTF8".into(),
            // Independent of the host's LANG, which may name a missing locale.
            "--no-locale".into(),
            // A throwaway development cluster: speed over crash safety.
            "--no-sync".into(),
        ];
        let output = run(&mut self.pg_command("initdb", &args), "initdb").await?;
        check_output("initdb", &output, "")
    }

    /// The port of a live server in `dir`, if one runs there.
    async fn running_port(&self, dir: &Path) -> Result<Option<u16>> {
        let pid_file = dir.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(None);
        }
        // A pid file alone may be stale (crash, reboot); pg_ctl checks the process.
        let args: Vec<OsString> = vec!["status".into(), "-D".into(), dir.into()];
        let output = run(&mut self.pg_command("pg_ctl", &args), "pg_ctl status").await?;
        if !output.status.success() {
            return Ok(None);
        }
        let contents = tokio::fs::read_to_string(&pid_file)
            .await
            .unwrap_or_default();
        Ok(Some(port_from_pid_file(&contents).unwrap_or(PORT)))
    }

    async fn start_server(&self, dir: &Path) -> Result<()> {
        tracing::info!(dir = %dir.display(), "starting PostgreSQL");
        let log = dir.join(LOG_FILE);
        // pg_ctl pastes -o into a shell command line, hence the quoting.
        let options = format!(
            "-c listen_addresses='' -k {} -p {PORT}",
            shell_quote(&dir.to_string_lossy())
        );
        let args: Vec<OsString> = vec![
            "start".into(),
            "-D".into(),
            dir.into(),
            "-l".into(),
            log.clone().into(),
            "-w".into(),
            "-t".into(),
            "60".into(),
            "-o".into(),
            options.into(),
        ];
        let output = run(&mut self.pg_command("pg_ctl", &args), "pg_ctl start").await?;
        check_output("pg_ctl start", &output, &log_tail(&log).await)
    }

    async fn stop_server(&self, dir: &Path) -> Result<()> {
        tracing::info!(dir = %dir.display(), "stopping PostgreSQL");
        let args: Vec<OsString> = vec![
            "stop".into(),
            "-D".into(),
            dir.into(),
            "-m".into(),
            "fast".into(),
            "-w".into(),
        ];
        let output = run(&mut self.pg_command("pg_ctl", &args), "pg_ctl stop").await?;
        check_output("pg_ctl stop", &output, "")
    }
}

async fn run(cmd: &mut Command, program: &str) -> Result<Output> {
    cmd.output()
        .await
        .map_err(io_err("could not run", Path::new(program)))
}

/// Ok on success, else an error carrying the tail of stderr (and `extra`,
/// e.g. the server log) on one line.
fn check_output(program: &str, output: &Output, extra: &str) -> Result<()> {
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut detail = tail_lines(&stderr, TAIL_LINES);
    if detail.is_empty() {
        detail = tail_lines(&String::from_utf8_lossy(&output.stdout), TAIL_LINES);
    }
    if !extra.is_empty() {
        detail = format!("{detail} | log: {extra}");
    }
    Err(EmbeddedPgError::Command {
        program: program.to_string(),
        status: output.status.to_string(),
        detail,
    })
}

/// The last lines of the server log, which says why a start failed.
async fn log_tail(log: &Path) -> String {
    match tokio::fs::read(log).await {
        Ok(bytes) => {
            // Only the end matters, and the log grows across runs.
            let start = bytes.len().saturating_sub(4096);
            tail_lines(&String::from_utf8_lossy(&bytes[start..]), TAIL_LINES)
        }
        Err(_) => String::new(),
    }
}

/// The last `n` non-blank lines of `text`, joined into one line.
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Create the folder (mode 0700, as PostgreSQL demands) and make it absolute,
/// because the socket directory and the URL need an absolute path.
async fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(io_err("could not create folder", dir))?;
    let dir = tokio::fs::canonicalize(dir)
        .await
        .map_err(io_err("could not resolve folder", dir))?;
    tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .await
        .map_err(io_err("could not set permissions of", &dir))?;
    Ok(dir)
}

fn socket_path(dir: &Path) -> PathBuf {
    dir.join(format!(".s.PGSQL.{PORT}"))
}

fn check_socket_path(dir: &Path) -> Result<()> {
    let len = socket_path(dir).as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(EmbeddedPgError::PathTooLong {
            dir: dir.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// `<dir>.lock`, beside the folder: initdb wants the folder itself empty.
fn lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A lock file held for the life of the value, removed on drop.
struct DirLock {
    path: PathBuf,
}

impl DirLock {
    async fn acquire(path: PathBuf) -> Result<DirLock> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            let created = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await;
            match created {
                Ok(_) => return Ok(DirLock { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("could not create lock file", &path)(e)),
            }
            if lock_is_stale(&path).await {
                tracing::warn!(path = %path.display(), "removing stale lock file");
                // Another waiter may remove it first; either way, retry.
                let _ = tokio::fs::remove_file(&path).await;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(EmbeddedPgError::LockTimeout { path });
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn lock_is_stale(path: &Path) -> bool {
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return false;
    };
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age > STALE_LOCK)
}

/// The directory holding initdb and pg_ctl: the first in PATH, else the
/// newest Debian-style /usr/lib/postgresql/<version>/bin.
fn find_bin_dir() -> Option<PathBuf> {
    if let Some(initdb) = find_in_path("initdb") {
        let dir = initdb.parent()?.to_path_buf();
        if is_executable(&dir.join("pg_ctl")) {
            return Some(dir);
        }
    }
    newest_versioned_bin_dir(Path::new("/usr/lib/postgresql"))
}

fn newest_versioned_bin_dir(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = parse_version(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            let complete = is_executable(&bin.join("initdb")) && is_executable(&bin.join("pg_ctl"));
            complete.then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "16" -> [16], "9.6" -> [9, 6]; compared numerically, so 10 > 9.6.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The effective uid, from /proc (no libc needed), else from `id -u`.
async fn effective_uid() -> Option<u32> {
    if let Ok(status) = tokio::fs::read_to_string("/proc/self/status").await {
        if let Some(uid) = euid_from_proc_status(&status) {
            return Some(uid);
        }
    }
    let output = Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// The "Uid:" line lists real, effective, saved and filesystem uids.
fn euid_from_proc_status(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Line 4 of postmaster.pid is the port the server uses.
fn port_from_pid_file(contents: &str) -> Option<u16> {
    contents.lines().nth(3)?.trim().parse().ok()
}

/// Single-quote for /bin/sh.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Percent-encode everything but RFC 3986 unreserved characters and '/'.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert!(parse_version("16") > parse_version("15"));
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn euid_is_the_second_uid() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(euid_from_proc_status(status), Some(0));
    }

    #[test]
    fn port_is_line_four_of_pid_file() {
        let pid = "123\n/data\n1700000000\n5433\n/data\n\n  1  2\nready   \n";
        assert_eq!(port_from_pid_file(pid), Some(5433));
    }

    #[test]
    fn url_escapes_odd_characters() {
        assert_eq!(percent_encode(b"/a b/c&d#e"), "/a%20b/c%26d%23e");
    }

    #[test]
    fn shell_quote_escapes_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn tail_keeps_last_non_blank_lines() {
        assert_eq!(tail_lines("a\n\nb\nc\nd\n\n", 3), "b | c | d");
    }

    #[test]
    fn long_dirs_are_rejected() {
        let long = PathBuf::from(format!("/{}", "x".repeat(100)));
        assert!(matches!(
            check_socket_path(&long),
            Err(EmbeddedPgError::PathTooLong { .. })
        ));
        assert!(check_socket_path(Path::new("/tmp/pg")).is_ok());
    }

    #[test]
    fn lock_sits_beside_the_folder() {
        assert_eq!(lock_path(Path::new("/a/pg")), PathBuf::from("/a/pg.lock"));
    }
}
