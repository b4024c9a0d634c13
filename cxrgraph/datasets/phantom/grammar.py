"""A small combinatorial grammar: nodes that count, sample and enumerate the strings they produce.

:class:`Lit` (a fixed string), :class:`Alt` (one of several, drawn so that every realisation
is equally likely), :class:`Seq` (parts joined by spaces) and :func:`Opt`. Because every node
can count its realisations, the size of a grammar is computed, not guessed. The phantom's
report sentences (:mod:`cxrgraph.datasets.phantom.sentences`) are built from these nodes.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["Node", "Lit", "Alt", "Seq", "Opt", "words", "join_words", "as_sentence"]


class Node(ABC):
    """A grammar node: counts, samples and enumerates the strings it can produce."""

    @abstractmethod
    def count(self) -> int:
        """How many distinct strings the node can produce."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> str:
        """One string drawn with ``rng``."""

    @abstractmethod
    def expand(self) -> Iterator[str]:
        """Every string, in a fixed order."""


class Lit(Node):
    """A fixed string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def count(self) -> int:
        return 1

    def sample(self, rng: np.random.Generator) -> str:
        return self.text

    def expand(self) -> Iterator[str]:
        yield self.text


def _node(x: Node | str) -> Node:
    return x if isinstance(x, Node) else Lit(x)


class Alt(Node):
    """One of several alternatives, drawn uniformly."""

    def __init__(self, *options: Node | str) -> None:
        if not options:
            raise ValueError("Alt needs at least one option")
        self.options = [_node(o) for o in options]
        self._weights: np.ndarray | None = None

    def count(self) -> int:
        return sum(o.count() for o in self.options)

    def sample(self, rng: np.random.Generator) -> str:
        # weight by size so every realisation is equally likely (sizes computed once per node)
        if self._weights is None:
            w = np.array([o.count() for o in self.options], dtype=np.float64)
            self._weights = w / w.sum()
        return self.options[int(rng.choice(len(self.options), p=self._weights))].sample(rng)

    def expand(self) -> Iterator[str]:
        for o in self.options:
            yield from o.expand()


class Seq(Node):
    """Parts joined by single spaces (empty parts vanish)."""

    def __init__(self, *parts: Node | str) -> None:
        self.parts = [_node(p) for p in parts]
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            n = 1
            for p in self.parts:
                n *= p.count()
            self._count = n
        return self._count

    def sample(self, rng: np.random.Generator) -> str:
        return join_words(p.sample(rng) for p in self.parts)

    def expand(self) -> Iterator[str]:
        for combo in itertools.product(*(list(p.expand()) for p in self.parts)):
            yield join_words(combo)


def Opt(x: Node | str) -> Alt:
    """``x`` or nothing."""
    return Alt("", x)


_SPACES = re.compile(r"\s+")
_BEFORE_PUNCT = re.compile(r"\s+([,.;])")


def join_words(parts: Iterable[str]) -> str:
    """Parts joined by single spaces, empty parts dropped, no space before punctuation."""
    return _BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", " ".join(p for p in parts if p)).strip())


_AN = re.compile(r"\b([Aa]) (?=[aeiou])")


def as_sentence(text: str) -> str:
    """Capitalised, ending in a full stop, with "a" before a vowel as "an"."""
    text = _AN.sub(r"\1n ", text.strip())
    if not text.endswith("."):
        text += "."
    return text[0].upper() + text[1:]


def words(options: tuple[str, ...]) -> Node:
    """A word list as a node: one word is a :class:`Lit`, several an :class:`Alt` (drawn uniformly)."""
    return Lit(options[0]) if len(options) == 1 else Alt(*options)
