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

    assert parsed.lines == ('Pandas<3,>=2.0', 'numpy==2.1.0 --hash=sha256:abc',
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
