"""Sales, their versions and events: rules only, no I/O."""
