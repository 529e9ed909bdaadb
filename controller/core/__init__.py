"""Cross-cutting parts of the controller: settings, database, logging, errors, metrics."""
