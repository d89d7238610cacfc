"""Warm-started tracking equals cold solves, with fewer Hessian-vector products, and finds the
true top-k set along a real edge-of-stability trajectory."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from tiny import mlp_problem

from eoslib import schedules
from eoslib.gd import run_epochs
from eoslib.lanczos import lanczos_eigh
from eoslib.objective import Batch, flat_hvp
from eoslib.runs import RunConfig, prepare
from eoslib.similarity import cosine_grassmann_similarity, eigvec_cosines
from eoslib.tracking import track_eigh


def _problem():  # 6 -> 12 -> 12 -> 4, 32 examples
    return mlp_problem((12, 12), 4, n=32, features=6, head_first=True)


def test_tracking_along_gd_matches_cold_solves():
    with jax.enable_x64(True):
        loss, params = _problem()
        dim = ravel_pytree(params)[0].shape[0]
        k, tol = 4, 1e-8
        step = jax.jit(lambda p: jax.tree_util.tree_map(lambda a, g: a - 0.1 * g, p, jax.grad(loss)(p)))
        matvec, _ = flat_hvp(loss, params)
        prev = lanczos_eigh(matvec, dim, k, tol=tol, dtype=jnp.float64)
        warm_total = cold_total = 0
        for _ in range(3):
            params = step(params)
            matvec, _ = flat_hvp(loss, params)
            cold = lanczos_eigh(matvec, dim, k, tol=tol, dtype=jnp.float64)
            warm = track_eigh(matvec, prev.vectors, tol=tol)
            scale = float(jnp.max(jnp.abs(warm.values)))
            assert np.all(np.asarray(warm.residuals) <= tol * scale * (1 + 1e-6))
            np.testing.assert_allclose(warm.values, cold.values, rtol=1e-12)
            assert np.all(np.asarray(eigvec_cosines(warm.vectors, cold.vectors)) >= 1 - 1e-9)
            assert cosine_grassmann_similarity(warm.vectors, cold.vectors) >= 1 - 1e-9
            warm_total += int(warm.num_matvecs)
            cold_total += int(cold.num_matvecs)
            prev = warm
        assert warm_total < cold_total, (warm_total, cold_total)


def test_tracking_unchanged_operator_costs_one_block():
    with jax.enable_x64(True):
        q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(80, 80)))
        mat = jnp.asarray((q * np.r_[9.0, 7.0, 5.0, np.linspace(-1, 1, 77)]) @ q.T)
        result = track_eigh(lambda v: mat @ v, jnp.asarray(q[:, :3]), tol=1e-10, mix=0.0,
                            guards=0, check=None)
        assert int(result.num_matvecs) == 3
        np.testing.assert_allclose(result.values, [9.0, 7.0, 5.0], rtol=1e-12)
        # more previous vectors than wanted pairs, float32 working precision
        result32 = track_eigh(lambda v: mat.astype(jnp.float32) @ v,
                              jnp.asarray(q[:, :4], jnp.float32), k=2)
        assert result32.values.dtype == jnp.float32 and result32.values.shape == (2,)
        np.testing.assert_allclose(result32.values, [9.0, 7.0], rtol=1e-5)


def _eos_run_with_reference(split, epochs=40, reference_k=11):
    """The paper's MLP on 128 Fashion-MNIST images at η = 0.2 (S passes 2/η = 10 near epoch 24,
    then oscillates around it): the float32 GD iterates, the float64 HVP at each, and ARPACK's
    top ``reference_k`` at tol 1e-10 on it (the truth)."""
    import scipy.sparse.linalg as spla

    config = RunConfig(n_train=128, n_eval=32, schedule=schedules.constant(0.2), max_epochs=epochs)
    prep = prepare([config], split, batched=False)
    data64 = Batch(prep.train_data.x.astype(jnp.float64), prep.train_data.y)
    apply = jax.jit(lambda m, v: m(v))  # the HVP Partial traced as data: one compile for every epoch
    state, matvecs, true = prep.state, [], []
    for epoch in range(epochs + 1):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state.params)
        matvec = prep.objective.hessian_matvec(params, {}, data64)
        dim = ravel_pytree(params)[0].size
        op = spla.LinearOperator((dim, dim), dtype=np.float64,
                                 matvec=lambda v, m=matvec: np.asarray(apply(m, jnp.asarray(v))))
        true.append(np.sort(spla.eigsh(op, k=reference_k, which="LA", tol=1e-10,
                                       return_eigenvectors=False))[::-1])
        matvecs.append(matvec)
        state, _ = run_epochs(prep.objective, 1, prep.train_data, prep.eval_data, prep.limits,
                              prep.schedule, state, epoch)
    return matvecs, np.array(true), dim


def _track_along(matvecs, dim, k, **solver):
    vectors, rows = None, []
    for matvec in matvecs:
        if vectors is None:
            pairs = lanczos_eigh(matvec, dim, k, tol=1e-3, dtype=jnp.float64, **solver)
        else:
            pairs = track_eigh(matvec, vectors, tol=1e-3, **solver)
        vectors = pairs.vectors
        rows.append((np.asarray(pairs.values), bool(pairs.certified), float(pairs.error_bound),
                     np.asarray(pairs.residuals)))
    return tuple(np.array(x) for x in zip(*rows))


def test_tracked_top_k_is_the_true_top_k_along_an_edge_of_stability_run(small_split, x64):
    """At every epoch of an edge-of-stability run (:func:`_eos_run_with_reference`, epochs
    0-40), the top 10 (the paper profile's k) tracked along the GD trajectory (the trainer's
    path: warm start, mixing, check; tol 1e-3) against ARPACK: every *certified* set is right,
    i.e. each of the true top k is matched to the solver's stated error, ``error_bound`` (not
    only those the solver returns), nearly all are certified, and every epoch is within
    ``tol · S``. (At k = 20 the fixed 8-step check of before certified wrong sets at 7 of these
    epochs, errors up to 0.0059 S; issue 27. k = 20 is checked along chapter 2's own run, where
    that check failed too, by the next test.) Both solve the float64 Hessian at the float32 GD
    iterates: in float32 the HVP of this network loses up to ~0.5 % to cancellation at some
    iterates (epoch 13: two jit compilations of the same float32 HVP differ by 4.5e-3 relative,
    float64 agrees with one of them), which is the precision of the operator, not a missed
    eigenvalue; the float32 crossing tests in test_lanczos.py cover the float32 solver."""
    matvecs, true, dim = _eos_run_with_reference(small_split)
    sharpness = true[:, 0]
    assert max(sharpness) > 10.0 and np.mean(sharpness[24:] > 0.8 * 10.0) > 0.8
    k = 10
    values, certified, bounds, residuals = _track_along(matvecs, dim, k)
    error = np.max(np.abs(values - true[:, :k]), axis=1)
    wrong = certified & (error > bounds)
    assert not np.any(wrong), (k, np.nonzero(wrong)[0], error[wrong] / sharpness[wrong])
    assert np.all(bounds[certified] <= 1e-2 * np.max(np.abs(values[certified]), axis=1) * (1 + 1e-9))
    assert np.mean(certified) >= 0.95, (k, np.mean(certified))
    assert np.all(error <= 1e-3 * sharpness), (error / sharpness).max()


def test_no_certified_wrong_set_along_chapter_2s_run(load_or_skip):
    """Chapter 2's ``ci`` run itself (1,000 images, η = 0.1, seed 0), epochs 0-36, tracked as the
    book tracks it (float32, warm-started, key 0) with the library's check at k = 20, against
    ARPACK on the float64 Hessian at the same iterates: no certified set lies beyond its
    ``error_bound`` (issue 27; the stores' 8-step check certified wrong top-20 sets at epochs
    17, 28 and 34 of this window in ``benchmarks/results/certificate.json``, which checks all
    301 epochs at k = 8, 10 and 20 with ``tools/certificate_check.py``)."""
    import scipy.sparse.linalg as spla

    from eoslib import data
    from eoslib.chapters.rotations import experiment as rotations
    from eoslib.tracking import top_eigenpairs

    P = rotations.PRESETS["ci"]
    split = load_or_skip("Fashion-MNIST", data.fashion_mnist, P["n_train"], P["n_eval"])
    prep = prepare([rotations.run_config(P, 0, schedules.constant(P["eta"]), 36)], split, batched=False)
    apply = jax.jit(lambda m, v: m(v))
    state, vectors, wrong, certified = prep.state, None, [], []
    for epoch in range(37):
        dim = ravel_pytree(state.params)[0].size
        pairs = top_eigenpairs(prep.objective.hessian_matvec(state.params, {}, prep.train_data), dim, 20,
                               tol=1e-3, prev_vectors=vectors)
        vectors = pairs.vectors
        with jax.enable_x64(True):
            params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state.params)
            m = prep.objective.hessian_matvec(params, {}, Batch(prep.train_data.x.astype(jnp.float64),
                                                                prep.train_data.y))
            op = spla.LinearOperator((dim, dim), dtype=np.float64,
                                     matvec=lambda v, m=m: np.asarray(apply(m, jnp.asarray(v))))
            # ARPACK to 1e-7 from the tracked set's sum: values to ~1e-15 · S here (against tol=1e-10:
            # the same to 4e-15 at every epoch, 18 % fewer seconds); the margin below is 5e-6 · S
            v0 = np.asarray(vectors, np.float64).sum(axis=1)
            true = np.sort(spla.eigsh(op, k=21, which="LA", tol=1e-7, v0=v0, return_eigenvectors=False))[::-1]
        error = np.max(np.abs(np.asarray(pairs.values) - true[:20]))
        # beyond the stated bound, past the float32 operator's precision (0.5 % of tol · S)
        if bool(pairs.certified) and error > float(pairs.error_bound) + 5e-6 * true[0]:
            wrong.append((epoch, error / true[0]))
        certified.append(bool(pairs.certified))
        state, _ = run_epochs(prep.objective, 1, prep.train_data, prep.eval_data, prep.limits,
                              prep.schedule, state, epoch)
    assert not wrong, wrong
    assert np.mean(certified) >= 0.95
