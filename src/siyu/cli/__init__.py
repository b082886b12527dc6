"""The ``siyu`` command line: thin Typer commands over the rooms."""
