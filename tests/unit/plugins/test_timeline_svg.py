# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's timeline as SVG: rows per host under their group, spans on the axis's scale, end states, escaping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.keyops.mysql.plugins.plugin_utils.timeline_svg import (
    MAX_REASON_CHARS, MAX_TICK_INTERVALS, MIN_SPAN_PX, NO_TIMELINE, PLOT_LEFT, PLOT_RIGHT, axis_length,
    has_timeline, nice_step, render, scale)

SVG = '{http://www.w3.org/2000/svg}'
T0 = 1796206500.0   # 2026-12-02T10:15:00Z


def span(phase, start, seconds=None):
    """A span ``start`` seconds after T0, ``seconds`` long (None: still open)."""
    return dict(phase=phase, start=T0 + start, end=None if seconds is None else T0 + start + seconds)


def parse(svg):
    return ET.fromstring(svg)


def own_text(element):
    """An element's text without its <title> tooltip."""
    return (element.text or '') + ''.join(child.tail or '' for child in element)


def tooltip(element):
    title = element.find(SVG + 'title')
    return None if title is None else title.text


def texts(root, css_class=None):
    return [own_text(t) for t in root.iter(SVG + 'text') if css_class is None or t.get('class') == css_class]


def spans(root):
    """[(phase, x, width, tooltip)] of the span rects, in document order."""
    return [(r.get('data-phase'), float(r.get('x')), float(r.get('width')), tooltip(r))
            for r in root.iter(SVG + 'rect') if r.get('class') == 'span']


def end_markers(root, state):
    return [g for g in root.iter(SVG + 'g') if state in (g.get('class') or '').split()]


def a_run():
    """Two replication groups and a standalone host, as the report gives them."""
    return {
        'db2': dict(group='async:db1', role='replica', wave=1, status='ok',
                    timeline=[span('paused', 0, 0.005), span('restarting', 1, 10), span('gate', 11, 5)]),
        'gr2': dict(group='gr:grp', role='secondary', wave=1, status='ok', timeline=[span('reloading', 2, 0.02)]),
        'db1': dict(group='async:db1', role='source', wave=2, status='failed',
                    reason='gate: the replica lags 120 s behind its source', timeline=[span('gate', 20, 4)]),
        'solo': dict(status='ok', timeline=[span('paused', 3, 0.002)]),
        'gr1': dict(group='gr:grp', role='primary', wave=2, status='held back',
                    reason='held back: its replication group gr:grp stopped after db1 failed'),
    }


def test_the_image_is_an_svg_document_that_parses_with_its_size_set():
    svg = render(a_run(), title='Run 42')
    assert svg.startswith('<svg')
    root = parse(svg)
    assert root.tag == SVG + 'svg'
    width, height = int(root.get('width')), int(root.get('height'))
    assert width == 1000 and root.get('viewBox') == '0 0 %d %d' % (width, height)
    assert root.get('font-family') == 'sans-serif'
    assert tooltip(root) == 'Run 42' and 'Run 42' in texts(root)


def test_the_height_grows_with_the_rows():
    one = parse(render({'db1': dict(timeline=[span('gate', 0, 1)])}))
    three = parse(render(dict(('db%d' % i, dict(group='g', timeline=[span('gate', 0, 1)])) for i in (1, 2, 3))))
    assert int(three.get('height')) > int(one.get('height'))


def test_every_host_has_a_row_label_with_its_role_and_wave():
    root = parse(render(a_run()))
    assert texts(root, 'host-label') == ['db2 (replica)', 'db1 (source)', 'gr2 (secondary)', 'gr1 (primary)',
                                         'solo (standalone)']
    # One wave label a host with a wave: solo has none.
    assert texts(root, 'wave') == ['wave 1', 'wave 2', 'wave 1', 'wave 2']


def test_groups_come_in_order_of_first_appearance_with_their_hosts_under_their_header():
    root = parse(render(a_run()))
    rows = [(t.get('class'), own_text(t)) for t in root.iter(SVG + 'text')
            if t.get('class') in ('group-label', 'host-label')]
    assert rows == [('group-label', 'async:db1'), ('host-label', 'db2 (replica)'), ('host-label', 'db1 (source)'),
                    ('group-label', 'gr:grp'), ('host-label', 'gr2 (secondary)'), ('host-label', 'gr1 (primary)'),
                    ('group-label', 'solo'), ('host-label', 'solo (standalone)')]
    # Each row below the one before.
    ys = [float(t.get('y')) for t in root.iter(SVG + 'text') if t.get('class') in ('group-label', 'host-label')]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)


def test_a_span_is_drawn_where_the_axis_scale_puts_its_start_and_end():
    hosts = {'db1': dict(timeline=[span('gate', 0, 5), span('restarting', 10, 10)])}
    root = parse(render(hosts))
    step, length = axis_length(20)
    assert (step, length) == (2, 20)
    x_of = scale(T0, T0 + length)
    assert (x_of(T0), x_of(T0 + length)) == (PLOT_LEFT, PLOT_RIGHT)
    drawn = dict((phase, (x, width)) for phase, x, width, _title in spans(root))
    assert drawn['gate'] == pytest.approx((x_of(T0), x_of(T0 + 5) - x_of(T0)), abs=0.01)
    assert drawn['restarting'] == pytest.approx((x_of(T0 + 10), x_of(T0 + 20) - x_of(T0 + 10)), abs=0.01)
    # Whatever the scale: a 10 s restart is twice as wide as a 5 s gate, and the restart ends at the axis's end.
    assert drawn['restarting'][1] == pytest.approx(2 * drawn['gate'][1], abs=0.02)
    assert sum(drawn['restarting']) == pytest.approx(PLOT_RIGHT, abs=0.01)


def test_a_millisecond_pause_is_drawn_wide_enough_to_see_and_its_tooltip_says_its_milliseconds():
    root = parse(render({'db1': dict(timeline=[span('restarting', 0, 20), span('paused', 3.41, 0.005)])}))
    pause = [s for s in spans(root) if s[0] == 'paused'][0]
    assert pause[2] >= MIN_SPAN_PX
    assert pause[3] == 'db1: paused 5 ms at +3.41 s'
    restart = [s for s in spans(root) if s[0] == 'restarting'][0]
    assert restart[3] == 'db1: restarting 20.0 s at +0.00 s'


def test_a_reload_right_after_its_pause_is_drawn_beside_it_not_under_it():
    root = parse(render({'db1': dict(timeline=[span('paused', 10, 0.004), span('reloading', 10.004, 0.006),
                                               span('gate', 0, 12)])}))
    drawn = dict((phase, (x, width)) for phase, x, width, _title in spans(root))
    assert drawn['reloading'][0] >= drawn['paused'][0] + drawn['paused'][1] - 0.01
    # The longer gate is drawn first: the short spans lie on top of it.
    assert [s[0] for s in spans(root)] == ['gate', 'paused', 'reloading']


def test_an_open_or_backwards_span_has_no_length():
    root = parse(render({'db1': dict(timeline=[span('gate', 0, 30), span('restarting', 5),
                                               dict(phase='paused', start=T0 + 8, end=T0 + 7)])}))
    tooltips = dict((phase, title) for phase, _x, _width, title in spans(root))
    assert tooltips['restarting'] == 'db1: restarting 0 ms at +5.00 s'
    assert tooltips['paused'] == 'db1: paused 0 ms at +8.00 s'


def test_host_group_phase_and_reason_text_is_escaped():
    nasty = '<db&1>'
    hosts = [(nasty, dict(group='"q" & <g>', status='failed', reason=']]> </svg> & "\x07',
                          timeline=[span('<phase>', 0, 2)]))]
    svg = render(hosts)
    root = parse(svg)
    assert '<db&1>' not in svg and '&lt;db&amp;1&gt;' in svg
    assert texts(root, 'host-label') == ['<db&1> (standalone)']
    assert texts(root, 'group-label') == ['"q" & <g>']
    assert spans(root)[0][0] == '<phase>' and spans(root)[0][3].startswith('<db&1>: <phase> 2.0 s')
    # A control character cannot be in XML at all: it is replaced, and the reason is still there.
    assert tooltip(end_markers(root, 'end-failed')[0]) == '<db&1>: failed: ]]> </svg> & "\ufffd'


def test_a_failed_host_has_the_failed_marker_with_its_reason_in_the_tooltip():
    root = parse(render(a_run()))
    failed = end_markers(root, 'end-failed')
    assert len(failed) == 1
    assert tooltip(failed[0]) == 'db1: failed: gate: the replica lags 120 s behind its source'
    assert own_text(failed[0].find(SVG + 'text')) == 'failed'
    # After the host's last span (its gate from +20 s to +24 s).
    x_of = scale(T0, T0 + axis_length(24)[1])
    assert float(failed[0].find(SVG + 'text').get('x')) > x_of(T0 + 24)


def test_a_long_reason_is_cut_in_the_tooltip():
    root = parse(render({'db1': dict(status='failed', reason='x' * 500, timeline=[span('gate', 0, 1)])}))
    reason = tooltip(end_markers(root, 'end-failed')[0]).split(': ', 2)[-1]
    assert len(reason) == MAX_REASON_CHARS and reason.endswith('\u2026')


def test_hosts_done_get_the_done_marker():
    root = parse(render(a_run()))
    done = end_markers(root, 'end-ok')
    assert [tooltip(g) for g in done] == ['db2: done', 'gr2: done', 'solo: done']
    assert all(own_text(g.find(SVG + 'text')) == 'done' for g in done)


def test_a_held_back_host_without_spans_says_held_back_at_the_row_start():
    root = parse(render(a_run()))
    held = end_markers(root, 'end-held-back')
    assert len(held) == 1
    words = held[0].find(SVG + 'text')
    assert own_text(words) == 'held back'
    assert PLOT_LEFT <= float(words.get('x')) < PLOT_LEFT + 30
    # The report's reason already says "held back": the tooltip does not say it twice.
    assert tooltip(held[0]) == 'gr1: held back: its replication group gr:grp stopped after db1 failed'


def test_pending_and_not_run_hosts_show_their_status_as_grey_text():
    hosts = {'db1': dict(status='ok', timeline=[span('gate', 0, 5)]), 'db2': dict(status='pending'),
             'db3': dict(status='not run')}
    root = parse(render(hosts))
    others = end_markers(root, 'end-other')
    assert [own_text(g.find(SVG + 'text')) for g in others] == ['pending', 'not run']
    assert all(g.find(SVG + 'text').get('fill') == '#666666' for g in others)


def test_an_unknown_phase_is_drawn_in_the_neutral_colour_and_named_in_its_tooltip():
    root = parse(render({'db1': dict(timeline=[span('defragmenting', 0, 2)])}))
    rect = [r for r in root.iter(SVG + 'rect') if r.get('class') == 'span'][0]
    assert rect.get('fill') == '#999999' and tooltip(rect) == 'db1: defragmenting 2.0 s at +0.00 s'
    assert 'other phase' in texts(root)


def test_the_phases_have_their_colours_and_the_legend_names_them():
    hosts = {'db1': dict(timeline=[span('paused', 0, 0.01), span('reloading', 0.01, 0.01),
                                   span('restarting', 1, 5), span('gate', 6, 5)])}
    root = parse(render(hosts))
    colours = dict((r.get('data-phase'), r.get('fill')) for r in root.iter(SVG + 'rect') if r.get('class') == 'span')
    assert colours == {'paused': '#d55e00', 'reloading': '#e69f00', 'restarting': '#0072b2', 'gate': '#56b4e9'}
    legend = [g for g in root.iter(SVG + 'g') if g.get('class') == 'legend'][0]
    names = [own_text(t) for t in legend.iter(SVG + 'text')]
    assert names == ['paused', 'reloading', 'restarting', 'gate', 'done', 'failed']


def test_the_axis_start_is_labelled_with_the_earliest_start_in_utc():
    hosts = {'db2': dict(timeline=[span('gate', 7, 1)]), 'db1': dict(timeline=[span('paused', 0.25, 0.001)])}
    root = parse(render(hosts))
    assert texts(root, 'axis-start') == ['start 2026-12-02T10:15:00.250Z']
    ticks = texts(root, 'tick')
    assert ticks[0] == '0 s' and ticks[-1] == '8 s'


@pytest.mark.parametrize('duration, step, ticks', [
    (0.5, 0.05, ['0.00 s', '0.05 s', '0.10 s', '0.15 s', '0.20 s', '0.25 s', '0.30 s', '0.35 s', '0.40 s',
                 '0.45 s', '0.50 s']),
    (40, 5, ['0 s', '5 s', '10 s', '15 s', '20 s', '25 s', '30 s', '35 s', '40 s']),
    (3600, 600, ['0 min', '10 min', '20 min', '30 min', '40 min', '50 min', '60 min']),
])
def test_the_tick_step_is_nice_and_gives_five_to_twelve_ticks(duration, step, ticks):
    assert nice_step(duration) == step
    assert axis_length(duration) == pytest.approx((step, duration))
    root = parse(render({'db1': dict(timeline=[span('gate', 0, duration)])}))
    assert texts(root, 'tick') == ticks
    assert 5 <= len(ticks) <= 12


@pytest.mark.parametrize('duration', [0, 0.0004, 0.007, 1, 3, 13, 59, 61, 119, 299, 301, 900, 7201, 86400 * 3])
def test_every_duration_gets_a_nice_step_covering_it_in_five_to_eleven_intervals(duration):
    step, length = axis_length(duration)
    assert step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
                    900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000)
    # At least one step (an axis of a single zero-length span), else no more than the steps covering the duration.
    assert length >= max(duration, step) and (length - duration < step or length == step)
    intervals = round(length / step)
    assert intervals <= MAX_TICK_INTERVALS and (intervals >= 5 or duration < 0.005)


def test_has_timeline_is_whether_any_host_has_a_span():
    assert not has_timeline({})
    assert not has_timeline([])
    assert not has_timeline(None)
    assert not has_timeline({'db1': dict(status='held back'), 'db2': dict(status='not run', timeline=[])})
    # A span without a start cannot be placed.
    assert not has_timeline({'db1': dict(timeline=[dict(phase='gate', start=None, end=T0)])})
    assert has_timeline({'db1': dict(status='held back'), 'db2': dict(timeline=[span('paused', 0, 0.001)])})
    assert has_timeline([('db1', dict(timeline=[span('gate', 0)]))])


@pytest.mark.parametrize('hosts', [{}, [], {'db1': dict(status='held back'), 'db2': dict(status='pending')}])
def test_without_spans_the_image_says_there_is_no_timeline(hosts):
    root = parse(render(hosts, title='Run 42'))
    assert NO_TIMELINE in texts(root)
    assert not spans(root) and not texts(root, 'host-label')
    assert int(root.get('height')) > 0 and root.get('viewBox').startswith('0 0 1000 ')


def test_a_list_of_pairs_draws_as_the_dict_does_and_the_output_is_deterministic():
    run = a_run()
    svg = render(run, title='Run 42')
    assert render(a_run(), title='Run 42') == svg
    assert render(list(run.items()), title='Run 42') == svg


def test_missing_and_malformed_fields_take_their_defaults():
    timeline = [None, 'x', dict(phase='gate', start='bad'), span('gate', 0, 1)]
    hosts = [('db1', None), ('db2', dict(wave=True, role=None, timeline=timeline))]
    root = parse(render(hosts))
    assert texts(root, 'host-label') == ['db1 (standalone)', 'db2 (standalone)']
    assert texts(root, 'group-label') == ['db1', 'db2']
    assert texts(root, 'wave') == [] and len(spans(root)) == 1
