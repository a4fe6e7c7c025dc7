//! A minimal IMAP client for load: one command at a time per connection, responses read up to
//! their tagged line (literals skipped by length), nothing parsed beyond what a workload needs.

use std::io;
use std::time::Duration;

use async_std::io::prelude::*;
use async_std::io::BufReader;
use async_std::net::TcpStream;

/// Longest wait for any one response: a stuck server fails the workload instead of hanging it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u64,
}

/// How the tagged response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

pub struct Response {
    pub status: Status,
    /// Untagged lines, literal contents left out (the `{N}` marker stays).
    pub lines: Vec<Vec<u8>>,
    /// The tagged line.
    pub tagged: Vec<u8>,
}

impl Response {
    /// A stand-in for a step that has no response of its own (the connect).
    pub fn ok() -> Response {
        Response {
            status: Status::Ok,
            lines: Vec::new(),
            tagged: Vec::new(),
        }
    }

    /// Every number that follows `key` (e.g. "UID " or "SEARCH") in the untagged lines.
    pub fn numbers_after(&self, key: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        for line in &self.lines {
            let mut at = 0;
            while let Some(p) = find(&line[at..], key) {
                at += p + key.len();
                let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
                if let Ok(n) = std::str::from_utf8(&line[at..at + digits])
                    .unwrap_or("")
                    .parse()
                {
                    out.push(n);
                }
            }
        }
        out
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no response in time")
}

impl Conn {
    /// Connect and read the greeting.
    pub async fn connect(port: u16) -> io::Result<Conn> {
        let s =
            async_std::future::timeout(COMMAND_TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
                .await
                .map_err(|_| timed_out())??;
        s.set_nodelay(true)?;
        let mut c = Conn {
            r: BufReader::new(s.clone()),
            w: s,
            tag: 0,
        };
        let greeting = c.line().await?;
        if !greeting.starts_with(b"* OK") {
            return Err(io::Error::other(format!(
                "greeting: {}",
                String::from_utf8_lossy(&greeting)
            )));
        }
        Ok(c)
    }

    async fn line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = async_std::future::timeout(COMMAND_TIMEOUT, self.r.read_until(b'\n', &mut line))
            .await
            .map_err(|_| timed_out())??;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(line)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("b{}", self.tag)
    }

    /// Send one command line and read its response.
    pub async fn cmd(&mut self, command: &str) -> io::Result<Response> {
        let tag = self.next_tag();
        self.w
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.response(&tag).await
    }

    /// Run a command that must succeed.
    pub async fn ok(&mut self, command: &str) -> io::Result<Response> {
        let r = self.cmd(command).await?;
        if r.status != Status::Ok {
            return Err(io::Error::other(format!("{command}: {:?}", r.status)));
        }
        Ok(r)
    }

    /// APPEND with a non-synchronizing literal (LITERAL+, which both servers announce).
    pub async fn append(&mut self, mailbox: &str, message: &[u8]) -> io::Result<Response> {
        let tag = self.next_tag();
        let mut buf = format!("{tag} APPEND {mailbox} {{{}+}}\r\n", message.len()).into_bytes();
        buf.extend_from_slice(message);
        buf.extend_from_slice(b"\r\n");
        self.w.write_all(&buf).await?;
        self.response(&tag).await
    }

    async fn response(&mut self, tag: &str) -> io::Result<Response> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            if let Some(len) = literal(&line) {
                let mut skip = vec![0; len];
                async_std::future::timeout(COMMAND_TIMEOUT, self.r.read_exact(&mut skip))
                    .await
                    .map_err(|_| timed_out())??;
                lines.push(line);
                continue;
            }
            if let Some(rest) = line
                .strip_prefix(tag.as_bytes())
                .and_then(|r| r.strip_prefix(b" "))
            {
                let status = if rest.starts_with(b"OK") {
                    Status::Ok
                } else if rest.starts_with(b"NO") {
                    Status::No
                } else {
                    Status::Bad
                };
                return Ok(Response {
                    status,
                    lines,
                    tagged: line.clone(),
                });
            }
            lines.push(line);
        }
    }

    /// Start IDLE; returns once the server sent its continuation request.
    pub async fn idle(&mut self) -> io::Result<()> {
        let tag = self.next_tag();
        self.w
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        loop {
            let line = self.line().await?;
            if line.starts_with(b"+") {
                return Ok(());
            }
            if line.starts_with(tag.as_bytes()) {
                return Err(io::Error::other(format!(
                    "IDLE refused: {}",
                    String::from_utf8_lossy(&line)
                )));
            }
        }
    }

    /// While idling: wait (up to `limit`) for a line ending in "EXISTS".
    pub async fn wait_exists(&mut self, limit: Duration) -> io::Result<()> {
        let r = &mut self.r;
        async_std::future::timeout(limit, async move {
            let mut line = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line).await? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
                }
                if line.ends_with(b"EXISTS\r\n") {
                    return Ok(());
                }
            }
        })
        .await
        .map_err(|_| timed_out())?
    }
}

/// The length of a literal announced at the end of a line (`{N}\r\n`).
fn literal(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal(b"* 1 FETCH (BODY[] {123}\r\n"), Some(123));
        assert_eq!(literal(b"* 1 FETCH (FLAGS ())\r\n"), None);
    }

    #[test]
    fn numbers_after_key() {
        let r = Response {
            status: Status::Ok,
            lines: vec![
                b"* 1 FETCH (UID 17 FLAGS (\\Seen))\r\n".to_vec(),
                b"* 2 FETCH (FLAGS () UID 20)\r\n".to_vec(),
            ],
            tagged: Vec::new(),
        };
        assert_eq!(r.numbers_after(b"UID "), vec![17, 20]);
    }
}
