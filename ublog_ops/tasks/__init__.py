"""Invoke task modules: thin layers that parse flags, call the library and map errors to exit codes."""
