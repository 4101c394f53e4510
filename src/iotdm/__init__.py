"""iotdm: an open-source IoT device-management platform."""

__version__ = "0.1.0"
