"""MQTT 3.1.1 device endpoint: devices talk to the platform here, never to each other."""
