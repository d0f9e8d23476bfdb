"""geomlib.experiments.deep.settings: the supervised recipe per profile (``paper``: the authors'
settings) and the shared scan grids."""
import pytest

from geomlib.book.profiles import ConfigError
from geomlib.experiments.deep.settings import SAME_CLASS, same_class, supervised_recipe
from geomlib.experiments.imaging.settings import scan_config


def test_paper_recipe_is_the_authors():
    sup = supervised_recipe("paper")
    assert (sup.method, sup.depth, sup.width, sup.act, sup.batch_size, sup.epochs, sup.lr, sup.momentum,
            sup.weight_decay) == ("supervised", 34, 1.0, "gelu", 1024, 200, 0.01, 0.9, 1e-4)
    assert sup.snapshot_epochs == (50, 200) and sup.n_train is None and not sup.amp  # amp only on CUDA
    assert supervised_recipe("quick").width < 1 and supervised_recipe("quick").depth == 18
    assert supervised_recipe("quick", act="relu", epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        supervised_recipe("huge")
    assert scan_config("paper").n == 80 and scan_config("paper").dtype == "float64"


def test_same_class_controls_follow_the_number_of_triples():
    assert same_class(scan_config("tiny")) == SAME_CLASS[:1]
    assert same_class(scan_config("paper")) == SAME_CLASS and len(scan_config("paper").triples) == 3
