"""bench.profile's folding of py-spy's raw stacks into the costliest frames."""

from __future__ import annotations

from pathlib import Path

from bench.stacks import fold, fold_files

RAW = [
    "main (cli.py:1);run (loop.py:9);handle (app.py:5);query (db.py:3) 6\n",
    "main (cli.py:1);run (loop.py:9);handle (app.py:5) 2\n",
    "main (cli.py:1);run (loop.py:9);poll (net.py:7) 2\n",
]


def test_own_time_is_the_innermost_frame_and_inclusive_counts_a_frame_once_a_stack() -> None:
    folded = fold(RAW)
    assert folded.samples == 10
    top = folded.top(3)
    assert top["own"] == [("query (db.py:3)", 60.0), ("handle (app.py:5)", 20.0),
                          ("poll (net.py:7)", 20.0)]  # fmt: skip
    # main and run are on every sample: entry points, left out of the inclusive list.
    assert top["inclusive"] == [("handle (app.py:5)", 80.0), ("query (db.py:3)", 60.0),
                                ("poll (net.py:7)", 20.0)]  # fmt: skip


def test_a_recursive_frame_counts_once_per_sample() -> None:
    folded = fold(["a (x.py:1);b (x.py:2);a (x.py:1) 4\n", "c (x.py:3) 4\n"])
    assert folded.inclusive["a (x.py:1)"] == 4
    assert ("a (x.py:1)", 50.0) in folded.top(5, ubiquitous=100.0)["inclusive"]


def test_blank_or_cut_lines_are_skipped() -> None:
    folded = fold(["\n", "a (x.py:1);b (x.py", "a (x.py:1) 3\n"])
    assert folded.samples == 3
    assert folded.top(5)["own"] == [("a (x.py:1)", 100.0)]


def test_files_of_one_kind_are_summed(tmp_path: Path) -> None:
    one, two = tmp_path / "projector.1.txt", tmp_path / "projector.2.txt"
    one.write_text("a (x.py:1);b (x.py:2) 3\n")
    two.write_text("a (x.py:1);c (x.py:3) 1\n")
    folded = fold_files([one, two])
    assert folded.samples == 4
    assert folded.own == {"b (x.py:2)": 3, "c (x.py:3)": 1}


def test_nothing_sampled_gives_empty_lists() -> None:
    assert fold([]).top(5) == {"own": [], "inclusive": []}
