"""Automata extracted from a network's hidden states: clustering, transitions, outputs, history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks
from repdyn.sequences._automata import MISSING, Automaton, equivalent, minimize
from repdyn.sequences._data import SequenceData
from repdyn.sequences._tracking import PrefixTracking

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Clusterings of hidden states into automaton states.
#: ``"leader"``: the authors' greedy rule (reproduction): in the order of the
#: prefixes' labels, each state joins the first group whose first member lies
#: within eps, else founds a group; it depends on the order and is not transitive.
#: ``"single_linkage"``: connected components of "within eps"; independent of order.
CLUSTERINGS = ("leader", "single_linkage")
#: Rows of the distance matrix computed at once.
_DISTANCE_CHUNK = 1024


def _points(name: str, value: ArrayLike) -> FloatArray:
    arr = checks.real_array(name, value)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise checks.ArgumentValueError(name, f"{name} must have shape (n, H) with n >= 1; got {arr.shape}")
    return arr


def _distances(points: FloatArray, rows: slice) -> FloatArray:
    block = points[rows]
    sq = np.einsum("ij,ij->i", points, points)
    d2 = sq[rows][:, None] + sq[None, :] - 2.0 * block @ points.T
    return np.sqrt(np.maximum(d2, 0.0))


def cluster_states(
    points: ArrayLike, eps: float, *, method: str = "leader", order: ArrayLike | None = None
) -> IntArray:
    """Group points whose distance is below ``eps`` (:data:`CLUSTERINGS`).

    Parameters
    ----------
    points : array_like, shape (n, H)
    eps : float
        Distance threshold, > 0 (two points are "within eps" when ``||p - q|| < eps``).
    method : {"leader", "single_linkage"}, default "leader"
    order : array_like of int, shape (n,), optional
        The order in which the points are visited (a permutation); index order by default.

    Returns
    -------
    ndarray of int, shape (n,)
        Group of each point, numbered in order of first appearance in ``order``.
    """
    pts = _points("points", points)
    eps = checks.real("eps", eps, above=0.0)
    method = checks.choice("method", method, CLUSTERINGS)
    n = pts.shape[0]
    visit = np.arange(n) if order is None else np.asarray(order, dtype=np.int64)
    if visit.shape != (n,) or not np.array_equal(np.sort(visit), np.arange(n)):
        raise checks.ArgumentValueError("order", f"order must be a permutation of 0 .. {n - 1}")
    # Distances in float64 from float32 states: exact enough that "< eps" is decided on the states.
    dist = np.vstack([_distances(pts, slice(s, s + _DISTANCE_CHUNK)) for s in range(0, n, _DISTANCE_CHUNK)])
    labels = np.full(n, MISSING, dtype=np.int64)
    if method == "leader":
        leaders: list[int] = []
        for i in visit:
            if leaders:
                near = np.flatnonzero(dist[i, leaders] < eps)
                if near.size:
                    labels[i] = near[0]
                    continue
            labels[i] = len(leaders)
            leaders.append(int(i))
        return labels
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    _, component = connected_components(csr_matrix(dist < eps), directed=False)
    first = {}
    for i in visit:
        first.setdefault(int(component[i]), len(first))
    return np.array([first[int(c)] for c in component], dtype=np.int64)


def close_pairs(points: ArrayLike, eps: float) -> IntArray:
    """All pairs ``(i, j)``, ``i < j``, of points closer than ``eps``, shape (P, 2), sorted."""
    pts = _points("points", points)
    eps = checks.real("eps", eps, above=0.0)
    found = []
    for s in range(0, pts.shape[0], _DISTANCE_CHUNK):
        i, j = np.nonzero(_distances(pts, slice(s, s + _DISTANCE_CHUNK)) < eps)
        i = i + s
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found).astype(np.int64)


def label_order(data: SequenceData) -> IntArray:
    """The authors' visiting order: prefixes sorted by their labels, the initial state (row n) last."""
    by_label = sorted(range(data.n_items), key=lambda i: data.sequences[i])
    return np.array([*by_label, data.n_items], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class ExtractedAutomaton:
    """An automaton read off hidden states, with how well the data support it.

    Attributes
    ----------
    automaton : Automaton
        States = groups of hidden states; ``delta(class(x), c) = class(xc)``
        for every training prefix ``xc`` whose parent ``x`` is a training
        prefix or empty; a state's output = argmax of the network output at
        its first member; transitions never observed are missing.
    assignment : ndarray of int, shape (n,)
        State of each training prefix.
    initial : int
        State of ``h_0``.
    conflicts : int
        (state, symbol) pairs observed leading to more than one state; each
        takes its most frequent successor (ties: the first observed), never
        the last one written.
    output_conflicts : int
        States whose members' network outputs fall in different classes.
    train_accuracy : float
        Share of training prefixes on which running the automaton from its
        initial state gives the target (a run that falls off is wrong).
    eps : float
    method : str
    """

    automaton: Automaton
    assignment: IntArray
    initial: int
    conflicts: int
    output_conflicts: int
    train_accuracy: float
    eps: float
    method: str

    def __repr__(self) -> str:
        a = self.automaton
        return (
            f"ExtractedAutomaton({a.n_states} states, {'closed' if a.closed else 'open'}, "
            f"{self.conflicts} conflicts, train accuracy {self.train_accuracy:.3f}, eps={self.eps:.3g}, {self.method})"
        )

    @property
    def n_states(self) -> int:
        """Number of states."""
        return self.automaton.n_states

    @property
    def closed(self) -> bool:
        """Every state has a transition on every symbol."""
        return self.automaton.closed


def extract(
    states: ArrayLike,
    outputs: ArrayLike,
    data: SequenceData,
    *,
    initial_state: ArrayLike,
    initial_output: ArrayLike,
    eps: float,
    method: str = "leader",
) -> ExtractedAutomaton:
    """The automaton of one snapshot of hidden states (the follow-up's App A).

    Parameters
    ----------
    states : array_like, shape (n, H)
        Hidden state after each training prefix (row ``i``: ``data.sequences[i]``).
    outputs : array_like, shape (n, K)
        Network output after each prefix.
    data : SequenceData
    initial_state : array_like, shape (H,)
        ``h_0``.
    initial_output : array_like, shape (K,)
        The output read from ``h_0``.
    eps : float
        States closer than this are one state.
    method : {"leader", "single_linkage"}, default "leader"
        See :data:`CLUSTERINGS`; points are visited in :func:`label_order`.

    Returns
    -------
    ExtractedAutomaton
    """
    if not isinstance(data, SequenceData):
        raise checks.ArgumentTypeError("data", f"data must be a SequenceData; got {checks.describe(data)}")
    pts = _points("states", states)
    outs = _points("outputs", outputs)
    h0 = checks.real_array("initial_state", initial_state).reshape(-1)
    y0 = checks.real_array("initial_output", initial_output).reshape(-1)
    n = data.n_items
    if pts.shape[0] != n or outs.shape[0] != n or h0.size != pts.shape[1] or y0.size != outs.shape[1]:
        raise checks.ArgumentValueError(
            "states", f"states (n, H), outputs (n, K), initial_state (H,) and initial_output (K,) must match the "
            f"{n} sequences of data; got {pts.shape}, {outs.shape}, {h0.shape}, {y0.shape}"
        )
    order = label_order(data)
    labels = cluster_states(np.vstack([pts, h0]), eps, method=method, order=order)
    n_states = int(labels.max()) + 1
    out_class = np.vstack([outs, y0]).argmax(axis=1)
    first_member = np.full(n_states, MISSING, dtype=np.int64)
    for i in order[::-1]:
        first_member[labels[i]] = i
    state_outputs = out_class[first_member]
    output_conflicts = int(np.count_nonzero(
        np.bincount(labels, weights=(out_class != state_outputs[labels]), minlength=n_states) > 0
    ))

    # Observed transitions, in visiting order so that ties go to the first observed.
    parent_rows = np.full(n, MISSING, dtype=np.int64)
    for i, seq in enumerate(data.sequences):
        parent_rows[i] = n if len(seq) == 1 else data.index.get(seq[:-1], MISSING)
    seen: dict[tuple[int, int], dict[int, int]] = {}
    for i in order[:-1]:
        if parent_rows[i] == MISSING:
            continue
        key = (int(labels[parent_rows[i]]), int(data.sequences[i][-1]))
        counts = seen.setdefault(key, {})
        counts[int(labels[i])] = counts.get(int(labels[i]), 0) + 1
    transitions = np.full((n_states, data.n_symbols), MISSING, dtype=np.int64)
    conflicts = 0
    for (q, c), counts in seen.items():
        transitions[q, c] = max(counts, key=counts.__getitem__)  # first observed wins ties (dicts keep order)
        conflicts += len(counts) > 1
    n_outputs = max(data.n_outputs, outs.shape[1])
    automaton = Automaton(transitions=transitions, outputs=state_outputs, initial=int(labels[n]), n_outputs=n_outputs)
    run = automaton.run(np.where(data.symbols < 0, 0, data.symbols), data.lengths)
    return ExtractedAutomaton(
        automaton=automaton,
        assignment=labels[:n],
        initial=int(labels[n]),
        conflicts=int(conflicts),
        output_conflicts=output_conflicts,
        train_accuracy=float(np.mean(run == data.targets)),
        eps=float(eps),
        method=method,
    )


def extract_at(tracking: PrefixTracking, record: int, *, eps: float, method: str = "leader") -> ExtractedAutomaton:
    """:func:`extract` on record ``record`` of a tracking run (-1: the last)."""
    _need_initial(tracking)
    record = checks.integer("record", record, minimum=-tracking.n_records, maximum=tracking.n_records - 1)
    r = record % tracking.n_records
    assert tracking.initial_states is not None and tracking.initial_outputs is not None
    return extract(
        tracking.states[r], tracking.outputs[r], tracking.data,
        initial_state=tracking.initial_states[r], initial_output=tracking.initial_outputs[r],
        eps=eps, method=method,
    )


def _need_initial(tracking: Any) -> None:
    if not isinstance(tracking, PrefixTracking):
        raise checks.ArgumentTypeError(
            "tracking", f"tracking must be a PrefixTracking; got {checks.describe(tracking)}"
        )
    if tracking.initial_states is None:
        raise checks.ArgumentValueError(
            "tracking", "automata need the initial state; the tracked model's initial_state() returned None "
            "(count states with cluster_states instead)"
        )


def state_scale(source: PrefixTracking | ArrayLike, *, records: str = "all") -> float:
    """``||per-unit standard deviation||`` of hidden states, the unit the follow-up's eps is measured in.

    Parameters
    ----------
    source : PrefixTracking or array_like of shape (n, H)
        A run (its prefixes and initial state, at the records chosen) or one set of states.
    records : {"all", "final"}, default "all"
        For a run: ``"all"`` pools the standard deviation over every record,
        prefix and the initial state (the authors' main run: eps = 0.01 x
        this); ``"final"`` takes the last record only (their grid: eps = 0.1 x this).
    """
    checks.choice("records", records, ("all", "final"))
    if isinstance(source, PrefixTracking):
        picked = range(source.n_records) if records == "all" else [source.n_records - 1]
        initial = source.initial_states
        blocks = (
            source.states[r] if initial is None else np.vstack([source.states[r], initial[r]]) for r in picked
        )
    else:
        blocks = iter([_points("source", source)])
    first = np.asarray(next(blocks), dtype=np.float64)
    # Sums relative to the first block's mean keep the variance free of cancellation.
    shift = first.mean(axis=0)
    total, total_sq, count = np.zeros(first.shape[1]), np.zeros(first.shape[1]), 0
    for block in (first, *blocks):
        centred = np.asarray(block, dtype=np.float64) - shift
        total += centred.sum(axis=0)
        total_sq += (centred**2).sum(axis=0)
        count += centred.shape[0]
    var = np.maximum(total_sq / count - (total / count) ** 2, 0.0)
    return float(np.sqrt(var.sum()))


@dataclass(frozen=True, eq=False)
class AutomatonHistory:
    """The extracted automaton at every record of a training run.

    Attributes
    ----------
    epochs : ndarray of int, shape (R,)
    n_states : ndarray of int, shape (R,)
    closed : ndarray of bool, shape (R,)
    conflicts, output_conflicts : ndarray of int, shape (R,)
    minimal_states : ndarray of int, shape (R,)
        States of the Hopcroft-minimised automaton (a sink counts where transitions are missing).
    train_accuracy : ndarray, shape (R,)
        Share of training prefixes the automaton's run gets right.
    equivalent : ndarray of bool, shape (R,), or None
        Same outputs as the task's automaton on every sequence up to ``check_length`` (when a task was given).
    eps : float
    method : str
    check_length : int or None
    """

    epochs: IntArray
    n_states: IntArray
    closed: NDArray[np.bool_]
    conflicts: IntArray
    output_conflicts: IntArray
    minimal_states: IntArray
    train_accuracy: FloatArray
    equivalent: NDArray[np.bool_] | None
    eps: float
    method: str
    check_length: int | None

    def _first(self, mask: NDArray[np.bool_]) -> int | None:
        hits = np.flatnonzero(mask)
        return int(self.epochs[hits[0]]) if hits.size else None

    @property
    def first_closed_epoch(self) -> int | None:
        """First recorded epoch at which the automaton is closed (None: never)."""
        return self._first(self.closed)

    @property
    def first_correct_closed_epoch(self) -> int | None:
        """First recorded epoch at which it is closed and right on every training prefix."""
        return self._first(self.closed & (self.train_accuracy == 1.0))

    @property
    def first_generalising_epoch(self) -> int | None:
        """First recorded epoch at which it is closed, free of conflicts and right on every training prefix."""
        return self._first(self.closed & (self.conflicts == 0) & (self.train_accuracy == 1.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready arrays and the first epochs."""
        out: dict[str, Any] = {
            key: getattr(self, key).tolist()
            for key in ("epochs", "n_states", "closed", "conflicts", "output_conflicts", "minimal_states",
                        "train_accuracy")
        }
        out["equivalent"] = None if self.equivalent is None else self.equivalent.tolist()
        out.update(eps=self.eps, method=self.method, check_length=self.check_length,
                   first_closed_epoch=self.first_closed_epoch,
                   first_correct_closed_epoch=self.first_correct_closed_epoch,
                   first_generalising_epoch=self.first_generalising_epoch)
        return out


def automaton_history(
    tracking: PrefixTracking,
    *,
    eps: float,
    method: str = "leader",
    task: Automaton | None = None,
    check_length: int | None = None,
) -> AutomatonHistory:
    """Extract, minimise and judge the automaton at every record of a run.

    Parameters
    ----------
    tracking : PrefixTracking
    eps : float
        One fixed threshold for every record (see :func:`state_scale`).
    method : {"leader", "single_linkage"}, default "leader"
    task : Automaton, optional
        The task; then each automaton is compared with it.
    check_length : int, optional
        Longest sequence of the comparison; by default the longer of the
        training data's longest sequence and the number of task states plus 1.
    """
    _need_initial(tracking)
    if task is not None and not isinstance(task, Automaton):
        raise checks.ArgumentTypeError("task", f"task must be an Automaton or None; got {checks.describe(task)}")
    if task is not None and check_length is None:
        check_length = max(tracking.data.max_length, task.n_states + 1)
    check_length = checks.integer("check_length", check_length, minimum=1, allow_none=True)
    rows = []
    for r in range(tracking.n_records):
        ex = extract_at(tracking, r, eps=eps, method=method)
        rows.append((
            ex.n_states, ex.closed, ex.conflicts, ex.output_conflicts, minimize(ex.automaton).n_states,
            ex.train_accuracy,
            None if task is None else equivalent(ex.automaton, task, check_length),  # type: ignore[arg-type]
        ))
    cols = list(zip(*rows, strict=True))
    return AutomatonHistory(
        epochs=tracking.epochs.copy(),
        n_states=np.array(cols[0], dtype=np.int64),
        closed=np.array(cols[1], dtype=bool),
        conflicts=np.array(cols[2], dtype=np.int64),
        output_conflicts=np.array(cols[3], dtype=np.int64),
        minimal_states=np.array(cols[4], dtype=np.int64),
        train_accuracy=np.array(cols[5], dtype=np.float64),
        equivalent=None if task is None else np.array(cols[6], dtype=bool),
        eps=float(eps),
        method=method,
        check_length=check_length,
    )
