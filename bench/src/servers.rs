//! Starting, measuring and stopping the two servers. Both listen on 127.0.0.1 only, keep all
//! state under the run's temporary directory, and are stopped when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Password of every test user (the same on both servers).
pub const PASSWORD: &str = "bench-pass-1";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(14_300)
}

fn wait_for_port(port: u16, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "nothing listens on 127.0.0.1:{port} after {limit:?}"
    ))
}

/// Memory of a server: resident set and proportional set size summed over its processes.
#[derive(Clone, Copy, Default, Debug)]
pub struct Memory {
    pub rss_kib: u64,
    pub pss_kib: u64,
    pub processes: usize,
}

fn status_field(pid: u32, file: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `pid` and all its descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parent = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name, which is in parentheses and may hold spaces.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

pub fn memory_of_tree(root: u32) -> Memory {
    let mut m = Memory::default();
    for pid in process_tree(root) {
        m.rss_kib += status_field(pid, "status", "VmRSS:").unwrap_or(0);
        m.pss_kib += status_field(pid, "smaps_rollup", "Pss:").unwrap_or(0);
        m.processes += 1;
    }
    m
}

pub trait Server {
    fn port(&self) -> u16;
    /// Every port serving the same mail (several nodes on one database); the clients of
    /// append and mixed are shared among them.
    fn ports(&self) -> Vec<u16> {
        vec![self.port()]
    }
}

/// liteimap serve processes on one database (`--nodes`), stopped when dropped.
pub struct Nodes(pub Vec<Liteimap>);

impl Nodes {
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(Liteimap::pid).collect()
    }
}

impl Server for Nodes {
    fn port(&self) -> u16 {
        self.0.first().map_or(0, |n| n.port)
    }

    fn ports(&self) -> Vec<u16> {
        self.0.iter().map(|n| n.port).collect()
    }
}

pub struct Liteimap {
    child: Child,
    port: u16,
}

impl Liteimap {
    pub fn import(binary: &Path, db: &str, user: &str, path: &Path) -> Result<(), String> {
        let out = Command::new(binary)
            .arg("--db")
            .arg(db)
            .args(["import", "--user", user])
            .arg(path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "liteimap import: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Start `serve` on a free port, with `extra` options (e.g. `--no-fts`).
    pub fn start_with(
        binary: &Path,
        db: &str,
        log: &Path,
        extra: &[&str],
    ) -> Result<Liteimap, String> {
        let port = free_port();
        let limit = "20000";
        let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            // Every client comes from 127.0.0.1, thousands as one user: lift the per-address
            // limits, as Dovecot's mail_max_userip_connections is lifted.
            .args(["--max-connections", limit])
            .args(["--max-connections-per-ip", limit])
            .args(["--max-user-connections-per-ip", limit])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        crate::register_child(child.id());
        let s = Liteimap { child, port };
        wait_for_port(port, Duration::from_secs(20))?;
        Ok(s)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Server for Liteimap {
    fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Liteimap {
    fn drop(&mut self) {
        crate::unregister_child(self.child.id());
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process that exists and is not a zombie (a daemon's parent may be slow to reap it).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

pub struct Dovecot {
    conf: PathBuf,
    dir: PathBuf,
    port: u16,
    master: u32,
}

/// The template in the repository, built in so the binary runs from anywhere.
const CONF_TEMPLATE: &str = include_str!("../dovecot.conf.in");

/// uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() {
        for e in std::fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl Dovecot {
    /// Is Debian's dovecot-imapd here?
    pub fn installed() -> bool {
        Command::new("dovecot")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && Path::new("/usr/lib/dovecot/imap").exists()
    }

    /// Mail of `dir/mail/USER/Maildir` must belong to the unprivileged user Dovecot switches
    /// to; `vmail` is created when missing (as the oracle instructions do).
    pub fn mail_owner() -> Result<(u32, u32), String> {
        if let Some(ids) = system_user("vmail") {
            return Ok(ids);
        }
        let ok = Command::new("useradd")
            .args(["-r", "-M", "-s", "/usr/sbin/nologin", "vmail"])
            .status()
            .is_ok_and(|s| s.success());
        match (ok, system_user("vmail")) {
            (true, Some(ids)) => Ok(ids),
            _ => Err("no system user vmail for Dovecot's mail, and useradd failed".into()),
        }
    }

    /// Start on a fresh port. `dir/mail` already holds any pre-made Maildirs.
    pub fn start(dir: &Path, users: &[(String, String)]) -> Result<Dovecot, String> {
        let (uid, gid) = Dovecot::mail_owner()?;
        let port = free_port();
        for sub in ["base", "state", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
        }
        chown_tree(&dir.join("mail"), uid, gid).map_err(|e| format!("chown mail: {e}"))?;
        let passwd: String = users
            .iter()
            .map(|(u, hash)| format!("{u}:{{ARGON2ID}}{hash}::::::\n"))
            .collect();
        std::fs::write(dir.join("passwd"), passwd).map_err(|e| e.to_string())?;
        let conf_text = CONF_TEMPLATE
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@UID@", &uid.to_string())
            .replace("@GID@", &gid.to_string());
        let conf = dir.join("dovecot.conf");
        std::fs::write(&conf, conf_text).map_err(|e| e.to_string())?;
        // Dovecot daemonizes and its daemon keeps the descriptors it was given: no pipes here,
        // or reading them would wait for the daemon to exit.
        let err_path = dir.join("dovecot-start.err");
        let err_file = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file)
            .status()
            .map_err(|e| format!("cannot run dovecot: {e}"))?;
        if !status.success() {
            return Err(format!(
                "dovecot -c {}: {}",
                conf.display(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            ));
        }
        let pid_file = dir.join("base/master.pid");
        let start = Instant::now();
        let master = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                break pid;
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err("dovecot wrote no master.pid".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        crate::register_child(master);
        let d = Dovecot {
            conf,
            dir: dir.to_path_buf(),
            port,
            master,
        };
        wait_for_port(port, Duration::from_secs(20))?;
        Ok(d)
    }

    pub fn master_pid(&self) -> u32 {
        self.master
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }
}

impl Server for Dovecot {
    fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        crate::unregister_child(self.master);
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while alive(self.master) {
            if start.elapsed() > Duration::from_secs(15) {
                unsafe {
                    libc::kill(self.master as libc::pid_t, libc::SIGKILL);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
