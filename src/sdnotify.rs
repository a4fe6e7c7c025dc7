//! systemd's readiness protocol (sd_notify(3)): one datagram such as `READY=1` to the Unix
//! socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without
//! the variable (not started by systemd with `Type=notify`) nothing is sent. The protocol is
//! one `sendto`; std's `UnixDatagram` does it, so no crate is needed.

use std::os::unix::net::UnixDatagram;

/// Send `state` (e.g. "READY=1") to systemd, if it asked for it. Failures are logged, never
/// fatal: the server works the same without a supervisor.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&target.to_string_lossy(), state) {
        log::warn!("cannot notify systemd ({state}): {e}");
    }
}

fn send(target: &str, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), target)?;
    }
    Ok(())
}
