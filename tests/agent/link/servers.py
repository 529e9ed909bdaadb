"""Real HTTP servers on 127.0.0.1 for link tests.

`UploadServer` implements the centre's side of the upload protocol (docs/uploads.md) and can
fail on demand. `OnvifResponder` is a TEST DOUBLE of a camera's ONVIF service: it checks the
WS-UsernameToken digest and records the SOAP operations it receives.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class UploadServer(_Server):
    """The centre's upload endpoint: HEAD for the offset, PATCH to append."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.data: dict[str, bytearray] = {}
        self.complete: set[str] = set()
        self.fail_patches = 0  # answer this many PATCHes with 500 (after storing nothing)
        self.cut_after: int | None = None  # store only part of a chunk, then 500
        self.patch_delay_s = 0.0  # a slow uplink: each PATCH is answered after this long
        self.gate = threading.Event()  # cleared: every PATCH hangs until it is set again
        self.gate.set()
        self.requests: list[str] = []
        self.patch_offsets: list[int] = []  # the Upload-Offset of every PATCH, in order
        self.patched = threading.Condition()
        super().__init__(_UploadHandler)

    def stored(self, job_id: str) -> int:
        """Bytes the server holds for `job_id`."""
        return len(self.data.get(job_id, b""))

    def wait_stored(self, job_id: str, at_least: int, timeout: float = 10.0) -> int:
        """Wait until the server holds at least `at_least` bytes of `job_id`."""
        deadline = time.monotonic() + timeout
        with self.patched:
            while self.stored(job_id) < at_least:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{job_id}: {self.stored(job_id)} of {at_least} bytes")
                self.patched.wait(left)
            return self.stored(job_id)

    def url(self, job_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/media/uploads/{job_id}"


class _UploadHandler(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass

    @property
    def box(self) -> UploadServer:
        return self.server.owner  # type: ignore[attr-defined]

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.box.token}":
            self.send_response(401)
            self.end_headers()
            return False
        return True

    def do_HEAD(self) -> None:
        self.box.requests.append("HEAD")
        if not self._authorised():
            return
        job = self.path.rsplit("/", 1)[-1]
        self.send_response(200)
        self.send_header("Upload-Offset", str(len(self.box.data.get(job, b""))))
        self.end_headers()

    def do_PATCH(self) -> None:
        self.box.requests.append("PATCH")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self._authorised():
            return
        self.box.patch_offsets.append(int(self.headers.get("Upload-Offset", "-1")))
        self.box.gate.wait(30)
        if self.box.patch_delay_s:
            time.sleep(self.box.patch_delay_s)
        with self.box.patched:
            self._store(body)
            self.box.patched.notify_all()

    def _store(self, body: bytes) -> None:
        job = self.path.rsplit("/", 1)[-1]
        stored = self.box.data.setdefault(job, bytearray())
        if self.box.fail_patches > 0:
            self.box.fail_patches -= 1
            if self.box.cut_after is not None:
                stored += body[: self.box.cut_after]
            self.send_response(500)
            self.end_headers()
            return
        if int(self.headers["Upload-Offset"]) != len(stored):
            self.send_response(409)
            self.send_header("Upload-Offset", str(len(stored)))
            self.end_headers()
            return
        stored += body
        self.send_response(204)
        self.send_header("Upload-Offset", str(len(stored)))
        if len(stored) >= int(self.headers["Upload-Length"]):
            self.box.complete.add(job)
            self.send_header("Upload-Complete", "1")
        self.end_headers()


class OnvifResponder(_Server):
    """TEST DOUBLE of a camera's ONVIF device, media and PTZ services."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.operations: list[tuple[str, str]] = []  # (operation, body)
        super().__init__(_OnvifHandler)


class _OnvifHandler(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner: OnvifResponder = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        if not _digest_ok(body, owner.username, owner.password):
            self._answer(
                400,
                "<s:Fault><s:Reason><s:Text>Sender not authorized</s:Text></s:Reason></s:Fault>",
            )
            return
        op = re.search(r"<s:Body><(\w+)", body)
        name = op.group(1) if op else "?"
        owner.operations.append((name, body))
        if name == "GetProfiles":
            self._answer(
                200,
                '<trt:GetProfilesResponse xmlns:trt="x"><trt:Profiles '
                'token="Profile_1" fixed="true"/></trt:GetProfilesResponse>',
            )
        else:
            self._answer(200, f"<{name}Response/>")

    def _answer(self, status: int, inner: str) -> None:
        payload = (
            '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            f"<s:Body>{inner}</s:Body></s:Envelope>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _digest_ok(body: str, username: str, password: str) -> bool:
    try:
        user = re.search(r"<Username>([^<]*)</Username>", body).group(1)  # type: ignore[union-attr]
        digest = re.search(r"PasswordDigest\">([^<]*)<", body).group(1)  # type: ignore[union-attr]
        nonce = re.search(r"Base64Binary\">([^<]*)<", body).group(1)  # type: ignore[union-attr]
        created = re.search(r"<Created[^>]*>([^<]*)<", body).group(1)  # type: ignore[union-attr]
    except AttributeError:
        return False
    expected = base64.b64encode(
        hashlib.sha1(base64.b64decode(nonce) + created.encode() + password.encode()).digest()
    ).decode()
    return user == username and digest == expected
