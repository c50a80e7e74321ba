"""Reader: HAN port → decode → storage → derived energy → MQTT, API and dashboard."""
