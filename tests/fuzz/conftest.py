"""Hypothesis profiles of the fuzz tests: bounded in ``make test``, long in ``make fuzz``.

``HELPLINE_FUZZ_PROFILE=long`` (what ``make fuzz`` sets) multiplies every example budget by
``HELPLINE_FUZZ_SCALE`` (default 10). The profiles are registered, never loaded globally: the
other suites' hypothesis settings stay as they are; fuzz tests apply them through
``fuzzing.fuzz_settings``.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    deadline=None,  # the machine is shared; time bounds are asserted explicitly where they matter
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)
settings.register_profile("fuzz-long", parent=settings.get_profile("fuzz"))
