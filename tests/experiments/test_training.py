"""geomlib.train: models (SPEC §2.1 scalings), 2-D data, and the resumable, deterministic fit loop."""
import math

import pytest
import torch

from geomlib.train import (DeepMLP, ShallowMLP, cross_entropy_step, fit, make_model, minibatches,
                           sinusoid_data, sinusoid_labels, train_run, xor_data)


# ---------------------------------------------------------------- models
def test_shallow_forward_matches_formula(device):
    torch.manual_seed(0)
    m = ShallowMLP(2, 7, 3, device=device)
    x = torch.randn(5, 2, device=device)
    W1, b1 = m.hidden.weight, m.hidden.bias
    W2, b2 = m.readout.weight, m.readout.bias
    phi = torch.sigmoid(x @ W1.T + b1)
    assert torch.allclose(m.features(x), phi)
    assert torch.allclose(m(x), (phi @ W2.T + b2) / math.sqrt(7))
    assert m.hidden.weight.dtype == torch.float64


def test_deep_forward_matches_formula(device):
    torch.manual_seed(1)
    m = DeepMLP((2, 8, 8, 8, 2), device=device)
    x = torch.randn(4, 2, device=device)
    L = m.layers
    h1 = x @ L[0].weight.T + L[0].bias
    p1 = torch.sigmoid(h1)
    p2 = torch.sigmoid((p1 @ L[1].weight.T + L[1].bias) / math.sqrt(8))
    p3 = torch.sigmoid((p2 @ L[2].weight.T + L[2].bias) / math.sqrt(8))
    out = (p3 @ L[3].weight.T + L[3].bias) / math.sqrt(8)
    assert torch.allclose(m.features(x, 1), p1)
    assert torch.allclose(m.features(x, 2), p2)
    assert torch.allclose(m.features(x, -1), p3)
    assert torch.allclose(m(x), out)
    assert torch.allclose(m.feature_map(2)(x), p2)
    with pytest.raises(ValueError, match="layer must be in 1..3"):
        m.features(x, 4)
    with pytest.raises(ValueError, match="one hidden layer"):
        ShallowMLP(2, 3, 2).features(x.cpu(), 2)


def test_init_is_standard_normal_for_weights_and_biases():
    torch.manual_seed(2)
    m = ShallowMLP(2, 20000, 2)
    for t in (m.hidden.weight, m.hidden.bias, m.readout.weight):
        v = t.detach().flatten()
        # N(0,1): sample mean within 5 standard errors of 0, variance within 3 %
        assert abs(v.mean().item()) < 5 / math.sqrt(v.numel())
        assert abs(v.var().item() - 1.0) < 0.03


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="unknown activation"):
        ShallowMLP(2, 3, 2, act="softsign")
    with pytest.raises(ValueError, match="positive"):
        ShallowMLP(2, 0, 2)
    with pytest.raises(ValueError, match="hidden layer"):
        DeepMLP((2, 2))


# ---------------------------------------------------------------- data
def test_xor_and_sinusoid_data():
    x, y = xor_data()
    assert y.tolist() == [0, 1, 1, 0]
    assert ((x[:, 0] * x[:, 1] < 0).long() == y).all()
    a, ya = sinusoid_data(400, 401)
    b, yb = sinusoid_data(400, 401)
    c, _ = sinusoid_data(400, 402)
    assert torch.equal(a, b) and torch.equal(ya, yb) and not torch.equal(a, c)
    assert a.shape == (400, 2) and a.abs().max() <= 1.0
    assert torch.equal(ya, (a[:, 1] > 0.6 * torch.sin(7 * a[:, 0] - 1)).long())
    assert 0.2 < ya.double().mean() < 0.8
    assert sinusoid_labels(torch.tensor([[0.0, 0.0]])).item() == int(0.0 > 0.6 * math.sin(-1.0))


def test_minibatches_deterministic_per_epoch():
    x, y = sinusoid_data(400, 401)
    b1 = minibatches(x, y, 50, seed=7)
    b2 = minibatches(x, y, 50, seed=7)
    assert b1.steps_per_epoch == 8 and len(b1(3)) == 8
    assert all(torch.equal(p[0], q[0]) for p, q in zip(b1(3), b2(3)))
    assert not torch.equal(b1(3)[0][0], b1(4)[0][0])
    assert len(minibatches(x[:120], y[:120], 50, seed=7)(1)) == 2  # drop_last
    full = minibatches(*xor_data(), 4, seed=7)(1)
    assert len(full) == 1 and torch.equal(full[0][0], xor_data()[0])


# ---------------------------------------------------------------- fit
def _small_run(seed, epochs=30, **kw):
    return train_run("sinusoid", 6, seed, epochs=epochs, snapshot_epochs=(10, 30)[: 2 if epochs >= 30 else 0], progress=False,
                     n_train=100, **kw)


def _assert_same_states(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_fit_is_deterministic_for_a_seed(device):
    m1, r1, _ = _small_run(401, device=device)
    m2, r2, _ = _small_run(401, device=device)
    m3, r3, _ = _small_run(402, device=device)
    assert sorted(r1.snapshots) == [0, 10, 30]
    for e in r1.snapshots:
        _assert_same_states(r1.snapshots[e], r2.snapshots[e])
    assert r1.history == r2.history and r1.evals == r2.evals
    assert r1.history["loss"] != r3.history["loss"]
    assert not torch.equal(r1.snapshots[30]["hidden.weight"], r3.snapshots[30]["hidden.weight"])
    # training changed the weights and lowered the loss
    assert not torch.equal(r1.snapshots[0]["hidden.weight"], r1.snapshots[30]["hidden.weight"])
    assert r1.evals["loss"][-1] < r1.evals["loss"][0]


def test_snapshot_zero_is_the_true_initialisation(device):
    fresh = make_model("sinusoid", 6, 401, device=device)
    _, res, _ = _small_run(401, device=device)
    _assert_same_states(res.snapshots[0], {k: v.cpu() for k, v in fresh.state_dict().items()})
    # and fit's own snapshot 0 is the state passed in, before any step
    model = ShallowMLP(2, 4, 2, device=device)
    before = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    x, y = sinusoid_data(100, 3, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    r = fit(model, cross_entropy_step, minibatches(x, y, 50, 3), opt, epochs=3, progress=False)
    _assert_same_states(r.snapshots[0], before)
    assert not torch.equal(model.hidden.weight.detach().cpu(), before["hidden.weight"])


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_is_identical(tmp_path, device):
    x, y = sinusoid_data(100, 5, device=device)
    batches = minibatches(x, y, 50, seed=5)

    def run(ckpt, stop_at=None):
        model = make_model("sinusoid", 5, 5, device=device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        calls = {"n": 0}

        def step(m, batch):
            calls["n"] += 1
            if stop_at is not None and calls["n"] > stop_at:
                raise _Interrupt
            return cross_entropy_step(m, batch)

        res = fit(model, step, batches, opt, epochs=20, snapshot_epochs=(5, 12, 20), checkpoint=ckpt,
                  checkpoint_every=1, progress=False, device=device,
                  eval_fn=lambda m: {"acc": (m(x).argmax(-1) == y).double().mean()})
        return model, res, calls["n"]

    ref_model, ref, _ = run(None)
    ck = tmp_path / "run.ckpt"
    with pytest.raises(_Interrupt):
        run(ck, stop_at=2 * 9 + 1)  # dies in the middle of epoch 10 (2 steps per epoch)
    assert ck.exists()
    model, res, steps = run(ck)
    assert res.resumed_from == 9 and steps == 2 * 11  # only the remaining 11 epochs ran
    _assert_same_states(model.state_dict(), ref_model.state_dict())
    for e in ref.snapshots:
        _assert_same_states(res.snapshots[e], ref.snapshots[e])
    assert res.history == ref.history and res.evals == ref.evals
    # a finished checkpoint returns without training
    model2, res2, steps2 = run(ck)
    assert steps2 == 0 and res2.resumed_from == 20
    _assert_same_states(model2.state_dict(), ref_model.state_dict())


def test_checkpoint_of_another_run_is_not_used(tmp_path):
    ck = tmp_path / "c.ckpt"
    _small_run(401, epochs=5, checkpoint=ck)
    with pytest.warns(UserWarning, match="belongs to another run"):
        _, res, _ = _small_run(402, epochs=5, checkpoint=ck)
    assert res.resumed_from is None
    _, ref, _ = _small_run(402, epochs=5)
    assert res.history == ref.history


def test_fit_rejects_nonfinite_loss_and_bad_arguments():
    model = ShallowMLP(2, 3, 2)
    x, y = xor_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    bad = lambda m, b: cross_entropy_step(m, b) * float("nan")  # noqa: E731
    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(model, bad, minibatches(x, y, 4, 0), opt, epochs=2, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, cross_entropy_step, minibatches(x, y, 4, 0), opt, epochs=-1, progress=False)


def test_xor_trains_to_full_accuracy():
    _, res, _ = train_run("xor", 10, 401, epochs=2000, progress=False)
    assert res.evals["acc"][-1] == 1.0 and res.evals["acc"][0] < 1.0


@pytest.mark.parametrize("env, shown", [(None, True), ("1", False), ("0", True)])
def test_progress_bar_obeys_tqdm_disable(env, shown, monkeypatch, capsys):
    """The chapter runner sets TQDM_DISABLE=1 so training bars never land on rendered pages."""
    if env is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", env)
    model = ShallowMLP(2, 4, 2)
    x, y = sinusoid_data(40, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, cross_entropy_step, minibatches(x, y, 20, 3), opt, epochs=2, progress=True, desc="barcheck")
    assert ("barcheck" in capsys.readouterr().err) == shown
