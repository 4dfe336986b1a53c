"""The follow-up's experiments (van Rossem & Saxe, ICML 2025), registered apart from the paper's.

The follow-up applies the 2024 theory to recurrent networks on streaming
parity. Its studies live in :mod:`repdyn.sequences` (a library, usable on its
own); ``_sequences`` runs them as registered experiments (group
``"follow-up"`` of :data:`repdyn.experiments.GROUPS`): the profiles map to the
studies' scales, the trained networks are :mod:`repdyn.sweep` trials (cached,
resumable), and the studies' claims become :class:`repdyn.experiments.Claim`.
Nothing here is public: the registry reaches it.
"""

__all__: list[str] = []
