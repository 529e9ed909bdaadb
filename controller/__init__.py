"""The central controller: fleet state, alarms, configuration and commands behind an API."""
