//! Banned IPv4 sources dropped by the kernel: a classic BPF socket filter on the UDP
//! listeners (`SO_ATTACH_FILTER`).
//!
//! The guard drops a banned source's datagrams as soon as it reads them, but they
//! still fill the socket's receive buffer first: a flood arriving while the edge is
//! not scheduled crowds legitimate packets out of it. With the filter, the kernel
//! drops them before they are queued. The program is a list of comparisons of the IPv4
//! source address (read at `SKF_NET_OFF + 12`, the network header), rebuilt by the
//! guard's sweeper when the bans change and swapped in atomically by the kernel. A
//! jump offset is 8 bits, so it holds at most [`MAX_FILTERED`] addresses (the rest are
//! dropped in user space as before); IPv6 sources are always dropped in user space.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// Most addresses one filter holds.
pub const MAX_FILTERED: usize = 250;

/// `SO_ATTACH_FILTER` (asm-generic/socket.h; x86 and ARM).
const SO_ATTACH_FILTER: libc::c_int = 26;

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The program dropping datagrams from `banned` (at most [`MAX_FILTERED`], the rest
/// ignored) and accepting everything else.
pub fn program(banned: &[Ipv4Addr]) -> Vec<libc::sock_filter> {
    let banned = &banned[..banned.len().min(MAX_FILTERED)];
    let n = banned.len();
    let mut code = Vec::with_capacity(n + 3);
    code.push(statement(
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        (libc::SKF_NET_OFF + 12) as u32,
    ));
    for (i, ip) in banned.iter().enumerate() {
        code.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            // To the drop at the end: over the comparisons left and the accept.
            jt: (n - i) as u8,
            jf: 0,
            k: u32::from(*ip),
        });
    }
    code.push(statement(libc::BPF_RET | libc::BPF_K, u32::MAX));
    code.push(statement(libc::BPF_RET | libc::BPF_K, 0));
    code
}

/// Attaches `program` to `socket`, replacing its filter.
///
/// # Errors
/// The kernel refused it.
pub fn attach(socket: &impl AsRawFd, program: &[libc::sock_filter]) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a valid descriptor and a sock_fprog pointing at `program`, which
    // outlives the call; the kernel copies the program.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_jump_to_the_drop() {
        let banned = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 7)];
        let p = program(&banned);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0].k, (libc::SKF_NET_OFF + 12) as u32);
        // Instruction i + 1 + jt + 1 is the drop, the last one.
        for (i, ip) in banned.iter().enumerate() {
            let c = &p[1 + i];
            assert_eq!(c.k, u32::from(*ip));
            assert_eq!(1 + i + c.jt as usize + 1, p.len() - 1);
        }
        assert_eq!((p[3].k, p[4].k), (u32::MAX, 0));
        assert_eq!(program(&[]).len(), 3);
    }

    #[test]
    fn the_filter_is_bounded() {
        let many: Vec<Ipv4Addr> = (0..300u32).map(Ipv4Addr::from).collect();
        let p = program(&many);
        assert_eq!(p.len(), MAX_FILTERED + 3);
        assert_eq!(p[1].jt as usize, MAX_FILTERED);
    }
}
