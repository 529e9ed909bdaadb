"""Configuration push: desired config per box over per-school-type defaults, versioned."""
