"""The closed-form VGG counts of eoslib.chapters.generalization.param_counts against the Flax models, and the search of Appendix F's readings."""

import jax
import pytest

from eoslib import models
from eoslib.chapters.generalization import param_counts
from eoslib.chapters.generalization.param_counts import PAPER_COUNTS, Reading, vgg_count


@pytest.mark.parametrize("name, model", [("vgg10", models.VGG10()), ("vgg19", models.VGG19())])
def test_closed_form_equals_the_flax_models(name, model):
    widths, _ = PAPER_COUNTS[name]
    variables = jax.eval_shape(lambda: models.init_variables(model, jax.random.key(0), (32, 32, 3)))
    assert vgg_count(widths) == models.count_params(variables)
    assert vgg_count(widths, Reading(batchnorm="state_dict")) == models.count_params(variables, torch_state_dict=True)


def test_closed_form_by_hand():
    # one block of 2 convs 3 -> 4 -> 4 (3x3, bias), BN state_dict, pooled 4x4 -> 2x2, head 16 -> 10 with bias
    r = Reading(convs_per_block=2, conv_bias=True, batchnorm="state_dict", pooled_blocks=1)
    assert vgg_count([4], r, image_size=4) == (3 * 4 * 9 + 4) + (4 * 4 * 9 + 4) + 2 * (4 * 4 + 1) + 16 * 10 + 10


def test_no_reading_gives_the_papers_counts():
    for name, (widths, target) in PAPER_COUNTS.items():
        best_count, best = param_counts.closest(widths, target, count=1)[0]
        assert best_count != target, f"{name}: {best} gives the paper's {target}"
    assert param_counts.lower_bound(PAPER_COUNTS["vgg19"][0]) > PAPER_COUNTS["vgg19"][1]  # no VGG19 reading can
    nearest = param_counts.closest(*PAPER_COUNTS["vgg10"], count=1)[0][0]
    assert abs(nearest - 47_892) <= 10  # but VGG10 readings come close (the chapter quotes them)


def test_closest_lists_distinct_counts_in_a_fixed_order():
    widths, target = PAPER_COUNTS["vgg19"]
    near = param_counts.closest(widths, target, count=4)
    counts = [n for n, _ in near]
    assert len(set(counts)) == len(counts) == 4
    assert [abs(n - target) for n in counts] == sorted(abs(n - target) for n in counts)
    for n, r in near:  # each is the first reading in the search's order that gives its count
        assert r == next(x for x in param_counts.readings(len(widths)) if param_counts.vgg_count(widths, x) == n)
