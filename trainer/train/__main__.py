"""``python -m trainer.train [--preset ...]``: ``sentinel train`` without the app's CLI root.

This is the form ``torchrun`` launches: ``torchrun --nproc_per_node 2 -m trainer.train ...``.
"""

from __future__ import annotations

import logging
import os

from trainer.cli import train_app


def main() -> None:
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(level=logging.INFO if rank == "0" else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(name)s: %(message)s")
    train_app(prog_name="python -m trainer.train")


if __name__ == "__main__":
    main()
