"""Command-line options that several ``tessera`` commands share, defined once."""

from __future__ import annotations

import click

data_dir_option = click.option(
    "--data-dir", type=click.Path(), default=None, help="Data folder (default: $TESSERA_DATA_DIR)."
)
limit_option = click.option(
    "--limit", type=int, default=None, help="Evaluate on the first N test examples only."
)
