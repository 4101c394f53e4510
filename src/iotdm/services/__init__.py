"""Use cases shared by the northbound API, the CLI and (later) device access; they own transactions."""
