# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""keyops sandbox: a fleet of real MySQL 9.7 hosts (plus MariaDB 10.11) on one Linux box.

Used by the pytest fixtures in tests/integration, by molecule and by the demo. See README.md
here; run ``python -m tests.sandbox --help`` from the repository root.
"""
