"""The ``tagtrail`` command: one module per subcommand."""
