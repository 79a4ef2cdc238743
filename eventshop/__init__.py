"""The composition root: settings, embedded infrastructure, the supervisor and the CLI.

It wires ``write_side``, ``projections`` and ``read_side`` together; none of them
imports it.
"""
