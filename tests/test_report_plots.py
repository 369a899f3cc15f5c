"""`--plots DIR`: valid PNG and SVG files with stable names, linked by relative path; a clear
message without matplotlib."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest

from budgetdb.plots import PlotsUnavailableError, slug

from report_helpers import report, run, store_with

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAME = "we|ird $x$\nname"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return store_with(
        tmp_path_factory.mktemp("plots") / "budget.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5, 0.5], [100.0, 102.0], [60.0, 70.0]),
            run("okvqa", "high", 8, 16, [0.8, 0.6], [150.0, 160.0], [80.0, 95.0]),
            run("okvqa", "medium", 8, 12, [0.6, 0.6], [170.0, 170.0], [50.0, 900.0]),
            run("text-vqa", "low", 4, 12, [0.4], [120.0], [75.0]),
            run(NAME, "low", 4, 12, [0.3], [110.0], [65.0]),
            run("st-qa", "low", 4, 12, [0.0], [100.0], [66.0]),  # no valid point: no plot
        ],
    )


@pytest.fixture(scope="module")
def written(store, tmp_path_factory):
    pytest.importorskip("matplotlib")
    base = tmp_path_factory.mktemp("out")
    text = report(store, lang="en", plots_dir=base / "plots", link_base=base)
    return base, text


def expected_files():
    # with uncertainty (the default) also the lookup table's plot
    stems = ["prefill_latency", "frontier_okvqa", "frontier_text-vqa", f"frontier_{slug(NAME)}", "lookup"]
    return sorted(f"{stem}.{ext}" for stem in stems for ext in ("png", "svg"))


def test_slugs_are_safe_and_distinct():
    assert slug("okvqa") == "okvqa"
    assert slug("coco-2014-vqa") == "coco-2014-vqa"
    weird = slug(NAME)
    assert weird.startswith("we-ird-x-name-") and "/" not in weird and weird == slug(NAME)
    assert slug("A") != slug("a") and slug("../x") != slug("x")


def test_files_have_stable_names_and_are_valid_images(written):
    import matplotlib.image

    base, _ = written
    assert sorted(p.name for p in (base / "plots").iterdir()) == expected_files()
    for png in (base / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        pixels = matplotlib.image.imread(png)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    for svg in (base / "plots").glob("*.svg"):
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_the_report_links_them_relative_to_its_folder(written):
    base, text = written
    assert "![T\\_LLM\\_prefill histogram and CDF](plots/prefill_latency.png) ([SVG](plots/prefill_latency.svg))" in text
    assert "![OKVQA accuracy vs latency](plots/frontier_okvqa.png)" in text
    assert f"](plots/frontier_{slug(NAME)}.svg)" in text
    assert "frontier_st-qa" not in text
    assert "`prefill_histogram@v2`" in text and "`pareto_frontier@v3`" in text


def test_plots_are_byte_identical_when_written_again(written, store, tmp_path):
    base, text = written
    again = report(store, lang="en", plots_dir=tmp_path / "plots", link_base=tmp_path)
    assert again == text
    for name in expected_files():
        assert (tmp_path / "plots" / name).read_bytes() == (base / "plots" / name).read_bytes(), name


def test_prefill_histogram_counts_match_numpy(store):
    import numpy as np

    from budgetdb import queries
    from budgetdb.store import open_store

    values = np.array([60.0, 70.0, 80.0, 95.0, 50.0, 900.0, 75.0, 65.0, 66.0])
    con = open_store(store)
    try:
        rows = queries.run(con, "prefill_histogram", {"bins": 4, "upper_quantile": 1.0}).records()
        clipped = queries.run(con, "prefill_histogram", {"bins": 3, "upper_quantile": 0.5}).records()
    finally:
        con.close()
    counts, edges = np.histogram(values, bins=4)
    assert [r["n"] for r in rows] == counts.tolist()
    assert [r["bin_lo"] for r in rows] == pytest.approx(edges[:-1].tolist())
    assert rows[-1]["cum_fraction"] == 1.0 and rows[-1]["n_above"] == 0
    median = np.percentile(values, 50)
    counts, _ = np.histogram(values[values <= median], bins=3, range=(values.min(), median))
    assert [r["n"] for r in clipped] == counts.tolist()
    assert clipped[-1]["n_above"] == int((values > median).sum())
    assert clipped[-1]["cum_fraction"] == pytest.approx((values <= median).mean())


def test_without_matplotlib_a_clear_message(store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(PlotsUnavailableError, match=r"pip install 'budgetdb\[plots\]'"):
        report(store, plots_dir=tmp_path / "plots")
    assert not (tmp_path / "plots").exists()
