"""Progress lines of long runs: the time left, estimated from this process's pace so far."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``seconds`` as 42s, 17m or 3h05m."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    return f"{minutes}m" if minutes < 120 else f"{minutes // 60}h{minutes % 60:02d}m"


def time_left(done: float, remaining: float, seconds: float) -> str:
    """``", ~17m left"`` when ``done`` units of work took ``seconds`` and ``remaining`` are
    to go (at the same pace); ``""`` before the first unit is done or after the last."""
    if done <= 0 or remaining <= 0:
        return ""
    return f", ~{duration(remaining * seconds / done)} left"
