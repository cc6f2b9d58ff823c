#!/usr/bin/env python3
"""run_unit.py -- run the host unit tests only (make unit)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_all  # noqa: E402

passed, failed = run_all.run_unit(sys.argv[1:])
print(f"unit: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
