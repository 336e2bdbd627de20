"""The runner's HTTP surface: the server, access control, /metrics exposition, the status page."""
