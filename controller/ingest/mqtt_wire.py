"""MQTT 3.1.1 and 5 packets for the ingest receiver: what it sends, and the replies it reads.

Only what a subscribe-only client needs: CONNECT, SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT
out; CONNACK and SUBACK in (PUBLISH is parsed in the receiver's read loop, where its cost
counts). No I/O here.
"""

from __future__ import annotations

import struct

from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "CONNACK",
    "DISCONNECT",
    "DISCONNECT_PACKET",
    "PINGREQ_PACKET",
    "PINGRESP",
    "PUBACK_HEADER",
    "PUBLISH",
    "SUBACK",
    "MalformedPacket",
    "connack_code",
    "connect_packet",
    "read_length",
    "reason_text",
    "refused",
    "suback_codes",
    "subscribe_packet",
]

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK = 0x10, 0x20, 0x30, 0x82, 0x90
PINGRESP, DISCONNECT = 0xD0, 0xE0
PUBACK_HEADER = b"\x40\x02"
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

_V3_CONNACK = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MalformedPacket(ValueError):
    """The broker sent something that is not MQTT (or not what this client can receive)."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


def read_length(buffer: bytearray | bytes, pos: int, end: int) -> tuple[int, int]:
    """The variable-length integer at `pos`: (value, position after it), or (-1, -1) if the
    buffer ends inside it."""
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


def connect_packet(
    client_id: str, keepalive: int, username: str | None, password: str | None, *, v5: bool
) -> bytes:
    """CONNECT with clean start, no will, no properties."""
    flags = 0x02
    payload = _str(client_id)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    header = _str("MQTT") + bytes((5 if v5 else 4, flags)) + struct.pack("!H", keepalive)
    if v5:
        header += b"\x00"  # no properties
    return _packet(CONNECT, header + payload)


def subscribe_packet(packet_id: int, filters: list[str], *, v5: bool) -> bytes:
    """SUBSCRIBE of every filter at QoS 1."""
    body = struct.pack("!H", packet_id) + (b"\x00" if v5 else b"")
    body += b"".join(_str(f) + b"\x01" for f in filters)
    return _packet(SUBSCRIBE, body)


def connack_code(body: bytes) -> int:
    """CONNACK's return (3.1.1) or reason (5) code; 0 is success in both."""
    if len(body) < 2:
        raise MalformedPacket(f"CONNACK of {len(body)} bytes")
    return body[1]


def suback_codes(body: bytes, *, v5: bool) -> bytes:
    """SUBACK's codes, one per filter in the order subscribed."""
    pos = 2
    if v5:
        length, pos = read_length(body, pos, len(body))
        pos += length
    if pos < 0 or pos >= len(body):
        raise MalformedPacket(f"SUBACK of {len(body)} bytes has no codes")
    return body[pos:]


def refused(code: int) -> bool:
    """A SUBACK or DISCONNECT code that means failure (0x80 and up, in both versions)."""
    return code >= 0x80


def reason_text(first: int, code: int, *, v5: bool) -> str:
    """A reason code in words, for the log."""
    if not v5:
        if first == CONNACK:
            return _V3_CONNACK.get(code, f"code {code}")
        return "failure" if code == 0x80 else f"code {code}"
    try:
        return str(ReasonCode(first >> 4, identifier=code).getName())
    except Exception:  # a code paho does not know: still worth logging
        return f"code 0x{code:02x}"
