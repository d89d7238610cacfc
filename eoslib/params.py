"""Chapter parameters: named presets (profiles) with validated per-value overrides.

Every chapter has a papermill ``parameters`` cell whose values default to ``None``
("take the profile's value") and a ``profile`` name. :func:`resolve` merges them:

>>> PRESETS = {"ci": {"eta": 0.1, "seeds": [0]}, "paper": {"eta": 0.1, "seeds": [0, 1, 2]}}
>>> resolve(PRESETS, "ci", seeds=[4, 5])
{'eta': 0.1, 'seeds': [4, 5]}

Unknown profiles, unknown names, values of the wrong type and values a chapter's
validator rejects raise :class:`ParameterError` at once, naming the parameter.

In a chapter, :func:`from_cell` reads the overrides from the notebook's namespace, so that each
parameter is named twice only: in the chapter's presets and in its parameters cell
(``P = from_cell(PRESETS, VALIDATORS, globals())``). ``tools/execute.py`` rejects a ``-p``
override that the parameters cell does not define before the notebook runs.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ParameterError", "resolve", "from_cell"]

Validator = Callable[[Any], str | None]


class ParameterError(ValueError):
    """An invalid chapter parameter (the message says which and why)."""


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, numbers.Real):
        return isinstance(value, numbers.Real)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def resolve(
    presets: Mapping[str, Mapping[str, Any]],
    profile: str,
    validators: Mapping[str, Validator] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The profile's values with every non-``None`` override applied and validated.

    ``validators[name](value)`` returns an error message or ``None``; it runs on the
    final value of ``name`` (preset or override).
    """
    if profile not in presets:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {sorted(presets)}")
    params = dict(presets[profile])
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in params:
            raise ParameterError(f"unknown parameter {name!r}; this chapter takes {sorted(params)}")
        if not _same_kind(params[name], value):
            raise ParameterError(
                f"parameter {name!r} must be like {params[name]!r} ({type(params[name]).__name__}), "
                f"got {value!r} ({type(value).__name__})"
            )
        params[name] = list(value) if isinstance(value, tuple) else value
    for name, check in (validators or {}).items():
        message = check(params[name])
        if message:
            raise ParameterError(f"parameter {name!r} = {params[name]!r}: {message}")
    return params


def from_cell(presets: Mapping[str, Mapping[str, Any]], validators: Mapping[str, Validator] | None,
              namespace: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`resolve` with ``profile`` and the overrides read from ``namespace`` (a notebook's
    ``globals()`` after its parameters cell): every parameter of the presets that the namespace
    defines (``None``: the profile's value); one it does not define keeps the profile's value
    (a setting the chapter does not expose, such as a CIFAR-10 scale's initialization)."""
    if "profile" not in namespace:
        raise ParameterError("the parameters cell defines no 'profile'")
    profile = namespace["profile"]
    names = presets.get(profile) or next(iter(presets.values()))
    return resolve(presets, profile, validators, **{name: namespace[name] for name in names if name in namespace})
