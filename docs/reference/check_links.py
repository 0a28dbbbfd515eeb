# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built HTML site's internal links all lead somewhere, as a browser sees them (`make docs`'s last step).

Usage: python docs/reference/check_links.py [--render-all] SITE_DIR

The index, the guides and the role's page are rendered by a headless chromium (--dump-dom: the DOM after the page's
scripts ran, which is what a reader clicks in); every other page is read as Sphinx wrote it, or rendered too with
--render-all. Each chromium start costs about 2 s of a 2-core machine, so rendering all pages (26 today) takes 45-60 s
against about 15 s for these; the pages left to the file are the ones antsibull-docs generates from the modules' and
filters' documentation, whose rendered DOM was the same as the file's (same links, same ids) when this was written.
Every internal link of every page (a[href], img[src]: relative, or file:// inside the site) must name a file that
exists and, for a #fragment, an element with that id (or an <a name>) in the target page's DOM.
Sphinx -W already refuses a :ref: it cannot resolve; this catches what it does not see: a link pandoc or a template
wrote as a plain URL, a heading anchor that moved, an image not copied into the build.

External links (http, https, mailto...) are not followed: CI has no internet. Any broken link fails with one line
each: page, link text, href, what is missing. Python standard library only; the parsing and the checking are plain
functions (tests/unit/test_docs_check_links.py), the chromium call is render().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

# Headless on a machine without a display, a sandbox (root) or a network (CI's): without these chromium stalls or
# spends seconds reaching for the network. A fresh --user-data-dir per page: no profile lock shared between runs.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync')
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome')
RENDER_TIMEOUT = 120
# The pages chromium renders (paths relative to the site) without --render-all: the index, the guides, the roles.
RENDERED = ('index.html', 'docsite/*.html', '*_role.html')
# Not pages of the site: the theme's files and Sphinx's copies of the sources (links into them are still checked).
SKIP_DIRS = ('_static', '_sources', '_images', '_downloads')


class Page:
    """What the check needs of a rendered page: its links and the anchors it offers."""

    def __init__(self, links, anchors):
        self.links = links  # list of (element, url, text): ('a', href, link text) or ('img', src, alt)
        self.anchors = anchors  # set of ids and <a name>s


class _PageParser(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.links = []
        self.anchors = set()
        self._open_link = None  # [href, text parts] while inside an <a href>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get('id'):
            self.anchors.add(attrs['id'])
        if tag == 'a' and attrs.get('name'):
            self.anchors.add(attrs['name'])
        if tag == 'a' and attrs.get('href') is not None:
            self._close_link()
            self._open_link = [attrs['href'], [], attrs.get('title') or '']
        elif tag == 'img' and attrs.get('src') is not None:
            self.links.append(('img', attrs['src'], attrs.get('alt') or ''))

    def handle_endtag(self, tag):
        if tag == 'a':
            self._close_link()

    def handle_data(self, data):
        if self._open_link:
            self._open_link[1].append(data)

    def close(self):
        HTMLParser.close(self)
        self._close_link()

    def _close_link(self):
        if self._open_link:
            href, parts, title = self._open_link
            self.links.append(('a', href, ' '.join(''.join(parts).split()) or title))
            self._open_link = None


def parse_page(html):
    """The links and anchors of a page's (rendered) HTML."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return Page(parser.links, parser.anchors)


def internal_target(page_path, url):
    """(absolute file path, fragment) that an internal link of the page at page_path names, None for an external
    one. A path with no file part is the page itself; a query string plays no part for a file."""
    parts = urlsplit(url)
    if parts.scheme == 'file' and parts.netloc in ('', 'localhost'):
        path = unquote(parts.path)
    elif parts.scheme or parts.netloc:
        return None
    elif parts.path:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), unquote(parts.path)))
    else:
        path = page_path
    return path, unquote(parts.fragment)


def check_site(site_root, pages, load):
    """One line for each broken internal link of the pages ({absolute path: Page}); load(path) gives the Page of an
    HTML file that is linked to with a fragment but is not among them."""
    site_root = os.path.abspath(site_root)
    known = dict(pages)
    problems = []
    for page_path in sorted(pages):
        for element, url, text in pages[page_path].links:
            target = internal_target(page_path, url)
            if target is None:
                continue
            path, fragment = target
            missing = None
            if os.path.commonpath([site_root, os.path.abspath(path)]) != site_root:
                missing = 'it leads outside the site (%s)' % path
            elif not os.path.isfile(path):
                missing = 'no file %s' % os.path.relpath(path, site_root)
            elif fragment and element == 'a':
                if path not in known:
                    known[path] = load(path)
                if fragment not in known[path].anchors:
                    missing = 'no id or name "%s" in %s' % (fragment, os.path.relpath(path, site_root))
            if missing:
                what = 'link' if element == 'a' else 'image'
                page = os.path.relpath(page_path, site_root)
                problems.append('%s: %s "%s" -> %s: %s' % (page, what, text or '(no text)', url, missing))
    return problems


def site_pages(site_root):
    """The HTML pages of the site, theme and source copies aside."""
    found = []
    for dirpath, dirnames, filenames in os.walk(site_root):
        dirnames[:] = sorted(name for name in dirnames if name not in SKIP_DIRS)
        found.extend(os.path.join(dirpath, name) for name in sorted(filenames) if name.endswith('.html'))
    return found


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def render(chromium, path):
    """The DOM of a local HTML file after chromium loaded it and ran its scripts."""
    profile = tempfile.mkdtemp(prefix='keyops-check-links-')
    try:
        proc = subprocess.run([chromium] + list(CHROMIUM_FLAGS) + ['--user-data-dir=' + profile, '--dump-dom',
                                                                   'file://' + os.path.abspath(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RENDER_TIMEOUT, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = proc.stdout.decode('utf-8', 'replace')
    if proc.returncode != 0 or '<html' not in dom:
        # chromium logs harmless errors (no D-Bus, ...) on every run: show its last lines only when it failed.
        tail = proc.stderr.decode('utf-8', 'replace').strip().splitlines()[-5:]
        raise RuntimeError('chromium could not render %s (exit %d): %s' % (path, proc.returncode, ' | '.join(tail)))
    return dom


def to_render(site_root, path, render_all):
    relative = os.path.relpath(path, site_root).replace(os.sep, '/')
    return render_all or any(fnmatch.fnmatch(relative, pattern) for pattern in RENDERED)


def main(argv):
    args = [arg for arg in argv[1:] if arg != '--render-all']
    if len(args) != 1:
        sys.stderr.write('usage: %s [--render-all] SITE_DIR\n' % argv[0])
        return 2
    site_root, render_all = os.path.abspath(args[0]), '--render-all' in argv
    chromium = find_chromium()
    if not chromium:
        sys.stderr.write('check_links: no chromium on PATH; install it with .ci/system-deps browser\n')
        return 1
    started = time.time()

    def load(path):
        if to_render(site_root, path, render_all):
            return parse_page(render(chromium, path))
        with open(path, encoding='utf-8') as f:
            return parse_page(f.read())

    paths = site_pages(site_root)
    # Each rendered page is one chromium process (about 2 s, most of it start-up): a few at once.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        pages = dict(zip(paths, pool.map(load, paths)))
    problems = check_site(site_root, pages, load)
    for problem in problems:
        print('check_links: broken: %s' % problem)
    rendered = sum(1 for path in paths if to_render(site_root, path, render_all))
    links = sum(len(page.links) for page in pages.values())
    print('check_links: %d pages (%d rendered by %s), %d links and images, %d broken (%.0f s)'
          % (len(pages), rendered, os.path.basename(chromium), links, len(problems), time.time() - started))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
