"""QMedChain quantum lab: simulations of quantum protocols (pure library, no Django).

Every result carries ``"simulated": True``: these are classical simulations (qiskit-aer or
numpy) of quantum protocols, measured against their ideal values. Nothing in the product
relies on them alone for security.
"""

__all__ = ["QuantumParamError"]


class QuantumParamError(ValueError):
    """A parameter is out of range (negative size, ratio outside (0, 1], ...)."""
