"""Fleet: live state from ingest, status history, availability and the summary."""
