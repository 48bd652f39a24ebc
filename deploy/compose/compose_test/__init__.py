"""The parts of deploy/compose/test, read in this order: `shell` (running commands, the folders and
ports), `images` (the images built here), `engine` (podman's Docker API, docker-compose, the
healthchecks driven by hand), `scenario` (the checks through the gateway)."""
