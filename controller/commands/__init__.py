"""Commands: interactive requests to a box's camera (snapshot, PTZ, probe...), answered or not."""
