"""geomlib.experiments.ssl.settings: the Barlow Twins and SimCLR recipes per profile (``paper``: the
authors' settings)."""
import pytest

from geomlib.book.profiles import ConfigError
from geomlib.experiments.ssl.settings import ssl_recipe


def test_paper_recipes_are_the_authors():
    bt, sc = ssl_recipe("barlow", "paper"), ssl_recipe("simclr", "paper")
    assert (bt.depth, bt.width, bt.lr, bt.momentum, bt.weight_decay) == (34, 1.0, 0.01, 0.9, 1e-4)
    assert (bt.epochs, bt.batch_size, bt.drop_last, bt.proj_dim) == (1000, 1024, True, 256)
    assert (sc.epochs, sc.batch_size, sc.drop_last, sc.out_dim) == (1000, 512, True, 10)
    assert bt.snapshot_epochs == (50, 200, 500, 1000) and sc.snapshot_epochs == (50, 200, 1000)
    assert ssl_recipe("simclr", "tiny", seed=5).seed == 5


def test_unknown_method_or_profile():
    for method in ("byol", "supervised"):
        with pytest.raises(ConfigError, match="barlow, simclr"):
            ssl_recipe(method, "quick")
    with pytest.raises(ConfigError, match="unknown profile"):
        ssl_recipe("barlow", "huge")
