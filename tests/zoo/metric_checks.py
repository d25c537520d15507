"""The one tolerance the zoo tests use: a model's score against the value measured for it."""


def assert_metric_near(metric: str, value: float, measured: float, tolerance: float) -> None:
    """``value`` within ``tolerance`` (in the metric's own units) of ``measured``, the score
    recorded when the test was written."""
    assert abs(value - measured) <= tolerance, (
        f"{metric} = {value:.4f}, expected {measured} +- {tolerance} (measured when the test was written)"
    )
