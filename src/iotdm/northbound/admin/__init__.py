"""The operator API: what the ``iotdm`` command does, over HTTP, guarded by the admin token."""
