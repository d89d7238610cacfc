"""The README's "Your own model" example runs as written (with fewer steps), so the public
diagnostics API it shows cannot drift from the library."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_your_own_model_example_runs(capsys):
    section = README.read_text().split("## Your own model", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert "optax.adam(lr), 200," in code
    exec(compile(code.replace("optax.adam(lr), 200,", "optax.adam(lr), 20,"), "README.md", "exec"), {})
    assert "vs Adam's limit 38000" in capsys.readouterr().out
