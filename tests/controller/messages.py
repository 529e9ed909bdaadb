"""Protocol-exact messages a box would send, for feeding ingest in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from protocol import (
    Birth,
    BoxState,
    CameraInventory,
    CameraState,
    CameraStatus,
    Event,
    StreamStats,
)

__all__ = ["BoxSpeaker"]

HD = StreamStats(
    codec="h264",
    width=1920,
    height=1080,
    fps=25,
    bitrate_kbps=4000,
    hd=True,
    browser_playable=True,
)
SD = StreamStats(
    codec="h264",
    width=704,
    height=576,
    fps=25,
    bitrate_kbps=1500,
    hd=False,
    browser_playable=True,
)


class BoxSpeaker:
    """Builds one box's messages with a proper (boot_id, seq) sequence and its own clock."""

    def __init__(
        self,
        box_id: str,
        *,
        boot_id: str = "boot1",
        session: int = 100,
        school: str | None = None,
        now: datetime | None = None,
    ) -> None:
        self.box_id = box_id
        self.boot_id = boot_id
        self.session = session
        self.school = school
        self.now = now or datetime.now(UTC)
        self._seq = count()

    def _env(self) -> dict[str, object]:
        return {
            "box_id": self.box_id,
            "boot_id": self.boot_id,
            "seq": next(self._seq),
            "sent_at": self.now,
        }

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def birth(self, slots: int = 16, firmware: str = "V5.7.3", config_version: int = 0) -> Birth:
        cams = [
            CameraInventory(
                slot=s, name=f"area {s}", profile="hikvision", vendor="Hikvision", firmware=firmware
            )
            for s in range(1, slots + 1)
        ]
        return Birth(
            **self._env(),
            software_version="0.1.0",
            session=self.session,
            started_at=self.now,
            config_version=config_version,
            school=self.school,
            cameras=cams,
        )

    def state(
        self, state: str, *, session: int | None = None, reason: str = "connected"
    ) -> BoxState:
        return BoxState(
            **self._env(),
            state=state,
            session=self.session if session is None else session,
            reason=reason,
        )

    def status(
        self,
        slot: int,
        state: CameraState = CameraState.ONLINE,
        *,
        hd: bool = True,
        recording: bool | None = None,
        faults: list[str] | None = None,
    ) -> CameraStatus:
        """`recording` defaults to whether the camera is online; a box records from the first
        packet, so a connecting camera may already say True."""
        online = state == CameraState.ONLINE
        return CameraStatus(
            **self._env(),
            slot=slot,
            state=state,
            since=self.now,
            last_packet_at=self.now if online else None,
            recording=online if recording is None else recording,
            stream=(HD if hd else SD) if online else None,
            faults=faults or [],
            error=None if online else "no packets for 10 s",
        )

    def event(self, body: dict[str, object], *, historical: bool = False) -> Event:
        return Event.model_validate(
            {**self._env(), "occurred_at": self.now, "body": body, "historical": historical}
        )
