"""The broken-config corpus: every file under tests/config_corpus is refused with a plain message.
Each file's first line says what the message must contain (`# expect: ...`), except the few
files that cannot carry a comment (empty, binary, wrongly encoded), whose expectations are below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_config
from reconciler.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[1] / "config_corpus"

#: Files that cannot start with an `# expect:` comment.
EXPECTED_WITHOUT_COMMENT = {
    "empty-file.yaml": "the file is empty",
    "binary-file.yaml": "the file is binary",
    "latin-1-encoded.yaml": "not UTF-8",
    "utf-16-encoded.yaml": "UTF-16",
    "control-character.yaml": "character YAML does not allow",
}

#: Secret-looking literals the corpus uses; none may ever be repeated in a message.
SENTINEL = "SENTINEL"

FILES = sorted(CORPUS.iterdir())


def expectation(path: Path) -> str:
    if path.name in EXPECTED_WITHOUT_COMMENT:
        return EXPECTED_WITHOUT_COMMENT[path.name]
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("# expect: "), f"{path.name} has no '# expect:' first line"
    return first_line.removeprefix("# expect: ")


def test_the_corpus_covers_at_least_45_broken_configs() -> None:
    assert len(FILES) >= 45
    assert set(EXPECTED_WITHOUT_COMMENT) <= {path.name for path in FILES}


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_a_broken_config_is_refused_with_a_located_plain_message(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    text = str(error)

    assert error.problems
    for problem in error.problems:
        # Located by its YAML path, or a problem with the file as a whole (which says so).
        assert problem.path or "file" in problem.message, problem
    assert all(line.startswith(f"{path}: ") for line in text.splitlines())
    assert expectation(path) in text
    assert "Traceback" not in text
    assert SENTINEL not in text
    assert SENTINEL not in repr(error.problems)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.yaml", "file not found"),
        (".", "the file is a directory"),
    ],
)
def test_a_path_that_is_not_a_config_file_is_refused(name: str, message: str) -> None:
    path = CORPUS / name
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert message in problem.message
    assert str(caught.value).startswith(f"{path}: ")
