"""`python -m squall.storm ...` is the project's `sparse` command."""

import sys

from squall.storm.sparse import main

sys.exit(main())
