"""Loaders against the known facts of the official files (../shared/data via EOSLIB_DATA_DIR);
finding, fetching (urlopen replaced: tests never download) and the not-found paragraph."""

import gzip
import io
import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from eoslib import data

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fmnist(load_or_skip):
    return load_or_skip("Fashion-MNIST", data.load_fashion_mnist)


@pytest.fixture(scope="module")
def cifar(load_or_skip):
    return load_or_skip("CIFAR-10", data.load_cifar10)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No dataset anywhere except where a test puts one."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(data, "SYSTEM_DIRS", (tmp_path / "system",))
    return tmp_path


@pytest.fixture(scope="module")
def fashion_dir(fmnist):
    """The folder the real Fashion-MNIST files were found in (before any isolation)."""
    return data.ensure("fmnist", download=False)


@pytest.fixture
def offline(monkeypatch):
    """``urlopen`` fails as it does without a network; the list of (url, timeout) it was given."""
    tried = []

    def urlopen(url, timeout=None):
        tried.append((url, timeout))
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tried


@pytest.fixture
def no_network(monkeypatch):
    """Any use of ``urlopen`` fails the test."""
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail(f"network used: {a}"))


def files_under(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def assert_same_split(a, b):
    for field in ("x_train", "y_train", "x_eval", "y_eval"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_fashion_mnist_known_facts(fmnist):
    assert fmnist.x_train.shape == (60000, 28, 28, 1) and fmnist.x_train.dtype == np.uint8
    assert fmnist.x_eval.shape == (10000, 28, 28, 1)
    assert fmnist.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fmnist.y_eval[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert (np.bincount(fmnist.y_train) == 6000).all() and (np.bincount(fmnist.y_eval) == 1000).all()


def test_cifar10_known_facts(cifar):
    assert cifar.x_train.shape == (50000, 32, 32, 3) and cifar.x_train.dtype == np.uint8
    assert cifar.x_eval.shape == (10000, 32, 32, 3)
    assert cifar.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert cifar.y_eval[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert (np.bincount(cifar.y_train) == 5000).all() and (np.bincount(cifar.y_eval) == 1000).all()


def test_paper_subsets_are_first_examples_standardized_with_train_stats(fmnist, cifar):
    f = data.fashion_mnist()
    assert f.x_train.shape == (1000, 28, 28, 1) and f.x_eval.shape == (200, 28, 28, 1)
    assert f.x_train.dtype == np.float32
    np.testing.assert_array_equal(f.y_train, fmnist.y_train[:1000])
    x = f.x_train.astype(np.float64)
    np.testing.assert_allclose(x.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(x.std(), 1.0, atol=1e-6)
    raw = fmnist.x_train[:1000].astype(np.float64)
    expected_eval = (fmnist.x_eval[:200] - raw.mean()) / raw.std()
    np.testing.assert_allclose(f.x_eval, expected_eval, rtol=1e-6, atol=1e-6)

    c = data.cifar10()
    assert c.x_train.shape == (5000, 32, 32, 3) and c.x_eval.shape == (1000, 32, 32, 3)
    xc = c.x_train.astype(np.float64)
    np.testing.assert_allclose(xc.mean(axis=(0, 1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(xc.std(axis=(0, 1, 2)), 1.0, atol=1e-6)
    np.testing.assert_array_equal(c.y_eval, cifar.y_eval[:1000])


def test_explicit_dir_comes_first_and_bad_checksum_is_refused(fmnist, tmp_path):
    bad = tmp_path / "fashion-mnist"
    bad.mkdir()
    for name in data.FASHION_MNIST_FILES:
        (bad / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(data.ChecksumError, match="refusing"):
        data.load_fashion_mnist(tmp_path)


def test_not_found_error_says_where_and_how(isolated, no_network):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_cifar10(isolated / "nowhere")
    msg = str(err.value)
    assert str(isolated / "nowhere") in msg and str(isolated / "cache") in msg
    assert data.ENV_VAR in msg and "download=True" in msg


def test_debian_recompressed_files_are_accepted_by_payload_checksum(fmnist, fashion_dir, isolated):
    # Debian's dataset-fashion-mnist recompresses the IDX files without the file name.
    debian = isolated / "system" / "fashion-mnist"
    debian.mkdir(parents=True)
    for name in data.FASHION_MNIST_FILES:
        src = fashion_dir / name
        if "labels" in name:
            (debian / name).write_bytes(gzip.compress(gzip.decompress(src.read_bytes()), mtime=0))
        else:
            (debian / name).symlink_to(src)
    loaded = data.load_fashion_mnist()
    np.testing.assert_array_equal(loaded.y_train, fmnist.y_train)


def test_download_verifies_md5_and_never_keeps_a_bad_file(fmnist, fashion_dir, isolated, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_URL", fashion_dir.as_uri() + "/")
    loaded = data.load_fashion_mnist(download=True)  # file:// URLs: no network
    np.testing.assert_array_equal(loaded.y_eval, fmnist.y_eval)
    assert (isolated / "cache" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()

    dest = isolated / "cache" / "other.gz"
    src = (fashion_dir / "t10k-labels-idx1-ubyte.gz").as_uri()
    with pytest.raises(data.ChecksumError, match="discarded"):
        data._download(src, dest, "0" * 32)
    assert not dest.exists() and list(dest.parent.glob("tmp*")) == []


def test_cifar_python_version_parses_like_binary_and_unofficial_pickles_are_refused(cifar, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    planes = cifar.x_eval[:20].transpose(0, 3, 1, 2).reshape(20, 3072)
    blob = pickle.dumps({b"data": planes, b"labels": cifar.y_eval[:20].tolist()})
    x, y = data.parse_cifar_python_batch(blob)
    np.testing.assert_array_equal(x, cifar.x_eval[:20])
    np.testing.assert_array_equal(y, cifar.y_eval[:20])
    for name in data.CIFAR10_PY_FILES:
        (folder / name).write_bytes(blob)
    with pytest.raises(data.ChecksumError):
        data.load_cifar10(tmp_path)


def test_static_augmentation_is_seeded_crops_and_flips(cifar):
    images = cifar.x_train[:64]
    a = data.augment_static(images, copies=3, seed=7, chunk=25)
    np.testing.assert_array_equal(a, data.augment_static(images, copies=3, seed=7))
    assert a.shape == (192, 32, 32, 3)
    assert not np.array_equal(a, data.augment_static(images, copies=3, seed=8))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for k in range(3):
        for i in (0, 17, 63):
            out = a[k * 64 + i]
            crops = [padded[i, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
            assert any(np.array_equal(out, c) or np.array_equal(out, c[:, ::-1]) for c in crops)


@pytest.fixture
def tiny_fmnist(tmp_path, monkeypatch):
    """A folder of made-up Fashion-MNIST files (5 train, 4 test images), which pass the checks
    while the test runs: the cache path is tested on machines without the real files too."""
    folder = tmp_path / "source" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [("train", 5), ("t10k", 4)]:
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        header = b"\x00\x00\x08\x03" + np.array([n, 28, 28], ">u4").tobytes()
        idx = {f"{name}-images-idx3-ubyte.gz": header + images.tobytes(),
               f"{name}-labels-idx1-ubyte.gz": b"\x00\x00\x08\x01" + np.array([n], ">u4").tobytes()
               + np.arange(n, dtype=np.uint8).tobytes()}
        for file, payload in idx.items():
            (folder / file).write_bytes(gzip.compress(payload, mtime=0))
            monkeypatch.setitem(data.FASHION_MNIST_FILES, file,
                                (data._digest(folder / file, "md5"), "0" * 64))
    return folder


def test_cache_copy_is_found_verified_and_nothing_is_fetched(tiny_fmnist, isolated, no_network,
                                                            capsys):
    cached = isolated / "cache" / "fashion-mnist"
    cached.mkdir(parents=True)
    for name in data.FASHION_MNIST_FILES:
        (cached / name).symlink_to(tiny_fmnist / name)
    assert data.ensure("fmnist") == cached
    split = data.load("fmnist", 3, 2)
    assert split.x_train.shape == (3, 28, 28, 1) and split.x_eval.shape == (2, 28, 28, 1)
    assert split.y_train.tolist() == [0, 1, 2] and split.x_train.dtype == np.float32
    assert data.main(["fmnist"]) == 0
    assert capsys.readouterr().out == f"Fashion-MNIST: found in {cached} (verified)\n"
    (cached / "t10k-labels-idx1-ubyte.gz").unlink()
    (cached / "t10k-labels-idx1-ubyte.gz").write_bytes(b"changed")
    with pytest.raises(data.ChecksumError, match="refusing"):  # a changed file is checked again
        data.ensure("fmnist")


def test_missing_files_are_fetched_into_the_cache_once(tiny_fmnist, isolated, monkeypatch, capsys):
    cached = isolated / "cache" / "fashion-mnist"
    cached.mkdir(parents=True)
    (cached / "t10k-labels-idx1-ubyte.gz").symlink_to(tiny_fmnist / "t10k-labels-idx1-ubyte.gz")
    fetched = []

    def urlopen(url, timeout=None):
        fetched.append(url.removeprefix(data.FASHION_MNIST_URL))
        return open(tiny_fmnist / fetched[-1], "rb")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert data.main(["fmnist"]) == 0
    assert capsys.readouterr().out == f"Fashion-MNIST: fetched into {cached} (verified)\n"
    assert sorted(fetched) == sorted(set(data.FASHION_MNIST_FILES) - {"t10k-labels-idx1-ubyte.gz"})
    assert data.main(["fmnist"]) == 0 and len(fetched) == 3
    assert capsys.readouterr().out == f"Fashion-MNIST: found in {cached} (verified)\n"
    assert files_under(cached) == sorted(Path(n) for n in data.FASHION_MNIST_FILES)


def test_offline_without_data_fails_at_once_with_one_paragraph(isolated, offline, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(isolated / "env"))
    start = time.perf_counter()
    with pytest.raises(data.DataNotFoundError) as err:
        data.ensure("fmnist", isolated / "arg")
    assert time.perf_counter() - start < 2
    msg = str(err.value)
    searched = [isolated / "arg", isolated / "env", isolated / "cache", isolated / "system"]
    assert data.search_dirs(isolated / "arg") == searched
    positions = [msg.index(f"{d}, " if d != searched[-1] else f"{d} (") for d in searched]
    assert positions == sorted(positions), "folders in search order"
    assert "\n" not in msg and f"{data.ENV_VAR}={isolated / 'env'}" in msg
    assert data.FASHION_MNIST_URL in msg and "Name or service not known)" in msg
    assert "fashion-mnist/*.gz" in msg and str(isolated / "cache" / "fashion-mnist") in msg
    assert "rerun with internet access" in msg
    # one try, with the short timeout, and nothing left behind
    first = data.FASHION_MNIST_URL + "train-images-idx3-ubyte.gz"
    assert offline == [(first, data.NETWORK_TIMEOUT_S)]
    assert data.NETWORK_TIMEOUT_S <= 10 and files_under(isolated) == []


def test_a_transfer_cut_midway_leaves_no_partial_file(isolated, monkeypatch):
    class Cut(io.BytesIO):
        def read(self, *args):
            raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Cut())
    with pytest.raises(data.DataNotFoundError, match=r"failed \(timed out\)"):
        data.ensure("cifar10")
    assert files_under(isolated) == []


def test_cli_without_data_or_network_exits_1_with_the_paragraph(isolated, offline, capsys):
    assert data.main(["fmnist", "cifar10"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("Fashion-MNIST not found: ") and err.count("\n") == 1
    assert str(isolated / "cache") in err and f"{data.ENV_VAR} is not set" in err
    assert len(offline) == 1, "stops at the first data set that fails"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="XDG_CACHE_HOME moves the cache on Linux only")
def test_cli_offline_in_a_fresh_process_fails_in_seconds_without_traceback(tmp_path):
    if any((d / "fashion-mnist").is_dir() for d in data.SYSTEM_DIRS):
        pytest.skip("a system copy of Fashion-MNIST is installed")
    with socket.socket() as s:  # a closed local port as the proxy: refused at once, network or not
        s.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    unset = {data.ENV_VAR, "no_proxy", "http_proxy", "https_proxy", "all_proxy"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in {u.lower() for u in unset}}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), http_proxy=proxy, https_proxy=proxy)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "tools/fetch_data.py", "fmnist"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert time.perf_counter() - start < 30, "importing eoslib takes seconds; waiting must not"
    assert r.returncode == 1 and r.stdout == "", r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert str(tmp_path / "xdg" / "eoslib" / "data") in r.stderr
    assert f"{data.ENV_VAR} is not set" in r.stderr and "failed (" in r.stderr


def test_a_download_with_a_wrong_checksum_is_discarded(isolated, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda url, timeout=None: io.BytesIO(b"<html>captive portal</html>"))
    with pytest.raises(data.ChecksumError, match="discarded"):
        data.ensure("fmnist")
    assert files_under(isolated) == []
    assert data.main(["fmnist"]) == 1


def test_load_by_name(fmnist):
    assert_same_split(data.load("fmnist", 100, 20), data.fashion_mnist(100, 20))


def test_load_cifar10_by_name(cifar):
    assert_same_split(data.load("cifar10", 500, 100), data.cifar10(500, 100))


def test_load_maps_cifar10_aug_to_copies_and_validates(monkeypatch):
    calls = []
    monkeypatch.setattr(data, "cifar10_augmented", lambda **kw: calls.append(kw) or "split")
    assert data.load("cifar10-aug", 100_000, 7, "/d") == "split"
    assert calls == [dict(copies=2, n_eval=7, data_dir="/d")]
    for n_train in (0, 25_000, 50_001):
        with pytest.raises(ValueError, match="multiple of 50,000"):
            data.load("cifar10-aug", n_train, 7)
    with pytest.raises(ValueError, match="valid: fmnist, cifar10, cifar10-aug"):
        data.load("mnist", 10, 10)
    with pytest.raises(ValueError, match="knows fmnist, cifar10"):
        data.ensure("mnist")
    assert calls == [dict(copies=2, n_eval=7, data_dir="/d")]
