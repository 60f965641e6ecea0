"""``python -m streamdr``."""

from streamdr.cli.app import main

main()
