"""Ingest: MQTT messages from the boxes into the fleet's state, batched and deduplicated."""
