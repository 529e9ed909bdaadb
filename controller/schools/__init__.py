"""Schools: the sites, their 16 camera slots, map position and responsible vendor."""
