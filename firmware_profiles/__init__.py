"""Camera vendor/model profiles (data): stream URL templates, capabilities, minimum firmware."""
