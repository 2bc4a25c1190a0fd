"""``python -m packetizer`` runs the console script."""

from .cli import main

main()
