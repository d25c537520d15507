"""``python -m tessera``: the same command line as ``tessera``."""

from tessera.cli import main

main(prog_name="tessera")
