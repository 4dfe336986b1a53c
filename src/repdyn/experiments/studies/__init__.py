"""Experiment bodies that several figures run, each with its own settings.

An SGD figure and its Adam twin share one body: its settings class, the SGD
settings per profile (which the twin changes), the run, metrics, claims and
drawings. ``_final_distance`` (fig5, adam), ``_adam`` (the Adam two-point
settings, whose rate trials the Adam structure twins use), ``_xor`` (fig6,
adam-xor), ``_context`` (fig8, adam-context) and ``_mnist`` (fig4, fig9,
adam-mnist). Nothing here is public: the figures reach it.
"""

__all__: list[str] = []
