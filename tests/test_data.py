"""Loaders against the known facts of the official files (../shared/data via EOSLIB_DATA_DIR)."""

import gzip
import pickle

import numpy as np
import pytest

from eoslib import data


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
    return data._locate("fashion-mnist", data.FASHION_MNIST_FILES, None)


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


def test_not_found_error_says_where_and_how(isolated):
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
