"""keyops sandbox: a fleet of real MySQL 9.7 hosts (plus MariaDB 10.11) on one Linux box.

Used by the pytest fixtures in tests/integration, by molecule and by the demo. See README.md
here; run ``python -m tests.sandbox --help`` from the repository root.
"""
