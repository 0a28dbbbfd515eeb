# Offline stand-in for the get-pip.py script ansible-test downloads (its host is unreachable here).
# ansible-test runs it with pip's install options; pip comes from ensurepip, the rest from the package index.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
