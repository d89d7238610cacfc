import re

from eoslib.provenance import provenance


def test_provenance_describes_device_version_and_commit():
    p = provenance()
    assert p["device"] and p["backend"] in {"cpu", "gpu", "tpu", "cuda", "rocm"}
    assert p["eoslib_version"] and p["jax_version"]
    assert p["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", p["git_commit"])
