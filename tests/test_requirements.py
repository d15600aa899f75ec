"""requirements.txt checking: what pip would accept from the configured index passes, in a
normal form; anything reaching elsewhere or unparseable is refused with its line."""

from __future__ import annotations

import pytest

from rgrid_common.errors import InvalidInput
from rgrid_common.requirements import parse_requirements


def test_names_versions_markers_and_hashes_pass_in_a_normal_sorted_form():
    text = ("# data stack\n"
            "Pandas >= 2.0 ,<3  # the frame\n"
            "\n"
            "numpy==2.1.0 \\\n"
            "    --hash=sha256:abc\n"
            "requests[socks]==2.32.3; python_version >= '3.9'\n"
            "numpy==2.1.0 --hash=sha256:abc\n")

    parsed = parse_requirements(text)

    assert parsed.lines == ('numpy==2.1.0 --hash=sha256:abc', 'pandas<3,>=2.0',
                            'requests[socks]==2.32.3; python_version >= "3.9"')
    assert parsed.sha256 == parse_requirements("\n".join(reversed(parsed.lines))).sha256
    assert parsed.sha256 != parse_requirements("numpy==2.1.1\n").sha256


@pytest.mark.parametrize(("text", "line", "says"), [
    ("pandas\n--index-url http://evil/simple\n", 2, "the pip option --index-url"),
    ("-i http://evil/simple\n", 1, "the pip option -i"),
    ("pandas\n\n--extra-index-url=http://evil\n", 3, "the pip option --extra-index-url"),
    ("-r other.txt\n", 1, "the pip option -r"),
    ("-e .\n", 1, "the pip option -e"),
    ("pandas --find-links /tmp\n", 1, "the pip option --find-links"),
    ("./mypkg\n", 1, "is a local path or URL"),
    ("/opt/wheels/thing-1.0-py3-none-any.whl\n", 1, "is a local path or URL"),
    ("https://example.com/pkg.tar.gz\n", 1, "is a local path or URL"),
    ("thing @ https://example.com/thing.whl\n", 1, "comes from a URL"),
    ("numpy\npandas >=> 1\n", 2, "cannot parse 'pandas >=> 1'"),
])
def test_what_reaches_outside_the_index_or_does_not_parse_is_refused_with_its_line(
        text, line, says):
    with pytest.raises(InvalidInput) as refused:
        parse_requirements(text, source="proj/requirements.txt")

    assert refused.value.message.startswith(f"proj/requirements.txt, line {line}: ")
    assert says in refused.value.message
    assert "index" in refused.value.hint


def test_the_cli_finds_requirements_beside_a_python_script_or_where_it_is_told(tmp_path):
    from cli.requirements import script_requirements

    (tmp_path / "job.py").write_text("pass\n")
    (tmp_path / "job.js").write_text("1\n")
    (tmp_path / "requirements.txt").write_text("Tabulate==0.9.0\n")
    (tmp_path / "other.txt").write_text("six\n")

    assert script_requirements(tmp_path / "job.py").lines == ("tabulate==0.9.0",)
    assert script_requirements(tmp_path / "job.py", tmp_path / "other.txt").lines == ("six",)
    assert script_requirements(tmp_path / "job.js") is None  # not pip's business
    assert script_requirements(tmp_path / "job.js", runtime="python3.11") is not None
    (tmp_path / "requirements.txt").unlink()
    assert script_requirements(tmp_path / "job.py") is None


def test_a_requirements_file_named_but_missing_is_an_input_error(tmp_path):
    from cli.requirements import script_requirements

    with pytest.raises(InvalidInput, match="Requirements file not found"):
        script_requirements(tmp_path / "job.py", tmp_path / "nope.txt")
