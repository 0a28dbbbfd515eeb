# -*- coding: utf-8 -*-
# Copyright: keyops.mysql contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timeline of a keyring migration run, drawn as a standalone SVG image.

Pure and standard library only: the caller hands render() each host's report line with the spans the role timed
(keyring_operations OFF, the keyring reload, the restart, the health gate) and writes the text it returns.

- One row per host, under a header row per replication group (groups in order of first appearance, hosts in input
  order); the x axis is seconds since the earliest span of the run, its start labelled with that UTC time.
- Each span a rect in its phase's colour with a tooltip; the host's end state (done, failed, held back, ...) a
  marker after its last span, or at the row start when it has none.
- Everything a user controls (host, group and phase names, reasons) is escaped: the output always parses as XML.
- Deterministic: the same hosts give the same text (nothing reads the clock).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import math
import re
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

NO_TIMELINE = 'No timeline: nothing was paused, restarted or gated'

# Okabe-Ito colours, told apart with the common colour blindnesses; in legend order.
PHASE_COLOURS = (
    ('paused', '#d55e00'),      # keyring_operations OFF: milliseconds
    ('reloading', '#e69f00'),   # ALTER INSTANCE RELOAD KEYRING: milliseconds
    ('restarting', '#0072b2'),  # the server stopped and started again: seconds
    ('gate', '#56b4e9'),        # waiting on the host's health gate: seconds
)
NEUTRAL_COLOUR = '#999999'      # a phase this module does not know, the held back marker
DONE_COLOUR = '#009e73'
FAILED_COLOUR = '#cc0000'
MUTED_TEXT_COLOUR = '#666666'   # grey text: darker than NEUTRAL_COLOUR, which is too pale to read on white
GRID_COLOUR = '#e3e3e3'
STRIPE_COLOUR = '#f7f7f7'
HEADER_FILL = '#eeeeee'

# Horizontal layout (px): labels on the left, the plot, then room for the end marker and its word.
WIDTH = 1000
MARGIN = 10
HOST_LABEL_X = 24               # host labels are indented under their group's header
PLOT_LEFT = 340
PLOT_RIGHT = 900
WAVE_LABEL_RIGHT = PLOT_LEFT - 10

# Vertical layout (px).
TITLE_HEIGHT = 28
AXIS_LINE_HEIGHT = 18
ROW_HEIGHT = 22
BAR_INSET = 4                   # a span's rect is the row less this much above and below
LEGEND_GAP = 14
LEGEND_HEIGHT = 20

FONT_SIZE = 12
SMALL_FONT_SIZE = 11
MIN_SPAN_PX = 3                 # a millisecond pause is a fraction of a pixel: drawn this wide to stay visible
MARKER_RADIUS = 6

# Label lengths, in characters: no font metrics here, so long names are cut and shown whole in a tooltip.
MAX_HOST_CHARS = 26
MAX_GROUP_CHARS = 48
MAX_WORD_CHARS = 30             # a role, a status
MAX_REASON_CHARS = 120

# "Nice" tick steps in seconds; past the last, days: 2, 5, 10, 20, 50, 100, ...
_NICE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
               1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_DAY = 86400
# At most this many intervals on the axis: the smallest nice step keeping within it leaves at least 5, since
# consecutive steps differ by at most 2.5 times.
MAX_TICK_INTERVALS = 10
# Slack for floating point: 0.5 / 0.05 is 10.000000000000002 intervals, which are 10.
_EPSILON = 1e-9

# Characters XML 1.0 cannot hold even escaped (control characters, lone surrogates): one in a host name or reason
# would make the whole document unreadable.
_NOT_XML = re.compile('[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')

_Span = collections.namedtuple('_Span', 'phase start end')
_Host = collections.namedtuple('_Host', 'name group role wave status reason spans')


# -- the public API -------------------------------------------------------------------------------------------------

def has_timeline(hosts):
    """Whether any host has at least one span that can be drawn (one with a start time)."""
    return any(host.spans for host in _hosts(hosts))


def render(hosts, title=''):
    """The SVG document (text) of the run's timeline.

    ``hosts``: a dict host -> report line, or a list of (host, line) pairs, in the order to draw them. A line's
    fields, any of them missing: group, role, wave, status, reason and timeline, a list of
    dict(phase, start, end) with epoch seconds (end None while unknown). Without any span the image says so.
    """
    hosts = _hosts(hosts)
    spans = [span for host in hosts for span in host.spans]
    if not spans:
        return _no_timeline_document(title)
    t0 = min(span.start for span in spans)
    step, length = axis_length(max(span.end for span in spans) - t0)
    x_of = scale(t0, t0 + length)

    drawing = _Drawing()
    y = _draw_title(drawing, title, MARGIN)
    y = _draw_axis(drawing, t0, step, length, x_of, y)
    rows, rows_bottom = _layout(_by_group(hosts), y)
    _draw_row_backgrounds(drawing, rows)
    _draw_grid(drawing, t0, step, length, x_of, y, rows_bottom)
    for kind, top, item in rows:
        if kind == 'group':
            _draw_group_header(drawing, item, top)
        else:
            _draw_host_row(drawing, item, top, t0, x_of)
    unknown_phase = any(span.phase not in dict(PHASE_COLOURS) for span in spans)
    y = _draw_legend(drawing, rows_bottom + LEGEND_GAP, unknown_phase)
    return drawing.document(y + MARGIN, title)


def nice_step(duration):
    """The tick step (seconds) for an axis of ``duration`` seconds: the smallest nice step that needs at most
    MAX_TICK_INTERVALS intervals."""
    for step in _candidate_steps():
        if _intervals(duration, step) <= MAX_TICK_INTERVALS:
            return step


def axis_length(duration):
    """(step, length): the tick step and the axis's length in seconds, a whole number of steps (at least one)
    covering ``duration``, so the axis ends on a tick."""
    step = nice_step(duration)
    return step, step * _intervals(duration, step)


def scale(t0, t1, left=PLOT_LEFT, right=PLOT_RIGHT):
    """The x (px) of an epoch time, for an axis from ``t0`` at ``left`` to ``t1`` at ``right``."""
    px_per_second = (right - left) / float(t1 - t0 or 1)

    def x_of(t):
        return left + (t - t0) * px_per_second
    return x_of


# -- the axis -------------------------------------------------------------------------------------------------------

def _candidate_steps():
    """The nice steps, smallest first, without end."""
    yield from _NICE_STEPS
    days = 1
    while True:
        for multiplier in (2, 5, 10):
            yield _DAY * days * multiplier
        days *= 10


def _intervals(duration, step):
    """How many steps cover ``duration``: at least one, so a run of one zero-length span still has an axis."""
    return max(1, int(math.ceil(duration / float(step) - _EPSILON)))


def _tick_offsets(step, length):
    # Multiples of the step, not a running sum: the sum of 0.1s drifts.
    return [i * step for i in range(int(round(length / step)) + 1)]


def _tick_text(offset, step):
    """A tick's label in the step's unit: 0.05 s, 30 s, 15 min, 2 h."""
    if step < 1:
        decimals = len(('%g' % step).split('.')[1])
        return '%.*f s' % (decimals, offset)
    if step < 60:
        return '%d s' % round(offset)
    if step < 3600:
        return '%d min' % round(offset / 60)
    return '%d h' % round(offset / 3600)


# -- the input ------------------------------------------------------------------------------------------------------

def _hosts(hosts):
    """Each host's line as a _Host, in input order; anything missing or malformed gets its default."""
    pairs = hosts.items() if isinstance(hosts, Mapping) else (hosts or ())
    result = []
    for name, line in pairs:
        line = line if isinstance(line, Mapping) else {}
        name = _as_text(name)
        wave = line.get('wave')
        result.append(_Host(
            name=name,
            group=_as_text(line.get('group')) or name,
            role=_as_text(line.get('role')) or 'standalone',
            wave=wave if isinstance(wave, int) and not isinstance(wave, bool) else None,
            status=_as_text(line.get('status')).strip(),
            reason=_as_text(line.get('reason')).strip(),
            spans=_spans(line.get('timeline')),
        ))
    return result


def _spans(timeline):
    """The spans of a host's timeline; one without a usable start cannot be placed and is left out, an end that is
    missing or before the start is the start (zero length)."""
    spans = []
    for span in timeline or ():
        if not isinstance(span, Mapping):
            continue
        start = _seconds(span.get('start'))
        if start is None:
            continue
        end = _seconds(span.get('end'))
        spans.append(_Span(phase=_as_text(span.get('phase')), start=start,
                           end=start if end is None or end < start else end))
    return spans


def _seconds(value):
    """A finite number of seconds, or None (booleans are not times)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def _as_text(value):
    if value is None:
        return ''
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value if isinstance(value, str) else str(value)


def _by_group(hosts):
    """[(group, [hosts])]: groups in order of first appearance, each group's hosts in input order."""
    members = collections.OrderedDict()
    for host in hosts:
        members.setdefault(host.group, []).append(host)
    return list(members.items())


# -- text -----------------------------------------------------------------------------------------------------------

def _truncate(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def _duration_text(seconds):
    """Milliseconds under a second (a pause), else seconds with one decimal."""
    if seconds < 1:
        ms = int(round(seconds * 1000))
        return '<1 ms' if ms == 0 and seconds > 0 else '%d ms' % ms
    return '%.1f s' % seconds


def _offset_text(seconds):
    return '+%.2f s' % seconds


def _utc_text(epoch):
    """ISO 8601 UTC of an epoch time, with milliseconds only when it has some."""
    ms = int(round(epoch * 1000))
    try:
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        return 'epoch %.3f s' % epoch
    text = moment.strftime('%Y-%m-%dT%H:%M:%S')
    return text + ('.%03dZ' % (ms % 1000) if ms % 1000 else 'Z')


def _host_label(host):
    return '%s (%s)' % (_truncate(host.name, MAX_HOST_CHARS), _truncate(host.role, MAX_WORD_CHARS))


# -- SVG ------------------------------------------------------------------------------------------------------------

def _num(value):
    """A coordinate as text: two decimals at most, so the same input always gives the same characters."""
    text = '%.2f' % value
    text = text.rstrip('0').rstrip('.') if '.' in text else text
    return '0' if text == '-0' else text


def _clean(text):
    return _NOT_XML.sub('\ufffd', _as_text(text))


def _element(tag, attributes, content=''):
    """One element; attribute values are quoted and escaped here, ``content`` must already be markup."""
    attrs = ''.join(' %s=%s' % (name, quoteattr(_num(value) if isinstance(value, float) else _clean(value)))
                    for name, value in attributes)
    if not content:
        return '<%s%s/>' % (tag, attrs)
    return '<%s%s>%s</%s>' % (tag, attrs, content, tag)


def _title(text):
    """A tooltip, the first child of the element it describes."""
    return '<title>%s</title>' % escape(_clean(text))


def _text(x, y, text, extra=(), tooltip=''):
    return _element('text', [('x', float(x)), ('y', float(y))] + list(extra),
                    (_title(tooltip) if tooltip else '') + escape(_clean(text)))


class _Drawing:
    """The document's elements in drawing order (later ones on top)."""

    def __init__(self):
        self.parts = []

    def add(self, markup):
        self.parts.append(markup)

    def document(self, height, title=''):
        root = [('xmlns', 'http://www.w3.org/2000/svg'), ('width', WIDTH), ('height', int(math.ceil(height))),
                ('viewBox', '0 0 %d %d' % (WIDTH, int(math.ceil(height)))), ('font-family', 'sans-serif'),
                ('font-size', FONT_SIZE), ('role', 'img')]
        # A white ground: viewers with a dark background would otherwise show black text on black.
        ground = _element('rect', [('width', '100%'), ('height', '100%'), ('fill', '#ffffff')])
        body = [_title(title)] if title else []
        body += [ground] + self.parts
        # One top-level element a line: readable, and diffs of two runs' images line up.
        return _element('svg', root, '\n%s\n' % '\n'.join(body)) + '\n'


def _no_timeline_document(title):
    drawing = _Drawing()
    y = _draw_title(drawing, title, MARGIN)
    drawing.add(_text(MARGIN, y + 16, NO_TIMELINE, [('fill', MUTED_TEXT_COLOUR)]))
    return drawing.document(y + 24 + MARGIN, title)


def _draw_title(drawing, title, y):
    if not title:
        return y
    drawing.add(_text(MARGIN, y + 18, title, [('font-size', 16), ('font-weight', 'bold')]))
    return y + TITLE_HEIGHT


def _draw_axis(drawing, t0, step, length, x_of, y):
    """The start's UTC time, the tick labels, the axis line with its tick marks; returns the y below them."""
    drawing.add(_text(PLOT_LEFT, y + 13, 'start %s' % _utc_text(t0), [('class', 'axis-start')]))
    y += AXIS_LINE_HEIGHT
    for offset in _tick_offsets(step, length):
        drawing.add(_text(x_of(t0 + offset), y + 13, _tick_text(offset, step),
                          [('class', 'tick'), ('text-anchor', 'middle'), ('font-size', SMALL_FONT_SIZE)]))
    y += AXIS_LINE_HEIGHT + 2
    drawing.add(_element('line', [('x1', float(PLOT_LEFT)), ('y1', float(y)), ('x2', float(PLOT_RIGHT)),
                                  ('y2', float(y)), ('stroke', '#333333')]))
    for offset in _tick_offsets(step, length):
        x = x_of(t0 + offset)
        drawing.add(_element('line', [('x1', x), ('y1', float(y)), ('x2', x), ('y2', float(y + 4)),
                                      ('stroke', '#333333')]))
    return y + 6


def _draw_grid(drawing, t0, step, length, x_of, top, bottom):
    """A faint vertical line at each tick, behind the spans, so a span's time can be read off the axis."""
    for offset in _tick_offsets(step, length):
        x = x_of(t0 + offset)
        drawing.add(_element('line', [('x1', x), ('y1', float(top)), ('x2', x), ('y2', float(bottom)),
                                      ('stroke', GRID_COLOUR)]))


def _layout(groups, top):
    """[(kind, top, item)]: a 'group' row (item: the group's name) before its 'host' rows (item: the _Host); and
    the y below the last row."""
    rows = []
    for group, members in groups:
        rows.append(('group', top, group))
        top += ROW_HEIGHT
        for host in members:
            rows.append(('host', top, host))
            top += ROW_HEIGHT
    return rows, top


def _draw_row_backgrounds(drawing, rows):
    """Group headers shaded, host rows striped: the eye follows a row from its label to its spans."""
    stripe = False
    for kind, top, _item in rows:
        if kind == 'group':
            fill, stripe = HEADER_FILL, False
        else:
            fill, stripe = (STRIPE_COLOUR if stripe else None), not stripe
        if fill:
            drawing.add(_element('rect', [('x', float(MARGIN)), ('y', float(top)), ('width', float(WIDTH - 2 * MARGIN)),
                                          ('height', float(ROW_HEIGHT)), ('fill', fill)]))


def _baseline(top):
    """The text baseline that centres a line of FONT_SIZE text in a row."""
    return top + ROW_HEIGHT / 2.0 + FONT_SIZE * 0.35


def _draw_group_header(drawing, group, top):
    shown = _truncate(group, MAX_GROUP_CHARS)
    drawing.add(_text(MARGIN + 4, _baseline(top), shown, [('class', 'group-label'), ('font-weight', 'bold')],
                      tooltip=group if shown != group else ''))


def _draw_host_row(drawing, host, top, t0, x_of):
    """The host's label and wave, its spans, and its end state after the last of them."""
    label = _host_label(host)
    full_label = '%s (%s)' % (host.name, host.role)
    drawing.add(_text(HOST_LABEL_X, _baseline(top), label, [('class', 'host-label')],
                      tooltip=full_label if label != full_label else ''))
    if host.wave is not None:
        drawing.add(_text(WAVE_LABEL_RIGHT, _baseline(top), 'wave %d' % host.wave,
                          [('class', 'wave'), ('text-anchor', 'end'), ('fill', MUTED_TEXT_COLOUR)]))
    right_edge = None
    for span, x, width in _span_boxes(host.spans, x_of):
        _draw_span(drawing, host, span, x, width, top, t0)
        right_edge = x + width if right_edge is None else max(right_edge, x + width)
    marker_x = PLOT_LEFT + MARKER_RADIUS if right_edge is None else right_edge + MARKER_RADIUS + 3
    _draw_end_state(drawing, host, marker_x, top + ROW_HEIGHT / 2.0)


def _span_boxes(spans, x_of):
    """[(span, x, width)] in drawing order (later on top).

    Spans at least MIN_SPAN_PX wide at their place on the scale, longest first, so a shorter one overlapping a
    longer one stays visible. Then the shorter ones (millisecond pauses and reloads), MIN_SPAN_PX wide, in time order:
    a pause and the reload right after it fall on the same pixel, so each starts no earlier than the previous one's
    right edge (a few pixels off their time; their tooltips say the exact one).
    """
    wide, narrow = [], []
    for span in spans:
        x = x_of(span.start)
        width = x_of(span.end) - x
        (narrow if width < MIN_SPAN_PX else wide).append((span, x, width))
    # sorted() is stable: equal keys keep the input order, and the output stays deterministic.
    boxes = sorted(wide, key=lambda box: (-box[2], box[1]))
    previous_right = None
    for span, x, _width in sorted(narrow, key=lambda box: box[1]):
        if previous_right is not None and x < previous_right:
            x = previous_right
        boxes.append((span, x, MIN_SPAN_PX))
        previous_right = x + MIN_SPAN_PX
    return boxes


def _draw_span(drawing, host, span, x, width, top, t0):
    """One span's rect at ``x``, ``width`` px wide, with its tooltip."""
    colour = dict(PHASE_COLOURS).get(span.phase, NEUTRAL_COLOUR)
    tooltip = '%s: %s %s at %s' % (host.name, span.phase or 'unnamed phase', _duration_text(span.end - span.start),
                                   _offset_text(span.start - t0))
    drawing.add(_element('rect', [('class', 'span'), ('data-phase', span.phase), ('x', float(x)),
                                  ('y', float(top + BAR_INSET)), ('width', float(width)),
                                  ('height', float(ROW_HEIGHT - 2 * BAR_INSET)), ('fill', colour)],
                         _title(tooltip)))


def _draw_end_state(drawing, host, x, middle):
    """The host's end state at ``x``: done, failed (the reason in its tooltip), held back, or its status as grey
    text (pending, not run, ...); nothing without a status."""
    status = host.status.lower()
    reason = _truncate(host.reason, MAX_REASON_CHARS)
    if status == 'ok':
        word, colour, symbol = 'done', DONE_COLOUR, _done_symbol(x, middle)
    elif status == 'failed':
        word, colour, symbol = 'failed', FAILED_COLOUR, _failed_symbol(x, middle)
    elif status == 'held back':
        word, colour, symbol = 'held back', MUTED_TEXT_COLOUR, _held_back_symbol(x, middle)
    elif status:
        word, colour, symbol = _truncate(host.status, MAX_WORD_CHARS), MUTED_TEXT_COLOUR, ''
    else:
        return
    # The report's reason of a held back host already starts "held back: ...": not said twice.
    if reason.lower().startswith(word.lower()):
        tooltip = '%s: %s' % (host.name, reason)
    else:
        tooltip = '%s: %s' % (host.name, word) + (': %s' % reason if reason else '')
    # A status without a symbol starts where the symbol would have.
    text_x = x + MARKER_RADIUS + 4 if symbol else x - MARKER_RADIUS
    words = _text(text_x, middle + FONT_SIZE * 0.35, word, [('fill', colour)])
    drawing.add(_element('g', [('class', 'end end-%s' % (status.replace(' ', '-') if symbol else 'other'))],
                         _title(tooltip) + symbol + words))


def _coordinates(points):
    return ' '.join('%s,%s' % (_num(x), _num(y)) for x, y in points)


def _done_symbol(x, y):
    """A green dot with a white check."""
    circle = _element('circle', [('cx', float(x)), ('cy', float(y)), ('r', float(MARKER_RADIUS)),
                                 ('fill', DONE_COLOUR)])
    check = _element('polyline', [('points', _coordinates([(x - 3, y), (x - 1, y + 2.5), (x + 3, y - 2.5)])),
                                  ('fill', 'none'), ('stroke', '#ffffff'), ('stroke-width', 1.6)])
    return circle + check


def _failed_symbol(x, y):
    """A red cross: two strokes."""
    arm = MARKER_RADIUS - 1.5
    strokes = [[(x - arm, y - arm), (x + arm, y + arm)], [(x - arm, y + arm), (x + arm, y - arm)]]
    return ''.join(_element('polyline', [('points', _coordinates(stroke)), ('stroke', FAILED_COLOUR),
                                         ('stroke-width', 2.5), ('stroke-linecap', 'round'), ('fill', 'none')])
                   for stroke in strokes)


def _held_back_symbol(x, y):
    return _element('circle', [('cx', float(x)), ('cy', float(y)), ('r', float(MARKER_RADIUS - 1)),
                               ('fill', 'none'), ('stroke', NEUTRAL_COLOUR), ('stroke-width', 2.0)])


def _draw_legend(drawing, top, unknown_phase):
    """The phases' swatches, then the done and failed markers; 'other phase' only when a span has one.
    Returns the y below the legend."""
    middle = top + LEGEND_HEIGHT / 2.0
    x = float(MARGIN)
    items = list(PHASE_COLOURS)
    if unknown_phase:
        items.append(('other phase', NEUTRAL_COLOUR))
    items += [('done', DONE_COLOUR), ('failed', FAILED_COLOUR)]
    parts = []
    for name, colour in items:
        symbol = {'done': _done_symbol, 'failed': _failed_symbol}.get(name)
        parts.append(symbol(x + MARKER_RADIUS, middle) if symbol else _swatch(x, middle, colour))
        parts.append(_text(x + 2 * MARKER_RADIUS + 5, middle + FONT_SIZE * 0.35, name))
        # No font metrics: a generous 7 px a character.
        x += 2 * MARKER_RADIUS + 5 + 7 * len(name) + 18
    drawing.add(_element('g', [('class', 'legend')], ''.join(parts)))
    return top + LEGEND_HEIGHT


def _swatch(x, middle, colour):
    return _element('rect', [('x', float(x)), ('y', float(middle - MARKER_RADIUS)),
                             ('width', float(2 * MARKER_RADIUS)), ('height', float(2 * MARKER_RADIUS)),
                             ('fill', colour)])
