"""MQTT output: per-meter state JSON and Home Assistant device discovery."""
