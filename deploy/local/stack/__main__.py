"""`python3 deploy/local/stack ...` runs this file with the folder itself first on sys.path: put its
parent there instead, so that the folder is imported as the package `stack`."""

import sys
from pathlib import Path

if not __package__:
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))
    from stack.cli import main
else:
    from .cli import main

sys.exit(main(sys.argv[1:]))
