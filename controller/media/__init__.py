"""Media: clips uploaded by boxes and snapshots, kept in a storage and served to people."""
