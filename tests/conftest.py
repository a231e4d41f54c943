"""Shared pytest configuration: the tests folder is importable (helpers live in it)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
