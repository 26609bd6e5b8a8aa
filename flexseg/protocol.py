"""Facts of the evaluation protocol: the target domains' names and the paper's averages.

The paper reports five real target domains under short names — ``ACDC``, ``DZ`` (Dark
Zurich), ``CS`` (Cityscapes), ``BDD`` (BDD100K), ``MV`` (Mapillary Vistas) — and three
averages over them (docs/design.md §1, docs/report.md): Avg2 = mean(ACDC, DZ),
Avg3 = mean(CS, BDD, MV), Avg5 = all five. The embedded synthdrive benchmark has no Avg
columns; its summary is ``mean`` over all domains, ``adverse`` over fog/night/rain/snow and
``adverse_phys`` over the physically modelled fog_dense/night_dark/rain_lens/snow_storm
(docs/synthdrive.md).

This module sits below every other FlexSeg module (it imports none): the run summary of
``flexseg.train`` / ``flexseg.eval`` (:mod:`flexseg.report.results`), the console tables
(:mod:`flexseg.utils.console`) and the W&B summary (:mod:`flexseg.utils.wandb_run`) all
read the protocol here. The names stay importable from ``flexseg.report`` and
``flexseg.report.results``.
"""
from __future__ import annotations

import math
from typing import Mapping

__all__ = ["REAL_AVERAGES", "REAL_DOMAINS", "SYNTH_ADVERSE", "SYNTH_ADVERSE_PHYS", "SYNTH_AVERAGES", "averages",
           "canonical_domain"]

#: Canonical real-domain names and the spellings a data config may use.
REAL_DOMAINS: dict[str, tuple[str, ...]] = {
    "ACDC": ("acdc",),
    "DZ": ("dz", "dark_zurich", "darkzurich", "dark-zurich"),
    "CS": ("cs", "cityscapes"),
    "BDD": ("bdd", "bdd100k", "bdd10k"),
    "MV": ("mv", "mapillary", "vistas", "mapillary_vistas"),
}
#: The paper's averages: name → the canonical domains averaged.
REAL_AVERAGES: dict[str, tuple[str, ...]] = {
    "Avg2": ("ACDC", "DZ"),
    "Avg3": ("CS", "BDD", "MV"),
    "Avg5": ("ACDC", "DZ", "CS", "BDD", "MV"),
}
#: synthdrive's adverse-weather domains (the ``adverse`` average).
SYNTH_ADVERSE: tuple[str, ...] = ("fog", "night", "rain", "snow")
#: synthdrive's physically modelled adverse domains (``flexseg.data.synthdrive.adverse``; the ``adverse_phys`` average).
SYNTH_ADVERSE_PHYS: tuple[str, ...] = ("fog_dense", "night_dark", "rain_lens", "snow_storm")
#: synthdrive's averages, in table order (each only when one of its domains is present).
SYNTH_AVERAGES: tuple[str, ...] = ("mean", "adverse", "adverse_phys")


def canonical_domain(name: str) -> str:
    """The paper's name of a real target domain.

    Args:
        name: a domain name as a data config spells it (any case).

    Returns:
        ``ACDC``/``DZ``/``CS``/``BDD``/``MV`` for a spelling in :data:`REAL_DOMAINS`,
        else ``name`` unchanged.

    Example:
        >>> canonical_domain("dark_zurich"), canonical_domain("Cityscapes"), canonical_domain("fog")
        ('DZ', 'CS', 'fog')
    """
    low = name.lower()
    for canon, aliases in REAL_DOMAINS.items():
        if low in aliases:
            return canon
    return name


def averages(mious: Mapping[str, float]) -> dict[str, float]:
    """Summary averages of per-domain mIoU values (any unit; NaN values skipped).

    Real domains (names as in :data:`REAL_DOMAINS`) → ``Avg2``/``Avg3``/``Avg5``, each
    only when all of its domains are present; otherwise (e.g. synthdrive) ``mean`` over
    all domains and, when any of fog/night/rain/snow is present, ``adverse`` over those,
    when any of fog_dense/night_dark/rain_lens/snow_storm is, ``adverse_phys`` over those.

    Args:
        mious: domain name → mIoU (fraction or percent; ``None``/NaN are skipped).

    Returns:
        average name → value, in the unit of ``mious``.

    Example:
        >>> averages({"acdc": 40.0, "dz": 20.0, "cs": 50.0, "bdd": 60.0, "mv": 70.0})
        {'Avg2': 30.0, 'Avg3': 60.0, 'Avg5': 48.0}
        >>> averages({"clear": 0.8, "fog": 0.6, "night": float("nan")})
        {'mean': 0.7, 'adverse': 0.6}
        >>> averages({"clear": 0.8, "fog": 0.6, "fog_dense": 0.25, "night_dark": 0.75})
        {'mean': 0.6, 'adverse': 0.6, 'adverse_phys': 0.5}
    """
    vals = {canonical_domain(d): float(v) for d, v in mious.items() if v is not None and not math.isnan(float(v))}
    out: dict[str, float] = {}
    if any(d in REAL_DOMAINS for d in vals):
        for name, members in REAL_AVERAGES.items():
            if all(m in vals for m in members):
                out[name] = sum(vals[m] for m in members) / len(members)
        if out:
            return out
    if vals:
        out["mean"] = sum(vals.values()) / len(vals)
    adverse = [vals[d] for d in SYNTH_ADVERSE if d in vals]
    if adverse:
        out["adverse"] = sum(adverse) / len(adverse)
    phys = [vals[d] for d in SYNTH_ADVERSE_PHYS if d in vals]
    if phys:
        out["adverse_phys"] = sum(phys) / len(phys)
    return out
