"""6.x's ``c2cwsgiutils.acceptance.image``: compare an image or a page's screenshot with an expected one.

Needs ``numpy`` and ``Pillow`` (``pip install c2cwsgiutils[images]``); :func:`check_screenshot` also
needs Playwright and a Chromium (Playwright's own, or ``C2C_BROWSER`` / ``/usr/bin/chromium``). 6.x
drove Puppeteer through Node.js and compared with scikit-image; the similarity is the same measure
(the mean structural similarity, SSIM, over 7x7 windows) computed here with numpy alone.

Conventions kept from 6.x: the expected image is ``<name>.expected.png``; a black-and-white
``<name>.mask.png`` beside it blanks the black areas of both images (with the background colour of
the image checked) before comparing; on a mismatch ``<result_folder>/<name>.actual-masked.png`` and
``<name>.diff.png`` are written; a missing expected image is written from the actual one and the
check fails.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["check_image", "check_image_file", "check_screenshot", "normalize_image"]

_WINDOW = 7  # the SSIM window of scikit-image's structural_similarity, which 6.x used
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ImportError(
            "c2cwsgiutils.acceptance.image needs numpy and Pillow: pip install 'c2cwsgiutils[images]'"
        ) from None
    return numpy


def _read(path: str) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "c2cwsgiutils.acceptance.image needs numpy and Pillow: pip install 'c2cwsgiutils[images]'"
        ) from None
    with Image.open(path) as opened:
        picture = opened
        if opened.mode == "1":  # 1-bit masks: 0 and 255 as scikit-image read them, not booleans
            picture = opened.convert("L")
        elif opened.mode in ("P", "LA"):
            picture = opened.convert("RGBA")
        return _numpy().asarray(picture).copy()


def _write(path: str, image: Any) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)


def normalize_image(image: Any) -> Any:
    """``image`` as 8-bit RGB (or grey): an alpha channel is composed on white, floats in [0, 1]
    become 0..255."""
    np = _numpy()
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.floating):
        image = (image * 255).round().astype("uint8")
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3:4].astype("float64") / 255
        image = (image[..., :3] * alpha + 255 * (1 - alpha)).round().astype("uint8")
    return image.astype("uint8")


def _box_mean(np: Any, values: Any) -> Any:
    """Mean over the ``_WINDOW`` x ``_WINDOW`` window around each pixel, the image mirrored at its
    edges (scipy's ``uniform_filter`` in its ``reflect`` mode, which scikit-image uses)."""
    values = np.pad(values, _WINDOW // 2, mode="symmetric")
    table = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    w = _WINDOW
    sums = table[w:, w:] - table[:-w, w:] - table[w:, :-w] + table[:-w, :-w]
    return sums / (w * w)


def _ssim(np: Any, expected: Any, actual: Any) -> tuple[float, Any]:
    """Mean SSIM (mean over the channels of each channel's mean away from the borders, as
    scikit-image) and the per-pixel, per-channel similarity map."""
    grey = expected.ndim == 2
    if grey:
        expected, actual = expected[..., None], actual[..., None]
    if min(expected.shape[:2]) < _WINDOW:
        same = (expected == actual).astype("float64")
        return float(same.mean()), same[..., 0] if grey else same
    maps = []
    cov_norm = _WINDOW * _WINDOW / (_WINDOW * _WINDOW - 1)  # sample covariance, as scikit-image
    for channel in range(expected.shape[2]):
        x = expected[..., channel].astype("float64")
        y = actual[..., channel].astype("float64")
        mx, my = _box_mean(np, x), _box_mean(np, y)
        vx = cov_norm * (_box_mean(np, x * x) - mx * mx)
        vy = cov_norm * (_box_mean(np, y * y) - my * my)
        vxy = cov_norm * (_box_mean(np, x * y) - mx * my)
        maps.append(((2 * mx * my + _C1) * (2 * vxy + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2)))
    pad = _WINDOW // 2
    score = float(np.mean([m[pad:-pad, pad:-pad].mean() for m in maps]))
    similarity = np.stack(maps, axis=2)
    return score, similarity[..., 0] if grey else similarity


def check_image(  # noqa: PLR0917 - 6.x's positional order
    result_folder: str,
    image_to_check: Any,
    expected_filename: str,
    level: float = 1.0,
    generate_expected_image: bool = False,
    use_mask: bool = True,
) -> None:
    """Assert that ``image_to_check`` (an array) matches the image ``expected_filename``.

    ``level``: the minimum similarity, 0.0 to 1.0. ``generate_expected_image``: write the expected
    image instead of checking (never commit it on). ``use_mask``: apply ``<name>.mask.png`` when it
    exists. Raises ``AssertionError`` naming the diff image on a mismatch.
    """
    np = _numpy()
    assert image_to_check is not None, "Image required"
    basename = os.path.splitext(os.path.basename(expected_filename))[0]
    mask_filename = None
    if basename.endswith(".expected"):
        basename = basename.removesuffix(".expected")
        candidate = os.path.join(os.path.dirname(expected_filename), f"{basename}.mask.png")
        if use_mask and os.path.isfile(candidate):
            mask_filename = candidate
    result_filename = os.path.join(result_folder, f"{basename}.actual-masked.png")
    diff_filename = os.path.join(result_folder, f"{basename}.diff.png")
    image_to_check = normalize_image(image_to_check).copy()

    mask = background = None
    if mask_filename is not None:
        mask = normalize_image(_read(mask_filename))
        if mask.ndim == 3:
            mask = mask.mean(axis=2).round().astype("uint8")
        assert ((mask > 0) & (mask < 255)).sum() == 0, "Mask should be only black and white image"
        mask = mask == 0
        assert mask.shape == image_to_check.shape[:2], (
            f"Mask and image should have the same shape ({mask.shape} != {image_to_check.shape})"
        )
        # The most frequent value of each channel stands for the background.
        channels = image_to_check.reshape(-1, image_to_check.shape[2] if image_to_check.ndim == 3 else 1)
        background = [
            int(np.bincount(channels[:, c], minlength=256).argmax()) for c in range(channels.shape[1])
        ]
        image_to_check[mask] = background if image_to_check.ndim == 3 else background[0]

    os.makedirs(result_folder, exist_ok=True)
    if generate_expected_image:
        _write(expected_filename, image_to_check)
        return
    if not os.path.isfile(expected_filename):
        _write(expected_filename, image_to_check)
        raise AssertionError(f"Expected image not found: {expected_filename}")
    expected = normalize_image(_read(expected_filename)).copy()
    if mask is not None:
        assert expected.shape[:2] == mask.shape, (
            f"Mask and expected image should have the same shape ({mask.shape} != {expected.shape})"
        )
        expected[mask] = background if expected.ndim == 3 else background[0]  # type: ignore[index]
    assert expected.shape == image_to_check.shape, (
        f"Images have different shapes expected {expected.shape} != actual {image_to_check.shape}"
    )
    score, similarity = _ssim(np, expected, image_to_check)
    if score >= level:
        return
    _write(result_filename, image_to_check)
    # 6.x's diff image, byte for byte: 255 - similarity * 255, truncated to 8 bits.
    _write(diff_filename, (255 - similarity * 255).astype("uint8"))
    raise AssertionError(f"{result_filename} != {expected_filename} => {diff_filename} ({score} < {level})")


def check_image_file(  # noqa: PLR0917 - 6.x's positional order
    result_folder: str,
    image_filename_to_check: str,
    expected_filename: str,
    level: float = 1.0,
    generate_expected_image: bool = False,
    use_mask: bool = True,
) -> None:
    """:func:`check_image` with the image to check read from ``image_filename_to_check``."""
    image = _read(image_filename_to_check)
    check_image(result_folder, image, expected_filename, level, generate_expected_image, use_mask)


def _browser_path() -> str | None:
    configured = os.environ.get("C2C_BROWSER")
    if configured:
        return configured
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def check_screenshot(  # noqa: PLR0917 - 6.x's positional order
    url: str,
    result_folder: str,
    expected_filename: str,
    width: int = 800,
    height: int = 600,
    sleep: int = 100,
    headers: dict[str, str] | None = None,
    media: list[dict[str, str]] | None = None,
    level: float = 1.0,
    generate_expected_image: bool = False,
    use_mask: bool = True,
) -> None:
    """Assert that the screenshot of ``url`` (``width`` x ``height``, taken ``sleep`` ms after it
    loaded, with ``headers`` and the emulated ``media`` features, e.g. ``[{"name":
    "prefers-color-scheme", "value": "dark"}]``) matches ``expected_filename`` (see :func:`check_image`).

    The screenshot is kept as ``<result_folder>/<name>.actual.png``.
    """
    from playwright.sync_api import sync_playwright

    basename = os.path.splitext(os.path.basename(expected_filename))[0].removesuffix(".expected")
    result_folder = os.path.abspath(result_folder)
    os.makedirs(result_folder, exist_ok=True)
    actual_filename = os.path.join(result_folder, f"{basename}.actual.png")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch()
        except Exception:  # Playwright's own browser is not installed: the system's Chromium
            executable = _browser_path()
            if executable is None:
                raise
            browser = playwright.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_navigation_timeout(60_000)
            if headers:
                page.set_extra_http_headers(headers)
            for feature in media or []:
                arguments: dict[str, Any] = {_media_argument(feature["name"]): feature["value"]}
                page.emulate_media(**arguments)
            page.goto(url, timeout=60_000)
            page.wait_for_timeout(sleep)
            page.screenshot(path=actual_filename, clip={"x": 0, "y": 0, "width": width, "height": height})
        finally:
            browser.close()
    image = _read(actual_filename)
    check_image(result_folder, image[..., :3], expected_filename, level, generate_expected_image, use_mask)


def _media_argument(name: str) -> str:
    """Puppeteer's media feature name (6.x's ``media``) as Playwright's ``emulate_media`` argument."""
    known = {
        "prefers-color-scheme": "color_scheme",
        "prefers-reduced-motion": "reduced_motion",
        "forced-colors": "forced_colors",
        "prefers-contrast": "contrast",
    }
    if name not in known:
        raise ValueError(f"media feature {name!r} is not one of {', '.join(known)} ({json.dumps(name)})")
    return known[name]
