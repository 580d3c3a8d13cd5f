"""A bench run says what it ran on, so that a change of figures can be told from a change of packages."""

from __future__ import annotations

import os

from bindaas.bench._util import TIMED_PACKAGES, machine


def test_a_run_names_its_cores_openssl_and_the_versions_of_the_packages_it_times():
    ran_on = machine()
    assert ran_on["cpus"] == os.cpu_count()
    assert str(ran_on["openssl"]).startswith("OpenSSL ")
    versions = ran_on["packages"]
    assert set(versions) == set(TIMED_PACKAGES)
    assert all(version and version[0].isdigit() for version in versions.values()), versions
