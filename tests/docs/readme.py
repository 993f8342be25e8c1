"""README.md's fenced code blocks, as the tests in this package read them: every test takes its
example from the README itself, so an edit that breaks an example breaks a test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.server import client_env, wardgate_command

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"

# A fence may be indented (a block inside a list item); it closes at the same indentation.
_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S
)
_HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # of the opening fence, 1-based
    section: str  # the nearest heading above it

    def __str__(self) -> str:  # names the block in assertion messages
        return f"README.md:{self.line} ({self.lang} block in {self.section!r})"

    @property
    def first_comment(self) -> str:
        """The block's first line if it is a `#` comment (e.g. `# reader.hcl`), without the `#`."""
        first = self.text.lstrip("\n").split("\n", 1)[0].strip()
        return first[1:].strip() if first.startswith("#") else ""

    @property
    def file_name(self) -> str:
        """The file the block's first comment says it is (`# reader.hcl: ...` -> `reader.hcl`)."""
        match = re.match(r"([\w./-]+\.(?:hcl|toml))\b", self.first_comment)
        return Path(match.group(1)).name if match else ""


def blocks(lang: str | None = None) -> list[Block]:
    text = README.read_text()
    fences = list(_FENCE.finditer(text))
    headings = [
        (m.start(), m.group(1))
        for m in _HEADING.finditer(text)
        if not any(f.start() < m.start() < f.end() for f in fences)  # a `# comment` in a block
    ]
    found = []
    for match in fences:
        if lang is not None and match.group("lang") != lang:
            continue
        indent = match.group("indent")
        body = "".join(
            line.removeprefix(indent) for line in match.group("body").splitlines(keepends=True)
        )
        above = [title for start, title in headings if start < match.start()]
        found.append(
            Block(
                lang=match.group("lang"),
                text=body,
                line=text.count("\n", 0, match.start()) + 1,
                section=above[-1] if above else "",
            )
        )
    return found


def section_blocks(section: str, lang: str) -> list[Block]:
    """The `lang` blocks directly under the heading `section` (before the next heading)."""
    found = [b for b in blocks(lang) if b.section == section]
    assert found, f"README.md has no {lang} block under {section!r}"
    return found


def substitute(text: str, replacements: dict[str, str], *, strict: bool = True) -> str:
    """`text` with each placeholder replaced; a placeholder the README no longer has fails
    (unless not `strict`), so a test cannot quietly run other than what the README shows."""
    for old, new in replacements.items():
        assert old in text or not strict, f"README example no longer contains {old!r}:\n{text}"
        text = text.replace(old, new)
    return text


def run_example(
    command: list[str], block: Block, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> str:
    """Run `command` (a program and the script made from `block`); its stdout. A failure names
    the README block and shows what the program said."""
    result = subprocess.run(
        command, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{block} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def demo_credentials() -> str:
    """The demo identity's `login` arguments, from `wardgate sts-emulator --print-credentials`."""
    result = subprocess.run(
        [*wardgate_command(), "sts-emulator", "--print-credentials"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Each identity is a `# <arn>` line, then its arguments; the demo is the role session.
    (arn_at,) = [i for i, line in enumerate(lines) if re.match(r"# \S+:assumed-role/demo/", line)]
    return lines[arn_at + 1].strip()


def require_tools(*names: str) -> None:
    """The README's examples use these (curl, jq): missing, the test says so instead of
    failing on an empty answer."""
    missing = [name for name in names if shutil.which(name) is None]
    assert not missing, f"README's examples need {', '.join(missing)} on PATH; install it"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """client_env with this checkout's `wardgate` first on PATH, as `make` installs it (the
    README's commands call it by name)."""
    bin_dir = Path(sys.executable).parent
    return client_env(home, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **extra)
