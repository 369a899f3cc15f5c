"""The report's number formats, Markdown escaping, dataset names and order, budget comments."""

from __future__ import annotations

import math

import pytest

from budgetdb.reporting import ReportOptionsError, budget_roles, parse_alpha
from budgetdb.templates import TemplateError, environment, render
from budgetdb.templates.formatting import (
    MissingValueError,
    code,
    dataset_order,
    dec1,
    dec2,
    dec4,
    display_name,
    md,
    ms,
    num,
    thousands,
)


def test_numbers_as_the_seed_prints_them():
    assert thousands(1638588) == "1,638,588"
    assert thousands(0) == "0"
    assert dec1(68.66) == "68.7"
    assert dec1(135.0) == "135.0"
    assert dec4(0.768) == "0.7680"
    assert dec2(187.6483) == "187.65"
    assert ms(177.9) == "177.90ms"
    assert ms(371.5249) == "371.52ms"
    assert num(170.0) == "170"
    assert num(172.5) == "172.5"
    assert dec1(-0.04) == "0.0"  # never "-0.0"


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, "12", True])
@pytest.mark.parametrize("fmt", [thousands, dec1, dec2, dec4, ms, num])
def test_number_formats_refuse_missing_values(fmt, bad):
    with pytest.raises(MissingValueError):
        fmt(bad)


def test_thousands_refuses_fractions():
    with pytest.raises(MissingValueError):
        thousands(2.5)


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("okvqa", "okvqa"),
        ("coco-2014-vqa", "coco-2014-vqa"),
        ("a|b", r"a\|b"),
        ("**bold**", r"\*\*bold\*\*"),
        ("snake_case", r"snake\_case"),
        ("`code`", r"\`code\`"),
        ("[link](http://x)", r"\[link\](http://x)"),
        ("<script>", r"\<script\>"),
        ("# heading", r"\# heading"),
        ("line\nbreak\r\nagain", "line break again"),
        ("~~strike~~ $x$ &amp;", r"\~\~strike\~\~ \$x\$ \&amp;"),
        ("back\\slash", r"back\\slash"),
    ],
)
def test_md_escapes_markdown_in_data(raw, escaped):
    assert md(raw) == escaped


def test_code_spans_survive_backticks_pipes_and_newlines():
    assert code("results/core_exp_h100") == "`results/core_exp_h100`"
    assert code("a`b") == "``a`b``"
    assert code("`edge`") == "`` `edge` ``"
    assert code("a|b\nc") == r"`a\|b c`"


def test_display_names_and_the_seed_order():
    assert [display_name(d) for d in ("text-vqa", "coco-2014-vqa", "okvqa", "mmmu")] == [
        "Text-VQA",
        "COCO-2014-VQA",
        "OKVQA",
        "mmmu",
    ]
    shuffled = ["st-qa", "okvqa", "doc-qa", "text-vqa", "coco-2014-vqa", "Zeta", "okvqa"]
    assert dataset_order(shuffled) == ["text-vqa", "coco-2014-vqa", "okvqa", "Zeta", "doc-qa", "st-qa"]


def test_budget_comments_follow_the_seed():
    # the seed: [170 near lower, 200 low, 250 medium, 300 high, 350 near upper, 380 upper]
    assert budget_roles(6) == ["near_lower", "low", "medium", "high", "near_upper", "upper"]
    assert budget_roles(1) == ["both"]
    assert budget_roles(2) == ["near_lower", "upper"]
    assert budget_roles(3) == ["near_lower", "near_upper", "upper"]
    assert budget_roles(5) == ["near_lower", "low", "high", "near_upper", "upper"]
    assert budget_roles(7) == ["near_lower", "low", "medium", "medium", "high", "near_upper", "upper"]


def test_alpha_ranges():
    assert parse_alpha("0.1-0.2") == (0.1, 0.2)
    assert parse_alpha("0.1~0.2") == (0.1, 0.2)
    assert parse_alpha("0.15") == (0.15, 0.15)
    for bad in ("0.3-0.2", "x", "0.1-0.2-0.3", "", "-0.1"):
        with pytest.raises(ReportOptionsError):
            parse_alpha(bad)


def test_templates_refuse_undefined_none_and_raw_floats(tmp_path):
    (tmp_path / "undefined.md.j2").write_text("{{ missing }}")
    (tmp_path / "none.md.j2").write_text("{{ value }}")
    (tmp_path / "float.md.j2").write_text("{{ value }}")
    (tmp_path / "formatted.md.j2").write_text("{{ value|dec2 }} {{ name|md }}")
    with pytest.raises(TemplateError, match="missing"):
        render("undefined.md.j2", {}, [tmp_path])
    with pytest.raises(TemplateError, match="None"):
        render("none.md.j2", {"value": None}, [tmp_path])
    with pytest.raises(TemplateError, match="float"):
        render("float.md.j2", {"value": 1.5}, [tmp_path])
    assert render("formatted.md.j2", {"value": 1.5, "name": "a_b"}, [tmp_path]) == r"1.50 a\_b"


def test_data_is_never_rendered_as_template_code(tmp_path):
    (tmp_path / "echo.md.j2").write_text("name: {{ name|md }}")
    text = render("echo.md.j2", {"name": "{{ 7*7 }}{% if true %}yes{% endif %}"}, [tmp_path])
    assert text == r"name: {{ 7\*7 }}{% if true %}yes{% endif %}"


def test_user_folders_come_before_the_packaged_templates(tmp_path):
    (tmp_path / "_footer.md.j2").write_text("my footer\n")
    env = environment([tmp_path])
    assert env.get_template("_footer.md.j2").render() == "my footer\n"
    packaged = environment()
    source, _, _ = packaged.loader.get_source(packaged, "_footer.md.j2")
    assert "Reproducibility" in source
