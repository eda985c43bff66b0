"""Chance-corrected agreement on nominal answers: Cohen's kappa (two coders), Krippendorff's alpha (any number).

Both are kept as streaming counters, so agreement over a large export holds counts, never the answers:

- :class:`KappaCounter` counts the cells of one coder pair's confusion table. **Cohen's kappa** is
  ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of units both coders answered alike and ``p_e`` the
  chance of that from each coder's own answer frequencies (scikit-learn's ``cohen_kappa_score``, unweighted).
  Only units *both* coders answered count. It is **undefined (None)** without units, and when ``p_e = 1``: both
  coders gave one and the same answer throughout, so there is no variation to agree on (scikit-learn returns
  NaN there). Perfect agreement with at least two answers in use gives 1.0.
- :class:`AlphaCounter` counts Krippendorff's coincidences. A unit contributes when at least two coders
  answered it (a missing answer simply leaves the coder out of that unit; units with fewer than two answers
  are not *pairable* and are dropped). Each ordered pair of two different coders' answers adds ``1 / (m - 1)``
  to the coincidence ``o[c, k]``, ``m`` the number of answers in the unit. With ``n_c = sum_k o[c, k]`` and
  ``n = sum_c n_c``, nominal **alpha** is ``1 - (n - 1) * sum_{c != k} o[c, k] / sum_{c != k} n_c * n_k``
  (the ``krippendorff`` package's ``alpha(..., level_of_measurement="nominal")``). It is **undefined (None)**
  without pairable units and when only one answer occurs among pairable values (the package raises then).
  alpha is 1.0 exactly when every pairable unit's answers are all equal and at least two answers occur.

The coincidences are kept as integer counts per unit size ``m`` and divided exactly (``fractions``) at the end,
so identical answers give exactly 1.0 and results never depend on the order units arrive in. Answers may be any
hashable value (strings, frozensets); :meth:`KappaCounter.mapped` and :meth:`AlphaCounter.mapped` recode them,
e.g. into yes/no for one value, and ``+`` pools counters (e.g. the yes/no items of several values).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from fractions import Fraction

import attrs

__all__ = ["AlphaCounter", "KappaCounter", "cohen_kappa", "krippendorff_alpha"]


@attrs.define
class KappaCounter:
    """The confusion table of one coder pair, filled one unit at a time.

    Attributes:
        cells: ``(first coder's answer, second coder's answer)`` → how many units.
    """

    cells: Counter[tuple[Hashable, Hashable]] = attrs.field(factory=Counter)

    def add(self, first: Hashable, second: Hashable) -> None:
        """Count one unit both coders answered."""
        self.cells[first, second] += 1

    @property
    def units(self) -> int:
        """The number of units both coders answered."""
        return self.cells.total()

    @property
    def observed(self) -> float | None:
        """The share of units answered alike; None without units."""
        return sum(n for (a, b), n in self.cells.items() if a == b) / self.units if self.units else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None without units or when both coders gave one and the same answer throughout."""
        total = self.units
        agree = sum(n for (a, b), n in self.cells.items() if a == b)
        first, second = Counter(), Counter()
        for (a, b), n in self.cells.items():
            first[a] += n
            second[b] += n
        # In counts: p_o = agree / N and p_e = chance / N², so kappa = (N·agree - chance) / (N² - chance), exactly.
        chance = sum(n * second[answer] for answer, n in first.items())
        if total == 0 or total * total == chance:
            return None
        return (total * agree - chance) / (total * total - chance)

    def mapped(self, recode: Callable[[Hashable], Hashable]) -> KappaCounter:
        """A new counter with every answer recoded (e.g. ``lambda a: "X" in a`` for a yes/no item)."""
        cells: Counter[tuple[Hashable, Hashable]] = Counter()
        for (a, b), n in self.cells.items():
            cells[recode(a), recode(b)] += n
        return KappaCounter(cells)

    def __add__(self, other: KappaCounter) -> KappaCounter:
        return KappaCounter(self.cells + other.cells)


@attrs.define
class AlphaCounter:
    """Krippendorff's coincidences, filled one unit at a time.

    Attributes:
        pairs: ``(m, c, k)`` → the number of ordered pairs of two different coders' answers ``(c, k)`` in units
            with ``m`` answers.
        units: the number of pairable units (two answers or more) added.
    """

    pairs: Counter[tuple[int, Hashable, Hashable]] = attrs.field(factory=Counter)
    units: int = 0

    def add(self, answers: Iterable[Hashable]) -> None:
        """Count one unit: the answers of the coders who answered it (missing answers left out)."""
        counts = Counter(answers)
        m = counts.total()
        if m < 2:
            return
        self.units += 1
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                # Ordered pairs of two *different* coders: n·(n-1) within one answer, n_c·n_k across two.
                self.pairs[m, c, k] += n_c * (n_c - 1) if c == k else n_c * n_k

    @property
    def values(self) -> int:
        """``n``: the number of pairable answers."""
        # Each unit of m answers adds m(m-1) ordered pairs, each weighing 1/(m-1): n is a whole number.
        return int(self._totals()[1])

    @property
    def alpha(self) -> float | None:
        """Nominal alpha; None without pairable units or when only one answer occurs among them."""
        by_answer, n = self._totals()
        disagreement = sum(
            Fraction(count, m - 1) for (m, c, k), count in self.pairs.items() if c != k
        )
        expected = n * n - sum(n_c * n_c for n_c in by_answer.values())  # sum over c != k of n_c·n_k
        if expected == 0:
            return None
        return float(1 - (n - 1) * disagreement / expected)

    def mapped(self, recode: Callable[[Hashable], Hashable]) -> AlphaCounter:
        """A new counter with every answer recoded; units whose answers all recode alike stay pairable."""
        pairs: Counter[tuple[int, Hashable, Hashable]] = Counter()
        for (m, c, k), count in self.pairs.items():
            pairs[m, recode(c), recode(k)] += count
        return AlphaCounter(pairs, self.units)

    def __add__(self, other: AlphaCounter) -> AlphaCounter:
        return AlphaCounter(self.pairs + other.pairs, self.units + other.units)

    def _totals(self) -> tuple[dict[Hashable, Fraction], Fraction]:
        by_answer: dict[Hashable, Fraction] = {}
        for (m, c, _), count in self.pairs.items():
            by_answer[c] = by_answer.get(c, Fraction(0)) + Fraction(count, m - 1)
        return by_answer, sum(by_answer.values(), Fraction(0))


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two coders' answers to the same units (see the module docs).

    Args:
        first: one coder's answers; ``None`` marks a unit this coder left unanswered.
        second: the other coder's answers, aligned with ``first``.

    Returns:
        kappa over the units both answered, or None where it is undefined.

    Raises:
        ValueError: the two differ in length.
    """
    if len(first) != len(second):
        raise ValueError(f"{len(first)} answers against {len(second)}")
    counter = KappaCounter()
    for a, b in zip(first, second):
        if a is not None and b is not None:
            counter.add(a, b)
    return counter.kappa


def krippendorff_alpha(units: Iterable[Sequence[Hashable | None]]) -> float | None:
    """Nominal Krippendorff's alpha (see the module docs).

    Args:
        units: per unit, every coder's answer, ``None`` where the coder gave none.

    Returns:
        alpha, or None where it is undefined.
    """
    counter = AlphaCounter()
    for answers in units:
        counter.add(answer for answer in answers if answer is not None)
    return counter.alpha
