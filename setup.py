"""The package's metadata is in pyproject.toml; this adds the one build step it cannot declare:
plugin.spec.yaml shipped inside the package, parsed and linted, with the validation code of every
schema it makes generated (pagerduty_plugin/prebuild.py), in every wheel and every sdist, so the
first step on a fresh machine (an empty HOME) does none of that work. A failed prebuild fails the
build: a package without its prebuilt spec works, but starts several times slower."""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "plugin.spec.yaml")


def prebuild_into(package):
    """plugin.spec.yaml and prebuilt/ into the package directory `package`; raises when it cannot."""
    shutil.copyfile(SPEC, os.path.join(package, "plugin.spec.yaml"))
    sys.path.insert(0, HERE)
    try:
        from pagerduty_plugin import prebuild
    except ImportError as exc:  # pyproject.toml's build-system.requires lists what prebuild imports
        raise SystemExit(f"error: cannot prebuild the spec ({exc}); install the build requirements of "
                         "pyproject.toml, or build with `python -m build` / `pip wheel .`") from None
    finally:
        sys.path.remove(HERE)
    count = prebuild.build(SPEC, os.path.join(package, "prebuilt"))
    print(f"prebuilt the spec and {count} validators into {package}")


class BuildWithSpec(build_py):
    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):  # `make install` prebuilds in the tree itself
            prebuild_into(os.path.join(self.build_lib, "pagerduty_plugin"))


class SdistWithSpec(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        prebuild_into(os.path.join(base_dir, "pagerduty_plugin"))


setup(cmdclass={"build_py": BuildWithSpec, "sdist": SdistWithSpec})
