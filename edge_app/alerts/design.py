"""The plate map as index arrays: replicate groups, and the comparisons each well gets.

A condition is a combination of the alerting labels' values; its wells are replicates. For
every well and label, the design lists the other values of the label that the well is
compared with (ordinal labels: only values outside the tolerance), or says why there is
nothing to compare (:data:`TOO_SMALL`, :data:`NO_OTHER_GROUP`). Built once per plate map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_app.alerts.ordinal import within_tolerance

#: Reasons a (well, label) has no replicate evidence.
TOO_SMALL = "replicate group under 3 wells"
NO_OTHER_GROUP = "no other group of 3+ wells to compare with"
MIN_GROUP = 3


@dataclass(frozen=True)
class PlateDesign:
    """The plate map as index arrays: groups, and every (well, label, alternative) pair.

    Built once per plate map. A pair's own group (``own``) is the well's condition; its
    alternative (``alt``) for value ``u`` is every ``u``-valued well. ``onehot`` encodes the
    conditions by label value, ``col_own`` / ``col_alt`` name the columns of ``v`` and ``u``
    (for the additive label-effect directions).
    """

    wells: tuple[str, ...]
    labels: tuple[str, ...]
    condition: np.ndarray
    members: np.ndarray
    names: tuple[tuple[str, ...], ...]
    well: np.ndarray
    own: np.ndarray
    alt: np.ndarray
    label: np.ndarray
    values: tuple[str, ...]
    untestable: dict[tuple[str, str], str]
    onehot: np.ndarray
    col_own: np.ndarray
    col_alt: np.ndarray


def _alternative(label: str, v: str, u: str, ordinal: frozenset[str], fold: float) -> bool:
    if u == v:
        return False
    if label in ordinal:
        return not within_tolerance(label, v, u, density_fold=fold)
    return True


def plate_design(plate_labels: Mapping[str, Mapping[str, str]], labels: Sequence[str], *,
                 ordinal: frozenset[str] = frozenset({"seeding_density"}),
                 density_fold: float = 1.5) -> PlateDesign:
    """Index the plate map's groups and pairs (see :class:`PlateDesign`)."""
    wells = tuple(plate_labels)
    conds = [tuple(str(plate_labels[w].get(lab, "")) for lab in labels) for w in wells]
    groups: dict[tuple, list[int]] = {}
    for i, cond in enumerate(conds):
        groups.setdefault(("c", cond), []).append(i)
        for j, label in enumerate(labels):
            if cond[j]:
                groups.setdefault(("l", label, cond[j]), []).append(i)
    index = {name: k for k, name in enumerate(groups)}
    rows: list[tuple[int, int, int, int, str]] = []
    untestable: dict[tuple[str, str], str] = {}
    for i, cond in enumerate(conds):
        for j, label in enumerate(labels):
            v = cond[j]
            if not v:
                continue
            if len(groups[("c", cond)]) < MIN_GROUP:
                untestable[(wells[i], label)] = TOO_SMALL
                continue
            found = False
            for name in groups:
                if name[0] != "l" or name[1] != label or not _alternative(
                        label, v, name[2], ordinal, density_fold):
                    continue
                if len(groups[name]) >= MIN_GROUP:
                    rows.append((i, index[("c", cond)], index[name], j, name[2]))
                    found = True
            if not found:
                untestable[(wells[i], label)] = NO_OTHER_GROUP
    members = np.zeros((len(groups), len(wells)))
    for k, idx in enumerate(groups.values()):
        members[k, idx] = 1.0
    cond_names = sorted(set(conds))
    cond_index = {c: k for k, c in enumerate(cond_names)}
    columns = {("l", j, v): k + 1 for k, (_, j, v) in enumerate(sorted(
        {("l", j, c[j]) for c in conds for j in range(len(labels)) if c[j]}))}
    onehot = np.zeros((len(cond_names), len(columns) + 1))
    onehot[:, 0] = 1.0
    for k, cond in enumerate(cond_names):
        for j, v in enumerate(cond):
            if v:
                onehot[k, columns[("l", j, v)]] = 1.0
    col_own = [columns[("l", r[3], conds[r[0]][r[3]])] for r in rows]
    col_alt = [columns[("l", r[3], r[4])] for r in rows]
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return PlateDesign(
        wells=wells, labels=tuple(labels),
        condition=np.asarray([cond_index[c] for c in conds], np.int64), members=members,
        names=tuple(tuple(wells[i] for i in idx) for idx in groups.values()),
        well=np.asarray(cols[0], np.int64), own=np.asarray(cols[1], np.int64),
        alt=np.asarray(cols[2], np.int64), label=np.asarray(cols[3], np.int64),
        values=tuple(cols[4]), untestable=untestable, onehot=onehot,
        col_own=np.asarray(col_own, np.int64), col_alt=np.asarray(col_alt, np.int64))
