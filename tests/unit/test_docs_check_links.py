# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/reference/check_links.py: a good internal link passes, a missing page, anchor or image each fails."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

import pytest

from ..conftest import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location('check_links', os.path.join(REPO_ROOT, 'docs', 'reference', 'check_links.py'))
check_links = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_links)

INDEX = '''<html><body>
<a href="docsite/guide.html#hosts">the <code>hosts</code>
  section</a>
<a href="#top" title="top of page"></a>
<a href="https://example.com/#nowhere">external</a> <a href="mailto:x@example.com">mail</a>
<img src="_images/chart.png" alt="chart"><div id="top"></div>
</body></html>'''
GUIDE = '''<html><body><h2 id="hosts">Hosts</h2><a name="legacy"></a>
<a href="../index.html">home</a> <a href="">this page</a> <a href="?q=1#legacy">legacy</a></body></html>'''


@pytest.fixture
def site(tmp_path):
    (tmp_path / 'docsite').mkdir()
    (tmp_path / '_images').mkdir()
    for name, html in (('index.html', INDEX), ('docsite/guide.html', GUIDE), ('other.html', '<html></html>')):
        (tmp_path / name).write_text(html)
    (tmp_path / '_images' / 'chart.png').write_bytes(b'\x89PNG')
    return tmp_path


def pages_of(site, **overrides):
    html = {'index.html': INDEX, 'docsite/guide.html': GUIDE}
    html.update(overrides)
    return dict((str(site / name), check_links.parse_page(text)) for name, text in html.items())


def no_load(path):
    raise AssertionError('%s should not need rendering' % path)


def test_parse_page():
    page = check_links.parse_page(INDEX)
    assert page.links == [('a', 'docsite/guide.html#hosts', 'the hosts section'), ('a', '#top', 'top of page'),
                          ('a', 'https://example.com/#nowhere', 'external'), ('a', 'mailto:x@example.com', 'mail'),
                          ('img', '_images/chart.png', 'chart')]
    assert page.anchors == {'top'}
    assert check_links.parse_page(GUIDE).anchors == {'hosts', 'legacy'}


def test_good_links_pass(site):
    assert check_links.check_site(str(site), pages_of(site), no_load) == []


def test_missing_file_fails(site):
    broken = INDEX.replace('docsite/guide.html#hosts', 'docsite/gone.html#hosts')
    assert check_links.check_site(str(site), pages_of(site, **{'index.html': broken}), no_load) == [
        'index.html: link "the hosts section" -> docsite/gone.html#hosts: no file docsite/gone.html']


def test_missing_anchor_fails(site):
    broken = INDEX.replace('#hosts', '#8-what-could-not-be-verified-here')
    assert check_links.check_site(str(site), pages_of(site, **{'index.html': broken}), no_load) == [
        'index.html: link "the hosts section" -> docsite/guide.html#8-what-could-not-be-verified-here: '
        'no id or name "8-what-could-not-be-verified-here" in docsite/guide.html']


def test_missing_image_fails(site):
    (site / '_images' / 'chart.png').unlink()
    assert check_links.check_site(str(site), pages_of(site), no_load) == [
        'index.html: image "chart" -> _images/chart.png: no file _images/chart.png']


def test_links_leaving_the_site_fail(site):
    broken = GUIDE.replace('../index.html', '../../index.html').replace('href=""', 'href="/"')
    problems = check_links.check_site(str(site), pages_of(site, **{'docsite/guide.html': broken}), no_load)
    assert [problem.split(': ', 1)[1].split(' (')[0] for problem in problems] == [
        'link "home" -> ../../index.html: it leads outside the site', 'link "this page" -> /: it leads outside the site']


def test_file_urls_inside_the_site(site):
    good = '<a href="file://%s#hosts">guide</a>' % (site / 'docsite' / 'guide.html')
    bad = '<a href="file://%s#nope">guide</a>' % (site / 'docsite' / 'guide.html')
    assert check_links.check_site(str(site), pages_of(site, **{'other.html': good}), no_load) == []
    assert len(check_links.check_site(str(site), pages_of(site, **{'other.html': bad}), no_load)) == 1


def test_a_target_page_not_rendered_yet_is_loaded(site):
    loaded = []

    def load(path):
        loaded.append(path)
        return check_links.parse_page('<p id="x"></p>')

    pages = {str(site / 'index.html'): check_links.parse_page('<a href="other.html#x">o</a> <a href="other.html">o</a>')}
    assert check_links.check_site(str(site), pages, load) == []
    assert loaded == [str(site / 'other.html')]


def test_site_pages_leave_out_the_theme(site):
    (site / '_static').mkdir()
    (site / '_static' / 'theme.html').write_text('<html></html>')
    assert check_links.site_pages(str(site)) == [str(site / name) for name in ('index.html', 'other.html',
                                                                               'docsite/guide.html')]


# --- the chromium call itself --------------------------------------------------------------------------------------

def test_render_sees_the_dom_after_scripts(tmp_path):
    """The anchor exists only once the page's script ran: the check reads the DOM a reader's browser has."""
    chromium = check_links.find_chromium()
    if not chromium:
        pytest.skip('no chromium on PATH (.ci/system-deps browser installs it; `make docs` does)')
    page = tmp_path / 'page.html'
    page.write_text('<html><body><a href="#late">late</a><script>var d = document.createElement("div"); d.id = "late";'
                    ' document.body.appendChild(d);</script></body></html>')
    assert 'late' not in check_links.parse_page(page.read_text()).anchors
    rendered = check_links.parse_page(check_links.render(chromium, str(page)))
    assert 'late' in rendered.anchors
    assert check_links.check_site(str(tmp_path), {str(page): rendered}, no_load) == []


def test_a_failed_render_is_an_error_not_an_empty_page(tmp_path):
    fake = tmp_path / 'chromium'
    fake.write_text('#!/bin/sh\necho "[ERROR] could not start" >&2\nexit 3\n')
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match=r'could not render .*page.html \(exit 3\): \[ERROR\] could not start'):
        check_links.render(str(fake), str(tmp_path / 'page.html'))


def test_pages_chromium_renders(site):
    root = str(site)
    assert [name for name in ('index.html', 'docsite/guide.html', 'keyring_migration_role.html', 'keyring_info_module.html')
            if check_links.to_render(root, os.path.join(root, name), False)] == [
        'index.html', 'docsite/guide.html', 'keyring_migration_role.html']
    assert check_links.to_render(root, os.path.join(root, 'keyring_info_module.html'), True)
