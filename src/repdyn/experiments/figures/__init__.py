"""One module per registered experiment (:data:`repdyn.experiments.EXPERIMENTS`).

Each module holds an experiment's profile settings, ``estimate_seconds(profile)``
and ``run(options)`` (the registry names them), and imports only shared
modules (the package's top level, ``trials``, ``studies``, ``structure``),
never another figure module: what two experiments share lives in a shared
module. The registry imports a module only to run it; nothing here is public.
"""

__all__: list[str] = []
