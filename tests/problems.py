"""Closed forms the tests check against (Marion et al. 2022, Lemma 1 and its proof).

For i.i.d. weights whose entries of sqrt(d) V have mean 0 and variance 1, E||V x||^2 = ||x||^2 and the
increments of h are martingale differences, so

    E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2)^L - 1,   c = E||g(h)||^2 / ||h||^2,

exactly when c is a constant: c = 1/2 for res-3 (ReLU of a Gaussian), c = 1 for res-1 with the identity.
For res-1 with a|x| <= |sigma(x)| <= b|x| the same argument gives Lemma 1's two-sided bound.
"""


def second_moment(c: float, alpha: float, depth: int) -> float:
    """(1 + c alpha^2)^L - 1."""
    return (1.0 + c * alpha**2) ** depth - 1.0


# name -> (block, activation, c)
SECOND_MOMENT = {
    "res3-relu": ("res3", "relu", 0.5),
    "res1-identity": ("res1", "identity", 1.0),
}
