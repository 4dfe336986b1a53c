"""Options shared by the commands that run trials (``run``, ``reproduce``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CacheOption = Annotated[
    Path | None, typer.Option(help="Result cache shared by reruns (default: OUT/cache).")
]
ExecutorOption = Annotated[str, typer.Option(help="local, process or dask.")]
WorkersOption = Annotated[
    int | None, typer.Option(help="Worker processes (default: one per core).")
]
SchedulerOption = Annotated[
    str | None, typer.Option(help="Dask scheduler address (tcp://host:port).")
]
DeviceOption = Annotated[str, typer.Option(help="cpu or cuda.")]
