"""A Mosquitto broker that admits clients by certificate alone, for the link's TLS tests.

The box presents a certificate whose CN is its box id; the broker takes that CN as the MQTT
username (`use_identity_as_username`), so the protocol's per-box ACL (`%u`) confines the box
by its certificate. A client without a certificate from the test CA cannot connect at all.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.mosquitto import BrokerAuth, MosquittoBroker

__all__ = ["CertOnlyBroker"]


class CertOnlyBroker(MosquittoBroker):
    """MosquittoBroker with `require_certificate true` and `use_identity_as_username true`.

    `controller` is the superuser; it too connects with a certificate (`pki.issue`).
    """

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, auth=BrokerAuth(superusers={"controller"}, tls=True))

    def _write_config(self) -> None:
        super()._write_config()
        text = self.conf_file.read_text()
        assert "require_certificate false" in text, "the base broker config changed shape"
        text = text.replace(
            "require_certificate false",
            "require_certificate true\nuse_identity_as_username true",
        )
        self.conf_file.write_text(text)

    def __enter__(self) -> CertOnlyBroker:
        self.start()
        return self
