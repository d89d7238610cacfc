"""The README's "Your own model" examples run as written (with fewer steps), so the public
diagnostics API and the trainer's monitors they show cannot drift from the library."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _examples() -> list[str]:
    section = README.read_text().split("## Your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_your_own_model_example_runs(capsys):
    code = _examples()[0]
    assert "optax.adam(lr), 200," in code
    exec(compile(code.replace("optax.adam(lr), 200,", "optax.adam(lr), 20,"), "README.md", "exec"), {})
    assert "vs Adam's limit 38000" in capsys.readouterr().out


def test_the_monitors_example_runs(load_or_skip):
    from eoslib import data

    load_or_skip("Fashion-MNIST", data.fashion_mnist, 16, 16)
    code = _examples()[1]
    assert "reduce_at_epoch(0.1, 0.01, 200), max_epochs=2000" in code
    namespace = {}
    exec(compile(code.replace("reduce_at_epoch(0.1, 0.01, 200), max_epochs=2000",
                              "reduce_at_epoch(0.1, 0.01, 20), max_epochs=40"), "README.md", "exec"), namespace)
    run = namespace["run"]
    assert run.final["epochs"] == 40 and not run.final["above"] and list(run.eigen["epoch"]) == [0, 10, 20, 30, 40]
    assert {"rho", "rho_epoch", "rho_eos", "rho_eos_epoch"} <= set(run.final)  # NaN / None: no anchor in 40 epochs
