"""Frame ranges: parsing, chunking, formatting and the order chunks go out in."""

from __future__ import annotations

import pytest

from manager.core.frames import (
    FrameRangeError,
    chunk_frames,
    dispatch_ranks,
    format_frames,
    parse_frame_range,
)


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("47", [47]),
        ("0", [0]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("1..5", [1, 2, 3, 4, 5]),
        ("1-3,7,10..11", [1, 2, 3, 7, 10, 11]),
        (" 3, 5 - 7 ,  9 .. 10 ", [3, 5, 6, 7, 9, 10]),
        ("5-5", [5]),
        ("-5", [-5]),
        ("-3--1", [-3, -2, -1]),
        ("-3..-1", [-3, -2, -1]),
        ("-2-1", [-2, -1, 0, 1]),
        ("-2..1", [-2, -1, 0, 1]),
    ],
)
def test_frame_range_is_read_in_every_written_form(text: str, frames: list[int]) -> None:
    assert parse_frame_range(text) == frames


def test_frame_range_keeps_the_written_order_and_drops_duplicates() -> None:
    assert parse_frame_range("10-12,1-3,11-13,2") == [10, 11, 12, 1, 2, 3, 13]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("5-1", "'5-1'"),
        ("1..-5", "'1..-5'"),
        ("a-b", "'a-b'"),
        ("1-", "'1-'"),
        ("-", "'-'"),
        ("1-2-3", "'1-2-3'"),
        ("1,,2", "empty part"),
        ("1,", "empty part"),
        ("1.5", "'1.5'"),
        ("1 2", "'1 2'"),
        ("١-٣", "'١-٣'"),  # other scripts' digits are not frame numbers
    ],
)
def test_bad_frame_range_names_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(FrameRangeError) as caught:
        parse_frame_range(text)
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_absurd_frame_range_is_refused_before_allocating() -> None:
    with pytest.raises(FrameRangeError, match="more than 1,000,000 frames"):
        parse_frame_range("-1000000-1000000")
    with pytest.raises(FrameRangeError, match="more than 10 frames"):
        parse_frame_range("1-5,6-11", max_frames=10)
    assert len(parse_frame_range("1-10", max_frames=10)) == 10


def test_frame_range_that_is_not_text_is_refused() -> None:
    with pytest.raises(FrameRangeError, match="text"):
        parse_frame_range(15)  # type: ignore[arg-type]


def test_chunks_are_runs_of_consecutive_entries() -> None:
    frames = [1, 2, 3, 7, 8, 20, 21]
    assert chunk_frames(frames, 3) == [[1, 2, 3], [7, 8, 20], [21]]
    assert chunk_frames(frames, 1) == [[f] for f in frames]
    assert chunk_frames(frames, 100) == [frames]
    assert chunk_frames([], 4) == []


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_chunk_size_below_one_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match="chunk size"):
        chunk_frames([1, 2], size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frames", "dashes", "dots"),
    [
        ([1, 2, 3, 7], "1-3,7", "1..3,7"),
        ([5], "5", "5"),
        ([], "", ""),
        ([4, 5], "4-5", "4..5"),
        ([1, 3, 5], "1,3,5", "1,3,5"),
        ([-3, -2, -1, 0], "-3-0", "-3..0"),
        ([10, 11, 1, 2], "10-11,1-2", "10..11,1..2"),
    ],
)
def test_frames_format_compactly(frames: list[int], dashes: str, dots: str) -> None:
    assert format_frames(frames) == dashes
    assert format_frames(frames, range_sep="..") == dots


def test_formatted_frames_read_back_the_same() -> None:
    frames = [1, 2, 3, 7, 9, 10, 11, 40]
    assert parse_frame_range(format_frames(frames)) == frames
    assert parse_frame_range(format_frames(frames, "..")) == frames


def _order(n: int) -> list[int]:
    """Chunk indexes in the order they go out."""
    ranks = dispatch_ranks(n)
    return sorted(range(n), key=ranks.__getitem__)


def test_first_last_and_middle_chunks_go_out_first() -> None:
    assert _order(9)[:3] == [0, 8, 4]
    # Then the middles of the halves, then of the quarters.
    assert _order(9)[3:5] == [2, 6]
    assert set(_order(9)[5:]) == {1, 3, 5, 7}
    assert _order(100)[:3] == [0, 99, 49]


@pytest.mark.parametrize(
    ("n", "order"), [(0, []), (1, [0]), (2, [0, 1]), (3, [0, 2, 1]), (4, [0, 3, 1, 2])]
)
def test_tiny_jobs_also_go_first_last_middle(n: int, order: list[int]) -> None:
    assert _order(n) == order


def test_dispatch_ranks_are_a_permutation_for_many_sizes() -> None:
    for n in list(range(0, 300)) + [1023, 1024, 1025, 4097]:
        assert sorted(dispatch_ranks(n)) == list(range(n)), n


def test_dispatch_ranks_handle_a_huge_job() -> None:
    n = 100_000
    ranks = dispatch_ranks(n)
    assert len(ranks) == n and ranks[0] == 0 and ranks[-1] == 1 and ranks[(n - 1) // 2] == 2
    assert len(set(ranks)) == n


def test_negative_chunk_count_is_refused() -> None:
    with pytest.raises(ValueError):
        dispatch_ranks(-1)
