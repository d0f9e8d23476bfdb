"""geomlib.experiments.training: deterministic minibatches and the resumable, deterministic fit loop
(on the 2-D tasks' models and data)."""

import pytest
import torch

from geomlib.experiments.data import sinusoid_data, xor_data
from geomlib.experiments.models import ShallowMLP
from geomlib.experiments.training import fit, minibatches
from geomlib.experiments.twod.run import cross_entropy_step, make_model, train_run


# ---------------------------------------------------------------- minibatches
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
