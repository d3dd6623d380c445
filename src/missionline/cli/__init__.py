"""The command-line interface: a thin front of the Python API."""
