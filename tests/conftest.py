"""Settings for the whole suite."""

from hypothesis import settings

# No per-example deadline: the suite runs beside real services on a shared 2-core machine, where a slow example
# says nothing about the code. Speed is measured in bench/, never in tests.
settings.register_profile("squall", deadline=None)
settings.load_profile("squall")
