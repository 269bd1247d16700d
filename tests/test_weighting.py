"""The weighting library: exactness against cvxpy, seed 003's Table 1 both ways, scale and edge cases, torchjd."""

import math

import pytest
import torch

import stein_mo
from stein_mo.qp import dual_cone_weights, min_norm_weights
from stein_mo.weighting import WEIGHTINGS, get_weighting

SCALES = [1e-15, 1e-10, 1e-5, 1.0, 1e5, 1e10, 1e15]


def jacobian(m, n, rank, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(m, rank, generator=g, dtype=torch.float64) @ torch.randn(rank, n, generator=g, dtype=torch.float64)
    return scale * J


def cases(n_cases=24):
    g = torch.Generator().manual_seed(123)
    for i in range(n_cases):
        m = int(torch.randint(2, 11, (1,), generator=g))
        n = int(torch.randint(2, 25, (1,), generator=g))
        rank = int(torch.randint(1, min(m, n) + 1, (1,), generator=g))
        yield jacobian(m, n, rank, seed=1000 + i)


def build(name):
    # random methods get a fixed generator, so that repeated calls on rescaled inputs see the same draws
    if name in ("random", "pcgrad", "gradvac", "graddrop"):
        return get_weighting(name, generator=torch.Generator().manual_seed(7))
    return get_weighting(name)


def agg(name, J):
    return stein_mo.aggregate(J, build(name))


GRAMIAN_ONLY = [n for n, c in WEIGHTINGS.items() if issubclass(c, stein_mo.weighting.Weighting)]


# ------------------------------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("J", list(cases()), ids=lambda J: f"{J.shape[0]}x{J.shape[1]}")
def test_mgda_upgrad_dualproj_match_cvxpy(J):
    G = J @ J.T
    m = G.shape[0]
    tol = 1e-6 * torch.linalg.matrix_norm(J, 2)
    # MGDA: J^T w is unique even when w is not
    d, d_ref = J.T @ min_norm_weights(G), J.T @ min_norm_weights(G, backend="cvxpy")
    assert (d - d_ref).norm() <= tol
    # UPGrad / DualProj: the projections of every row and of the mean
    U = torch.cat([torch.eye(m, dtype=J.dtype), torch.full((1, m), 1.0 / m, dtype=J.dtype)])
    V, V_ref = dual_cone_weights(G, U), dual_cone_weights(G, U, backend="cvxpy")
    proj, proj_ref = V @ J, V_ref @ J
    # relative to the vector projected (a projection can be ~0 when the dual cone is thin)
    err = (proj - proj_ref).norm(dim=1) / torch.maximum(proj_ref.norm(dim=1), (U @ J).norm(dim=1))
    assert err.max() <= 1e-6
    assert (V >= U - 1e-12).all()  # feasible
    assert ((proj @ J.T) >= -1e-9 * J.norm() ** 2).all()  # in the dual cone
    torch.testing.assert_close(stein_mo.aggregate(J, "upgrad"), proj[:m].mean(0), rtol=1e-9, atol=1e-9 * J.norm())
    torch.testing.assert_close(stein_mo.aggregate(J, "dualproj"), proj[m], rtol=1e-9, atol=1e-9 * J.norm())


def test_default_mgda_is_exact_and_frank_wolfe_is_the_seeds_approximation():
    J = jacobian(6, 10, 6, seed=3)
    G = J @ J.T
    exact = stein_mo.weighting.MGDA()(G)
    fw = stein_mo.weighting.MGDA(solver="frank_wolfe", max_iter=20)(G)
    obj = lambda w: float(w @ G @ w)  # noqa: E731
    gaps = [obj(stein_mo.weighting.MGDA(solver="frank_wolfe", max_iter=n, tol=0)(G)) - obj(exact) for n in (20, 2000)]
    assert obj(exact) <= obj(fw) + 1e-12
    assert 0 < gaps[1] < gaps[0]  # Frank-Wolfe approaches the exact optimum from above, sublinearly
    assert gaps[1] / obj(exact) < 5e-2  # measured 1.4e-2 after 2000 steps, 1.5e-3 after 20,000


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_cagrad_and_nash_match_cvxpy():
    cp = pytest.importorskip("cvxpy")
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        m, n = 2 + seed % 4, 3 + seed
        J = torch.randn(m, n, generator=g, dtype=torch.float64) + 1.5 * torch.randn(
            1, n, generator=g, dtype=torch.float64
        )
        Jn, tight = J.numpy(), dict(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        # CAGrad, eq. 31 in the primal: max_d min_i g_i.d subject to ||d - g0|| <= c ||g0||
        d, s = cp.Variable(n), cp.Variable()
        g0 = Jn.mean(0)
        cp.Problem(cp.Maximize(s), [Jn @ d >= s, cp.norm(d - g0) <= 0.5 * float((g0**2).sum() ** 0.5)]).solve(**tight)
        ours = stein_mo.aggregate(J, "cagrad", c=0.5)
        assert float((J @ ours).min()) >= s.value - 1e-9 * abs(s.value)
        assert float((ours - torch.as_tensor(d.value)).norm() / ours.norm()) < 1e-5
        # Nash-MTL, eq. 34: max sum_i log g_i.d subject to ||d|| <= 1
        d = cp.Variable(n)
        cp.Problem(cp.Maximize(cp.sum(cp.log(Jn @ d))), [cp.norm(d) <= 1]).solve(**tight, max_iter=500)
        ours = stein_mo.aggregate(J, "nash")
        assert float(torch.log(J @ ours).sum()) >= float(torch.log(J @ torch.as_tensor(d.value)).sum()) - 1e-9
        assert float((ours - torch.as_tensor(d.value)).norm()) < 1e-5


# ------------------------------------------------------------------------------------------- properties
PROPERTY_RANKS = [(5, 8, 5), (5, 8, 3), (6, 4, 4), (1, 7, 1), (4, 9, 1)]


def non_conflict_violation(J, d):
    """Largest conflict max_i max(0, -g_i.d), relative to ||J||_2 (||d|| + 1e-6 ||J||_2): the floor lets d = 0."""
    nJ = torch.linalg.matrix_norm(J, 2)
    return float((-(J @ d)).clamp_min(0).max() / (nJ * (d.norm() + 1e-6 * nJ)).clamp_min(1e-300))


def linearity_violation(name, J, seed):
    g = torch.Generator().manual_seed(seed)
    c1, c2 = torch.rand(J.shape[0], generator=g, dtype=J.dtype), torch.rand(J.shape[0], generator=g, dtype=J.dtype)
    a, b = torch.rand(2, generator=g, dtype=J.dtype)
    x = agg(name, (a * c1 + b * c2)[:, None] * J)
    expected = a * agg(name, c1[:, None] * J) + b * agg(name, c2[:, None] * J)
    floor = 1e-6 * torch.linalg.matrix_norm(J, 2)  # Pareto-stationary inputs give d = 0 exactly
    return float((x - expected).norm() / (expected.norm() + floor).clamp_min(1e-300))


@pytest.mark.parametrize("name", [n for n, c in WEIGHTINGS.items() if c.non_conflicting])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", PROPERTY_RANKS)
def test_non_conflicting(name, scale, shape):
    J = jacobian(*shape, scale=scale, seed=sum(shape))
    assert non_conflict_violation(J, agg(name, J)) <= 1e-10  # torchjd's test allows 4e-4


@pytest.mark.parametrize("name", [n for n, c in WEIGHTINGS.items() if c.linear_under_scaling])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("shape", PROPERTY_RANKS)
def test_linear_under_scaling(name, scale, shape):
    J = jacobian(*shape, scale=scale, seed=sum(shape))
    for seed in range(3):
        assert linearity_violation(name, J, seed) <= 1e-9  # torchjd's test allows 1e-4


@pytest.mark.parametrize("name", GRAMIAN_ONLY)
@pytest.mark.parametrize("shape", PROPERTY_RANKS)
def test_weighted_and_scale_invariant_weights(name, shape):
    """Gramian weightings are weighted by construction; A(sJ) = s A(J) for s in 1e-15 ... 1e15: no method switch."""
    J = jacobian(*shape, seed=sum(shape))
    w = build(name)(J @ J.T)
    assert w.shape == (shape[0],) and torch.isfinite(w).all()
    d = J.T @ w
    for scale in SCALES:
        Js = scale * J
        ds = agg(name, Js)  # weights need not be unique when J is rank-deficient
        ds = ds / scale if WEIGHTINGS[name].homogeneous else ds
        assert (ds - d).norm() <= 1e-8 * (d.norm() + 1e-6 * torch.linalg.matrix_norm(J, 2))


def counterexample(predicate, tries=200):
    for seed in range(tries):
        g = torch.Generator().manual_seed(seed)
        m = int(torch.randint(2, 6, (1,), generator=g))
        J = torch.randn(m, int(torch.randint(1, 6, (1,), generator=g)), generator=g, dtype=torch.float64)
        if predicate(J, seed):
            return J
    return None


@pytest.mark.parametrize("name", [n for n, c in WEIGHTINGS.items() if not c.non_conflicting])
def test_documented_conflicting_methods_do_conflict(name):
    J = counterexample(lambda J, s: non_conflict_violation(J, agg(name, J)) > 1e-3)
    assert J is not None, f"{name} is documented as not non-conflicting, but no conflict was found"


@pytest.mark.parametrize("name", [n for n, c in WEIGHTINGS.items() if not c.linear_under_scaling])
def test_documented_nonlinear_methods_are_not_linear(name):
    J = counterexample(lambda J, s: linearity_violation(name, J, s) > 1e-3)
    assert J is not None, f"{name} is documented as not linear under scaling, but it behaved linearly"


def test_graddrop_is_not_weighted():
    def outside_span(J, seed):
        d = agg("graddrop", J)
        coef = torch.linalg.lstsq(J.T, d[:, None]).solution
        return float((J.T @ coef[:, 0] - d).norm() / d.norm().clamp_min(1e-300)) > 1e-3

    assert counterexample(outside_span) is not None


def test_gradvac_state():
    G = torch.tensor([[1.0, -1.0], [-1.0, 4.0]], dtype=torch.float64)
    gv = stein_mo.weighting.GradVac(beta=0.5)
    first = gv(G)
    torch.testing.assert_close(first, stein_mo.weighting.PCGrad()(G))  # targets start at 0: PCGrad
    second = gv(G)  # the targets moved towards the (negative) cosine: a smaller correction than PCGrad's
    assert second[1] < first[1]
    gv.reset()
    torch.testing.assert_close(gv(G), first)
    # with non-zero targets the map stays linear under scaling: cosines ignore scale
    J = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    out = []
    for c in (torch.tensor([1.0, 1.0]), torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0])):
        gv = stein_mo.weighting.GradVac(beta=1.0)
        gv(torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64))  # sets every target to 0.9
        out.append(stein_mo.aggregate(c.double()[:, None] * J, gv))
    assert (out[2] - (out[0] + out[1])).norm() <= 1e-12 * out[2].norm()
    assert (out[0] - stein_mo.aggregate(J, "pcgrad")).norm() > 1e-3  # and the targets do change the update


def test_mgda_stops_when_one_objective_has_converged():
    J = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)  # seed 003, B.2: a zero row gives A(J) = 0
    assert stein_mo.aggregate(J, "mgda").abs().max() == 0
    assert stein_mo.aggregate(J, "upgrad").norm() > 0  # UPGrad keeps improving the other objective


# --------------------------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_edge_cases(name):
    for J in (
        torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64),  # 1 x n
        torch.zeros(3, 4, dtype=torch.float64),  # all zero
        torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]], dtype=torch.float64),  # a zero row
        torch.tensor([[1.0, 1.0], [2.0, 2.0], [-1.0, -1.0]], dtype=torch.float64),  # rank 1, opposed rows
    ):
        d = agg(name, J)
        assert d.shape == (J.shape[1],) and torch.isfinite(d).all(), (name, J)
    assert agg(name, torch.zeros(3, 4, dtype=torch.float64)).abs().max() == 0


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        stein_mo.aggregate(torch.zeros(0, 3), "upgrad")
    with pytest.raises(ValueError, match=r"non-finite entries in rows \[1\]"):
        stein_mo.aggregate(torch.tensor([[1.0, 2.0], [math.nan, 0.0]]), "mgda")
    with pytest.raises(ValueError, match=r"\(m, n\) Jacobian"):
        stein_mo.aggregate(torch.ones(3), "mean")
    with pytest.raises(ValueError, match="unknown weighting"):
        stein_mo.aggregate(torch.ones(2, 2), "upgard")
    with pytest.raises(ValueError, match="preference vector must have shape"):
        stein_mo.aggregate(torch.ones(2, 2), "upgrad", pref=torch.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        stein_mo.aggregate(torch.ones(2, 2), "dualproj", pref=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="square"):
        stein_mo.weighting.UPGrad()(torch.ones(2, 3))


def test_batched_weights_equal_single(device):
    Js = torch.stack([jacobian(4, 6, r, seed=r) for r in (1, 2, 4)]).to(device)
    G = Js @ Js.mT
    for name in ("mean", "mgda", "upgrad", "dualproj", "imtlg", "aligned"):
        W = get_weighting(name)(G)
        for b in range(3):
            torch.testing.assert_close(W[b], get_weighting(name)(G[b]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["graddrop", "moco", "gradvac"])
def test_stateful_and_random_methods_batch_like_separate_instances(name):
    # one instance on (B, m, n) = B instances, called in turn, sharing a generator: the same draws, the same states
    Js = torch.stack([jacobian(3, 5, r, seed=r) for r in (1, 2, 3)])
    gen = {"graddrop": {"generator": torch.Generator().manual_seed(3)}, "gradvac": {"beta": 0.5}}.get(name, {})
    batched = get_weighting(name, **gen)
    shared = torch.Generator().manual_seed(3)
    singles = [get_weighting(name, **({"generator": shared} if name == "graddrop" else gen)) for _ in Js]
    for _ in range(3):
        torch.manual_seed(11)  # GradVac draws its orders from the global generator
        out = batched(Js) if name != "gradvac" else (batched(Js @ Js.mT)[:, None, :] @ Js)[:, 0]
        torch.manual_seed(11)
        ref = torch.stack([stein_mo.aggregate(J, w) for J, w in zip(Js, singles, strict=True)])
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)


def test_preference_vectors():
    J = jacobian(3, 5, 3, seed=9)
    pref = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    # UPGrad with a preference is sum_i p_i pi_J(g_i), the projection being positively homogeneous
    V = dual_cone_weights(J @ J.T, torch.eye(3, dtype=J.dtype))
    torch.testing.assert_close(stein_mo.aggregate(J, "upgrad", pref=pref), (pref @ V) @ J, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------------------ torchjd
def test_agrees_with_torchjd():
    torchjd = pytest.importorskip("torchjd.aggregation")
    from torchjd._linalg._dual_cone import QuadprogProjector

    exact = QuadprogProjector(norm_eps=0.0, reg_eps=0.0)  # torchjd's defaults regularise G by 1e-4
    peers = {
        "mean": torchjd.Mean(),
        "upgrad": torchjd.UPGrad(projector=exact),
        "dualproj": torchjd.DualProj(projector=exact),
        "imtlg": torchjd.IMTLG(),
        "aligned": torchjd.AlignedMTL(),
    }
    for seed in range(10):
        J = jacobian(5, 12, 5, seed=seed)  # full row rank: quadprog needs G positive definite
        for name, peer in peers.items():
            torch.testing.assert_close(stein_mo.aggregate(J, name), peer(J), rtol=1e-8, atol=1e-10)
        J2 = J[:2]  # PCGrad is deterministic for two objectives
        torch.testing.assert_close(stein_mo.aggregate(J2, "pcgrad"), torchjd.PCGrad()(J2), rtol=1e-10, atol=1e-12)
        # torchjd's MGDA is Frank-Wolfe, still up to 2% off after 10,000 steps; ours is the exact minimum norm
        fw, ours = torchjd.MGDA(epsilon=1e-12, max_iters=10000)(J), stein_mo.aggregate(J, "mgda")
        assert ours.norm() <= fw.norm() * (1 + 1e-12)
        assert (ours - fw).norm() <= 0.05 * fw.norm()


# -------------------------------------------------------------------------------------- inside MT-SGD
def test_mtsgd_weighting_option():
    targets = stein_mo.problems.three_mixtures()
    x0 = 5 * torch.randn(20, 2, dtype=torch.float64)
    a = stein_mo.MTSGD(targets).run(x0, 20, lr=3e-2).particles
    b = stein_mo.MTSGD(targets, weighting="mgda").run(x0, 20, lr=3e-2).particles
    assert torch.equal(a, b)
    sampler = stein_mo.MTSGD(targets, weighting="upgrad")
    state = sampler.init(x0, lr=3e-2)
    for _ in range(30):
        sampler.step(state)
    X = state.particles.detach()
    _, S = stein_mo.scores(targets, X)
    U = stein_mo.stein_gramian(X, S)
    w = sampler.weighting(U)
    assert ((U @ w) >= -1e-10 * U.diagonal().max()).all()  # <phi*, phi_k> >= 0 for every target
    phi = stein_mo.stein_directions(X, S)
    direction, _ = sampler.direction(sampler.kernel(X), S)
    torch.testing.assert_close(direction, (w[:, None, None] * phi).sum(0), rtol=1e-10, atol=1e-12)
