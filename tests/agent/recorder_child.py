"""A recorder in its own process, paced like a live camera, for the SIGKILL test.

Usage: python -m tests.agent.recorder_child ROOT SOURCE. Prints 'recording' once the first
segment is open, then keeps writing in real time until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import av

from agent.index import RecordingIndex
from agent.recorder import SegmentRecorder
from tests.agent.helpers import T0


def main() -> None:
    root, source = Path(sys.argv[1]), Path(sys.argv[2])
    index = RecordingIndex(root / "index.sqlite", root)
    recorder = SegmentRecorder(1, root, index, 60)
    started = time.monotonic()
    announced = False
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        recorder.begin(video, T0)
        for packet in container.demux(video):
            if packet.dts is None:
                continue
            due = started + float(packet.dts * (video.time_base or 0))
            time.sleep(max(0.0, due - time.monotonic()))
            recorder.write(packet)
            if recorder.recording and not announced:
                print("recording", flush=True)
                announced = True
    time.sleep(60)


if __name__ == "__main__":
    main()
