"""Users, roles, password and throttling rules. No I/O."""
