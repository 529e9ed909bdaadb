"""MQTT packet framing shared by the project's two lean MQTT clients.

The controller's ingest receiver (`controller.ingest.receiver`) and the fleet simulator's
boxes (`simulator.fleet.mqtt`) each speak MQTT without paho, for speed. What both need is
here, once: the variable-length integer, length-prefixed strings, a packet's fixed header,
and CONNECT (3.1.1 or 5, with or without a Last Will). No I/O, no dependencies.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CONNECT",
    "MalformedPacket",
    "Will",
    "connect_packet",
    "encode_length",
    "packet",
    "read_length",
    "string",
]

CONNECT = 0x10


class MalformedPacket(ValueError):
    """Bytes from the broker that are not MQTT (or not what the client can receive)."""


@dataclass(frozen=True)
class Will:
    """The Last Will the broker publishes when the connection dies without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def encode_length(n: int) -> bytes:
    """MQTT's variable-length integer: 7 bits a byte, high bit set while more follow."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def read_length(buffer: bytearray | bytes, pos: int, end: int) -> tuple[int, int]:
    """The variable-length integer at `pos`: (value, position after it), or (-1, -1) if the
    buffer ends inside it. MalformedPacket if it runs over 4 bytes."""
    value, shift = 0, 0
    for at in range(pos, min(pos + 4, end)):
        byte = buffer[at]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at + 1
        shift += 7
    if end >= pos + 4:
        raise MalformedPacket("variable-length integer longer than 4 bytes")
    return -1, -1


def string(value: str | bytes) -> bytes:
    """A length-prefixed UTF-8 string (or binary data)."""
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def packet(first: int, body: bytes) -> bytes:
    """A whole packet: the first byte, the remaining length, the body."""
    return bytes((first,)) + encode_length(len(body)) + body


def connect_packet(
    client_id: str,
    keepalive: int,
    username: str | None,
    password: str | None,
    *,
    v5: bool = False,
    will: Will | None = None,
) -> bytes:
    """CONNECT with clean start, and no properties on MQTT 5."""
    flags = 0x02
    payload = string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += (b"\x00" if v5 else b"") + string(will.topic) + string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += string(username)
        if password is not None:
            flags |= 0x40
            payload += string(password)
    header = string("MQTT") + bytes((5 if v5 else 4, flags)) + struct.pack("!H", keepalive)
    if v5:
        header += b"\x00"  # no properties
    return packet(CONNECT, header + payload)
