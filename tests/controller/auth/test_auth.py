"""Login, tokens, roles and the binding each role needs."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from controller.auth.models import AccessToken, User
from controller.auth.service import issue_token
from tests.controller.conftest import SECRET, World


def test_password_flow_api_tokens_and_refusals(
    client: TestClient, engine: Engine, world: World
) -> None:
    wrong = client.post("/api/v1/auth/token", data={"username": "ops", "password": "nope"})
    assert wrong.status_code == 401
    unknown = client.post("/api/v1/auth/token", data={"username": "ghost", "password": "x"})
    assert unknown.status_code == 401 and unknown.json() == wrong.json()

    login = client.post("/api/v1/auth/token", data={"username": "ops", "password": "ops-password"})
    assert login.status_code == 200
    token = login.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "ops"

    issued = client.post(
        "/api/v1/auth/api-tokens",
        json={"name": "prometheus", "username": "tech"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert issued.status_code == 201
    machine = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert client.get("/metrics", headers=machine).status_code == 200
    assert "schoolcam_ingest_messages_total" in client.get("/metrics", headers=machine).text
    with Session(engine) as session:
        hashes = session.exec(select(AccessToken.token_hash)).all()
        assert issued.json()["access_token"] not in hashes  # stored hashed only

    assert client.get("/api/v1/fleet/summary").status_code == 401
    bogus = {"Authorization": "Bearer not-a-token"}
    assert client.get("/api/v1/fleet/summary", headers=bogus).status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"
    # A school lead may read but not create schools or users.
    lead = world.headers("school_a")
    assert (
        client.post(
            "/api/v1/schools", json={"code": "x-1", "name": "X", "type": "primary"}, headers=lead
        ).status_code
        == 403
    )


def test_expired_token_and_role_bindings(client: TestClient, engine: Engine, world: World) -> None:
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == "ops")).one()
        token, _ = issue_token(
            session=session,
            secret_key=SECRET,
            user=user,
            kind="login",
            ttl=timedelta(seconds=-1),
        )
        session.commit()
    expired = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and expired.json()["detail"] == "token expired"

    ops = world.headers("ops")
    no_school = client.post(
        "/api/v1/users",
        json={"username": "l", "role": "school", "password": "password1"},
        headers=ops,
    )
    assert no_school.status_code == 422
    no_vendor = client.post(
        "/api/v1/users",
        json={"username": "v", "role": "vendor", "password": "password1"},
        headers=ops,
    )
    assert no_vendor.status_code == 422
    short = client.post(
        "/api/v1/users", json={"username": "s", "role": "ops", "password": "x"}, headers=ops
    )
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    users = client.get("/api/v1/users", headers=ops).json()
    assert users["total"] == 6
