"""Edit distance behind "did you mean"."""

from __future__ import annotations

from bazaar.search.suggest import edit_distance, max_typos


def test_edit_distance() -> None:
    assert edit_distance("headphnes", "headphones", 2) == 1
    assert edit_distance("logitehc", "logitech", 2) == 1  # a swap of neighbours counts once
    assert edit_distance("wireles", "wireless", 2) == 1
    assert edit_distance("kitten", "sitting", 3) == 3
    assert edit_distance("abc", "abc", 1) == 0
    assert edit_distance("short", "muchlongerword", 2) == 3  # past the limit: limit + 1


def test_longer_words_allow_more_typos() -> None:
    assert max_typos("mouse") == 1 and max_typos("headphones") == 2
