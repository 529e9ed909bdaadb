"""The link over TLS: CA + password against the secure broker, and a client certificate alone.

The ACL itself is proven in tests/harness_tests; here the box's whole link runs end to end
through TLS, a wrong password is a logged, counted and retried refusal, and a box whose
identity (password user or certificate CN) is not its box id is confined, loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.link import LinkService
from protocol import CameraConnectivityEvent, Kind
from tests.agent.link.centre import Centre
from tests.agent.link.cert_broker import CertOnlyBroker
from tests.agent.link.conftest import BOX, agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.fixtures.broker import SECURE_USERS
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(60)
OTHER_BOX = "mh-0002-a"


def _secure_config(
    tmp_path: Path, broker: MosquittoBroker, **broker_settings: object
) -> LinkService:
    assert broker.pki is not None
    settings: dict[str, object] = {
        "url": broker.url,
        "ca_file": str(broker.pki.ca_file),
        "keepalive_s": 10,
        "reconnect_max_s": 1,
        **broker_settings,
    }
    return LinkService(agent_config(tmp_path, broker.url, broker=settings))


def _password_file(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "broker-password"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def controller(secure_broker: MosquittoBroker) -> Iterator[Centre]:
    """The centre's client as user `controller`, over TLS."""
    assert secure_broker.pki is not None
    client = Centre(
        secure_broker.port,
        username="controller",
        password=SECURE_USERS["controller"],
        ca_file=secure_broker.pki.ca_file,
    )
    yield client
    client.close()


def test_password_over_tls_end_to_end(
    tmp_path: Path, secure_broker: MosquittoBroker, controller: Centre
) -> None:
    secret = _password_file(tmp_path, SECURE_USERS[BOX])
    service = _secure_config(tmp_path, secure_broker, password_file=str(secret))
    service.start(ScriptedPipeline())
    try:
        birth = controller.wait_for(lambda m: m.kind == Kind.BIRTH)[0]
        online = controller.wait_for(lambda m: m.kind == Kind.STATE)[0]
        assert birth.box_id == BOX and online.state == "online"
        assert online.session == birth.session
        controller.wait_for(lambda m: m.kind == Kind.CAMERA_STATUS, count=2)
        service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=1))
        event = controller.wait_for(lambda m: m.kind == Kind.EVENT)[0]
        assert event.body.type == "camera_offline"
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACK")
        metrics = service.metrics()
        assert metrics["link_protocol"] == "5" and metrics["link_refusals"] == {}
        assert metrics["link_publish_refused"] == {}
    finally:
        service.stop()
    offline = controller.wait_for(lambda m: m.kind == Kind.STATE and m.state == "offline")[0]
    assert offline.reason == "shutdown" and offline.session == birth.session


@pytest.mark.fault
def test_wrong_password_is_a_logged_retried_refusal(
    tmp_path: Path,
    secure_broker: MosquittoBroker,
    controller: Centre,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-box-secret"
    secret = _password_file(tmp_path, wrong)
    service = _secure_config(tmp_path, secure_broker, password_file=str(secret))
    caplog.set_level(logging.INFO)
    service.start(ScriptedPipeline())
    try:
        service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=2))
        wait_until(
            lambda: sum(service.metrics()["link_refusals"].values()) >= 3,
            what="three refused attempts",
        )
        metrics = service.metrics()
        assert metrics["link_up"] is False and metrics["link_connects"] == 0
        assert metrics["link_refusals"] == {
            "Not authorized": metrics["link_refusals"]["Not authorized"]
        }
        assert metrics["outbox_backlog"] == 1  # the event waits on disk
        refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
        assert refusals and refusals[0].levelno == logging.ERROR
        assert BOX in refusals[0].getMessage() and "Not authorized" in refusals[0].getMessage()

        # the operator fixes the secret: the next attempt reads it and the event goes out
        secret.write_text(SECURE_USERS[BOX] + "\n")
        event = controller.wait_for(lambda m: m.kind == Kind.EVENT)[0]
        assert event.box_id == BOX and event.body.slot == 2
        assert service.metrics()["link_up"] is True
    finally:
        service.stop()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert wrong not in logged and SECURE_USERS[BOX] not in logged


@pytest.mark.fault
def test_box_with_another_identity_is_confined_and_says_so(
    tmp_path: Path, secure_broker: MosquittoBroker, controller: Centre
) -> None:
    # box id mh-0001-a, but the broker knows it as mh-0002-a: every publish is outside the
    # subtree the ACL gives it; MQTT 5 PUBACKs say "Not authorized" and nothing is lost
    secret = _password_file(tmp_path, SECURE_USERS[OTHER_BOX])
    service = _secure_config(tmp_path, secure_broker, username=OTHER_BOX, password_file=str(secret))
    service.start(ScriptedPipeline())
    try:
        wait_until(lambda: service.metrics()["link_up"], what="the link")
        service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=1))
        wait_until(lambda: service.metrics()["outbox_refused"] >= 1, what="the refused PUBACK")
        metrics = service.metrics()
        assert metrics["link_publish_refused"]["Not authorized"] >= 3  # birth, state, statuses
        assert metrics["outbox_backlog"] == 1, "a refused event must stay in the outbox"
    finally:
        service.stop()
    assert controller.received == []


@pytest.fixture
def cert_broker(tmp_path: Path) -> Iterator[CertOnlyBroker]:
    with CertOnlyBroker(tmp_path / "cert-broker") as running:
        yield running


@pytest.mark.fault
def test_client_certificate_alone(
    tmp_path: Path, cert_broker: CertOnlyBroker, caplog: pytest.LogCaptureFixture
) -> None:
    pki = cert_broker.pki
    assert pki is not None
    ops = pki.issue("controller")
    centre = Centre(cert_broker.port, ca_file=pki.ca_file, cert=(ops.cert, ops.key))
    own, other = pki.issue(BOX), pki.issue(OTHER_BOX)
    services: list[LinkService] = []
    try:
        box = _secure_config(
            tmp_path / "a", cert_broker, cert_file=str(own.cert), key_file=str(own.key)
        )
        services.append(box)
        box.start(ScriptedPipeline())
        birth = centre.wait_for(lambda m: m.kind == Kind.BIRTH)[0]
        assert birth.box_id == BOX
        box.sink.event(CameraConnectivityEvent(type="camera_online", slot=1))
        centre.wait_for(lambda m: m.kind == Kind.EVENT)
        box.stop()  # the next two share its client id; they would take its session over

        # a certificate for another box: the broker takes its CN as the user and confines it
        borrowed = _secure_config(
            tmp_path / "b", cert_broker, cert_file=str(other.cert), key_file=str(other.key)
        )
        services.append(borrowed)
        borrowed.start(ScriptedPipeline())
        wait_until(lambda: borrowed.metrics()["link_publish_refused"], what="a refused PUBACK")
        borrowed.stop()

        # no certificate at all: the TLS handshake is refused, logged and retried
        bare = _secure_config(tmp_path / "c", cert_broker)
        services.append(bare)
        bare.start(ScriptedPipeline())
        wait_until(lambda: bare.link.session > 0, what="a first attempt")
        first = bare.link.session
        wait_until(lambda: bare.link.session > first, what="a retry")
        assert bare.metrics()["link_connects"] == 0 and not bare.link.connected
    finally:
        for service in services:
            service.stop()
        centre.close()
    assert any("to an MQTT 5 CONNECT" in r.getMessage() for r in caplog.records)
    births = centre.of(Kind.BIRTH)
    assert [b.session for b in births] == [birth.session], "only the right box was heard"
