"""reslimit.data: digits, the synthetic teacher task, a user's arrays and .npz files, and the bad-data errors."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from reslimit import ScaledResNet, data
from reslimit._rng import normal

DIGITS_PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # np.bincount of load_digits' labels


@pytest.fixture(scope="module")
def digits():
    return data.digits()


def test_digits_sizes_and_stratified_classes(digits):
    assert (len(digits.X_train), len(digits.X_test)) == (1437, 360)  # 360 = ceil(0.2 * 1797)
    assert (digits.input_dim, digits.n_classes, digits.output_dim) == (64, 10, 10)
    assert (digits.task, digits.name, digits.classes) == ("classification", "digits", tuple(range(10)))
    assert digits.X_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    train, test = np.bincount(digits.y_train.numpy()), np.bincount(digits.y_test.numpy())
    assert (train + test).tolist() == DIGITS_PER_CLASS
    assert np.abs(test - 0.2 * np.array(DIGITS_PER_CLASS)).max() <= 1  # within one image of 80/20 per class
    assert repr(digits) == ("Dataset('digits', classification, 10 classes, input_dim=64, train=1437, test=360, "
                            "dtype=torch.float32)")


def test_digits_split_is_seeded(digits):
    again, other = data.digits(seed=0), data.digits(seed=1)
    assert torch.equal(again.X_test, digits.X_test) and torch.equal(again.y_train, digits.y_train)
    assert not torch.equal(other.X_test, digits.X_test)
    assert torch.equal(data.digits(seed=2**32 + 1).X_test, other.X_test)  # random_state = seed mod 2^32


def test_standardised_with_the_training_split_only(digits):
    X, y = load_digits(return_X_y=True)
    train, test = train_test_split(np.arange(len(X)), test_size=360, stratify=y, random_state=0)
    mean, std = X[train].mean(0), X[train].std(0)
    assert np.allclose(digits.mean.numpy(), mean, atol=1e-5)
    constant = X[train].min(0) == X[train].max(0)
    assert constant[0] and np.all(digits.std.numpy()[constant] == 1)  # pixel 0 is blank in every image
    assert np.allclose(digits.std.numpy()[~constant], std[~constant], atol=1e-5)
    assert np.allclose(digits.X_test.numpy(), (X[test] - mean) / np.where(constant, 1, std), atol=1e-5)
    # pixels are back at 0..16 from the statistics
    assert torch.equal((digits.X_train * digits.std + digits.mean).round(), torch.as_tensor(X[train]).float())
    train_mean = digits.X_train.double().mean(0)
    assert train_mean.abs().max() < 1e-6 and torch.allclose(digits.X_train.double().std(0, correction=0)[~constant],
                                                            torch.ones(int((~constant).sum())).double(), atol=1e-5)
    assert digits.X_test.double().mean(0).abs().max() > 0.01  # the test rows used the training statistics


def _teacher_by_hand(x, depth, width, input_dim, output_dim, seed):
    """y = B h_L, h_0 = A x, h_{k+1} = h_k + depth^-1/2 V_{k+1} tanh(W_{k+1} h_k), the weights of the teacher."""
    net = ScaledResNet(depth, width, beta=0.5, block="res2", activation="tanh", seed=seed, input_dim=input_dim,
                       output_dim=output_dim)
    with torch.no_grad():
        h = x @ net.A[0].T
        for k in range(depth):
            h = h + depth**-0.5 * torch.tanh(h @ net.W[k, 0].T) @ net.V[k, 0].T
        return h @ net.B[0].T


def test_synthetic_reproduces_the_teacher_formula():
    n, d, out, depth, width, seed, noise = 60, 3, 2, 5, 7, 11, 0.3
    ds = data.synthetic(n=n, input_dim=d, output_dim=out, depth=depth, width=width, seed=seed, noise=noise,
                        dtype=torch.float64)
    assert (ds.task, ds.n_classes, ds.input_dim, ds.output_dim, ds.name) == ("regression", None, d, out, "synthetic")
    assert (len(ds.X_train), len(ds.X_test)) == (48, 12) and ds.y_train.shape == (48, out)
    train, test = train_test_split(np.arange(n), test_size=12, random_state=seed)
    x, eps = normal((n, d), seed, "inputs"), normal((n, out), seed, "targets")
    assert torch.allclose(ds.X_train * ds.std + ds.mean, x[train], atol=1e-12)
    assert torch.allclose(ds.mean, x[train].mean(0), atol=1e-12)
    y = _teacher_by_hand(x, depth, width, d, out, seed) + noise * eps
    assert torch.allclose(ds.y_train, y[train], atol=1e-10) and torch.allclose(ds.y_test, y[test], atol=1e-10)
    assert torch.equal(data.synthetic(n=n, input_dim=d, output_dim=out, depth=depth, width=width, seed=seed,
                                      noise=noise, dtype=torch.float64).y_test, ds.y_test)
    other = data.synthetic(n=n, input_dim=d, output_dim=out, depth=depth, width=width, seed=seed + 1, noise=noise)
    assert not torch.allclose(other.y_train[:5].double(), ds.y_train[:5])


def test_synthetic_defaults_and_noise():
    ds = data.synthetic()
    assert (len(ds.X_train), len(ds.X_test), ds.input_dim, ds.output_dim) == (800, 200, 8, 1)
    clean = data.synthetic(noise=0.0)
    assert torch.equal(clean.X_train, ds.X_train)  # the noise changes the targets only
    residual = (ds.y_train - clean.y_train) / 0.1
    assert abs(residual.mean().item()) < 0.15 and 0.9 < residual.std().item() < 1.1
    assert 0.3 < clean.y_train.std().item() < 3  # the teacher's outputs are of order 1


def test_from_arrays_classification_labels_and_tensors():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.repeat([7, 3, 9, 3], 10)  # 20 rows of class 3, 10 of 7 and of 9
    ds = data.from_arrays(X, y, seed=4, test_fraction=0.25)
    assert ds.task == "classification" and ds.classes == (3, 7, 9) and ds.name == "arrays"
    test = np.bincount(ds.y_test.numpy())
    assert test[0] == 5 and sorted(test[1:]) == [2, 3]  # stratified: 10 test rows, 5 of class 3's 20
    train, _ = train_test_split(np.arange(40), test_size=10, stratify=y, random_state=4)
    assert np.allclose(ds.X_train.numpy() * ds.std.numpy() + ds.mean.numpy(), X[train], atol=1e-5)
    assert [ds.classes[k] for k in ds.y_train] == y[train].tolist()  # indices of the sorted labels
    same = data.from_arrays(torch.as_tensor(X), torch.as_tensor(y), seed=4, test_fraction=0.25)
    assert torch.equal(same.X_train, ds.X_train) and torch.equal(same.y_test, ds.y_test)
    as_float = data.from_arrays(X, y.astype(float), task="classification", seed=4, test_fraction=0.25)
    assert torch.equal(as_float.y_train, ds.y_train)
    booleans = data.from_arrays(X, y == 3, seed=4)
    assert booleans.classes == (False, True) and booleans.n_classes == 2


def test_from_arrays_regression_and_images():
    rng = np.random.default_rng(1)
    images, y = rng.normal(size=(30, 4, 5)), rng.normal(size=30)
    ds = data.from_arrays(images, y)
    assert ds.task == "regression" and ds.input_dim == 20 and ds.y_train.shape == (24, 1) and ds.output_dim == 1
    train, _ = train_test_split(np.arange(30), test_size=6, random_state=0)
    assert np.allclose(ds.y_train.numpy()[:, 0], y[train], atol=1e-6)  # targets are not rescaled
    assert np.allclose(ds.X_train.numpy() * ds.std.numpy() + ds.mean.numpy(), images[train].reshape(24, 20), atol=1e-5)
    two = data.from_arrays(images, np.stack([y, 2 * y], 1), dtype="float64")
    assert two.output_dim == 2 and two.y_train.dtype == torch.float64
    assert data.from_arrays(images, np.arange(30), task="regression").y_train.dtype == torch.float32


def test_npz_round_trip_and_kept_split(tmp_path):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 2, 3)), np.tile([0, 1], 25)
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    ds = data.load_npz(tmp_path / "mine.npz", seed=3)
    ref = data.from_arrays(X, y, seed=3)
    assert ds.name == "mine.npz" and ds.input_dim == 6
    for f in ("X_train", "y_train", "X_test", "y_test", "mean", "std"):
        assert torch.equal(getattr(ds, f), getattr(ref, f))
    X_test, y_test = rng.normal(size=(7, 2, 3)), np.array([1, 1, 0, 1, 0, 0, 1])
    np.savez(tmp_path / "split.npz", X=X, y=y, X_test=X_test, y_test=y_test)
    kept = data.load_npz(tmp_path / "split.npz", test_fraction=0.5)  # test_fraction ignored with a split
    assert (len(kept.X_train), len(kept.X_test)) == (50, 7) and kept.y_test.tolist() == y_test.tolist()
    flat = X.reshape(50, 6)
    assert np.allclose(kept.mean.numpy(), flat.mean(0), atol=1e-6)
    assert np.allclose(kept.X_test.numpy(), (X_test.reshape(7, 6) - flat.mean(0)) / flat.std(0), atol=1e-5)


def test_get_data_dispatch(tmp_path):
    assert data.get_data("digits", seed=1).name == "digits"
    small = data.get_data("synthetic", n=20, input_dim=2)
    assert small.name == "synthetic" and (len(small.X_train), small.input_dim) == (16, 2)
    np.savez(tmp_path / "d.npz", X=np.arange(40.0).reshape(20, 2), y=np.tile([0, 1], 10))
    for spec in (tmp_path / "d.npz", str(tmp_path / "d.npz")):
        assert data.get_data(spec, test_fraction=0.5).name == "d.npz"
    with pytest.raises(ValueError, match=r"data must be 'digits', 'synthetic' or the path of an \.npz file; "
                                         r"got 'digit'"):
        data.get_data("digit")
    with pytest.raises(ValueError, match="or the path of an .npz file; got 3"):
        data.get_data(3)
    with pytest.raises(ValueError, match=r"missing\.npz' is not a file"):
        data.get_data(str(tmp_path / "missing.npz"))


def test_dataset_to_and_frozen():
    ds = data.synthetic(n=20)
    wide = ds.to(dtype=torch.float64)
    assert wide.X_train.dtype == wide.y_train.dtype == wide.std.dtype == torch.float64
    assert torch.equal(wide.X_test.float(), ds.X_test) and ds.X_train.dtype == torch.float32
    digits = data.from_arrays(np.random.default_rng(0).normal(size=(10, 2)), np.tile([0, 1], 5)).to("cpu", "float64")
    assert digits.y_train.dtype == torch.int64 and digits.X_train.dtype == torch.float64
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        ds.to(dtype=torch.int32)


def _xy(n=20, classes=2):
    return np.random.default_rng(0).normal(size=(n, 3)), np.arange(n) % classes


@pytest.mark.parametrize("change, message", [
    (lambda X, y: (X, y[:-1]), r"X and y must have the same number of rows \(samples\); got 20 rows in X and "
                               r"shape \(19,\) for y"),
    (lambda X, y: (X[:, 0], y), r"X must be 2-D \(n, features\), or \(n, h, w, \.\.\.\) images to flatten; got "
                                r"shape \(20,\) \(one feature per row: X\.reshape\(-1, 1\)\)"),
    (lambda X, y: (X[:, :0], y), r"X must have at least one feature; got shape \(20, 0\)"),
    (lambda X, y: (np.where(np.arange(20)[:, None] == 3, np.nan, X), y), "X must hold finite numbers; it contains NaN"),
    (lambda X, y: (X, np.where(np.arange(20) == 3, np.inf, y.astype(float))), "y must hold finite numbers; "
                                                                               "it contains inf"),
    (lambda X, y: (X.astype(str), y), "X must hold real numbers; got an array of dtype <U"),
    (lambda X, y: ([[1.0], [2.0, 3.0]] * 10, y), "X must be an array of real numbers; got ragged list"),
    (lambda X, y: (X, np.zeros(20, int)), r"y holds a single class \(0\); classification needs at least 2"),
    (lambda X, y: (X[:9], y[:9]), "X has 9 rows; at least 10 are needed"),
    (lambda X, y: (X, np.r_[y[:-1], 5]), "y's class 5 has a single row; a stratified split needs at least 2 per "
                                         "class"),
    (lambda X, y: (X, y.reshape(10, 2)), r"X and y must have the same number of rows .* shape \(10, 2\) for y"),
    (lambda X, y: (X, np.stack([y, y], 1)), r"y must hold one class label per row, shape \(n,\); got shape \(20, 2\)"),
])
def test_bad_arrays_are_refused_naming_the_array(change, message):
    with pytest.raises(ValueError, match=message):
        data.from_arrays(*change(*_xy()))


def test_bad_options_are_refused():
    X, y = _xy()
    for fraction in (0, 1, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"test_fraction must be a real number in \(0\.0, 1\.0\)"):
            data.from_arrays(X, y, test_fraction=fraction)
    with pytest.raises(ValueError, match=r"test_fraction=0\.97 leaves no training row of 20; it must be at most "
                                         r"\(n - 1\)/n = 0\.95"):
        data.from_arrays(X, y.astype(float), test_fraction=0.97)
    with pytest.raises(ValueError, match=r"a stratified split of 20 rows with test_fraction=0\.1 gives 18 training "
                                         "and 2 test rows, fewer than the 5 classes"):
        data.from_arrays(X, np.arange(20) % 5, test_fraction=0.1)
    with pytest.raises(ValueError, match="task must be one of 'classification', 'regression'; got 'labels'"):
        data.from_arrays(X, y, task="labels")
    with pytest.raises(ValueError, match=r"y must hold integer class labels for task='classification'; got 0\.5"):
        data.from_arrays(X, y + 0.5, task="classification")
    with pytest.raises(ValueError, match=r"y must hold regression targets of shape \(n,\) or \(n, output_dim\); "
                                         r"got shape \(20, 2, 1\)"):
        data.from_arrays(X, np.zeros((20, 2, 1)))
    with pytest.raises(ValueError, match="seed must be an integer in"):
        data.digits(seed=-1)
    with pytest.raises(ValueError, match="n must be an integer >= 10; got 5"):
        data.synthetic(n=5)
    with pytest.raises(ValueError, match=r"noise must be a real number in \[0\.0, inf\]"):
        data.synthetic(noise=-1)


def test_a_given_test_split_is_checked():
    X, y = _xy()
    with pytest.raises(ValueError, match="X_test was given without y_test: give both to keep a test split"):
        data.from_arrays(X, y, X_test=X)
    with pytest.raises(ValueError, match="y_test was given without X_test"):
        data.from_arrays(X, y, y_test=y)
    with pytest.raises(ValueError, match=r"X_test must have rows of X's 3 features; got shape \(20, 2\)"):
        data.from_arrays(X, y, X_test=X[:, :2], y_test=y)
    with pytest.raises(ValueError, match=r"y_test holds labels that y has not: \[4\]"):
        data.from_arrays(X, y, X_test=X[:2], y_test=[1, 4])
    with pytest.raises(ValueError, match="y_test must have y's 1 target columns"):
        data.from_arrays(X, y.astype(float), X_test=X, y_test=np.zeros((20, 2)))
    with pytest.raises(ValueError, match=r"X_test and y_test must have the same number of rows"):
        data.from_arrays(X, y, X_test=X, y_test=y[:3])


def test_bad_files_are_refused_naming_the_file(tmp_path):
    X, y = _xy()
    np.savez(tmp_path / "no_y.npz", X=X)
    with pytest.raises(ValueError, match=r"no_y\.npz has no array 'y' \(it holds \['X'\]\); an \.npz for reslimit "
                                         r"needs X \(n, features\) and y \(n,\)"):
        data.load_npz(tmp_path / "no_y.npz")
    np.savez(tmp_path / "no_x.npz", y=y, features=X)
    with pytest.raises(ValueError, match=r"no_x\.npz has no array 'X' \(it holds \['features', 'y'\]\)"):
        data.load_npz(tmp_path / "no_x.npz")
    np.savez(tmp_path / "nan.npz", X=np.where(X > 1, np.nan, X), y=y)
    with pytest.raises(ValueError, match=r"nan\.npz\['X'\] must hold finite numbers; it contains NaN"):
        data.load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "short.npz", X=X, y=y[:5])
    with pytest.raises(ValueError, match=r"short\.npz\['X'\] and .*short\.npz\['y'\] must have the same number"):
        data.load_npz(tmp_path / "short.npz")
    (tmp_path / "text.npz").write_text("X,y\n1,2\n")
    with pytest.raises(ValueError, match=r"text\.npz is not an \.npz file numpy can read"):
        data.load_npz(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", X)
    with pytest.raises(ValueError, match=r"array\.npy is not an \.npz file numpy can read \(it holds a single array"):
        data.load_npz(tmp_path / "array.npy")
    with pytest.raises(ValueError, match=r"path '.*nowhere\.npz' is not a file"):
        data.load_npz(tmp_path / "nowhere.npz")
    with pytest.raises(ValueError, match="path must be a non-empty path"):
        data.load_npz("")
