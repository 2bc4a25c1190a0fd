"""Ships the top-level templates/, schemas/ and payers/ folders inside the wheel.

They live beside the package in the source tree (so payers and designers find them);
in the wheel they become packetizer/templates, packetizer/schemas and packetizer/payers,
which is where packetizer.resources looks first. Which files ride along (package-data) and everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

DATA = {"packetizer.templates": "templates", "packetizer.schemas": "schemas", "packetizer.payers": "payers"}

setup(
    packages=find_packages(include=["packetizer", "packetizer.*"]) + list(DATA),
    package_dir=DATA,
)
