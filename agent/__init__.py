"""The edge agent: one per school box; records its cameras and reports to the centre."""
