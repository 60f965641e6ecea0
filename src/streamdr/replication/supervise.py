"""Entry point of the MM2 supervisor process: the supervisor loop with the lag sampler beside it.

``python -m streamdr.replication.supervise RUN_DIR -Dstreamdr.lab=MARKER`` (spawned by
``mm2.runner``). It lives above ``mm2/`` and ``lag/`` so that neither imports the other's way up.
"""

from __future__ import annotations

import sys

from streamdr.replication.lag.sampler import sample_once
from streamdr.replication.mm2.supervisor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sample_once))
