"""Recurrent networks on sequence tasks: prefix tracking, mergers, and the automata they learn.

The follow-up to the 2024 theory (van Rossem & Saxe, ICML 2025, "Algorithm
Development in Neural Networks: Insights from the Streaming Parity Task")
treats the hidden state after a prefix as its representation. For two
prefixes the dynamics of ``H`` (squared distance), ``Y`` and ``W`` (over the
continuations both prefixes share) is the 2024 system with ``dx2 = 1`` and
``dy2 = D2``; prefixes that no shared continuation distinguishes merge, and
merged states form a finite automaton that fixes the network's behaviour at
every length. See ``docs/sequences.md``.

Tasks and data
    :class:`Automaton` (a Moore machine, possibly with missing transitions),
    :func:`parity`, :func:`count_mod`, :func:`random_regular`;
    :class:`SequenceData`, :func:`complete`, :func:`sampled`,
    :func:`random_sequences`, :func:`length_sets`, :func:`label`.
Networks
    :class:`SequenceModel` (the protocol a tracked module meets),
    :class:`ElmanRNN`, :class:`GRUNetwork`, :class:`LastTokenTransformer`.
Training
    :func:`track_prefixes` -> :class:`PrefixTracking`; :func:`measure_prefixes`;
    :func:`record_megabytes`, :func:`steps_per_epoch`; :func:`train_elman_grid`
    (many Elman RNNs at once, for grids) -> :class:`GridRuns`.
Theory for prefix pairs
    :func:`continuations`, :func:`pair_variables`, :func:`fit_pairs`,
    :func:`predict_merger`, :func:`merger_condition`, :func:`theory_rates`,
    :func:`agreeing_pair_distance`, :func:`agreeing`, :func:`task_states`.
Automata
    :func:`cluster_states`, :func:`close_pairs`, :func:`extract`,
    :func:`extract_at`, :func:`state_scale`, :func:`automaton_history`,
    :func:`minimize`, :func:`equivalent`, :func:`counterexample`;
    :func:`draw_history` (losses, automaton size and states over a run).
Studies (the follow-up's figures at a reduced and the paper's scale)
    :func:`run_parity` (:func:`train_parity`, then :func:`analyse_parity`;
    :func:`parity_data`), :func:`length_generalisation`, :func:`merged_pairs`,
    :func:`length_threshold`, :func:`theory_endpoint`, :func:`phase_diagram`
    (:func:`train_phase_grid` -> :class:`PhaseGrid`), :func:`run_studies`,
    :data:`SCALES` (:class:`ParitySettings`, :class:`PhaseSettings`); results
    are :class:`StudyResult` with :class:`ClaimCheck`.
"""

from repdyn.sequences._automata import MISSING, Automaton, counterexample, equivalent, minimize
from repdyn.sequences._data import (
    INITIAL,
    SequenceData,
    complete,
    label,
    length_sets,
    random_sequences,
    sampled,
)
from repdyn.sequences._extraction import (
    CLUSTERINGS,
    AutomatonHistory,
    ExtractedAutomaton,
    automaton_history,
    close_pairs,
    cluster_states,
    extract,
    extract_at,
    label_order,
    state_scale,
)
from repdyn.sequences._models import (
    ELMAN_NONLINEARITIES,
    INITIAL_STATES,
    ElmanRNN,
    GRUNetwork,
    LastTokenTransformer,
    SequenceModel,
)
from repdyn.sequences._grid import GridRuns, train_elman_grid
from repdyn.sequences._pairs import (
    Continuations,
    MergerPrediction,
    PairFit,
    PairVariables,
    agreeing,
    agreeing_pair_distance,
    continuations,
    fit_pairs,
    merger_condition,
    pair_variables,
    predict_merger,
    task_states,
    theory_rates,
)
from repdyn.sequences._studies import (
    SCALES,
    ClaimCheck,
    ParityRun,
    ParitySettings,
    PhaseGrid,
    PhaseSettings,
    StudyResult,
    analyse_parity,
    length_generalisation,
    length_threshold,
    merged_pairs,
    parity_data,
    phase_diagram,
    run_parity,
    run_studies,
    theory_endpoint,
    train_parity,
    train_phase_grid,
)
from repdyn.sequences._plots import draw_history
from repdyn.sequences._tasks import count_mod, parity, random_regular
from repdyn.sequences._tracking import (
    LOSSES,
    MAX_RECORD_MB,
    STATUSES,
    PrefixTracking,
    measure_prefixes,
    one_hot,
    record_megabytes,
    steps_per_epoch,
    track_prefixes,
)

__all__ = [
    "CLUSTERINGS",
    "SCALES",
    "ELMAN_NONLINEARITIES",
    "INITIAL",
    "INITIAL_STATES",
    "LOSSES",
    "MAX_RECORD_MB",
    "MISSING",
    "STATUSES",
    "Automaton",
    "AutomatonHistory",
    "ClaimCheck",
    "Continuations",
    "ElmanRNN",
    "ExtractedAutomaton",
    "GRUNetwork",
    "GridRuns",
    "LastTokenTransformer",
    "MergerPrediction",
    "PairFit",
    "PairVariables",
    "ParityRun",
    "ParitySettings",
    "PhaseGrid",
    "PhaseSettings",
    "PrefixTracking",
    "SequenceData",
    "SequenceModel",
    "StudyResult",
    "agreeing",
    "analyse_parity",
    "agreeing_pair_distance",
    "automaton_history",
    "close_pairs",
    "cluster_states",
    "draw_history",
    "complete",
    "continuations",
    "count_mod",
    "counterexample",
    "equivalent",
    "extract",
    "extract_at",
    "fit_pairs",
    "label",
    "label_order",
    "length_generalisation",
    "length_sets",
    "length_threshold",
    "measure_prefixes",
    "merged_pairs",
    "merger_condition",
    "minimize",
    "one_hot",
    "pair_variables",
    "parity",
    "parity_data",
    "phase_diagram",
    "predict_merger",
    "random_regular",
    "random_sequences",
    "record_megabytes",
    "run_parity",
    "run_studies",
    "sampled",
    "state_scale",
    "steps_per_epoch",
    "task_states",
    "theory_endpoint",
    "theory_rates",
    "track_prefixes",
    "train_parity",
    "train_elman_grid",
    "train_phase_grid",
]
