"""MQTT 3.1.1 and 5 packets for the ingest receiver: what it sends, and the replies it reads.

Only what a subscribe-only client needs beyond the framing in `protocol.mqtt_packets`
(re-exported here: CONNECT, the lengths): SUBSCRIBE, PUBACK, PINGREQ and DISCONNECT out;
CONNACK and SUBACK in (PUBLISH is parsed in the receiver's read loop, where its cost counts).
No I/O here.
"""

from __future__ import annotations

import struct

from paho.mqtt.reasoncodes import ReasonCode

from protocol.mqtt_packets import (
    MalformedPacket,
    connect_packet,
    packet,
    read_length,
    string,
)

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

CONNACK, PUBLISH, SUBSCRIBE, SUBACK = 0x20, 0x30, 0x82, 0x90
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


def subscribe_packet(packet_id: int, filters: list[str], *, v5: bool) -> bytes:
    """SUBSCRIBE of every filter at QoS 1."""
    body = struct.pack("!H", packet_id) + (b"\x00" if v5 else b"")
    body += b"".join(string(f) + b"\x01" for f in filters)
    return packet(SUBSCRIBE, body)


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
