"""The edge gateway: devices in, readings to the telemetry sink, alarms to MQTT."""
