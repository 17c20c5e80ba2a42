"""6.x's acceptance.image: image comparisons (numpy + Pillow) and screenshots (Playwright + Chromium)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("PIL")

from c2cwsgiutils.acceptance import image  # noqa: E402 - after the skips


def _picture() -> np.ndarray:  # type: ignore[name-defined]
    picture = np.full((40, 60, 3), 255, dtype="uint8")
    picture[10:30, 10:50] = [200, 30, 30]
    return picture


def _save(path: Path, array: np.ndarray) -> None:  # type: ignore[name-defined]
    from PIL import Image

    Image.fromarray(array).save(path)


def test_same_image_passes(tmp_path: Path) -> None:
    _save(tmp_path / "box.expected.png", _picture())
    image.check_image(str(tmp_path / "out"), _picture(), str(tmp_path / "box.expected.png"))


def test_a_different_image_fails_with_a_diff(tmp_path: Path) -> None:
    _save(tmp_path / "box.expected.png", _picture())
    other = _picture()
    other[12:18, 20:40] = [0, 0, 255]
    with pytest.raises(AssertionError, match=r"box.diff.png \(0\.\d+ < 1.0\)"):
        image.check_image(str(tmp_path / "out"), other, str(tmp_path / "box.expected.png"))
    assert (tmp_path / "out" / "box.actual-masked.png").is_file()
    diff = image._read(str(tmp_path / "out" / "box.diff.png"))
    assert diff.shape == (40, 60, 3)  # per channel, as 6.x's
    assert diff[0, 0].tolist() == [0, 0, 0]  # far from the change: identical
    assert diff[15, 30].max() > 0
    image.check_image(str(tmp_path / "out"), other, str(tmp_path / "box.expected.png"), level=0.5)


def test_the_mask_hides_what_changes(tmp_path: Path) -> None:
    _save(tmp_path / "box.expected.png", _picture())
    mask = np.full((40, 60), 255, dtype="uint8")
    mask[0:8, :] = 0  # a clock, say, at the top
    _save(tmp_path / "box.mask.png", mask)
    changed = _picture()
    changed[2:6, 5:30] = [0, 0, 0]
    image.check_image(str(tmp_path / "out"), changed, str(tmp_path / "box.expected.png"))
    with pytest.raises(AssertionError):
        image.check_image(str(tmp_path / "out"), changed, str(tmp_path / "box.expected.png"), use_mask=False)


def test_a_missing_expected_image_is_written_and_fails(tmp_path: Path) -> None:
    expected = tmp_path / "new.expected.png"
    with pytest.raises(AssertionError, match="Expected image not found"):
        image.check_image(str(tmp_path / "out"), _picture(), str(expected))
    image.check_image_file(str(tmp_path / "out"), str(expected), str(expected))


def test_normalize_image_composes_alpha_on_white() -> None:
    rgba = np.zeros((1, 1, 4), dtype="uint8")
    assert image.normalize_image(rgba).tolist() == [[[255, 255, 255]]]
    assert image.normalize_image(np.ones((1, 1, 3))).tolist() == [[[255, 255, 255]]]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium on this machine")
def test_check_screenshot_of_a_page(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '<body style="margin:0;background:#fff"><div style="width:50px;height:20px;background:red">'
    )
    expected = tmp_path / "page.expected.png"
    url = page.as_uri()
    with pytest.raises(AssertionError, match="Expected image not found"):
        image.check_screenshot(url, str(tmp_path / "out"), str(expected), width=100, height=50, sleep=0)
    image.check_screenshot(url, str(tmp_path / "out"), str(expected), width=100, height=50, sleep=0)
    assert image._read(str(tmp_path / "out" / "page.actual.png")).shape[:2] == (50, 100)
