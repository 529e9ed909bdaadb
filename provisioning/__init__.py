"""Tools for technicians bringing a new school online."""
