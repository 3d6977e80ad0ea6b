"""Which TCP ports a set of processes listens on, and on which address, read from /proc (Linux).

`/proc/net/tcp` and `/proc/net/tcp6` list every socket of the network namespace with its inode; a process's
`/proc/<pid>/fd/*` links name the inodes it holds (`socket:[123]`). Used to check that squall's services
listen on loopback only.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    pid: int
    address: str
    port: int

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address, an IPv4-mapped IPv6 one (a Java socket bound to 127.0.0.1 shows as ::ffff:7f00:1) as IPv4."""
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip

    @property
    def is_loopback(self) -> bool:
        return self.ip.is_loopback

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port} (pid {self.pid})"


def decode_address(text: str) -> tuple[str, int]:
    """`0100007F:1A0B` (IPv4) or 32 hex digits + port (IPv6), as the kernel prints them, to (address, port).

    The kernel prints each 32-bit word of the address in host byte order (little-endian on x86 and ARM)."""
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(packed)), int(hex_port, 16)


def listening_inodes(table: str) -> dict[int, tuple[str, int]]:
    """{inode: (address, port)} of the LISTEN sockets in one /proc/net/tcp{,6} text."""
    out: dict[int, tuple[str, int]] = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        out[int(fields[9])] = decode_address(fields[1])
    return out


def socket_inodes(pid: int, proc_root: Path = _PROC) -> set[int]:
    """Inodes of the sockets `pid` holds open (empty when it is gone or not ours to read)."""
    found: set[int] = set()
    fd_dir = proc_root / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def listeners(pids: Iterable[int], proc_root: Path = _PROC) -> list[Listener]:
    """Every listening TCP socket (IPv4 and IPv6) held by one of `pids`."""
    table: dict[int, tuple[str, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            table.update(listening_inodes((proc_root / "net" / name).read_text()))
        except FileNotFoundError:
            continue
    out = []
    for pid in sorted(set(pids)):
        for inode in socket_inodes(pid, proc_root):
            if inode in table:
                address, port = table[inode]
                out.append(Listener(pid, address, port))
    return sorted(out, key=lambda item: (item.port, item.pid))
