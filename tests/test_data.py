"""Datasets: the overlay recipe, loaders on generated files (and the real files when ../shared/data exists)."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from stein_mo.data import DataError, MultiDigits, load_sarcos, multi_mnist, overlay_pairs, read_idx, read_mnist_csv

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_idx(path, array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_overlay_recipe():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[0, :, :] = 100
    images[1, :, :] = 200
    x = overlay_pairs(images, np.array([0]), np.array([1]))[0, 0]
    assert x.shape == (36, 36)
    assert x[0, 0] == pytest.approx(100 / 255) and x[35, 35] == pytest.approx(200 / 255)
    assert x[10, 10] == pytest.approx(200 / 255)  # overlap: pixel-wise maximum
    assert x[0, 35] == 0 and x[35, 0] == 0  # the other corners stay empty


def test_multi_mnist_on_generated_files(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 28, 28))
    train_labels = np.arange(6) % 10
    csv = tmp_path / "train.csv.gz"
    with gzip.open(csv, "wt") as f:
        for img, lab in zip(train, train_labels, strict=True):
            f.write(",".join(map(str, [*img.ravel(), lab])) + "\n")
    test = rng.integers(0, 256, (4, 28, 28))
    write_idx(tmp_path / "test-images.gz", test)
    write_idx(tmp_path / "test-labels.gz", np.array([3, 1, 4, 1]))
    (xtr, ytr), (xte, yte) = multi_mnist(csv, tmp_path / "test-images.gz", tmp_path / "test-labels.gz")
    assert xtr.shape == (12, 1, 36, 36) and yte.tolist()[0][0] == 3
    left = np.r_[np.arange(6), np.arange(6)]
    j = np.random.RandomState(0).randint(0, 5, size=12)
    right = j + (j >= left)
    assert (right != left).all()
    torch.testing.assert_close(xtr, overlay_pairs(train.astype(np.uint8), left, right))
    assert ytr.tolist() == np.stack([train_labels[left], train_labels[right]], 1).tolist()
    t_right = np.random.RandomState(1).permutation(4)
    torch.testing.assert_close(xte, overlay_pairs(test.astype(np.uint8), np.arange(4), t_right))


def test_loader_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.gz")
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04garbage")
    with pytest.raises(DataError, match="magic"):
        read_idx(bad)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + bytes(3))
    with pytest.raises(DataError, match="header says"):
        read_idx(short)
    impostor = tmp_path / "t10k-labels-idx1-ubyte.gz"  # a known name with the wrong content
    write_idx(impostor, np.array([1, 2, 3]))
    with pytest.raises(DataError, match="SHA-256"):
        read_idx(impostor)
    csv = tmp_path / "short.csv"
    csv.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="784 pixels"):
        read_mnist_csv(csv)
    with pytest.raises(DataError, match="cannot read"):
        load_sarcos(csv)


def test_sarcos_on_a_generated_file(tmp_path):
    from scipy.io import savemat

    table = np.random.default_rng(0).normal(size=(10, 28))
    savemat(tmp_path / "s.mat", {"sarcos_inv": table})
    x, y = load_sarcos(tmp_path / "s.mat")
    assert x.shape == (10, 21) and y.shape == (10, 7)
    torch.testing.assert_close(y, torch.from_numpy(table[:, 21:]).float())
    savemat(tmp_path / "w.mat", {"sarcos_inv": table[:, :20]})
    with pytest.raises(DataError, match=r"\(n, 28\)"):
        load_sarcos(tmp_path / "w.mat")


def test_multidigits_embedded_default():
    data = MultiDigits(seed=0)
    sizes = [len(split[0]) for split in (data.train, data.val, data.test)]
    assert sum(s // 2 for s in sizes) == 1797  # every digit is a left digit twice, in exactly one split
    x, y = data.train
    assert x.shape[1:] == (1, 12, 12) and 0 <= x.min() and x.max() <= 1
    assert y.min() >= 0 and y.max() <= 9
    again = MultiDigits(seed=0)
    assert torch.equal(again.test[0], data.test[0])  # reproducible


@pytest.mark.skipif(not (SHARED / "mnist").exists(), reason="../shared/data not present")
def test_real_files():
    m = SHARED / "mnist"
    (xtr, ytr), (xte, yte) = multi_mnist(
        m / "mnist_5k.csv.gz", m / "t10k-images-idx3-ubyte.gz", m / "t10k-labels-idx1-ubyte.gz"
    )
    assert xtr.shape == (10000, 1, 36, 36) and xte.shape == (10000, 1, 36, 36)
    assert (yte[:, 0] == torch.from_numpy(read_idx(m / "t10k-labels-idx1-ubyte.gz").astype(np.int64))).all()
    assert torch.bincount(ytr[:5000, 0]).tolist() == [500] * 10
    x, y = load_sarcos(SHARED / "sarcos" / "sarcos_inv_test.mat")
    assert x.shape == (4449, 21) and y.shape == (4449, 7)
