//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, `pg_ctl start`
//! on a free port of 127.0.0.1, stopped by its own pid when dropped — and by a small watchdog
//! process if the test process dies first, so no server outlives its tests.
//!
//! The server refuses to run as root, so as root the cluster runs as the `postgres` user
//! (which Debian's package creates) in a directory it owns. Host connections need the
//! password ([`TestCluster::PASSWORD`]), so wrong credentials are refused for real.
//!
//! When the server binaries are missing the tests fail, naming `scripts/install/postgres`:
//! a test that cannot run its peer is a failing test, never a skipped one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running cluster.
#[derive(Debug)]
pub struct TestCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    pid: u32,
    run_as: Option<String>,
    watchdog: Option<std::process::Child>,
}

const INSTALL: &str = "install it with scripts/install/postgres (Debian's `postgresql` package)";

/// Where the server binaries are: the newest /usr/lib/postgresql/N/bin, else `pg_config`.
fn server_bin() -> PathBuf {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return bin;
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|bin| bin.join("initdb").exists());
    from_pg_config.unwrap_or_else(|| {
        panic!("PostgreSQL server binaries (initdb, pg_ctl) were not found; {INSTALL}")
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

impl TestCluster {
    /// The password of the `postgres` superuser over TCP.
    pub const PASSWORD: &'static str = "test-superuser-password";

    /// Starts a fresh cluster; panics (naming the install script) if it cannot.
    pub fn start() -> Self {
        let bin = server_bin();
        let run_as = running_as_root().then(|| "postgres".to_owned());
        let dir =
            tempfile::Builder::new().prefix("bg-pg-").tempdir().expect("a temporary directory");
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .args(["-R", &format!("{user}:{user}")])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "cannot give {} to the {user} user; {INSTALL}",
                dir.path().display()
            );
        }
        let password_file = dir.path().join("password");
        fs_err::write(&password_file, Self::PASSWORD).expect("write the password file");
        let data = dir.path().join("data");
        let mut cluster = Self { dir, bin, port: 0, pid: 0, run_as, watchdog: None };
        if let Some(user) = &cluster.run_as {
            let _ =
                Command::new("chown").arg(format!("{user}:{user}")).arg(&password_file).status();
        }
        let initdb = cluster
            .server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()))
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("initdb did not run ({error}); {INSTALL}"));
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                cluster.port,
                cluster.dir.path().display()
            );
            let started = cluster
                .server_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.path().join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .stdout(Stdio::null())
                .output()
                .expect("pg_ctl runs");
            if started.status.success() {
                last_error.clear();
                break;
            }
            last_error = format!(
                "{}{}",
                String::from_utf8_lossy(&started.stderr),
                fs_err::read_to_string(cluster.dir.path().join("server.log")).unwrap_or_default()
            );
        }
        assert!(last_error.is_empty(), "the PostgreSQL server did not start: {last_error}");
        let pid_file = fs_err::read_to_string(data.join("postmaster.pid")).expect("postmaster.pid");
        cluster.pid =
            pid_file.lines().next().and_then(|line| line.trim().parse().ok()).expect("a pid");
        cluster.wait_until_it_answers();
        cluster.watchdog = cluster.spawn_watchdog();
        cluster
    }

    /// One cluster shared by every test of this process, stopped when the process exits.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<TestCluster> = OnceLock::new();
        SHARED.get_or_init(TestCluster::start)
    }

    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    fn wait_until_it_answers(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "the PostgreSQL server never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (by its pid, if that pid is still a postgres) and removes its
    /// directory once this process is gone, however it ends.
    fn spawn_watchdog(&self) -> Option<std::process::Child> {
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
             if [ \"$(cat /proc/{server}/comm 2>/dev/null)\" = postgres ]; then kill -QUIT {server}; fi; \
             sleep 1; rm -rf '{dir}'",
            parent = std::process::id(),
            server = self.pid,
            dir = self.dir.path().display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's own process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The directory holding the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// libpq variables that reach `database` as the superuser.
    pub fn env(&self, database: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PGHOST", "127.0.0.1".to_owned()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", "postgres".to_owned()),
            ("PGPASSWORD", Self::PASSWORD.to_owned()),
            ("PGDATABASE", database.to_owned()),
        ]
    }

    /// A libpq connection string for `user` with `password` on `database`.
    pub fn connection_string(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={database}",
            self.port
        )
    }

    /// A connection as the superuser to `database`.
    pub async fn connect(&self, database: &str) -> tokio_postgres::Client {
        self.connect_as("postgres", Self::PASSWORD, database).await.expect("connect as postgres")
    }

    /// A connection as `user`.
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(
            &self.connection_string(user, password, database),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Creates a database (if it does not exist yet).
    pub async fn create_database(&self, name: &str) {
        let client = self.connect("postgres").await;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .expect("query pg_database")
            .is_some();
        if !exists {
            let quoted = crate::sql::Ident::new(name, "database").expect("a valid name");
            client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
                .expect("create database");
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Fast shutdown by the server's own pid; the watchdog would do it anyway.
        let _ = Command::new("kill").args(["-INT", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The server is gone: its watchdog (ours, by its pid) has nothing left to do.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}
