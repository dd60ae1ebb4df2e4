"""Model checking: DHARMa's simulated (scaled quantile) residuals and their tests.

>>> r = pymer.simulate_residuals(m)          # 250 simulations given the random effects
>>> r.test_dispersion(); r.test_zero_inflation(); r.plot()
"""
from .htest import HTest
from .residuals import SimulatedResiduals, create_dharma, simulate_residuals

__all__ = ["simulate_residuals", "create_dharma", "SimulatedResiduals", "HTest"]
