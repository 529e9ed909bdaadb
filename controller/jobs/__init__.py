"""Jobs: durable work a box does for the centre (clip export), tracked by a state machine."""
