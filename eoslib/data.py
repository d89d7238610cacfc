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
and unpacked; otherwise :class:`DataNotFoundError` says where we looked and how to fix it.

Arrays: images are NHWC (``uint8`` raw, ``float32`` after :func:`standardize`), labels ``int32``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import platformdirs

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


def _locate(subdir: str, names, data_dir) -> Path | None:
    for d in search_dirs(data_dir):
        if _has_all(d / subdir, names):
            return d / subdir
    return None


def _not_found(what: str, subdir: str, names, data_dir) -> DataNotFoundError:
    looked = "\n".join(f"  {d / subdir}" for d in search_dirs(data_dir))
    return DataNotFoundError(
        f"{what} not found. Looked for {sorted(names)} in:\n{looked}\n"
        f"Fix: pass data_dir=..., or set {ENV_VAR} to a folder containing {subdir}/, "
        f"or call with download=True to fetch the official files into {cache_dir()}."
    )


# --------------------------------------------------------------------------- downloads


def _download(url: str, dest: Path, md5: str) -> Path:
    """Fetch ``url`` to ``dest`` atomically, raising :class:`ChecksumError` on a bad MD5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        with urllib.request.urlopen(url, timeout=60) as r:
            shutil.copyfileobj(r, tmp)
    got = _digest(Path(tmp.name), "md5")
    if got != md5:
        os.unlink(tmp.name)
        raise ChecksumError(f"download of {url} has MD5 {got}, expected {md5}; discarded")
    os.replace(tmp.name, dest)
    return dest


def _download_fashion_mnist() -> Path:
    folder = cache_dir() / "fashion-mnist"
    for name, (md5, _) in FASHION_MNIST_FILES.items():
        if not (folder / name).is_file():
            _download(FASHION_MNIST_URL + name, folder / name, md5)
    return folder


def _download_cifar10(url: str, tar_md5: str, subdir: str, names) -> Path:
    root = cache_dir()
    archive = _download(url, root / url.rsplit("/", 1)[1], tar_md5)
    with tarfile.open(archive) as tar:
        for name in names:
            member = tar.getmember(f"{subdir}/{name}")
            (root / subdir).mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(root / subdir / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    archive.unlink()
    return root / subdir


# --------------------------------------------------------------------------- Fashion-MNIST


def _read_idx_gz(path: Path, md5: str, payload_sha256: str) -> np.ndarray:
    """Decode one IDX ``.gz`` after checking it (official MD5, or SHA-256 of the payload)."""
    raw = gzip.decompress(path.read_bytes())
    if _digest(path, "md5") != md5 and hashlib.sha256(raw).hexdigest() != payload_sha256:
        raise ChecksumError(f"{path} matches neither the official MD5 {md5} nor the official "
                            f"IDX payload SHA-256 {payload_sha256}; refusing to use it")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=4)
def _fashion_mnist_from(folder: Path) -> Split:
    arr = {n: _read_idx_gz(folder / n, *c) for n, c in FASHION_MNIST_FILES.items()}
    return Split(
        x_train=arr["train-images-idx3-ubyte.gz"][..., None],
        y_train=arr["train-labels-idx1-ubyte.gz"].astype(np.int32),
        x_eval=arr["t10k-images-idx3-ubyte.gz"][..., None],
        y_eval=arr["t10k-labels-idx1-ubyte.gz"].astype(np.int32),
    )


def load_fashion_mnist(data_dir=None, *, download: bool = False) -> Split:
    """All of Fashion-MNIST, raw: train (60000, 28, 28, 1) uint8, test (10000, 28, 28, 1)."""
    names = FASHION_MNIST_FILES.keys()
    folder = _locate("fashion-mnist", names, data_dir)
    if folder is None:
        if not download:
            raise _not_found("Fashion-MNIST", "fashion-mnist", names, data_dir)
        folder = _download_fashion_mnist()
    return _fashion_mnist_from(folder.resolve())


# --------------------------------------------------------------------------- CIFAR-10


def _check_md5(path: Path, md5: str) -> None:
    got = _digest(path, "md5")
    if got != md5:
        raise ChecksumError(f"{path} has MD5 {got}, the official file has {md5}; "
                            "refusing to use it")


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
def _cifar10_from(folder: Path, binary: bool) -> Split:
    if binary:
        files, read = CIFAR10_BIN_FILES, _cifar_records_bin
    else:
        files, read = CIFAR10_PY_FILES, _cifar_records_py
    for name, md5 in files.items():
        _check_md5(folder / name, md5)
    names = list(files)
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
    for d in search_dirs(data_dir):
        if _has_all(d / "cifar-10-batches-bin", CIFAR10_BIN_FILES):
            return _cifar10_from((d / "cifar-10-batches-bin").resolve(), True)
        if _has_all(d / "cifar-10-batches-py", CIFAR10_PY_FILES):
            return _cifar10_from((d / "cifar-10-batches-py").resolve(), False)
    if not download:
        raise _not_found("CIFAR-10", "cifar-10-batches-bin (or cifar-10-batches-py)",
                         CIFAR10_BIN_FILES, data_dir)
    folder = _download_cifar10(CIFAR10_BIN_URL, CIFAR10_BIN_TAR_MD5, "cifar-10-batches-bin",
                               CIFAR10_BIN_FILES)
    return _cifar10_from(folder.resolve(), True)


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
