from __future__ import annotations

import os
import socket

from squall.infra.sockets import Listener, decode_address, listeners, listening_inodes

# Lines as Linux prints them (x86: each 32-bit word of the address little-endian).
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0885 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0
   1: 00000000:19EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 100 0 0 10 0
   2: 0100007F:0885 0100007F:D4C2 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 20 4 30 10 -1
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:19E3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0
   1: 0000000000000000FFFF00000100007F:2384 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0
   2: 00000000000000000000000001000000:2385 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6666 1 0
"""


def test_decode_ipv4_and_ipv6_addresses() -> None:
    assert decode_address("0100007F:0885") == ("127.0.0.1", 2181)
    assert decode_address("00000000000000000000000000000000:19E3") == ("::", 6627)
    assert decode_address("0000000000000000FFFF00000100007F:2384") == ("::ffff:7f00:1", 9092)
    assert decode_address("00000000000000000000000001000000:2385") == ("::1", 9093)


def test_only_listening_sockets_are_kept() -> None:
    assert listening_inodes(TCP) == {1111: ("127.0.0.1", 2181), 2222: ("0.0.0.0", 6635)}
    assert set(listening_inodes(TCP6)) == {4444, 5555, 6666}


def test_loopback_includes_ipv4_mapped_and_ipv6() -> None:
    assert Listener(1, "127.0.0.1", 1).is_loopback
    assert Listener(1, "::ffff:7f00:1", 1).is_loopback
    assert str(Listener(1, "::ffff:7f00:2", 1).ip) == "127.0.0.2"
    assert Listener(1, "::1", 1).is_loopback
    assert not Listener(1, "0.0.0.0", 1).is_loopback
    assert not Listener(1, "::", 1).is_loopback
    assert not Listener(1, "192.168.1.20", 1).is_loopback


def test_listeners_of_this_process_from_the_real_proc() -> None:
    with socket.socket() as server, socket.socket() as wildcard:
        server.bind(("127.0.0.1", 0))
        server.listen()
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        ports = server.getsockname()[1], wildcard.getsockname()[1]
        found = {(item.address, item.port) for item in listeners([os.getpid()])}
    assert ("127.0.0.1", ports[0]) in found
    assert ("0.0.0.0", ports[1]) in found
