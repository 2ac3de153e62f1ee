"""Classical baseline generators: the bar a diffusion model must clear.

Four models of close-to-close log returns ``r_t = log(C_t / C_{t-1})`` (one row per bar,
one column per asset):

- `GBM`: correlated multi-asset geometric Brownian motion, ``r_t ~ N(mu, Sigma)`` i.i.d.
- `MertonJumpDiffusion`: correlated Gaussian diffusion plus independent compound-Poisson
  Gaussian jumps per asset (Merton 1976).
- `BlockBootstrap`: Politis-Romano stationary bootstrap of whole feature vectors (all assets
  and all five features of a bar jointly), geometric block lengths.
- `GarchT`: GARCH(1,1) with Student-t innovations per asset (fit with ``arch``) and constant
  conditional correlation (CCC, Bollerslev 1990) across assets.

All four share the interface of `MarketGenerator` (``fit``, ``sample``, ``save``, ``load``)::

    gen = GarchT().fit(market, train_end="2014-12-31")
    paths = gen.sample(200, 1006, seed=0)      # PathSet continuing the training calendar

Intrabar fields (shared by GBM, Merton and GARCH; the bootstrap resamples real bars whole):
each simulated bar takes the ``gap, up, down, lvol`` features of a real training bar of the
same asset whose ``|ret|`` falls in the same quantile bucket (``n_buckets`` equal-count buckets
of the training ``|ret|``) as the simulated ``|ret|``; when the signs of the two returns differ
the bar is mirrored (``gap -> -gap``, ``up <-> down``). Wide ranges thus come with large moves
and the open sits on the right side of the close. `diffbt.data.features.from_features` turns
the features into OHLCV starting at the last training close, so every bar is valid.
"""

from diffbt.generate.baselines._base import BASELINES, load
from diffbt.generate.baselines._base import FORMAT as FORMAT
from diffbt.generate.baselines._base import VERSION as VERSION
from diffbt.generate.baselines.bootstrap import BlockBootstrap, BootstrapParams
from diffbt.generate.baselines.garch import GarchParams, GarchT
from diffbt.generate.baselines.garch import garch_simulate as garch_simulate
from diffbt.generate.baselines.gbm import GBM, GBMParams
from diffbt.generate.baselines.merton import MertonJumpDiffusion, MertonParams

__all__ = ["GBM", "BlockBootstrap", "GarchT", "MertonJumpDiffusion", "BASELINES", "load",
           "GBMParams", "MertonParams", "BootstrapParams", "GarchParams"]

BASELINES.update({
    "gbm": GBM, "merton": MertonJumpDiffusion, "bootstrap": BlockBootstrap, "garch": GarchT})
