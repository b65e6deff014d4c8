import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithSpec(build_py):
    """Ship plugin.spec.yaml inside the package, so an installed wheel finds its spec, with the
    spec parsed and linted and its validators generated (pagerduty_plugin/prebuild.py), so the
    first step on a fresh machine does none of that work."""

    def run(self):
        super().run()
        package = os.path.join(self.build_lib, "pagerduty_plugin")
        shutil.copyfile(os.path.join(HERE, "plugin.spec.yaml"), os.path.join(package, "plugin.spec.yaml"))
        try:
            import sys

            sys.path.insert(0, HERE)
            from pagerduty_plugin import prebuild
        except ImportError as exc:  # a build environment without the runtime dependencies
            print(f"warning: spec not prebuilt ({exc}); it will be parsed at run time")
            return
        prebuild.build(os.path.join(HERE, "plugin.spec.yaml"), os.path.join(package, "prebuilt"))


setup(
    name="pagerduty-plugin",
    version="3.0.0",
    description="PagerDuty plugin pack for automation platforms (SOAR, runbooks, CI jobs)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["pagerduty_plugin", "pagerduty_plugin.*"]),
    package_data={"pagerduty_plugin.sandbox": ["web/*.html", "web/*.js", "web/*.css"],
                  "pagerduty_plugin.exports": ["*.png"]},
    install_requires=["requests>=2.28,<3", "fastjsonschema>=2.18,<3", "PyYAML>=6,<7", "gunicorn>=22,<28",
                      "jmespath>=1.0,<2"],
    extras_require={
        "postgresql": ["psycopg[binary]>=3.1,<4"],  # an outbox shared by several machines
        # trustme makes the throwaway CA of `pagerduty-plugin sandbox --tls` (imported only then)
        "sandbox": ["trustme>=1.1,<2"],
        # the analytics report's charts (SVG, drawn off `run`'s path) and its progress bar on a terminal
        "report": ["matplotlib>=3.5,<4", "tqdm>=4.60,<5"],
        "test": ["pytest>=7", "matplotlib>=3.5,<4", "tqdm>=4.60,<5", "openapi-core>=0.19,<0.24", "jinja2>=3,<4", "psycopg[binary]>=3.1,<4", "trustme>=1.1,<2"],
    },
    entry_points={"console_scripts": ["pagerduty-plugin=pagerduty_plugin.cli:main"]},
    cmdclass={"build_py": BuildWithSpec},
)
