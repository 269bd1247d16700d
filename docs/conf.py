"""Sphinx configuration for stein_mo."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import stein_mo

project = "stein_mo"
author = "stein_mo developers"
release = stein_mo.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
nitpicky = False
