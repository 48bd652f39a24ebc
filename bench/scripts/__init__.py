"""Measurements beside the bench's rows, one question each, run from the repository root:
`uv run python -m bench.scripts.<name> --help`."""
