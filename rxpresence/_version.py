"""The version of rxpresence, written in this one place.

The build backend reads it (``[tool.setuptools.dynamic]`` in pyproject.toml), the
package exports it as ``rxpresence.__version__``, and ``rxpresence --version`` prints
it. A release changes this line and adds its section to CHANGELOG.md.
"""

__version__ = "0.1.0"
