"""Datasets of the paper (Appendix F): Fashion-MNIST and CIFAR-10, verified, subset, normalized.

Where the files are looked for, in this order (the first folder that holds a complete copy wins):

1. the ``data_dir`` argument of the loaders;
2. the environment variable ``EOSLIB_DATA_DIR``;
3. the user cache folder (``platformdirs.user_cache_dir("eoslib")/data``, e.g.
   ``~/.cache/eoslib/data`` on Linux), which is also where downloads go;
4. system locations: ``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist/*.gz``) and ``/usr/local/share/datasets``.

Each folder is expected in the layout of the official distributions::

    <dir>/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <dir>/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin     (binary version), or
    <dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}          (python version)

Every file is checked before use against the published checksums: the MD5 of the official
Fashion-MNIST ``.gz`` files (or the SHA-256 of their decompressed IDX payload, which is what
Debian's recompressed copies keep identical) and the MD5 of the official CIFAR-10 member files.
A file that fails its check is never used: loading raises :class:`ChecksumError`. When nothing is
found and ``download=True``, the official archives are fetched into the cache folder, checked,
and unpacked; otherwise :class:`DataNotFoundError` says, in one paragraph, where we looked, why
nothing was downloaded and how to fix it.

:func:`ensure` is that step alone (find, or fetch, and verify); :func:`load` is the standardized
split of a data set by name. On the command line, ``python tools/fetch_data.py fmnist [cifar10]``
(what ``make data`` runs; see :func:`main`) ensures each data set and prints where it is, or exits
with status 1 and the paragraph.

Arrays: images are NHWC (``uint8`` raw, ``float32`` after :func:`standardize`), labels ``int32``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_BIN_FILES", "CIFAR10_BIN_TAR_MD5", "CIFAR10_BIN_URL", "CIFAR10_CLASSES",
    "CIFAR10_PY_FILES", "CIFAR10_PY_TAR_MD5", "CIFAR10_PY_URL", "DATASETS", "ENV_VAR",
    "FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES", "FASHION_MNIST_URL", "NETWORK_TIMEOUT_S",
    "SPLITS", "SYSTEM_DIRS", "ChecksumError", "DataNotFoundError", "Split", "augment_static",
    "cache_dir", "channel_stats", "cifar10", "cifar10_augmented", "ensure", "fashion_mnist",
    "load", "load_cifar10", "load_fashion_mnist", "main", "parse_cifar_python_batch",
    "search_dirs", "standardize", "subset",
]

DATASETS = ("fmnist", "cifar10")                   # what ensure() finds or fetches
SPLITS = ("fmnist", "cifar10", "cifar10-aug")      # what load() returns
NETWORK_TIMEOUT_S = 5                              # to connect, and for each read of a download

ENV_VAR = "EOSLIB_DATA_DIR"
SYSTEM_DIRS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# name -> (MD5 of the official .gz, published by Zalando; SHA-256 of the decompressed IDX file)
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train-labels-idx1-ubyte.gz": (
        "25c81989df183df01b3e8a0aad5dffbe",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "bef4ecab320f06d8554ea6380940ec79",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "bb300cfdad3c16e7a12a480ee83cd310",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}

CIFAR10_BIN_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_BIN_TAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_BIN_FILES = {
    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
}
CIFAR10_PY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_PY_TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_PY_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DataNotFoundError(FileNotFoundError):
    """No complete, verified copy of a dataset in any searched folder."""


class ChecksumError(ValueError):
    """A dataset file does not match its published checksum; it is never used."""


@dataclass(frozen=True)
class Split:
    """A train/eval split: ``x_*`` images (N, H, W, C), ``y_*`` labels (N,) int32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray


# --------------------------------------------------------------------------- discovery


def cache_dir() -> Path:
    """The user cache folder for datasets (download target, third place searched)."""
    import platformdirs  # here, not at import: a bare GPU image (tools/device_cifar.py) lacks it
    return Path(platformdirs.user_cache_dir("eoslib")) / "data"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for datasets, in order: argument, ``$EOSLIB_DATA_DIR``, cache, system."""
    dirs = [Path(data_dir)] if data_dir is not None else []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    return dirs + [cache_dir(), *SYSTEM_DIRS]


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _has_all(folder: Path, names) -> bool:
    return all((folder / n).is_file() for n in names)


# --------------------------------------------------------------------------- checksums


def _check_md5(path: Path, md5: str) -> None:
    got = _digest(path, "md5")
    if got != md5:
        raise ChecksumError(f"{path} has MD5 {got}, the official file has {md5}; "
                            "refusing to use it")


def _payload_sha256(path: Path) -> str | None:
    """SHA-256 of the decompressed content of a ``.gz`` file; None when it is not gzip."""
    try:
        return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    except (OSError, EOFError, zlib.error):
        return None


def _check_idx_gz(path: Path, checksums: tuple[str, str]) -> None:
    """An IDX ``.gz`` passes with the official MD5, or with the SHA-256 of its payload."""
    md5, payload_sha256 = checksums
    if _digest(path, "md5") != md5 and _payload_sha256(path) != payload_sha256:
        raise ChecksumError(f"{path} matches neither the official MD5 {md5} nor the official "
                            f"IDX payload SHA-256 {payload_sha256}; refusing to use it")


# data set -> its layouts, preferred first: (subfolder, file name -> checksums, check)
_LAYOUTS = {
    "fmnist": (("fashion-mnist", FASHION_MNIST_FILES, _check_idx_gz),),
    "cifar10": (("cifar-10-batches-bin", CIFAR10_BIN_FILES, _check_md5),
                ("cifar-10-batches-py", CIFAR10_PY_FILES, _check_md5)),
}
# data set -> (name in messages, what a searched folder must hold, what to point EOSLIB_DATA_DIR at)
_WANTED = {
    "fmnist": ("Fashion-MNIST", "fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
               "fashion-mnist/*.gz"),
    "cifar10": ("CIFAR-10", "cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin "
                "(or cifar-10-batches-py/{data_batch_1..5,test_batch})",
                "cifar-10-batches-bin/*.bin"),
}
# (resolved path, checksums) -> (size, mtime in ns) of the file when this process verified it
_verified: dict[tuple[Path, object], tuple[int, int]] = {}


def _verify(path: Path, check, checksums) -> None:
    """``check(path, checksums)``, which raises :class:`ChecksumError`; skipped for a file this
    process has verified already and that has not changed since (same size and mtime)."""
    st = path.stat()
    key, stamp = (path.resolve(), checksums), (st.st_size, st.st_mtime_ns)
    if _verified.get(key) != stamp:
        check(path, checksums)
        _verified[key] = stamp


# --------------------------------------------------------------------------- downloads


class _DownloadFailed(Exception):
    """A download that did not complete; the message is one clause: what failed and why."""

    def __init__(self, url: str, dest: Path, cause: BaseException):
        reason = str(cause.reason if type(cause) is urllib.error.URLError else cause)
        super().__init__(f"downloading {url} into {dest.parent} failed "
                         f"({reason or type(cause).__name__})")


def _download(url: str, dest: Path, md5: str) -> Path:
    """Fetch ``url`` to ``dest`` atomically, with ``NETWORK_TIMEOUT_S`` to connect and per read.

    Raises :class:`_DownloadFailed` when the transfer fails and :class:`ChecksumError` on a bad
    MD5; either way nothing is left behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent)
    tmp = Path(name)
    try:
        try:
            with open(fd, "wb") as f, urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as r:
                shutil.copyfileobj(r, f)
        except (OSError, http.client.HTTPException) as e:
            raise _DownloadFailed(url, dest, e) from e
        got = _digest(tmp, "md5")
        if got != md5:
            raise ChecksumError(f"download of {url} has MD5 {got}, expected {md5}; discarded")
        tmp.replace(dest)
    except BaseException:
        tmp.unlink()
        raise
    return dest


def _download_fashion_mnist() -> None:
    """The official files missing from ``cache_dir()/fashion-mnist``, one by one."""
    folder = cache_dir() / "fashion-mnist"
    for name, (md5, _) in FASHION_MNIST_FILES.items():
        if not (folder / name).is_file():
            _download(FASHION_MNIST_URL + name, folder / name, md5)


def _download_cifar10() -> None:
    """The official binary archive, unpacked into ``cache_dir()/cifar-10-batches-bin``."""
    root, subdir = cache_dir(), "cifar-10-batches-bin"
    archive = _download(CIFAR10_BIN_URL, root / CIFAR10_BIN_URL.rsplit("/", 1)[1],
                        CIFAR10_BIN_TAR_MD5)
    with tarfile.open(archive) as tar:
        for name in CIFAR10_BIN_FILES:
            member = tar.getmember(f"{subdir}/{name}")
            (root / subdir).mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(root / subdir / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    archive.unlink()


_FETCH = {"fmnist": _download_fashion_mnist, "cifar10": _download_cifar10}


# --------------------------------------------------------------------------- ensure


def _find(name: str, data_dir) -> tuple[Path, dict, object] | None:
    """The first complete copy of ``name`` in :func:`search_dirs`: (folder, files, check)."""
    for d in search_dirs(data_dir):
        for subdir, files, check in _LAYOUTS[name]:
            if _has_all(d / subdir, files):
                return d / subdir, files, check
    return None


def _not_found(name: str, data_dir, failure: str | None = None) -> DataNotFoundError:
    """One paragraph: the folders searched in order, why nothing was fetched, how to fix it."""
    title, wanted, pattern = _WANTED[name]
    env = os.environ.get(ENV_VAR)
    env_note = f"{ENV_VAR}={env}" if env else f"{ENV_VAR} is not set"
    looked = ", ".join(str(d) for d in search_dirs(data_dir))
    target = cache_dir() / _LAYOUTS[name][0][0]
    if failure is None:
        why, rerun = ("downloads are off (download=False)",
                      f"or fetch them with `python tools/fetch_data.py {name}` (what `make data` "
                      "runs) or download=True")
    else:
        why, rerun = f"then {failure}", "or rerun with internet access"
    return DataNotFoundError(
        f"{title} not found: looked for {wanted} in {looked} (in this order; {env_note}); "
        f"{why}. To fix it, set {ENV_VAR} to a folder holding {pattern} (or pass data_dir= or "
        f"--data-dir), copy the official files into {target}, {rerun}.")


def ensure(name: str, data_dir=None, *, download: bool = True) -> Path:
    """The folder holding a verified copy of data set ``name`` (``"fmnist"`` or ``"cifar10"``).

    The first complete copy in :func:`search_dirs` wins; when there is none and ``download``,
    the missing official files are fetched into :func:`cache_dir`, their checksums verified.
    Raises :class:`DataNotFoundError` (one paragraph: where we looked, why nothing was fetched,
    how to fix it) and :class:`ChecksumError` for a file that fails its check.
    """
    if name not in _LAYOUTS:
        raise ValueError(f"unknown data set {name!r}; ensure() knows {', '.join(DATASETS)}")
    found = _find(name, data_dir)
    if found is None:
        if not download:
            raise _not_found(name, data_dir)
        try:
            _FETCH[name]()
        except _DownloadFailed as e:
            raise _not_found(name, data_dir, str(e)) from e
        found = _find(name, data_dir)
    folder, files, check = found
    for file, checksums in files.items():
        _verify(folder / file, check, checksums)
    return folder


# --------------------------------------------------------------------------- Fashion-MNIST


def _read_idx_gz(path: Path) -> np.ndarray:
    """Decode one IDX ``.gz`` (checked by :func:`ensure` first)."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=4)
def _fashion_mnist_from(folder: Path) -> Split:
    arr = {n: _read_idx_gz(folder / n) for n in FASHION_MNIST_FILES}
    return Split(
        x_train=arr["train-images-idx3-ubyte.gz"][..., None],
        y_train=arr["train-labels-idx1-ubyte.gz"].astype(np.int32),
        x_eval=arr["t10k-images-idx3-ubyte.gz"][..., None],
        y_eval=arr["t10k-labels-idx1-ubyte.gz"].astype(np.int32),
    )


def load_fashion_mnist(data_dir=None, *, download: bool = False) -> Split:
    """All of Fashion-MNIST, raw: train (60000, 28, 28, 1) uint8, test (10000, 28, 28, 1)."""
    return _fashion_mnist_from(ensure("fmnist", data_dir, download=download).resolve())


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_records_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary version: records of 1 label byte + 1024 R + 1024 G + 1024 B bytes."""
    rec = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rec[:, 0].astype(np.int32)


def parse_cifar_python_batch(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Python version: a pickled dict with ``b"data"`` (N, 3072) uint8 (R, G, B planes) and
    ``b"labels"`` (N,). Only called on files whose MD5 was verified first."""
    d = pickle.loads(blob, encoding="bytes")
    x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(d[b"labels"], np.int32)


def _cifar_records_py(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return parse_cifar_python_batch(path.read_bytes())


@lru_cache(maxsize=2)
def _cifar10_from(folder: Path) -> Split:
    if folder.name == "cifar-10-batches-bin":
        names, read = list(CIFAR10_BIN_FILES), _cifar_records_bin
    else:
        names, read = list(CIFAR10_PY_FILES), _cifar_records_py
    train = [read(folder / n) for n in names[:5]]
    x_test, y_test = read(folder / names[5])
    return Split(
        x_train=np.ascontiguousarray(np.concatenate([x for x, _ in train])),
        y_train=np.concatenate([y for _, y in train]),
        x_eval=np.ascontiguousarray(x_test),
        y_eval=y_test,
    )


def load_cifar10(data_dir=None, *, download: bool = False) -> Split:
    """All of CIFAR-10, raw: train (50000, 32, 32, 3) uint8, test (10000, 32, 32, 3).

    In each searched folder the binary version is preferred to the python version.
    ``download=True`` fetches the binary version when neither is found.
    """
    return _cifar10_from(ensure("cifar10", data_dir, download=download).resolve())


# --------------------------------------------------------------------------- preprocessing


def channel_stats(x: np.ndarray, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of images (N, H, W, C), accumulated in float64 by chunks."""
    total = np.zeros(x.shape[-1])
    total_sq = np.zeros(x.shape[-1])
    for s in range(0, len(x), chunk):
        xc = x[s:s + chunk].astype(np.float64)
        total += xc.sum(axis=(0, 1, 2))
        total_sq += np.square(xc).sum(axis=(0, 1, 2))
    count = len(x) * x.shape[1] * x.shape[2]
    mean = total / count
    return mean, np.sqrt(total_sq / count - mean**2)


def _apply_stats(x: np.ndarray, mean, std, chunk: int = 50_000) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    for s in range(0, len(x), chunk):
        out[s:s + chunk] = (x[s:s + chunk].astype(np.float64) - mean) / std
    return out


def standardize(x_train: np.ndarray, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel standard normalization with the mean and std of ``x_train``.

    Shapes: (N, H, W, C) -> same shapes, float32.
    """
    mean, std = channel_stats(x_train)
    return _apply_stats(x_train, mean, std), _apply_stats(x_eval, mean, std)


def subset(split: Split, n_train: int, n_eval: int, *, normalize: bool = True) -> Split:
    """The first ``n_train`` / ``n_eval`` examples in the default order (paper, Appendix F),
    standardized with statistics of the training subset when ``normalize``."""
    if n_train > len(split.y_train) or n_eval > len(split.y_eval):
        raise ValueError(f"asked for {n_train}/{n_eval} examples, have "
                         f"{len(split.y_train)}/{len(split.y_eval)}")
    x_train, x_eval = split.x_train[:n_train], split.x_eval[:n_eval]
    if normalize:
        x_train, x_eval = standardize(x_train, x_eval)
    return Split(x_train, split.y_train[:n_train], x_eval, split.y_eval[:n_eval])


def fashion_mnist(n_train: int = 1000, n_eval: int = 200, data_dir=None, *,
                  download: bool = False) -> Split:
    """The paper's fMNIST setting: first 1,000 train / 200 test examples, standardized."""
    return subset(load_fashion_mnist(data_dir, download=download), n_train, n_eval)


def cifar10(n_train: int = 5000, n_eval: int = 1000, data_dir=None, *,
            download: bool = False) -> Split:
    """The paper's CIFAR-10 settings: 5,000/1,000 (default) or 50,000/10,000, standardized."""
    return subset(load_cifar10(data_dir, download=download), n_train, n_eval)


def augment_static(images: np.ndarray, copies: int = 10, *, seed: int = 0, pad: int = 4,
                   chunk: int = 10_000) -> np.ndarray:
    """Static augmentation: ``copies`` fixed random crops with horizontal flips of every image.

    Each copy zero-pads an image by ``pad`` pixels (as ``torchvision``'s ``RandomCrop(32, 4)``),
    takes a crop at a uniformly drawn offset in [0, 2 pad]² and flips it left-right with
    probability 1/2. Offsets and flips come from ``numpy.random.default_rng(seed)``, so the result
    is reproducible bit for bit. Shapes: (N, H, W, C) -> (copies * N, H, W, C), copy-major: rows
    ``[k N, (k+1) N)`` are copy ``k`` of all images in the default order, which keeps ghost
    batches made of consecutive examples.
    """
    n, h, w, _ = images.shape
    rng = np.random.default_rng(seed)
    dy = rng.integers(0, 2 * pad + 1, size=(copies, n))
    dx = rng.integers(0, 2 * pad + 1, size=(copies, n))
    flip = rng.integers(0, 2, size=(copies, n)).astype(bool)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.empty((copies * n, *images.shape[1:]), images.dtype)
    rows, cols = np.arange(h), np.arange(w)
    for k in range(copies):
        for s in range(0, n, chunk):
            idx = np.arange(s, min(s + chunk, n))
            c = np.where(flip[k, idx, None], w - 1 - cols, cols) + dx[k, idx, None]
            r = rows + dy[k, idx, None]
            out[k * n + idx] = padded[idx[:, None, None], r[:, :, None], c[:, None, :]]
    return out


def cifar10_augmented(copies: int = 10, n_eval: int = 10_000, data_dir=None, *, seed: int = 0,
                      download: bool = False) -> Split:
    """CIFAR-10-500k (paper, Section 4.3): ``copies`` static augmentations of all 50,000 training
    images (see :func:`augment_static`), labels repeated alike; standardized with the statistics
    of the augmented training set. Float32 output: 500k images take 6.1 GB."""
    raw = load_cifar10(data_dir, download=download)
    x = augment_static(raw.x_train, copies, seed=seed)
    x_train, x_eval = standardize(x, raw.x_eval[:n_eval])
    return Split(x_train, np.tile(raw.y_train, copies), x_eval, raw.y_eval[:n_eval])


def load(name: str, n_train: int, n_eval: int, data_dir=None) -> Split:
    """The first ``n_train`` / ``n_eval`` examples of data set ``name``, standardized.

    ``"fmnist"``: :func:`fashion_mnist`, (n_train, 28, 28, 1) / (n_eval, 28, 28, 1);
    ``"cifar10"``: :func:`cifar10`, (n_train, 32, 32, 3) / (n_eval, 32, 32, 3);
    ``"cifar10-aug"``: :func:`cifar10_augmented` with ``n_train // 50000`` copies (``n_train`` a
    positive multiple of 50,000), (n_train, 32, 32, 3) / (n_eval, 32, 32, 3).
    """
    if name == "fmnist":
        return fashion_mnist(n_train, n_eval, data_dir)
    if name == "cifar10":
        return cifar10(n_train, n_eval, data_dir)
    if name == "cifar10-aug":
        copies, rest = divmod(n_train, 50_000)
        if rest or copies < 1:
            raise ValueError(f"cifar10-aug needs n_train a positive multiple of 50,000, "
                             f"got {n_train}")
        return cifar10_augmented(copies=copies, n_eval=n_eval, data_dir=data_dir)
    raise ValueError(f"unknown data set {name!r}; valid: {', '.join(SPLITS)}")


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``tools/fetch_data.py fmnist [cifar10] [--data-dir DIR]``: :func:`ensure` each data set and
    print where it was found or fetched to; on failure print why (one paragraph) and return 1."""
    parser = argparse.ArgumentParser(
        prog="fetch_data.py", description="Find each data set, or fetch its official files into "
        f"{cache_dir()}, and verify their checksums.")
    parser.add_argument("names", nargs="+", choices=DATASETS, metavar="NAME",
                        help=f"data sets: {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", help="a folder searched first (see search_dirs)")
    args = parser.parse_args(argv)
    for name in args.names:
        found = _find(name, args.data_dir)
        try:
            folder = ensure(name, args.data_dir)
        except (OSError, ChecksumError) as e:
            print(e, file=sys.stderr)
            return 1
        print(f"{_WANTED[name][0]}: {'found in' if found else 'fetched into'} {folder} (verified)")
    return 0
