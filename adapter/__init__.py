"""The edges: HTTP (Flask), MLLP, auth and the `s117` command. They wire the core up."""
