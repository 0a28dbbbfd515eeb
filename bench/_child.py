"""One library migration in a fresh process: `python bench/_child.py SRC_TYPE SRC DST_TYPE DST [PASSWORD]`.

Prints one JSON line: seconds spent in plan.migrate() (source load, destination load, plan, encode, atomic
write with read-back verification), and this process's peak RSS (KiB) including the interpreter.
"""

import json
import os
import resource
import sys
import time

# BENCH_COLLECTIONS: another collections path (the harness's --baseline-rev copy of the library).
sys.path.insert(0, os.environ.get('BENCH_COLLECTIONS') or
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.cache', 'collections'))

from ansible_collections.keyops.mysql.plugins.module_utils.keystore import open_keystore  # noqa: E402
from ansible_collections.keyops.mysql.plugins.module_utils.keystore.plan import migrate  # noqa: E402


def peak_rss_kib():
    """This process's own peak RSS (VmHWM). ru_maxrss is not used: Linux carries it over fork and exec, so a
    child of a big parent would report the parent's size."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    src_type, src, dst_type, dst = sys.argv[1:5]
    password = sys.argv[5] if len(sys.argv) > 5 else None
    baseline = peak_rss_kib()
    started = time.perf_counter()
    plan, written = migrate(open_keystore(src_type, src, password), open_keystore(dst_type, dst, password))
    seconds = time.perf_counter() - started
    print(json.dumps({'seconds': seconds, 'copied': len(plan.to_copy), 'changed': bool(written and written.changed),
                      'maxrss_kib': peak_rss_kib(),
                      'baseline_rss_kib': baseline}))


if __name__ == '__main__':
    main()
